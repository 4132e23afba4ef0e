"""Compiled observed information of a mixture with constant weights: one read of the
rows, many threads.

:class:`GaussianInformation` (Gaussian components) and :class:`GLMInformation`
(Poisson, binomial, Gamma and negative-binomial components with the links of
:data:`~regmix.compiled.glm_kernel.KERNEL_LINKS`, with offsets and trials) compute what
:func:`regmix.inference.information.mixture_information` computes on numpy: minus the
Hessian of the log-likelihood in the coefficients (user units), the logs of the free
extras and ``eta_2, ..., eta_K`` (``pi = softmax(0, eta)``). The rows are cut into
blocks of 2048 from the first row on, the threads claim them one at a time and the block
sums are added in block order (as in the E-step kernels), rows arrive batch by batch
(:class:`~regmix.compiled.gaussian_kernel._BlockedBatches`, the same bits for any
batches), and a block is processed tile by tile: each row's log-density and its
derivatives in its linear predictor and its extra (``_information_row``, from the GLM
kernel's per-family terms), then the posteriors and the sums of every block of the
matrix (``_information_sums``, the Gaussian kernel's ``_accumulate``), so that no row's
score vector or outer product is formed.

numba is imported only when first needed; the compiled code is cached on disk as the
kernels' is. numba keys that cache on this file only: after an edit of the kernels'
building blocks, delete the cached ``information_kernel`` entries
(``__pycache__/information_kernel*.nbi``, ``*.nbc``) or touch this file.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from regmix.compiled import gaussian_kernel as _gk
from regmix.compiled import glm_kernel as _glk
from regmix.compiled.gaussian_kernel import _TILE, E_STEP_BLOCK_SIZE, _BlockedBatches
from regmix.compiled.glm_kernel import (
    _EPS,
    _ETA_MAX,
    EXTRA_STATISTICS,
    FAMILY_CODES,
    GLM_BLOCK_SIZE,
    KERNEL_LINKS,
    LINK_CODES,
    _extra_constants,
)
from regmix.compiled.helpers import CompiledOnce, read_only, upper_indices

__all__ = ["GLMInformation", "GaussianInformation", "InformationSums"]


# The family code of Gaussian components (after the GLM kernel's codes).
_GAUSSIAN = len(FAMILY_CODES)


_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _build() -> SimpleNamespace:
    """Define the compiled functions (compiled, or loaded from numba's on-disk cache, on
    first call); numba is imported here and nowhere else. The helpers that compiled
    code calls are bound as module globals (see :mod:`regmix.compiled.glm_kernel`)."""
    global _prange, _claim, _accumulate, _standardise_tile, _linear_rows, _log
    global _block_slots, _add_slots, _row_maxima, _exp_rows, _exp_below_max
    global _logit_terms, _binomial_link, _binomial_terms, _poisson_identity_log_density
    global _gamma_log_density, _gamma_working, _nb_working, _nb_log_density, _row_log_constant
    global _information_sums, _information_row, _information_block
    import numba

    _glk._compiled()  # (and the Gaussian kernel's building blocks)
    _claim, _accumulate, _log = _gk._claim, _gk._accumulate, _gk._log
    _block_slots, _add_slots = _gk._block_slots, _gk._add_slots
    _row_maxima, _exp_rows = _gk._row_maxima, _gk._exp_rows
    _exp_below_max = _gk._exp_below_max
    _standardise_tile, _linear_rows = _gk._standardise_tile, _gk._linear_rows
    _logit_terms, _binomial_link = _glk._logit_terms, _glk._binomial_link
    _binomial_terms, _gamma_working = _glk._binomial_terms, _glk._gamma_working
    _poisson_identity_log_density = _glk._poisson_identity_log_density
    _gamma_log_density, _nb_log_density = _glk._gamma_log_density, _glk._nb_log_density
    _nb_working, _row_log_constant = _glk._nb_working, _glk._row_log_constant

    _prange = numba.prange
    jit = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")

    @jit
    def _information_sums(Z, L, r, wt, S, T, D2, CE, E2, n_extra, c, ones2, m, acc, pi,
                          C0, mx, tot):  # pragma: no cover - compiled
        # Adds to acc the sums of a tile's m rows, in the layout of
        # InformationSums.result, from the design Z (p, m), the components'
        # log-densities plus log weights L (K, m), the rows' weights wt and the
        # derivatives of each row's log-density of component k: S = d/d eta, D2 =
        # d^2/d eta^2 and, with n_extra = 1 (one free extra per component, on its log
        # scale), T = d/d extra, CE = d^2/d eta d extra and E2 = d^2/d extra^2. The
        # posteriors go to r (mx and tot: buffers of a tile's rows). With q_k = w r_k and
        # a_k = (x S_k, T_k), a row adds to the Hessian
        #   (k, k):  x x' q_k ((1 - r_k) S_k^2 + D2_k), x q_k ((1 - r_k) S_k T_k + CE_k),
        #            q_k ((1 - r_k) T_k^2 + E2_k);
        #   (k, k2), k < k2: -q_k r_k2 a_k a_k2';
        #   (k, eta_j): q_k (delta_jk - r_j) a_k;
        #   (eta_j, eta_k2): w (r_j delta_jk2 - r_j r_k2), and w alone for the prior term.
        # With the mixing weights pi (the meat; None for the information, whose
        # compiled code then has none of the meat's: numba prunes the branches on
        # pi is None), the same blocks of the outer product of the row's weighted score
        # w s (s: q_k a_k / w in block k, r_j - pi_j in the gating block), and in place
        # of w the sum of w (log sum_k exp(L_k) + C0) and the count of the rows of
        # positive weight (C0 the rows' constant log-density terms).
        K = L.shape[0]
        p = Z.shape[0]
        P = p * (p + 1) // 2
        one = ones2[0]
        q_vec = K * (K + 1) // 2 * P  # first vector sum
        n_vec = n_extra * K * K + K * (K - 1)
        q_sc = q_vec + n_vec * p  # first scalar sum
        at_eta = n_extra * K * K  # the first (b_k, eta_j) among the vector sums
        e = q_sc + n_extra * n_vec  # the gating block's sums, then the last ones
        last = e + K * (K - 1) // 2
        # the posteriors exp(L - max) / sum as the E-step kernels take them (the vector
        # exp, _LANES rows at a time)
        for k in range(K):
            for t in range(m):
                r[k, t] = L[k, t]
        _row_maxima(r, mx, m)
        _exp_below_max(r, mx, tot, m)
        for k in range(K):
            for t in range(m):
                r[k, t] = r[k, t] / tot[t]
        if pi is not None:
            for t in range(m):
                if wt[t] > 0.0:
                    acc[last] += wt[t] * ((mx[t] + _log(tot[t])) + C0[t])
                    acc[last + 1] += 1.0
        pair = 0
        for k in range(K):
            for k2 in range(k, K):
                # (one loop per case, the case decided outside it)
                if pi is not None:
                    for t in range(m):
                        a = wt[t] * r[k, t]
                        b = wt[t] * r[k2, t]
                        c[0, t] = (a * S[k, t]) * (b * S[k2, t])
                        c[1, t] = (a * S[k, t]) * (b * T[k2, t])
                        c[2, t] = (a * T[k, t]) * (b * T[k2, t])
                elif k2 == k:
                    for t in range(m):
                        sk = S[k, t]
                        tk = T[k, t]
                        qk = wt[t] * r[k, t]
                        f = 1.0 - r[k, t]
                        c[0, t] = qk * (f * sk * sk + D2[k, t])
                        c[1, t] = qk * (f * sk * tk + CE[k, t])
                        c[2, t] = qk * (f * tk * tk + E2[k, t])
                else:
                    for t in range(m):
                        g = -wt[t] * r[k, t] * r[k2, t]
                        c[0, t] = g * S[k, t] * S[k2, t]
                        c[1, t] = g * S[k, t] * T[k2, t]
                        c[2, t] = g * T[k, t] * T[k2, t]
                q = pair * P
                for j in range(p):
                    _accumulate(Z[j], c[0], Z, j, p - j, m, acc, q)
                    q += p - j
                if n_extra:
                    # (b_k, extra_k2) and the scalar (extra_k, extra_k2)
                    _accumulate(c[1], one, Z, 0, p, m, acc, q_vec + (k * K + k2) * p)
                    _accumulate(c[2], one, ones2, 0, 1, m, acc, q_sc + k * K + k2)
                    if k2 != k:  # (b_k2, extra_k): -q_k r_k2 T_k S_k2 (meat: q_k q_k2)
                        if pi is not None:
                            for t in range(m):
                                c[1, t] = (wt[t] * r[k, t] * T[k, t]) * (wt[t] * r[k2, t]
                                                                          * S[k2, t])
                        else:
                            for t in range(m):
                                c[1, t] = (-wt[t] * r[k, t] * r[k2, t]) * T[k, t] * S[k2, t]
                        _accumulate(c[1], one, Z, 0, p, m, acc, q_vec + (k2 * K + k) * p)
                pair += 1
        # (b_k, eta_j) and (extra_k, eta_j), j = 1..K-1
        for k in range(K):
            for j in range(1, K):
                delta = 1.0 if j == k else 0.0
                if pi is not None:
                    for t in range(m):
                        h = (wt[t] * r[k, t]) * (wt[t] * (r[j, t] - pi[j]))
                        c[1, t] = h * S[k, t]
                        c[2, t] = h * T[k, t]
                else:
                    for t in range(m):
                        h = wt[t] * r[k, t] * (delta - r[j, t])
                        c[1, t] = h * S[k, t]
                        c[2, t] = h * T[k, t]
                vec = at_eta + k * (K - 1) + (j - 1)
                _accumulate(c[1], one, Z, 0, p, m, acc, q_vec + vec * p)
                if n_extra:
                    _accumulate(c[2], one, ones2, 0, 1, m, acc, q_sc + vec)
        # (eta_j, eta_k2), 1 <= j <= k2 < K, and the total weight
        for j in range(1, K):
            for k2 in range(j, K):
                delta = 1.0 if j == k2 else 0.0
                if pi is not None:
                    for t in range(m):
                        c[2, t] = (wt[t] * (r[j, t] - pi[j])) * (wt[t] * (r[k2, t] - pi[k2]))
                else:
                    for t in range(m):
                        c[2, t] = wt[t] * r[j, t] * (delta - r[k2, t])
                _accumulate(c[2], one, ones2, 0, 1, m, acc, e)
                e += 1
        if pi is None:
            _accumulate(wt, one, ones2, 0, 1, m, acc, e)

    @jit
    def _information_row(family, link, y, mi, eta, e, nu, ck, lk):  # pragma: no cover
        # A row's log-density of one component plus its log weight lk (without the
        # row's constant, the same for every component), its first two derivatives in
        # the linear predictor eta and, for Gaussian, Gamma and negative-binomial
        # components, the first two in the log of the extra nu (sigma, the shape, the
        # size) and the cross derivative: for GLM components as
        # GLMFamily.row_derivatives forms them from the link's derivatives, the
        # family's mu_derivatives and its extra_derivatives (ck holds log nu,
        # lgamma nu, digamma nu and trigamma nu; e is exp(min(eta, _ETA_MAX)) for the
        # log and cloglog links, exp(-|eta|) for the logit); for Gaussian ones
        # (ck[0] = log sigma)
        # from z = (y - eta) / sigma: z / sigma, -1 / sigma^2, z^2 - 1, -2 z^2 and
        # -2 z / sigma.
        if family == _GAUSSIAN:
            z = (y - eta) / nu
            return (((lk - ck[0]) - _HALF_LOG_2PI) - 0.5 * z * z, z / nu, -1.0 / (nu * nu),
                    z * z - 1.0, -2.0 * z * z, -2.0 * z / nu)
        mu = dmu = d2mu = 0.0
        if link == 0:  # log
            mu = e
            dmu = mu
            d2mu = mu
        elif link == 1:  # identity
            mu = eta
            dmu = 1.0
            d2mu = 0.0
        elif link == 5:  # inverse
            mu = 1.0 / eta
            dmu = -mu * mu
            d2mu = 2.0 * mu * mu * mu
        if family == 1:  # binomial
            if link == 2:
                mu, dmu, log_p, log_q = _logit_terms(eta, e)
                d2mu = dmu * (1.0 - 2.0 * mu)
            else:
                mu, dmu, log_p, log_q = _binomial_link(eta, e, link)
                d2mu = -eta * dmu if link == 3 else dmu * (1.0 - e)
            lf = _binomial_terms(mu, dmu, log_p, log_q, y, mi, 0.0)[0]
            p = min(max(mu, _EPS), 1.0 - _EPS)
            q = 1.0 - p
            l1 = (y - mi * p) / (p * q)
            l2 = -y / (p * p) - (mi - y) / (q * q)
        elif family == 0:  # Poisson
            lf = y * eta - mu if link == 0 else _poisson_identity_log_density(y, mu)
            mm = max(mu, 1e-150)
            l1 = y / mm - 1.0
            l2 = -y / (mm * mm)
        elif family == 2:  # Gamma
            pos = mu > 0.0
            if link == 0:
                log_r = _log(y) - eta
                r = math.exp(log_r)
            else:
                r = y / (mu if pos else 1.0)
                log_r = _log(r)
            lf = _gamma_log_density(nu, ck[0], ck[1], log_r, r, pos)
            t = _gamma_working(y, mu, dmu, nu)[2]  # log(y / mu) - y / mu
            mm = max(mu, 1e-150)
            r = y / mm
            cross = nu * (r - 1.0) / mm
            l1 = cross
            l2 = nu * (1.0 - 2.0 * r) / mm / mm
            if not (abs(l1) < np.inf and abs(l2) < np.inf and pos and mu < np.inf):
                l1 = 0.0
                l2 = 0.0
            e1 = nu * (((ck[0] + 1.0) - ck[2]) + t)
            return (lf + lk, l1 * dmu, l2 * dmu * dmu + l1 * d2mu, e1,
                    e1 + nu * nu * (1.0 / nu - ck[3]), cross * dmu)
        else:  # negative binomial
            _, _, e1, e2, rising = _nb_working(y, mu, dmu, nu, ck)
            lf = _nb_log_density(rising, y, eta, nu, math.exp(eta - ck[0]))
            mm = max(mu, 1e-300)
            s = nu + mm
            l1 = nu * (y - mm) / (mm * s)
            l2 = -y / (mm * mm) + (nu + y) / (s * s)
            s = nu + mu
            return (lf + lk, l1 * dmu, l2 * dmu * dmu + l1 * d2mu, e1, e2,
                    nu * (y - mu) / (s * s) * dmu)
        return lf + lk, l1 * dmu, l2 * dmu * dmu + l1 * d2mu, 0.0, 0.0, 0.0

    @jit
    def _information_block(X, by_row, y, w, has_w, offset, has_off, trials, has_m,
                           intercept, coef, log_pi, pi, extra, cst, family, link, n_extra,
                           start, stop, out):  # pragma: no cover - compiled
        # The Hessian sums (given pi, the meat: the scores' outer products) of rows
        # start..stop-1 (user units), written to out in the layout InformationSums.result
        # reads (_information_sums), from each row's log-densities and derivatives
        # (_information_row).
        d = X.shape[1] if by_row else X.shape[0]
        K, p = coef.shape
        off = 1 if intercept else 0
        Z = np.empty((p, _TILE))
        H = np.empty((K, _TILE))  # linear predictors
        F = np.zeros((K, _TILE))  # the exponentials of them that the link needs
        L = np.empty((K, _TILE))
        r = np.empty((K, _TILE))
        S = np.empty((K, _TILE))
        T = np.zeros((K, _TILE))
        D2 = np.empty((K, _TILE))
        CE = np.zeros((K, _TILE))
        E2 = np.zeros((K, _TILE))
        c = np.empty((3, _TILE))
        wt = np.ones(_TILE)
        C0 = np.zeros(_TILE)  # the rows' constant log-density terms (with meat)
        mx = np.zeros(_TILE)
        tot = np.zeros(_TILE)
        zeros = np.zeros(_TILE)
        ones2 = np.ones((1, _TILE))
        x_loc = np.zeros(d)
        x_inv = np.ones(d)
        acc = np.zeros(out.shape[0])
        if intercept:
            Z[0, :] = 1.0
        for t0 in range(start, stop, _TILE):
            m = min(_TILE, stop - t0)
            _standardise_tile(X, by_row, t0, m, x_loc, x_inv, Z, off)  # (x - 0) * 1 = x
            _linear_rows(coef, Z, H, m)
            if has_off:
                for k in range(K):
                    for t in range(m):
                        H[k, t] += offset[t0 + t]
            if has_w:
                for t in range(m):
                    wt[t] = w[t0 + t]
            # the exponentials the link needs, by the vector exp (as the E-step kernel)
            if family != _GAUSSIAN and (link == 0 or link == 4 or link == 2):
                for k in range(K):
                    for t in range(m):
                        eta = H[k, t]
                        F[k, t] = -abs(eta) if link == 2 else min(eta, _ETA_MAX)
                _exp_rows(F, zeros, tot, m)
            for k in range(K):
                nu = extra[k]
                ck = cst[k]
                lk = log_pi[k]
                for t in range(m):
                    i = t0 + t
                    L[k, t], S[k, t], D2[k, t], T[k, t], E2[k, t], CE[k, t] = _information_row(
                        family, link, y[i], trials[i] if has_m else 1.0, H[k, t], F[k, t], nu,
                        ck, lk)
            if pi is not None:
                if family != _GAUSSIAN:
                    for t in range(m):
                        i = t0 + t
                        C0[t] = _row_log_constant(y[i], trials[i] if has_m else 1.0, family)
            _information_sums(Z, L, r, wt, S, T, D2, CE, E2, n_extra, c, ones2, m, acc, pi, C0,
                              mx, tot)
        out[:] = acc

    @numba.njit(parallel=True, nogil=True, cache=True, fastmath=False, error_model="numpy")
    def information_kernel(X, by_row, y, w, has_w, offset, has_off, trials, has_m, intercept,
                           coef, log_pi, pi, extra, cst, family, link, n_extra, block_size,
                           first, last, total, n_workers):  # pragma: no cover
        # Adds the Hessian sums (given pi, the scores' outer products) of the blocks of
        # rows first, first + block_size, ... to total in block order, the blocks
        # claimed by n_workers threads (as the E-step kernels).
        n_blocks, partial, claimed = _block_slots(first, last, block_size, total.shape[0])
        for _ in _prange(min(n_workers, n_blocks)):
            blk = _claim(claimed)
            while blk < n_blocks:
                start = first + blk * block_size
                _information_block(X, by_row, y, w, has_w, offset, has_off, trials, has_m,
                                   intercept, coef, log_pi, pi, extra, cst, family, link,
                                   n_extra, start, min(start + block_size, last),
                                   partial[blk])
                blk = _claim(claimed)
        _add_slots(partial, total)

    return SimpleNamespace(information=information_kernel)


_compiled = CompiledOnce(_build)


class InformationSums(_BlockedBatches):
    """The sums of a compiled observed information of a mixture with constant weights,
    taken batch by batch (as
    :class:`~regmix.compiled.gaussian_kernel.GaussianSums`), and the matrix they make.

    The parametrisation is that of
    :func:`regmix.inference.information.mixture_information`: per component the
    coefficients (user units, intercept first) and, with ``n_extra = 1``, the log of the
    family's free extra (sigma, the Gamma shape, the negative-binomial size), then
    ``eta_2, ..., eta_K`` with ``pi = softmax(0, eta)``. Row ``i`` adds ``-w_i`` times
    the Hessian of ``log sum_k pi_k f_k(y_i)``, ``sum_k r_ik (H_ik + g_ik g_ik') - gbar_i
    gbar_i'``, written out block by block (see ``_information_sums``), so that no row's
    score vector or outer product is formed. With ``meat=True`` the sums are those of
    the middle of the robust sandwich instead, ``sum_i w_i^2 s_i s_i'`` with ``s_i`` the
    row's score ``gbar_i`` (:func:`regmix.inference.robust.score_meat`), and
    :meth:`totals_of_rows` gives the rows' log-likelihood and their number. The
    subclasses give the compiled pass of a family (:meth:`_call`).
    """

    def __init__(self, fit_intercept: bool, coef: np.ndarray, weights: np.ndarray,
                 n_extra: int, block_size: int, n_threads: int | None,
                 meat: bool = False) -> None:
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        if coef.ndim != 2 or coef.shape[0] < 1 or coef.shape[1] < 1:
            raise ValueError(f"coef must have shape (K, p); got {coef.shape}")
        K, p = coef.shape
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        if weights.shape != (K,):
            raise ValueError(f"weights must have {K} entries")
        if not np.all(weights > 0):
            raise ValueError("weights must be positive")
        self.fit_intercept = bool(fit_intercept)
        d = p - int(self.fit_intercept)
        if d < 0:
            raise ValueError("coef must have a column for the intercept")
        self.weights = weights
        self.n_design, self.n_extra = p, int(n_extra)
        self.meat = bool(meat)
        self._coef = read_only(coef)
        # (the weights themselves for the meat, None for the information)
        self._mixing = (read_only(np.log(weights)), read_only(weights) if self.meat else None)
        P = p * (p + 1) // 2
        n_vec = self.n_extra * K * K + K * (K - 1)
        super().__init__(d, K, block_size, n_threads,
                         K * (K + 1) // 2 * P + n_vec * (p + self.n_extra)
                         + K * (K - 1) // 2 + (2 if self.meat else 1))

    def add(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None,
            responsibilities: None = None, concomitant: None = None, *,
            offset: np.ndarray | None = None, trials: np.ndarray | None = None,
            last: bool = False) -> None:
        """Add the rows of one batch (as
        :meth:`GaussianSums.add <regmix.compiled.gaussian_kernel.GaussianSums.add>`, with
        offsets and trials for the GLM families; the information takes
        the posterior probabilities, no given responsibilities)."""
        if responsibilities is not None:
            raise ValueError("the information takes no given responsibilities")
        super().add(X, y, w, None, concomitant, offset=offset, trials=trials, last=last)

    def totals_of_rows(self) -> tuple[float, int]:
        """With ``meat``: the weighted log-likelihood of the rows added so far (those of
        positive weight) and their number."""
        if not self.meat:
            raise ValueError("the rows' totals are summed with meat=True only")
        total = self.totals()
        return float(total[-2]), int(total[-1])

    def result(self) -> np.ndarray:
        """The observed information (with ``meat``: the summed outer products of the
        rows' weighted scores) over all rows added so far, symmetric, of size
        ``K (p + n_extra) + K - 1``."""
        total = self.totals()
        K, p, m = self.n_components, self.n_design, self.n_extra
        P = p * (p + 1) // 2
        size = p + m
        dim = K * size + K - 1
        H = np.zeros((dim, dim))
        coef_at = [slice(k * size, k * size + p) for k in range(K)]
        extra_at = [k * size + p for k in range(K)]
        eta_at = [K * size + j - 1 for j in range(K)]  # eta_j for j >= 1
        rows, cols = upper_indices(p)
        q_vec = K * (K + 1) // 2 * P
        n_vec = m * K * K + K * (K - 1)
        q_sc = q_vec + n_vec * p

        def put(a, b, value):
            H[a, b] = value
            H[b, a] = np.transpose(value) if np.ndim(value) == 2 else value

        pair = 0
        for k in range(K):
            for k2 in range(k, K):
                S = np.zeros((p, p))
                S[rows, cols] = total[pair * P : (pair + 1) * P]
                S[cols, rows] = total[pair * P : (pair + 1) * P]
                put(coef_at[k], coef_at[k2], S)
                if m:
                    put(extra_at[k], extra_at[k2], total[q_sc + k * K + k2])
                pair += 1
            for k2 in range(K if m else 0):
                put(coef_at[k], extra_at[k2],
                    total[q_vec + (k * K + k2) * p : q_vec + (k * K + k2 + 1) * p])
            for j in range(1, K):
                at = m * K * K + k * (K - 1) + j - 1
                put(coef_at[k], eta_at[j], total[q_vec + at * p : q_vec + (at + 1) * p])
                if m:
                    put(extra_at[k], eta_at[j], total[q_sc + at])
        e = q_sc + m * n_vec
        weight = total[-1]
        pi = self.weights
        for j in range(1, K):
            for k2 in range(j, K):
                prior = 0.0 if self.meat else weight * pi[j] * ((1.0 if j == k2 else 0.0)
                                                                 - pi[k2])
                put(eta_at[j], eta_at[k2], total[e] - prior)
                e += 1
        return H if self.meat else -H


class GaussianInformation(InformationSums):
    """Observed information of a Gaussian mixture with constant weights, compiled and
    taken batch by batch (see :class:`InformationSums`): per component the coefficients
    and ``log sigma_k``, then ``eta_2, ..., eta_K``.

    Parameters
    ----------
    fit_intercept : bool
        Whether the design has a leading column of ones (the rows' ``X`` does not).
    coef : ndarray of shape (K, p)
        Coefficients in user units, intercept first.
    sigma, weights : ndarray of shape (K,)
        Noise standard deviations and mixing weights (positive).
    block_size : int, default=2048
        Rows per block of the fixed-order sums.
    n_threads : int or None, default=None
        Threads for each batch, as for
        :func:`~regmix.compiled.gaussian_kernel.gaussian_e_step`.
    meat : bool, default=False
        Sum the outer products of the rows' scores instead (see :class:`InformationSums`).
    """

    def __init__(self, fit_intercept: bool, coef: np.ndarray, sigma: np.ndarray,
                 weights: np.ndarray, block_size: int = E_STEP_BLOCK_SIZE, *,
                 n_threads: int | None = None, meat: bool = False) -> None:
        sigma = np.ascontiguousarray(sigma, dtype=np.float64).reshape(-1)
        if np.ndim(coef) == 2:  # (else the coefficients' error)
            K = np.shape(coef)[0]
            if sigma.shape != (K,) or np.size(weights) != K:
                raise ValueError(f"sigma and weights must have {K} entries")
            if not (np.all(sigma > 0) and np.all(np.asarray(weights) > 0)):
                raise ValueError("sigma and weights must be positive")
        super().__init__(fit_intercept, coef, weights, 1, block_size, n_threads, meat)
        cst = np.zeros((sigma.shape[0], 4))
        cst[:, 0] = [math.log(s) for s in sigma]  # (the C library's log, as numba's)
        self._family = (read_only(sigma), read_only(cst), _GAUSSIAN, LINK_CODES["identity"], 1)

    def _call(self, X, by_row, y, w, has_w, R, has_r, Zg, z_by_row, off, has_off, trials,
              has_m, first, last, n_workers) -> None:
        _compiled().information(X, by_row, y, w, has_w, off, has_off, trials, has_m,
                                self.fit_intercept, self._coef, *self._mixing, *self._family,
                                self.block_size, first, last, self._total, n_workers)


class GLMInformation(InformationSums):
    """Observed information of a mixture of Poisson, binomial, Gamma or
    negative-binomial components (the links of
    :data:`~regmix.compiled.glm_kernel.KERNEL_LINKS`) with constant
    weights, compiled and taken batch by batch, with the rows' offsets and trials
    (:meth:`~InformationSums.add` takes them as keywords); see
    :class:`InformationSums` for the parametrisation:
    per component the coefficients and, when the family estimates it, the log of the
    Gamma shape or negative-binomial size, then ``eta_2, ..., eta_K``.

    Within a row the arithmetic is that of
    :meth:`GLMFamily.row_derivatives <regmix.families.glm.GLMFamily.row_derivatives>`
    formula by formula (the log-densities those of
    :func:`~regmix.compiled.glm_kernel.glm_e_step`, without the
    rows' constant, which the posteriors do not depend on), so the matrix is the numpy
    pass's to round-off.

    Parameters
    ----------
    family : {"poisson", "binomial", "gamma", "negative_binomial"}
    link : str
        A link of :data:`~regmix.compiled.glm_kernel.KERNEL_LINKS` for the family.
    fit_intercept : bool
        Whether the design has a leading column of ones (the rows' ``X`` does not).
    coef : ndarray of shape (K, p)
        Coefficients in user units, intercept first.
    weights : ndarray of shape (K,)
        Mixing weights (positive).
    extra : ndarray of shape (K,), optional
        The Gamma shapes or negative-binomial sizes (required for these families).
    free_extra : bool, default=True
        Whether the extra is a parameter of the information (False: a known shape or
        size, which the parametrisation leaves out).
    block_size : int, default=2048
        Rows per block of the fixed-order sums.
    n_threads : int or None, default=None
        Threads for each batch, as for :func:`~regmix.compiled.glm_kernel.glm_e_step`.
    meat : bool, default=False
        Sum the outer products of the rows' scores instead (see :class:`InformationSums`).
    """

    _row_vectors = True

    def __init__(self, family: str, link: str, fit_intercept: bool, coef: np.ndarray,
                 weights: np.ndarray, extra: np.ndarray | None = None,
                 free_extra: bool = True, block_size: int = GLM_BLOCK_SIZE, *,
                 n_threads: int | None = None, meat: bool = False) -> None:
        if link not in KERNEL_LINKS.get(family, ()):
            raise ValueError(f"no compiled information for the {family} family with the "
                             f"{link} link")
        n_extra = int(family in EXTRA_STATISTICS and bool(free_extra))
        super().__init__(fit_intercept, coef, weights, n_extra, block_size, n_threads, meat)
        ex, cst = _extra_constants(family, extra, self.n_components)
        self._family = (ex, cst, FAMILY_CODES[family], LINK_CODES[link], n_extra)

    def _call(self, X, by_row, y, w, has_w, R, has_r, Zg, z_by_row, off, has_off, trials,
              has_m, first, last, n_workers) -> None:
        _compiled().information(X, by_row, y, w, has_w, off, has_off, trials, has_m,
                                self.fit_intercept, self._coef, *self._mixing, *self._family,
                                self.block_size, first, last, self._total, n_workers)
