"""Fused compiled E-step for Poisson and binomial components: one read of the rows.

:func:`glm_e_step` computes, for rows held in memory, what the data pass
(:func:`regmix.engine.passes.e_step_chunk` with :class:`regmix.families.poisson.Poisson`
or :class:`regmix.families.binomial.Binomial` and constant mixing weights) computes: the
weighted log-likelihood, the summed weighted responsibilities ``N_k`` and the
Fisher-scoring statistics of :meth:`regmix.families.glm.GLMFamily.statistics`,
``A_k = X' diag(r_k W) X`` and ``b_k = X' (r_k u)`` (``W`` the Fisher weights, ``u`` the
scores with respect to the linear predictor), in the internal units (standardised
design, response in its own units). Every row is read once and standardised on the fly;
no standardised copy of the design and no per-row temporaries are made.

The rows are cut into blocks of ``block_size`` rows from row 0; blocks run in parallel
(numba ``prange``), each writes its sums into its own slot, and the slots are added in
block order afterwards, so the result is deterministic and does not depend on the
number of threads. A block is processed tile by tile as in the Gaussian kernel
(:mod:`regmix.compiled.gaussian_kernel`), whose building blocks it uses: the design
standardised into short column buffers, the exponentials of the linear predictors and
of the log-sum-exp in eight vector lanes (its ``exp``), its ``log``, and its sums over
the rows of a tile in eight lanes (``A`` and ``b`` are the Gaussian sums of the weights
``r W`` and the working residuals ``u / W``, as :meth:`GLMFamily.statistics
<regmix.families.glm.GLMFamily.statistics>` forms them). Within a row the arithmetic is
the numpy pass's formula by formula, with these ``exp`` and ``log`` (within two units in
the last place) for numpy's and ``log1p`` of the logit from ``log`` (Goldberg's
``log(1 + e) e / ((1 + e) - 1)``); the probit and cloglog links and the identity link's
``log`` call the C library per row. The two passes agree to round-off (about 1e-14
relative), not bit for bit.

The part of the log-likelihood that depends on the rows alone (the log-gamma terms of
``-log y!`` and of the binomial coefficient) is the same for every component and every
pass: :func:`glm_log_constant` sums it once, and a caller that passes over the same rows
again hands it back (``log_constant``), so that a pass computes no ``lgamma``.

The family and link are passed as the codes of :data:`FAMILY_CODES` and
:data:`LINK_CODES`: one compiled function serves them all, the branch taken per tile
being the same for every tile.

numba is imported only when the kernel is first needed; the compiled code is cached on
disk (``cache=True``) as the Gaussian kernel's is. numba keys that cache on this file
only: after an edit of the Gaussian kernel's building blocks, delete the cached
``glm_kernel`` entries (``__pycache__/glm_kernel*.nbi``, ``*.nbc``) or touch this file.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from regmix.compiled import gaussian_kernel as _gk
from regmix.compiled.gaussian_kernel import _LANES, _TILE
from regmix.compiled.helpers import CompiledOnce, on_threads, read_only

__all__ = ["FAMILY_CODES", "GLM_BLOCK_SIZE", "LINK_CODES", "START_LINKS", "glm_e_step",
           "glm_log_constant"]


# Rows per block: the unit of parallel work and of summation (as the Gaussian kernel's).
GLM_BLOCK_SIZE = 2048


# The family and link codes the kernel understands (a family or link not listed here
# is not the kernel's to run).
FAMILY_CODES = {"poisson": 0, "binomial": 1}


LINK_CODES = {"log": 0, "identity": 1, "logit": 2, "probit": 3, "cloglog": 4}


# The links whose first step without coefficients the kernel takes (probit's needs the
# inverse normal distribution function, which numba lacks: the numpy pass takes it).
START_LINKS = ("log", "identity", "logit", "cloglog")


# The constants of families/links.py and families/glm.py, as the numpy pass uses them.
_ETA_MAX = 300.0


_EPS = float(np.finfo(np.float64).eps)


_SQRT1_2 = math.sqrt(0.5)


_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


_LOG2 = math.log(2.0)










def _build() -> SimpleNamespace:
    """Define the compiled functions (compiled, or loaded from numba's on-disk cache, on
    first call); numba is imported here and nowhere else.

    The helpers that compiled code calls are bound as module globals, not as closure
    variables, so that numba's on-disk cache key stays the same between processes.
    """
    global _prange, _log_ndtr, _block, _exp_rows, _log, _accumulate, _component_sums
    global _standardise_tile, _binomial_terms, _given_rows, _sum_of_logs, _start_terms
    global _expit, _claim
    import numba

    # the Gaussian kernel's vector exp, log, design standardisation and sums
    _gk._compiled()
    _exp_rows, _log, _accumulate = _gk._exp_rows, _gk._log, _gk._accumulate
    _component_sums, _standardise_tile = _gk._component_sums, _gk._standardise_tile
    _given_rows, _sum_of_logs = _gk._given_rows, _gk._sum_of_logs
    _claim = _gk._claim

    _prange = numba.prange
    jit = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")

    @jit
    def _binomial_terms(mu, dmu, log_p, log_q, y, m, log_w):  # pragma: no cover - compiled
        # A binomial row's log-density plus log_w (without its constant), Fisher weight
        # W and working residual u / W (0 where W = 0), as Binomial computes them.
        p = min(max(mu, _EPS), 1.0 - _EPS)
        q = 1.0 - p
        W = dmu * dmu * (m / (p * q))
        u = (y / p - (m - y) / q) * dmu
        return (y * log_p + (m - y) * log_q) + log_w, W, (u / W if W > 0.0 else 0.0)

    @jit
    def _start_terms(y, m, off, family, link, n, H, V):  # pragma: no cover - compiled
        # The first IRLS step's working responses eta_0 - offset into every row of H and
        # Fisher weights into every row of V, for the n rows of a tile: from the smoothed
        # response mu_0 (the family's mustart) and eta_0 = g(mu_0), the link's
        # derivative taken at eta_0, as GLMFamily.statistics without coefficients.
        for t in range(n):
            yi = y[t]
            if family == 0:
                mu = yi + 0.1
            else:
                mu = (yi + 0.5) / (m[t] + 1.0)
            if link == 0:  # log
                eta = math.log(mu)
                dmu = math.exp(min(eta, _ETA_MAX))
            elif link == 1:  # identity
                eta = mu
                dmu = 1.0
            elif link == 2:  # logit
                eta = math.log(mu / (1.0 - mu))
                dmu = _expit(eta) * _expit(-eta)
            else:  # cloglog
                eta = math.log(-math.log1p(-mu))
                e = math.exp(min(eta, _ETA_MAX))
                dmu = e * math.exp(-e)
            if family == 0:
                W = dmu * dmu * (1.0 / max(mu, 1e-300))
            else:
                p = min(max(mu, _EPS), 1.0 - _EPS)
                W = dmu * dmu * (m[t] / (p * (1.0 - p)))
            z = eta - off[t]
            for k in range(H.shape[0]):
                H[k, t] = z
                V[k, t] = W

    @jit
    def _expit(x):  # pragma: no cover - compiled
        # 1 / (1 + exp(-x)) without overflow
        if x >= 0.0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)

    @jit
    def _log_ndtr(x):  # pragma: no cover - compiled
        # log of the standard normal distribution function, as scipy's log_ndtr: the
        # upper half by log1p of the upper tail, the lower half by erfc, the far lower
        # tail (where erfc underflows) by the asymptotic series of the Mills ratio.
        if x > 0.0:
            return math.log1p(-0.5 * math.erfc(x * _SQRT1_2))
        if x > -20.0:
            return math.log(0.5 * math.erfc(-x * _SQRT1_2))
        x2 = 1.0 / (x * x)
        term = 1.0
        series = 1.0
        for k in range(1, 12):
            term *= -(2.0 * k - 1.0) * x2
            series += term
        return -0.5 * x * x - math.log(-x) - _HALF_LOG_2PI + math.log(series)

    @jit
    def _block(X, by_row, y, w, has_w, offset, has_off, trials, has_m, x_loc, x_inv, y_inv,
               intercept, coef, log_w, family, link, R, has_r, start_step, start, stop,
               out):  # pragma: no cover
        # The sums over rows start..stop-1, written to out: per component the upper
        # triangle of A by rows, b, sum r u^2 / W (unused), sum r W and N; then the
        # log-likelihood. Tile by tile: the per-row quantities of a tile
        # live in short buffers, so that the loops over rows vectorise.
        K, p = coef.shape
        off = 1 if intercept else 0
        P = p * (p + 1) // 2
        stride = P + p + 3
        base = K * stride
        acc = np.zeros(out.shape[0])
        Z = np.empty((p, _TILE))  # standardised design, one row per column
        H = np.empty((K, _TILE))  # linear predictors, then the working residuals u / W
        F = np.empty((K, _TILE))  # exp of the linear predictors (log, logit, cloglog)
        D = np.empty((K, _TILE))  # log-densities, densities, responsibilities r
        V = np.empty((K, _TILE))  # Fisher weights W, then r W
        zeros = np.zeros(_TILE)
        scratch = np.empty(_TILE)
        yt = np.empty(_TILE)
        wt = np.ones(_TILE)
        ot = np.zeros(_TILE)
        mt = np.ones(_TILE)
        mx2 = np.zeros((1, _TILE))  # per-row maximum log-density
        mx = mx2[0]
        tot = np.zeros(_TILE)  # per-row sum of the scaled densities
        ll2 = np.zeros((1, _TILE))  # per-row weighted terms (weighted rows)
        ll = ll2[0]
        ones2 = np.ones((1, _TILE))
        ones = ones2[0]
        prods = np.ones(_LANES)
        if intercept:
            Z[0, :] = 1.0
        for t0 in range(start, stop, _TILE):
            m = min(_TILE, stop - t0)
            _standardise_tile(X, by_row, t0, m, x_loc, x_inv, Z, off)
            for t in range(m):
                yt[t] = y[t0 + t]
            if has_w:
                for t in range(m):
                    wt[t] = w[t0 + t]
            if has_off:
                for t in range(m):
                    ot[t] = offset[t0 + t] * y_inv
            if has_m:
                for t in range(m):
                    mt[t] = trials[t0 + t]
            if start_step:
                # a first step from the smoothed response, without coefficients
                _start_terms(yt, mt, ot, family, link, m, H, V)
            else:
                # linear predictors ((c_0 z_0 + c_1 z_1) + ...) + offset
                for k in range(K):
                    hk = H[k]
                    ck = coef[k]
                    c0 = ck[0]
                    z0 = Z[0]
                    for t in range(m):
                        hk[t] = c0 * z0[t]
                    for j in range(1, p):
                        cj = ck[j]
                        zj = Z[j]
                        for t in range(m):
                            hk[t] += cj * zj[t]
                    for t in range(m):
                        hk[t] += ot[t]
                # the exponentials the link needs, _LANES rows at a time
                if link == 0 or link == 4:  # exp(min(eta, _ETA_MAX))
                    for k in range(K):
                        hk = H[k]
                        fk = F[k]
                        for t in range(m):
                            fk[t] = min(hk[t], _ETA_MAX)
                    _exp_rows(F, zeros, scratch, m)
                elif link == 2:  # exp(-|eta|)
                    for k in range(K):
                        hk = H[k]
                        fk = F[k]
                        for t in range(m):
                            fk[t] = -abs(hk[t])
                    _exp_rows(F, zeros, scratch, m)
                # log-densities (without the rows' constant, the same for every component:
                # glm_log_constant), Fisher weights and working residuals u / W
                for k in range(K):
                    hk = H[k]
                    fk = F[k]
                    dk = D[k]
                    vk = V[k]
                    lk = log_w[k]
                    if family == 0 and link == 0:  # Poisson, log
                        for t in range(m):
                            mu = fk[t]
                            yi = yt[t]
                            Wk = mu * mu * (1.0 / max(mu, 1e-300))
                            uk = (yi * (1.0 / max(mu, 1e-150)) - 1.0) * mu
                            dk[t] = (yi * hk[t] - mu) + lk
                            vk[t] = Wk
                            hk[t] = uk / Wk if Wk > 0.0 else 0.0
                    elif family == 0:  # Poisson, identity
                        for t in range(m):
                            mu = hk[t]
                            yi = yt[t]
                            if yi == 0.0:
                                lf = -mu
                            elif mu > 0.0:
                                lf = yi * math.log(mu) - mu
                            elif mu == 0.0:
                                lf = -np.inf
                            else:
                                lf = np.nan
                            Wk = 1.0 / max(mu, 1e-300)
                            uk = yi * (1.0 / max(mu, 1e-150)) - 1.0
                            dk[t] = lf + lk
                            vk[t] = Wk
                            hk[t] = uk / Wk if Wk > 0.0 else 0.0
                    elif link == 2:  # binomial, logit, from e = exp(-|eta|), without branches
                        for t in range(m):
                            eta = hk[t]
                            yi = yt[t]
                            mi = mt[t]
                            e = fk[t]
                            one = 1.0 + e
                            # log1p(e) (Goldberg): exact where 1 + e rounds to 1
                            lt = _log(one) * (e / (one - 1.0)) if one != 1.0 else e
                            pos = eta >= 0.0
                            mu = (1.0 if pos else e) / one
                            dmu = mu * ((e if pos else 1.0) / one)
                            log_p = -lt if pos else -(lt - eta)
                            log_q = -(eta + lt) if pos else -lt
                            dk[t], vk[t], hk[t] = _binomial_terms(mu, dmu, log_p, log_q, yi,
                                                                  mi, lk)
                    else:  # binomial, probit or cloglog
                        for t in range(m):
                            eta = hk[t]
                            yi = yt[t]
                            mi = mt[t]
                            if link == 3:  # probit
                                mu = 0.5 * math.erfc(-eta * _SQRT1_2)
                                dmu = math.exp(-0.5 * eta * eta) * _INV_SQRT_2PI
                                log_p = _log_ndtr(eta)
                                log_q = _log_ndtr(-eta)
                            else:  # cloglog
                                e = fk[t]
                                mu = -math.expm1(-e)
                                dmu = e * math.exp(-e)
                                log_q = -e
                                if e < 1e-8:
                                    log_p = eta - 0.5 * e
                                elif e > _LOG2:
                                    log_p = math.log1p(-math.exp(-e))
                                else:
                                    log_p = math.log(-math.expm1(-e))
                            dk[t], vk[t], hk[t] = _binomial_terms(mu, dmu, log_p, log_q, yi,
                                                                  mi, lk)
            if has_r:
                _given_rows(R, t0, m, D, tot)  # given memberships, divided by tot below
            else:
                # row maxima
                d0 = D[0]
                for t in range(m):
                    mx[t] = d0[t]
                for k in range(1, K):
                    dk = D[k]
                    for t in range(m):
                        v = dk[t]
                        mx[t] = v if v > mx[t] else mx[t]
                for t in range(m):
                    v = mx[t]
                    mx[t] = v if (v > -np.inf and v < np.inf) else 0.0
                _exp_rows(D, mx, tot, m)
                empty = False
                for t in range(m):
                    if tot[t] == 0.0:  # no component can produce the row
                        empty = True
                if has_w or empty:
                    # per row: log-likelihood log(sum) + max where the weight is positive
                    for t in range(m):
                        s = tot[t]
                        if s == 0.0:
                            ll[t] = -np.inf if (wt[t] > 0.0 or not has_w) else 0.0
                            tot[t] = 1.0
                        else:
                            ll[t] = _log(s) + mx[t] if (wt[t] > 0.0 or not has_w) else 0.0
                    _accumulate(wt, ones, ll2, 0, 1, m, acc, base)
                else:
                    # unweighted rows need only the sum of the logs: the log of per-lane
                    # products of the sums (each in [1, K]), one log per lane and tile
                    logs = _sum_of_logs(tot, m, prods)
                    _accumulate(ones, ones, mx2, 0, 1, m, acc, base)
                    acc[base] += logs
            for t in range(m):
                tot[t] = 1.0 / tot[t]
            for k in range(K):
                dk = D[k]
                vk = V[k]
                for t in range(m):
                    r = (dk[t] * tot[t]) * wt[t]
                    dk[t] = r
                    vk[t] = r * vk[t]
                q = k * stride
                # A, b (of r W and u / W) and sum r W, then N = sum r
                _component_sums(Z, vk, H, k, ones2, p, m, acc, q)
                _accumulate(dk, ones, ones2, 0, 1, m, acc, q + P + p + 2)
        out[:] = acc

    @numba.njit(parallel=True, nogil=True, cache=True, fastmath=False, error_model="numpy")
    def kernel(X, by_row, y, w, has_w, offset, has_off, trials, has_m, x_loc, x_inv, y_inv,
               intercept, coef, log_w, family, link, R, has_r, start_step, block_size,
               n_acc, n_workers):  # pragma: no cover
        # The sums of the blocks of block_size rows from row 0, added in block order;
        # each of n_workers threads claims the next block until none is left (as the
        # Gaussian kernel does).
        n = y.shape[0]
        n_blocks = (n + block_size - 1) // block_size
        partial = np.zeros((n_blocks, n_acc))
        claimed = np.zeros(1, dtype=np.int64)
        for _ in _prange(min(n_workers, n_blocks)):
            blk = _claim(claimed)
            while blk < n_blocks:
                start = blk * block_size
                _block(X, by_row, y, w, has_w, offset, has_off, trials, has_m, x_loc, x_inv,
                       y_inv, intercept, coef, log_w, family, link, R, has_r, start_step,
                       start, min(start + block_size, n), partial[blk])
                blk = _claim(claimed)
        total = np.zeros(n_acc)
        for blk in range(n_blocks):
            for a in range(n_acc):
                total[a] += partial[blk, a]
        return total

    @numba.njit(parallel=True, nogil=True, cache=True, fastmath=False, error_model="numpy")
    def log_constant(y, w, has_w, trials, has_m, family, block_size,
                     n_workers):  # pragma: no cover
        # sum_i w_i c_i over the rows of positive weight, c_i the log-density's terms
        # that do not depend on the parameters, in blocks of block_size rows added in
        # block order (blocks claimed by n_workers threads, as in kernel).
        n = y.shape[0]
        n_blocks = (n + block_size - 1) // block_size
        partial = np.zeros(n_blocks)
        claimed = np.zeros(1, dtype=np.int64)
        for _ in _prange(min(n_workers, n_blocks)):
            blk = _claim(claimed)
            while blk < n_blocks:
                acc = 0.0
                for i in range(blk * block_size, min((blk + 1) * block_size, n)):
                    wi = w[i] if has_w else 1.0
                    if has_w and not wi > 0.0:
                        continue
                    yi = y[i]
                    if family == 0:
                        c = -math.lgamma(yi + 1.0)
                    else:
                        mi = trials[i] if has_m else 1.0
                        c = (math.lgamma(mi + 1.0) - math.lgamma(yi + 1.0)) - math.lgamma(
                            mi - yi + 1.0)
                    acc += wi * c
                partial[blk] = acc
                blk = _claim(claimed)
        total = 0.0
        for blk in range(n_blocks):
            total += partial[blk]
        return total

    return SimpleNamespace(kernel=kernel, log_constant=log_constant)


_compiled = CompiledOnce(_build)


def _vector(a, n: int, name: str) -> tuple[np.ndarray, bool]:
    if a is None:
        return read_only(np.empty(0)), False
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},); got {a.shape}")
    return read_only(a), True


def glm_log_constant(y: np.ndarray, w: np.ndarray | None, trials: np.ndarray | None,
                     family: str, block_size: int = GLM_BLOCK_SIZE, *,
                     n_threads: int | None = None) -> float:
    """The part of the log-likelihood that does not depend on the parameters:
    ``sum_i w_i c_i`` over the rows of positive weight, with ``c_i = -log y_i!`` for
    Poisson and ``log binom(m_i, y_i)`` for binomial components (log-gamma terms). It
    is the same for every component, so :func:`glm_e_step` adds it once per data set
    instead of once per row and pass.

    Parameters
    ----------
    y, w, trials, family, block_size, n_threads
        As for :func:`glm_e_step`.
    """
    if family not in FAMILY_CODES:
        raise ValueError(f"no compiled pass for the {family} family")
    y_arr = read_only(np.ascontiguousarray(y, dtype=np.float64).reshape(-1))
    n = y_arr.shape[0]
    w_arr, has_w = _vector(w, n, "w")
    m_arr, has_m = _vector(trials, n, "trials")
    block_size = int(block_size)
    if block_size < 1:
        raise ValueError(f"block_size must be positive; got {block_size}")
    return float(on_threads(n_threads, n, _compiled().log_constant, y_arr, w_arr, has_w,
                            m_arr, has_m, FAMILY_CODES[family], block_size))


def glm_e_step(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    offset: np.ndarray | None,
    trials: np.ndarray | None,
    x_loc: np.ndarray,
    x_inv: np.ndarray,
    y_inv: float,
    fit_intercept: bool,
    coef: np.ndarray | None,
    log_weights: np.ndarray,
    family: str,
    link: str,
    block_size: int = GLM_BLOCK_SIZE,
    *,
    n_threads: int | None = None,
    log_constant: float | None = None,
    responsibilities: np.ndarray | None = None,
) -> tuple:
    """E-step and Fisher-scoring statistics of Poisson or binomial components over all
    rows in one compiled pass.

    Internally ``x* = (x - x_loc) * x_inv``; the design row is ``(1, x*)`` with an
    intercept and ``x*`` without, and the linear predictor of component k is
    ``eta_k = x*' coef_k + offset * y_inv``. For every row the kernel forms the
    component log-densities plus ``log_weights``, normalises them by a log-sum-exp with
    the row maximum subtracted, and accumulates the weighted responsibilities ``r_k``
    (sample weight times responsibility) into the sums below.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features in user units, float64, C- or F-contiguous; only read, never copied.
    y : ndarray of shape (n,)
        Response (counts, or binomial successes).
    w, offset, trials : ndarray of shape (n,) or None
        Sample weights (None: all ones), offsets on the scale of the linear predictor
        in user units (None: zero) and binomial trials (None: one).
    x_loc, x_inv : ndarray of shape (d,)
        Column locations and inverse scales of the standardisation.
    y_inv : float
        Inverse scale of the response (1 for these families), which divides the offset.
    fit_intercept : bool
        Whether the design has a leading column of ones.
    coef : ndarray of shape (K, p) or None
        Component coefficients in internal units, ``p = d + fit_intercept``. None for a
        first step without coefficients (given ``responsibilities``, a link of
        :data:`START_LINKS`): the sums are then taken, as
        :meth:`GLMFamily.statistics <regmix.families.glm.GLMFamily.statistics>` does, at
        the smoothed response ``mu_0`` (the family's ``mustart``), with the working
        response ``g(mu_0) - offset`` in place of ``u / W``.
    log_weights : ndarray of shape (K,) or (K, 1)
        Log mixing proportions; ``-inf`` marks a component of weight zero.
    family : {"poisson", "binomial"}
    link : str
        ``"log"`` or ``"identity"`` for Poisson; ``"logit"``, ``"probit"`` or
        ``"cloglog"`` for binomial.
    block_size : int, default=2048
        Rows per block; the result depends on it but not on the number of threads.
    n_threads : int or None, default=None
        Threads for this call (None: numba's current setting), capped at the number of
        blocks; the calling thread's setting is restored.
    log_constant : float, optional
        :func:`glm_log_constant` of these rows, which the log-likelihood includes:
        computed here when not given (it depends on the rows only, so a caller that
        passes over the same rows again keeps it).
    responsibilities : ndarray of shape (n, K), optional
        Given memberships (non-negative, each row with a positive sum) to use instead
        of the posterior probabilities: row ``i`` divided by its sum gives ``r_ik``. The
        log-likelihood is then NaN and ``log_weights`` is not used.

    Returns
    -------
    loglik : float
        ``sum_i w_i log sum_k pi_k f_k(y_i)`` (rows of weight zero count for nothing).
    resp_sum : ndarray of shape (K,)
        ``N_k = sum_i r_ik``.
    A : ndarray of shape (K, p, p)
        ``X' diag(r_k W_k) X`` (symmetric).
    b : ndarray of shape (K, p)
        ``X' (r_k u_k)``, with ``u_k / W_k`` taken as 0 where ``W_k = 0``.

    Raises
    ------
    ImportError
        If numba is not installed.
    ValueError
        If an argument has the wrong type, layout or shape, or the family and link are
        not the kernel's.
    """
    if family not in FAMILY_CODES or link not in LINK_CODES:
        raise ValueError(f"no compiled pass for the {family} family with the {link} link")
    if not isinstance(X, np.ndarray) or X.dtype != np.float64 or X.ndim != 2:
        raise ValueError("X must be a 2-D float64 ndarray")
    if not (X.flags.c_contiguous or X.flags.f_contiguous):
        raise ValueError("X must be C- or F-contiguous (it is read in place, never copied)")
    n, d = X.shape
    x_loc = read_only(np.ascontiguousarray(x_loc, dtype=np.float64).reshape(-1))
    x_inv = read_only(np.ascontiguousarray(x_inv, dtype=np.float64).reshape(-1))
    if x_loc.shape != (d,) or x_inv.shape != (d,):
        raise ValueError(f"x_loc and x_inv must have shape ({d},)")
    p = d + int(bool(fit_intercept))
    first_step = coef is None
    if first_step:
        if responsibilities is None or link not in START_LINKS:
            raise ValueError("a first step without coefficients needs given "
                             f"responsibilities and a link of {START_LINKS}")
        coef = np.zeros((np.shape(responsibilities)[1], p))
    coef = read_only(np.ascontiguousarray(coef, dtype=np.float64))
    if coef.ndim != 2 or coef.shape[1] != p or coef.shape[0] == 0:
        raise ValueError(f"coef must have shape (K, {p}) with K > 0; got {coef.shape}")
    K = coef.shape[0]
    log_w = read_only(np.ascontiguousarray(log_weights, dtype=np.float64).reshape(-1))
    if log_w.shape != (K,):
        raise ValueError(f"log_weights must have {K} entries; got {log_w.shape}")
    y_arr, _ = _vector(y, n, "y")
    w_arr, has_w = _vector(w, n, "w")
    off_arr, has_off = _vector(offset, n, "offset")
    m_arr, has_m = _vector(trials, n, "trials")
    block_size = int(block_size)
    if block_size < 1:
        raise ValueError(f"block_size must be positive; got {block_size}")
    given = responsibilities is not None
    R = np.empty((0, K))
    if given:
        R = np.ascontiguousarray(responsibilities, dtype=np.float64)
        if R.shape != (n, K):
            raise ValueError(f"responsibilities must have shape ({n}, {K}); got {R.shape}")
    by_row = bool(X.flags.c_contiguous)
    Xr = read_only(X if by_row else X.T)
    P = p * (p + 1) // 2
    n_acc = K * (P + p + 3) + 1
    args = (Xr, by_row, y_arr, w_arr, has_w, off_arr, has_off, m_arr, has_m, x_loc, x_inv,
            float(y_inv), bool(fit_intercept), coef, log_w, FAMILY_CODES[family],
            LINK_CODES[link], read_only(R), given, first_step, block_size, n_acc)
    total = on_threads(n_threads, n, _compiled().kernel, *args)
    if given:
        log_constant = math.nan
    elif log_constant is None:
        log_constant = glm_log_constant(y_arr, w, trials, family, block_size,
                                        n_threads=n_threads)
    per = total[: K * (P + p + 3)].reshape(K, P + p + 3)
    rows, cols = np.triu_indices(p)
    A = np.empty((K, p, p))
    A[:, rows, cols] = per[:, :P]
    A[:, cols, rows] = per[:, :P]
    b = per[:, P : P + p].copy()
    resp_sum = per[:, P + p + 2].copy()
    base = K * (P + p + 3)
    return float(total[base]) + log_constant, resp_sum, A, b
