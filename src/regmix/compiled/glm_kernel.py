"""Fused compiled E-step for GLM components: one read of the rows.

:func:`glm_e_step` computes, for rows held in memory, what the data pass
(:func:`regmix.engine.passes.e_step_chunk` with :class:`regmix.families.poisson.Poisson`,
:class:`regmix.families.binomial.Binomial`, :class:`regmix.families.gamma.GammaFamily`
or :class:`regmix.families.negative_binomial.NegativeBinomial` and constant mixing
weights; the links of :data:`KERNEL_LINKS`) computes: the weighted log-likelihood, the
summed weighted responsibilities ``N_k``, the Fisher-scoring statistics of
:meth:`regmix.families.glm.GLMFamily.statistics`, ``A_k = X' diag(r_k W) X`` and
``b_k = X' (r_k u)`` (``W`` the Fisher weights, ``u`` the scores with respect to the
linear predictor), and the statistics of the Gamma shape or negative-binomial size
(``extra_statistics``), in the internal units (standardised design, response in its
own units). Every row is read once and standardised on the fly; no standardised copy
of the design and no per-row temporaries are made.

The rows are cut into blocks of ``block_size`` rows from row 0; the threads claim them
one at a time (as in the Gaussian kernel), each block writes its sums into its own slot,
and the slots are added in block order afterwards, so the result is deterministic and
does not depend on the number of threads. A block is processed tile by tile as in the
Gaussian kernel (:mod:`regmix.compiled.gaussian_kernel`), whose building blocks it uses:
the design standardised into short column buffers, the exponentials of the linear
predictors and of the log-sum-exp in eight vector lanes (its ``exp``), its ``log``, and
its sums over the rows of a tile in eight lanes (``A`` and ``b`` are the Gaussian sums
of the weights ``r W`` and the working residuals ``u / W``, as
:meth:`GLMFamily.statistics <regmix.families.glm.GLMFamily.statistics>` forms them).
Within a row the arithmetic is the numpy pass's formula by formula, with these ``exp``
and ``log`` (within two units in the last place) for numpy's and ``log1p`` of the logit
from ``log`` (Goldberg's ``log(1 + e) e / ((1 + e) - 1)``); the probit and cloglog
links, the identity link's ``log``, the negative binomial's ``log1p`` and ``lgamma``
call the C library per row. The Gamma density with the log link takes ``y / mu`` as
``exp(log y - eta)``. The negative binomial's ``lgamma(y + th) - lgamma(th)``,
``digamma(y + th) - digamma(th)`` and the trigamma difference are, for counts below 8,
the sums over ``j < y`` of ``log((th + j) / th)``, ``1 / (th + j)`` and
``-1 / (th + j)^2`` (exact to round-off, where the numpy pass subtracts function
values), beyond them from numba's ``lgamma`` (or Stirling's series, as the family, from
a size of 100) and the kernel's digamma and trigamma (recurrence to 10, then the
asymptotic series); the size's own ``lgamma``, ``digamma`` and ``trigamma`` are scipy's,
taken once per pass. The two passes agree to round-off (about 1e-14 relative), not bit
for bit: the size's statistics to about 1e-12 of the terms the numpy pass subtracts to
form them.

The part of the log-likelihood that depends on the rows alone (the log-gamma terms of
``-log y!`` and of the binomial coefficient, the Gamma density's ``-log y``) is the same
for every component and every pass: :func:`glm_log_constant` sums it once, and a caller
that passes over the same rows again hands it back (``log_constant``).

Grouped rows (``group_starts``) take the Gaussian kernel's grouped blocks and tiles and
its groups' posteriors (see :mod:`regmix.compiled.gaussian_kernel`); the rows' constant
part of the log-likelihood is then still :func:`glm_log_constant`'s sum, since a group's
log-density is the weighted sum of its rows'.

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
from regmix.compiled.gaussian_kernel import _LANES
from regmix.compiled.helpers import CompiledOnce, on_threads, read_only, symmetric_from_packed

__all__ = ["EXTRA_STATISTICS", "FAMILY_CODES", "GLM_BLOCK_SIZE", "KERNEL_LINKS", "LINK_CODES",
           "START_LINKS", "glm_e_step", "glm_log_constant"]


# Rows per block: the unit of parallel work and of summation (as the Gaussian kernel's).
GLM_BLOCK_SIZE = 2048


# The family and link codes the kernel understands (a family or link not listed here
# is not the kernel's to run).
FAMILY_CODES = {"poisson": 0, "binomial": 1, "gamma": 2, "negative_binomial": 3}


LINK_CODES = {"log": 0, "identity": 1, "logit": 2, "probit": 3, "cloglog": 4, "inverse": 5}


# The links the kernel covers for each family.
KERNEL_LINKS = {"poisson": ("log", "identity"), "binomial": ("logit", "probit", "cloglog"),
                "gamma": ("log", "inverse"), "negative_binomial": ("log",)}


# The families with one extra parameter per component (the Gamma shape, the
# negative-binomial size), and the number of their statistics the kernel sums.
EXTRA_STATISTICS = {"gamma": 1, "negative_binomial": 2}


# The links whose first step without coefficients the kernel takes (probit's needs the
# inverse normal distribution function, which numba lacks: the numpy pass takes it).
START_LINKS = ("log", "identity", "logit", "cloglog", "inverse")


# The constants of families/links.py and families/glm.py, as the numpy pass uses them.
_ETA_MAX = 300.0


_EPS = float(np.finfo(np.float64).eps)


_SQRT1_2 = math.sqrt(0.5)


_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


_LOG2 = math.log(2.0)


# Counts below this take the negative binomial's log-gamma, digamma and trigamma
# differences as sums over the count (cheaper than the functions, and more accurate).
_SMALL_COUNT = 8.0










def _build() -> SimpleNamespace:
    """Define the compiled functions (compiled, or loaded from numba's on-disk cache, on
    first call); numba is imported here and nowhere else.

    The helpers that compiled code calls are bound as module globals, not as closure
    variables, so that numba's on-disk cache key stays the same between processes.
    """
    global _prange, _log_ndtr, _block, _exp_rows, _log, _accumulate, _component_sums
    global _standardise_tile, _binomial_terms, _given_rows, _sum_of_logs, _start_terms
    global _expit, _claim, _gamma_working, _nb_working, _digamma, _trigamma
    global _log_rising_ratio, _classify_rows, _gating_rows, _gating_sums, _linear_rows
    global _add_rows, _row_maxima, _logit_terms, _binomial_link, _poisson_identity_log_density
    global _exp_below_max
    global _gamma_log_density, _nb_log_density, _row_log_constant
    global _group_rows, _group_gating, _tile_size, _tile_end, _group_buffers
    import numba

    # the Gaussian kernel's vector exp, log, design standardisation and sums
    _gk._compiled()
    _exp_rows, _log, _accumulate = _gk._exp_rows, _gk._log, _gk._accumulate
    _component_sums, _standardise_tile = _gk._component_sums, _gk._standardise_tile
    _given_rows, _sum_of_logs = _gk._given_rows, _gk._sum_of_logs
    _claim, _classify_rows = _gk._claim, _gk._classify_rows
    _linear_rows, _gating_rows, _gating_sums = _gk._linear_rows, _gk._gating_rows, _gk._gating_sums
    _add_rows, _row_maxima = _gk._add_rows, _gk._row_maxima
    _exp_below_max = _gk._exp_below_max
    _group_rows, _group_gating = _gk._group_rows, _gk._group_gating
    _tile_size, _tile_end, _group_buffers = _gk._tile_size, _gk._tile_end, _gk._group_buffers

    _prange = numba.prange
    jit = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")

    @jit
    def _logit_terms(eta, e):  # pragma: no cover - compiled
        # A logit row's mean, its derivative and log p, log(1 - p), from e = exp(-|eta|)
        # without branches: log1p(e) by Goldberg's formula, exact where 1 + e rounds to 1.
        one = 1.0 + e
        lt = _log(one) * (e / (one - 1.0)) if one != 1.0 else e
        pos = eta >= 0.0
        mu = (1.0 if pos else e) / one
        dmu = mu * ((e if pos else 1.0) / one)
        log_p = -lt if pos else -(lt - eta)
        log_q = -(eta + lt) if pos else -lt
        return mu, dmu, log_p, log_q

    @jit
    def _binomial_link(eta, e, link):  # pragma: no cover - compiled
        # A probit (link 3) or cloglog row's mean, its derivative and log p, log(1 - p),
        # as Binomial.loglik has them; e = exp(min(eta, _ETA_MAX)) for cloglog.
        if link == 3:
            mu = 0.5 * math.erfc(-eta * _SQRT1_2)
            dmu = math.exp(-0.5 * eta * eta) * _INV_SQRT_2PI
            return mu, dmu, _log_ndtr(eta), _log_ndtr(-eta)
        mu = -math.expm1(-e)
        dmu = e * math.exp(-e)
        if e < 1e-8:
            log_p = eta - 0.5 * e
        elif e > _LOG2:
            log_p = math.log1p(-math.exp(-e))
        else:
            log_p = math.log(-math.expm1(-e))
        return mu, dmu, log_p, -e

    @jit
    def _poisson_identity_log_density(y, mu):  # pragma: no cover - compiled
        # y log mu - mu (without -log y!), 0 log 0 = 0, as Poisson.loglik with xlogy
        if y == 0.0:
            return -mu
        if mu > 0.0:
            return y * math.log(mu) - mu
        return -np.inf if mu == 0.0 else np.nan

    @jit
    def _gamma_log_density(nu, log_nu, lg_nu, log_r, r, pos):  # pragma: no cover
        # nu (log nu + log r - r) - lgamma(nu) (without -log y) for r = y / mu, or
        # -inf where the mean is not positive (pos false), as GammaFamily.loglik
        return nu * ((log_nu + log_r) - r) - lg_nu if pos else -np.inf

    @jit
    def _nb_log_density(rising, y, eta, th, ratio):  # pragma: no cover - compiled
        # D(y, th) + y log mu - (th + y) log1p(mu / th) (without -log y!) with the log
        # link's log mu = eta and ratio = mu / th, as NegativeBinomial.loglik
        return (rising + y * eta) - (th + y) * math.log1p(ratio)

    @jit
    def _row_log_constant(y, m, family):  # pragma: no cover - compiled
        # A row's log-density terms that do not depend on the parameters: -log y! for
        # Poisson and negative-binomial, log binom(m, y) for binomial and -log y for
        # Gamma components.
        if family == 0 or family == 3:
            return -math.lgamma(y + 1.0)
        if family == 2:
            return -math.log(y)
        return (math.lgamma(m + 1.0) - math.lgamma(y + 1.0)) - math.lgamma(m - y + 1.0)

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
    def _start_terms(y, m, off, family, link, n, H, V, G, extra, cst):  # pragma: no cover
        # The first IRLS step's working responses eta_0 - offset into every row of H,
        # Fisher weights into V and the extras' terms into G, for the n rows of a tile:
        # from the smoothed response mu_0 (the family's mustart) and eta_0 = g(mu_0), the
        # link's derivative taken at eta_0, as GLMFamily.statistics without coefficients.
        for t in range(n):
            yi = y[t]
            if family == 0:
                mu = yi + 0.1
            elif family == 1:
                mu = (yi + 0.5) / (m[t] + 1.0)
            elif family == 2:
                mu = yi
            else:
                mu = yi + (1.0 if yi == 0.0 else 0.0) / 6.0
            if link == 0:  # log
                eta = math.log(mu)
                dmu = math.exp(min(eta, _ETA_MAX))
            elif link == 1:  # identity
                eta = mu
                dmu = 1.0
            elif link == 2:  # logit
                eta = math.log(mu / (1.0 - mu))
                dmu = _expit(eta) * _expit(-eta)
            elif link == 5:  # inverse
                eta = 1.0 / mu
                mi = 1.0 / eta
                dmu = -mi * mi
            else:  # cloglog
                eta = math.log(-math.log1p(-mu))
                e = math.exp(min(eta, _ETA_MAX))
                dmu = e * math.exp(-e)
            z = eta - off[t]
            for k in range(H.shape[0]):
                if family == 0:
                    W = dmu * dmu * (1.0 / max(mu, 1e-300))
                elif family == 1:
                    p = min(max(mu, _EPS), 1.0 - _EPS)
                    W = dmu * dmu * (m[t] / (p * (1.0 - p)))
                elif family == 2:
                    W, _, g1, g2 = _gamma_working(yi, mu, dmu, extra[k])
                else:
                    W, _, g1, g2, _ = _nb_working(yi, mu, dmu, extra[k], cst[k])
                H[k, t] = z
                V[k, t] = W
                if family >= 2:
                    G[2 * k, t] = g1
                    G[2 * k + 1, t] = g2

    @jit
    def _gamma_working(y, mu, dmu, nu):  # pragma: no cover - compiled
        # A Gamma row's Fisher weight W, working residual u / W (0 where W = 0) and the
        # shape's statistic log(y / mu) - y / mu (0, 0 where the mean is not a positive
        # number), as GammaFamily.working and extra_statistics compute them.
        ok = mu > 0.0 and mu < np.inf
        mm = mu if ok else 1.0
        q = (dmu if ok else 0.0) / mm
        W = nu * q * q
        score = nu * (y / mm - 1.0) * q
        if not (abs(W) < np.inf and abs(score) < np.inf):
            W = 0.0
            score = 0.0
        r = y / mm if ok else 1.0
        t = _log(r) - r if ok else 0.0
        return W, (score / W if W > 0.0 else 0.0), t, 0.0

    @jit
    def _nb_working(y, mu, dmu, th, c):  # pragma: no cover - compiled
        # A negative-binomial row's Fisher weight W, working residual u / W (0 where
        # W = 0), the size's statistics th l1 and th l1 + th^2 l2 (l1, l2 the first two
        # derivatives of the log-density in the size), as NegativeBinomial.working and
        # extra_statistics compute them, and lgamma(y + th) - lgamma(th) - y log th; c
        # holds log th, lgamma th, digamma th and trigamma th.
        mm = max(mu, 1e-300)
        ss = th + mm
        W = dmu * dmu * (th / (mm * ss))
        u = (th * (y - mm) / (mm * ss)) * dmu
        s = th + mu
        a = th + y
        if y < _SMALL_COUNT:
            # the sums over j < y of log((th + j) / th), 1 / (th + j) and 1 / (th + j)^2
            # that the log-gamma, digamma and trigamma differences are for a count
            prod = 1.0
            psi = 0.0
            psi1 = 0.0
            for j in range(int(y)):
                v = th + j
                prod *= v / th
                psi += 1.0 / v
                psi1 -= 1.0 / (v * v)
            rising = _log(prod)
        else:
            rising = _log_rising_ratio(y, th, c[0], c[1])
            psi = _digamma(a) - c[2]
            psi1 = _trigamma(a) - c[3]
        l1 = ((psi + _log(th / s)) + 1.0) - a / s
        l2 = ((psi1 + 1.0 / th) - 2.0 / s) + a / (s * s)
        e1 = th * l1
        return W, (u / W if W > 0.0 else 0.0), e1, e1 + th * th * l2, rising

    @jit
    def _digamma(x):  # pragma: no cover - compiled
        # digamma of x > 0: the recurrence up to x >= 10, then the asymptotic series
        # log x - 1 / (2x) - sum B_2j / (2j x^2j) to j = 7 (error below 1e-17).
        acc = 0.0
        while x < 10.0:
            acc -= 1.0 / x
            x += 1.0
        v = 1.0 / (x * x)
        series = v * (1.0 / 12 - v * (1.0 / 120 - v * (1.0 / 252 - v * (
            1.0 / 240 - v * (1.0 / 132 - v * (691.0 / 32760 - v * (1.0 / 12)))))))
        return acc + ((math.log(x) - 0.5 / x) - series)

    @jit
    def _trigamma(x):  # pragma: no cover - compiled
        # trigamma of x > 0: the recurrence up to x >= 10, then the asymptotic series
        # 1 / x + 1 / (2 x^2) + sum B_2j / x^(2j + 1) to j = 7 (error below 1e-18).
        acc = 0.0
        while x < 10.0:
            acc += 1.0 / (x * x)
            x += 1.0
        v = 1.0 / (x * x)
        series = v * (1.0 / 6 - v * (1.0 / 30 - v * (1.0 / 42 - v * (
            1.0 / 30 - v * (5.0 / 66 - v * (691.0 / 2730 - v * (7.0 / 6)))))))
        return acc + (1.0 / x + 0.5 * v + series / x)

    @jit
    def _log_rising_ratio(y, th, log_th, lgamma_th):  # pragma: no cover - compiled
        # lgamma(y + th) - lgamma(th) - y log th, as negative_binomial.log_rising_ratio:
        # Stirling's series from a size of 100 on, the log-gamma values below.
        if th >= 100.0:
            b = th + y
            return ((((b - 0.5) * math.log1p(y / th) - y) + (1.0 / b - 1.0 / th) / 12.0)
                    - (1.0 / b**3 - 1.0 / th**3) / 360.0) + (1.0 / b**5 - 1.0 / th**5) / 1260.0
        return (math.lgamma(y + th) - lgamma_th) - y * log_th

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
               intercept, coef, log_w, extra, cst, family, link, R, has_r, start_step,
               classify, Zg, z_by_row, has_g, z_loc, z_inv, gamma, glw, firsts, has_gr, grp0, grp1,
               start, stop, out):  # pragma: no cover
        # The sums over rows start..stop-1, written to out: per component the upper
        # triangle of A by rows, b, sum r u^2 / W (unused), sum r W and N; then the
        # log-likelihood; then per component the two statistics of its extra (Gamma:
        # the shape's, the second zero; negative binomial: the size's); with has_g
        # (weights multinomial-logit in the gating design (1, z*), z* = (z - z_loc) *
        # z_inv, coefficients gamma (K, q), gamma_0 = 0; log_w is zero then) the gating
        # statistics of _gating_sums; with classify, the classification sums of
        # _classify_rows after them; with has_gr (the groups grp0..grp1-1, first rows firsts,
        # each sharing one posterior, log_w zero and glw the log weights: the Gaussian
        # kernel's _group_rows) the groups' summed posteriors after all these. Tile by
        # tile: the per-row quantities of a tile live in short buffers, so that the
        # loops over rows vectorise.
        K, p = coef.shape
        off = 1 if intercept else 0
        P = p * (p + 1) // 2
        stride = P + p + 3
        base = K * stride
        acc = np.zeros(out.shape[0])
        T = _tile_size(firsts, has_gr, grp0, grp1, stop)
        Z = np.empty((p, T))  # standardised design, one row per column
        H = np.empty((K, T))  # linear predictors, then the working residuals u / W
        F = np.empty((K, T))  # exp of the linear predictors (log, logit, cloglog)
        D = np.empty((K, T))  # log-densities, densities, responsibilities r
        V = np.empty((K, T))  # Fisher weights W, then r W
        F2 = np.zeros((K, T))  # Gamma: exp(log y - eta); NB: exp(eta - log size)
        G = np.zeros((2 * K, T))  # the extras' terms, two rows per component
        ly = np.zeros(T)  # Gamma: log y
        n_stats = 1 if family == 2 else 2
        zeros = np.zeros(T)
        scratch = np.empty(T)
        yt = np.empty(T)
        wt = np.ones(T)
        ot = np.zeros(T)
        mt = np.ones(T)
        mx2 = np.zeros((1, T))  # per-row maximum log-density
        mx = mx2[0]
        tot = np.zeros(T)  # per-row sum of the scaled densities
        ll2 = np.zeros((1, T))  # per-row weighted terms (weighted rows)
        ll = ll2[0]
        ones2 = np.ones((1, T))
        ones = ones2[0]
        prods = np.ones(_LANES)
        q_g = gamma.shape[1]
        Zt = np.ones((q_g, T))  # gating design, one row per column (row 0: ones)
        LW = np.zeros((K, T))  # log gating weights
        PI = np.zeros((K, T))  # gating weights
        gm = np.zeros(T)
        gs = np.zeros(T)
        cg = np.zeros(T)
        S, gmx, gtot, RG, PIG, ZG, lo, gi = _group_buffers(K, T, q_g, has_gr, has_g)
        gq = base + 1 + 2 * K  # the gating sums, then the classification sums
        cq = gq + ((K - 1) * q_g + (K - 1) * K // 2 * (q_g * (q_g + 1) // 2) if has_g else 0)
        nq = cq + (K + K * K + 2 if classify else 0)  # the groups' posterior sums
        if intercept:
            Z[0, :] = 1.0
        t0 = start
        grp = grp0
        while t0 < stop:
            grp_end, m = _tile_end(firsts, has_gr, grp, grp1, t0, stop, T)
            ng = grp_end - grp
            _standardise_tile(X, by_row, t0, m, x_loc, x_inv, Z, off)
            if has_g:
                _standardise_tile(Zg, z_by_row, t0, m, z_loc, z_inv, Zt, 1)
                _gating_rows(gamma, Zt, LW, PI, gm, gs, m)
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
                _start_terms(yt, mt, ot, family, link, m, H, V, G, extra, cst)
            else:
                # linear predictors ((c_0 z_0 + c_1 z_1) + ...) + offset
                _linear_rows(coef, Z, H, m)
                for k in range(K):
                    hk = H[k]
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
                if family == 2 and link == 0:  # Gamma, log: y / mu = exp(log y - eta)
                    for t in range(m):
                        ly[t] = _log(yt[t])
                    for k in range(K):
                        hk = H[k]
                        gk = F2[k]
                        for t in range(m):
                            gk[t] = ly[t] - hk[t]
                    _exp_rows(F2, zeros, scratch, m)
                elif family == 3:  # negative binomial: mu / size = exp(eta - log size)
                    for k in range(K):
                        hk = H[k]
                        gk = F2[k]
                        lt = cst[k, 0]
                        for t in range(m):
                            gk[t] = hk[t] - lt
                    _exp_rows(F2, zeros, scratch, m)
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
                    elif family == 2:  # Gamma, log or inverse
                        nu = extra[k]
                        log_nu = cst[k, 0]
                        lg_nu = cst[k, 1]
                        g1 = G[2 * k]
                        if link == 0:
                            # with r = y / mu = exp(log y - eta): W = nu, u / W = r - 1
                            # and the shape's term log r - r, where mu is a positive
                            # number and r finite (else none, and for mu = 0 density 0);
                            # past the cap of the mean (eta > _ETA_MAX) as the family
                            fk2 = F2[k]
                            for t in range(m):
                                eta = hk[t]
                                mu = fk[t]
                                log_r = ly[t] - eta
                                r = fk2[t]
                                dk[t] = _gamma_log_density(nu, log_nu, lg_nu, log_r, r,
                                                           mu > 0.0) + lk
                                ok = mu > 0.0 and r < np.inf
                                vk[t] = nu if ok else 0.0
                                hk[t] = r - 1.0 if ok else 0.0
                                g1[t] = log_r - r if ok else 0.0
                                if eta > _ETA_MAX:
                                    vk[t], hk[t], g1[t], _ = _gamma_working(yt[t], mu, mu, nu)
                        else:
                            # mu = 1 / eta, dmu = -mu^2; the terms of _gamma_working
                            # from the density's r = y / mu and log r
                            for t in range(m):
                                mu = 1.0 / hk[t]
                                pos = mu > 0.0
                                r = yt[t] / (mu if pos else 1.0)
                                log_r = _log(r)
                                dk[t] = _gamma_log_density(nu, log_nu, lg_nu, log_r, r,
                                                           pos) + lk
                                ok = pos and mu < np.inf
                                q = (-mu * mu if ok else 0.0) / (mu if ok else 1.0)
                                Wk = nu * q * q
                                score = nu * ((r if ok else yt[t]) - 1.0) * q
                                ok2 = abs(Wk) < np.inf and abs(score) < np.inf
                                vk[t] = Wk if ok2 else 0.0
                                hk[t] = score / Wk if (ok2 and Wk > 0.0) else 0.0
                                g1[t] = log_r - r if ok else 0.0
                    elif family == 3:  # negative binomial, log
                        th = extra[k]
                        ck = cst[k]
                        g1 = G[2 * k]
                        g2 = G[2 * k + 1]
                        for t in range(m):
                            eta = hk[t]
                            yi = yt[t]
                            mu = fk[t]
                            vk[t], hk[t], g1[t], g2[t], rising = _nb_working(yi, mu, mu, th,
                                                                             ck)
                            dk[t] = _nb_log_density(rising, yi, eta, th, F2[k, t]) + lk
                    elif family == 0:  # Poisson, identity
                        for t in range(m):
                            mu = hk[t]
                            yi = yt[t]
                            lf = _poisson_identity_log_density(yi, mu)
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
                            mu, dmu, log_p, log_q = _logit_terms(eta, fk[t])
                            dk[t], vk[t], hk[t] = _binomial_terms(mu, dmu, log_p, log_q, yi,
                                                                  mi, lk)
                    else:  # binomial, probit or cloglog
                        for t in range(m):
                            eta = hk[t]
                            yi = yt[t]
                            mi = mt[t]
                            mu, dmu, log_p, log_q = _binomial_link(eta, fk[t], link)
                            dk[t], vk[t], hk[t] = _binomial_terms(mu, dmu, log_p, log_q, yi,
                                                                  mi, lk)
            if has_g and not start_step and not has_gr:  # the rows' own log weights
                _add_rows(D, LW, m)
            if has_r:
                _given_rows(R, t0, m, D, tot)  # given memberships, divided by tot below
            elif has_gr:  # the inverse of the groups' sums in tot
                _group_rows(D, tot, wt, LW, has_g, glw, firsts, grp, ng, t0, m, S, gmx, gtot,
                            lo, gi, prods, acc, base, nq)
            else:
                _row_maxima(D, mx, m)
                empty = _exp_below_max(D, mx, tot, m)  # (a row no component can produce)
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
            if not has_gr:
                for t in range(m):
                    tot[t] = 1.0 / tot[t]
            if classify and has_gr:
                _classify_rows(S, gtot, ones, ng, acc, cq)
            elif classify:
                _classify_rows(D, tot, wt, m, acc, cq)
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
                if family >= 2:  # the extras' statistics, sum r t
                    _accumulate(dk, ones, G, 2 * k, n_stats, m, acc, base + 1 + 2 * k)
            if has_g and has_gr:
                _group_gating(S, gtot, PI, Zt, firsts, grp, ng, t0, RG, PIG, ZG, cg, ones, acc, gq)
            elif has_g:
                _gating_sums(D, PI, wt, Zt, cg, ones, m, acc, gq)
            t0 += m
            grp = grp_end
        out[:] = acc

    @numba.njit(parallel=True, nogil=True, cache=True, fastmath=False, error_model="numpy")
    def kernel(X, by_row, y, w, has_w, offset, has_off, trials, has_m, x_loc, x_inv, y_inv,
               intercept, coef, log_w, extra, cst, family, link, R, has_r, start_step,
               classify, Zg, z_by_row, has_g, z_loc, z_inv, gamma, glw, bounds, firsts, bg,
               has_gr, n_acc, n_workers):  # pragma: no cover
        # The sums of the blocks of rows bounds[i]..bounds[i + 1]-1 (with has_gr the
        # groups bg[i]..bg[i + 1]-1, first rows firsts), added in block order; each
        # of n_workers threads claims the next block until none is left (as the
        # Gaussian kernel does).
        n_blocks = bounds.shape[0] - 1
        if n_workers <= 1:  # on the calling thread, without entering the thread pool
            # (np.empty and loops: parallel=True makes np.zeros a parallel loop of its own)
            total = np.empty(n_acc)
            for a in range(n_acc):
                total[a] = 0.0
            out = np.empty(n_acc)
            for blk in range(n_blocks):
                _block(X, by_row, y, w, has_w, offset, has_off, trials, has_m, x_loc, x_inv,
                       y_inv, intercept, coef, log_w, extra, cst, family, link, R, has_r,
                       start_step, classify, Zg, z_by_row, has_g, z_loc, z_inv, gamma, glw,
                       firsts, has_gr, bg[blk], bg[blk + 1], bounds[blk], bounds[blk + 1],
                       out)
                for a in range(n_acc):
                    total[a] += out[a]
            return total
        partial = np.zeros((n_blocks, n_acc))
        claimed = np.zeros(1, dtype=np.int64)
        for _ in _prange(min(n_workers, n_blocks)):
            blk = _claim(claimed)
            while blk < n_blocks:
                _block(X, by_row, y, w, has_w, offset, has_off, trials, has_m, x_loc, x_inv,
                       y_inv, intercept, coef, log_w, extra, cst, family, link, R, has_r,
                       start_step, classify, Zg, z_by_row, has_g, z_loc, z_inv, gamma, glw,
                       firsts, has_gr, bg[blk], bg[blk + 1], bounds[blk], bounds[blk + 1],
                       partial[blk])
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
                    acc += wi * _row_log_constant(y[i], trials[i] if has_m else 1.0,
                                                  family)
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


def _extra_constants(family: str, extra, K: int) -> tuple[np.ndarray, np.ndarray]:
    """The extras (K,) and the per-component constants the kernel takes: for Gamma
    ``log nu``, ``lgamma(nu)``; for negative binomial ``log th``, ``lgamma(th)``,
    ``digamma(th)``, ``trigamma(th)`` (scipy's, as the numpy pass uses)."""
    cst = np.zeros((K, 4))
    if family not in EXTRA_STATISTICS:
        if extra is not None:
            raise ValueError(f"the {family} family has no extra parameter; got extra")
        return read_only(np.zeros(K)), read_only(cst)
    if extra is None:
        raise ValueError(f"the {family} family needs its extra parameter (extra)")
    ex = np.ascontiguousarray(extra, dtype=np.float64).reshape(-1)
    if ex.shape != (K,) or not np.all(ex > 0) or not np.all(np.isfinite(ex)):
        raise ValueError(f"extra must hold {K} positive numbers; got {np.asarray(extra)!r}")
    from scipy import special

    cst[:, 0] = np.log(ex)
    cst[:, 1] = special.gammaln(ex)
    cst[:, 2] = special.digamma(ex)
    cst[:, 3] = special.polygamma(1, ex)
    return read_only(ex), read_only(cst)


def glm_log_constant(y: np.ndarray, w: np.ndarray | None, trials: np.ndarray | None,
                     family: str, block_size: int = GLM_BLOCK_SIZE, *,
                     n_threads: int | None = None) -> float:
    """The part of the log-likelihood that does not depend on the parameters:
    ``sum_i w_i c_i`` over the rows of positive weight, with ``c_i = -log y_i!`` for
    Poisson and negative-binomial, ``log binom(m_i, y_i)`` for binomial and
    ``-log y_i`` for Gamma components. It
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
    extra: np.ndarray | None = None,
    classify: bool = False,
    concomitant: np.ndarray | None = None,
    z_loc: np.ndarray | None = None,
    z_inv: np.ndarray | None = None,
    gating: np.ndarray | None = None,
    group_starts: np.ndarray | None = None,
) -> tuple:
    """E-step and Fisher-scoring statistics of Poisson, binomial, Gamma or
    negative-binomial components over all rows in one compiled pass.

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
    family : {"poisson", "binomial", "gamma", "negative_binomial"}
    link : str
        A link of :data:`KERNEL_LINKS` for the family: ``"log"`` or ``"identity"`` for
        Poisson; ``"logit"``, ``"probit"`` or ``"cloglog"`` for binomial; ``"log"`` or
        ``"inverse"`` for Gamma; ``"log"`` for negative binomial.
    block_size : int, default=2048
        Rows per block; the result depends on it but not on the number of threads.
    n_threads : int or None, default=None
        Threads for this call (None: numba's current setting), at most one per
        :data:`~regmix.compiled.helpers.MIN_ROWS_PER_THREAD` rows; the calling thread's
        setting is restored.
    log_constant : float, optional
        :func:`glm_log_constant` of these rows, which the log-likelihood includes:
        computed here when not given (it depends on the rows only, so a caller that
        passes over the same rows again keeps it).
    responsibilities : ndarray of shape (n, K), optional
        Given memberships (non-negative, each row with a positive sum) to use instead
        of the posterior probabilities: row ``i`` divided by its sum gives ``r_ik``. The
        log-likelihood is then NaN and ``log_weights`` is not used.
    extra : ndarray of shape (K,), optional
        The components' Gamma shapes or negative-binomial sizes (positive): required for
        these families, refused for the others.
    classify : bool, default=False
        Also sum the rows' classification by their posterior probabilities (not with
        given ``responsibilities``): the last value returned.
    concomitant : ndarray of shape (n, r), optional
        Concomitant variables in user units (float64, C- or F-contiguous; only read):
        the mixing weights are then multinomial-logit in the gating design ``(1, z*)``,
        ``z* = (z - z_loc) * z_inv``, ``pi_ik`` proportional to ``exp(gating_k' (1,
        z*_i))``, in place of ``log_weights`` (which is not used), as
        :class:`~regmix.mixing.gating.MultinomialLogitGating` has them.
    z_loc, z_inv : ndarray of shape (r,), optional
        The concomitant variables' locations and inverse scales (required with them).
    gating : ndarray of shape (K, r + 1), optional
        The gating coefficients (required with ``concomitant``; the first row zero).
    group_starts : ndarray of int of shape (G,), optional
        Grouped rows (sorted by group): the first row of each group. All rows of a
        group share one posterior, from ``sum_i w_i log f_k(y_i)`` over its rows plus
        the log weights of its first row, as
        :func:`regmix.engine.passes.observation_posteriors` has it; the blocks end on
        group boundaries (:func:`~regmix.compiled.gaussian_kernel.block_bounds`). The
        log-likelihood, the gating statistics and the classification are then per
        group (each of weight one), and the groups' summed posteriors are returned
        last. Not with given ``responsibilities``.

    Returns
    -------
    loglik : float
        ``sum_i w_i log sum_k pi_k f_k(y_i)`` (rows of weight zero count for nothing;
        for grouped rows ``sum_g log sum_k pi_gk prod_i f_k(y_i)^w_i``).
    resp_sum : ndarray of shape (K,)
        ``N_k = sum_i r_ik``.
    A : ndarray of shape (K, p, p)
        ``X' diag(r_k W_k) X`` (symmetric).
    b : ndarray of shape (K, p)
        ``X' (r_k u_k)``, with ``u_k / W_k`` taken as 0 where ``W_k = 0``.
    extra_stats : ndarray of shape (K, s)
        The statistics of the extras, as the family's ``extra_statistics`` sums them:
        ``s = 0`` for Poisson and binomial; for Gamma ``sum_i r_ik (log t - t)`` with
        ``t = y_i / mu_ik``; for negative binomial ``sum_i r_ik e1_ik`` and
        ``sum_i r_ik e2_ik``, the first two derivatives of the log-density in the log
        size.
    gating_stats : tuple of (ndarray, ndarray)
        Only with ``concomitant``: the gradient (K - 1, r + 1) ``sum_i w_i (r_ik -
        pi_ik) z_i`` and the ((K - 1)(r + 1), (K - 1)(r + 1)) matrix ``sum_i w_i
        (diag(pi_i) - pi_i pi_i') (x) z_i z_i'`` over components 2..K, as
        :meth:`MultinomialLogitGating.statistics
        <regmix.mixing.gating.MultinomialLogitGating.statistics>` returns them.
    classes : tuple of (ndarray, ndarray, float, float)
        Only with ``classify``: per component the weight of the rows whose largest
        posterior is its own (the first of equal ones), shape (K,); the (K, K) table of
        ``sum_i w_i r_il`` over the rows assigned to component k (row k); the entropy
        ``-sum_i w_i sum_k r_ik log r_ik``; and ``sum_i w_i log max_k r_ik``. Rows of
        weight zero count for nothing.
    group_sums : ndarray of shape (K,)
        Only with ``group_starts``: the groups' summed posteriors.

    Raises
    ------
    ImportError
        If numba is not installed.
    ValueError
        If an argument has the wrong type, layout or shape, or the family and link are
        not the kernel's.
    """
    if link not in KERNEL_LINKS.get(family, ()):
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
    if classify and given:
        raise ValueError("classify needs the posterior probabilities, not given "
                         "responsibilities")
    R = np.empty((0, K))
    if given:
        R = np.ascontiguousarray(responsibilities, dtype=np.float64)
        if R.shape != (n, K):
            raise ValueError(f"responsibilities must have shape ({n}, {K}); got {R.shape}")
    ex, cst = _extra_constants(family, extra, K)
    by_row = bool(X.flags.c_contiguous)
    Xr = read_only(X if by_row else X.T)
    Zg, z_by_row, zl, zi, gamma = _gk.gating_arguments(concomitant, z_loc, z_inv, gating, n, K)
    has_g = concomitant is not None
    if has_g:
        log_w = read_only(np.zeros(K))
    grouped = group_starts is not None
    glw = read_only(np.zeros(K))
    if grouped:  # the log weights are the groups', not in each row's density
        if given:
            raise ValueError("grouped rows take the posterior probabilities, not given "
                             "responsibilities")
        group_starts = _gk.check_group_starts(group_starts, n)
        glw, log_w = log_w, read_only(np.zeros(K))
    q_g = gamma.shape[1]
    n_gating = _gk.gating_sum_count(K, q_g) if has_g else 0
    P = p * (p + 1) // 2
    n_acc = (K * (P + p + 3) + 1 + 2 * K + n_gating + (K + K * K + 2 if classify else 0)
             + K * grouped)
    args = (Xr, by_row, y_arr, w_arr, has_w, off_arr, has_off, m_arr, has_m, x_loc, x_inv,
            float(y_inv), bool(fit_intercept), coef, log_w, ex, cst, FAMILY_CODES[family],
            LINK_CODES[link], read_only(R), given, first_step, bool(classify), Zg, z_by_row,
            has_g, zl, zi, gamma, glw, *_gk.block_bounds(0, n, block_size, group_starts),
            grouped, n_acc)
    total = on_threads(n_threads, n, _compiled().kernel, *args, serial=True)
    if given:
        log_constant = math.nan
    elif log_constant is None:
        log_constant = glm_log_constant(y_arr, w, trials, family, block_size,
                                        n_threads=n_threads)
    per = total[: K * (P + p + 3)].reshape(K, P + p + 3)
    A = symmetric_from_packed(per[:, :P], p)
    b = per[:, P : P + p].copy()
    resp_sum = per[:, P + p + 2].copy()
    base = K * (P + p + 3)
    q = base + 1 + 2 * K
    extra_stats = total[base + 1 : q].reshape(K, 2)[:, : EXTRA_STATISTICS.get(family, 0)].copy()
    result: tuple = (float(total[base]) + log_constant, resp_sum, A, b, extra_stats)
    if has_g:
        result = (*result, _gk.gating_statistics(total[q : q + n_gating], K, q_g))
        q += n_gating
    if classify:
        counts = total[q : q + K].copy()
        table = total[q + K : q + K + K * K].reshape(K, K).copy()
        result = (*result, (counts, table, float(total[q + K + K * K]),
                            float(total[q + K + K * K + 1])))
        q += K + K * K + 2
    return (*result, total[q : q + K].copy()) if grouped else result
