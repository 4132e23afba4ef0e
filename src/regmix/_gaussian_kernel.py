"""Fused compiled E-step for Gaussian components: one read of the rows, many threads.

:func:`gaussian_e_step` computes, for an in-memory data set, exactly what the data pass
(:func:`regmix.passes.e_step_pass` with :class:`regmix.families.Gaussian`) computes: the
weighted log-likelihood, the summed weighted responsibilities ``N_k`` and the statistics
``(X'R_kX, X'R_k e_k, e_k'R_k e_k)`` in internal (standardised) units. Every row is read
once, standardised on the fly (no standardised copy of the design is made), and all
per-row work (means, residuals, log-densities, log-sum-exp, accumulation) happens while
the row is in registers.

The rows are cut into fixed blocks of ``block_size`` rows; blocks run in parallel and
each writes its partial sums into its own slot, and the slots are then added in block
order. The result therefore depends on ``block_size`` but not on the number of threads,
and it is deterministic. The kernel is compiled by numba (imported on first use only,
compiled with ``cache=True`` so later processes load it from disk).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

_LOG_2PI = float(np.log(2.0 * np.pi))
DEFAULT_BLOCK_SIZE = 8192

# Rows per tile: a block is processed tile by tile, every per-row quantity of a tile lives
# in short contiguous buffers (so the loops over rows vectorise), and every statistic is
# accumulated in _TILE independent lanes (lane t takes rows t, t + _TILE, ... of a block)
# that are added pairwise at the end of the block. The order of every floating-point
# addition is thus fixed by the code and the block size alone.
_TILE = 128

# exp: valid arguments, log2(e), log(2) in a high part with trailing zero bits and a low
# part, Taylor coefficients 1/k!.
_EXP_MIN = -745.2
_EXP_MAX = 709.78
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13 = (
    1.0 / math.factorial(k) for k in range(3, 14)
)
# log: smallest normal number, 2^54, sqrt(2) and the coefficients 2 / (2 m + 1) of the atanh series.
_DBL_MIN = 2.2250738585072014e-308
_TWO54 = 18014398509481984.0
_SQRT2 = math.sqrt(2.0)
_L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9, _L10 = (2.0 / (2 * m + 1) for m in range(1, 11))

_kernel: Any = None
_lock = threading.Lock()


def available() -> bool:
    """Whether numba can be imported (and so the compiled kernel can be used).

    Returns
    -------
    bool
        True when ``import numba`` succeeds.
    """
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _build_kernel():
    """Compile (or load from the on-disk cache) the numba kernel; numba is imported here."""
    import numba

    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def as_float(typingctx, bits):
        # Reinterpret the bits of an int64 as a float64 (vectorises, unlike a table).
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return types.float64(types.int64), codegen

    @intrinsic
    def as_int(typingctx, x):
        # Reinterpret the bits of a float64 as an int64.
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(64))

        return types.int64(types.float64), codegen

    jit = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")

    @jit
    def exp_(x):  # pragma: no cover - compiled
        # exp(x) in plain IEEE arithmetic (no library call, so loops over it vectorise):
        # x = n log 2 + r with |r| <= log(2) / 2 (Cody-Waite), exp(r) by its Taylor series
        # to degree 13 (truncation error below 1e-17), times 2^n in two exact factors.
        xc = x if (x >= _EXP_MIN and x <= _EXP_MAX) else 0.0
        nf = np.floor(xc * _LOG2E + 0.5)
        r = (xc - nf * _LN2_HI) - nf * _LN2_LO
        s = _E13
        s = _E12 + r * s
        s = _E11 + r * s
        s = _E10 + r * s
        s = _E9 + r * s
        s = _E8 + r * s
        s = _E7 + r * s
        s = _E6 + r * s
        s = _E5 + r * s
        s = _E4 + r * s
        s = _E3 + r * s
        s = 0.5 + r * s
        s = 1.0 + r * s
        s = 1.0 + r * s
        n = np.int64(nf)
        h = n >> 1
        s = (s * as_float((h + 1023) << 52)) * as_float((n - h + 1023) << 52)
        if x < _EXP_MIN:
            s = 0.0
        if x > _EXP_MAX:
            s = np.inf
        if x != x:
            s = x
        return s

    @jit
    def log_(x):  # pragma: no cover - compiled
        # log(x) in plain IEEE arithmetic: x = 2^e f with f in [sqrt(1/2), sqrt(2)) from the
        # bits, log f = 2 atanh(u), u = (f - 1) / (f + 1), by its odd series (truncation
        # error below 1e-18), plus e log 2 in two parts.
        tiny = x < _DBL_MIN
        xs = x * _TWO54 if tiny else x
        bits = as_int(xs)
        e = np.float64(((bits >> 52) & 0x7FF) - 1023)
        e = e - 54.0 if tiny else e
        f = as_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
        big = f >= _SQRT2
        f = f * 0.5 if big else f
        e = e + 1.0 if big else e
        u = (f - 1.0) / (f + 1.0)
        u2 = u * u
        t = _L10
        t = _L9 + u2 * t
        t = _L8 + u2 * t
        t = _L7 + u2 * t
        t = _L6 + u2 * t
        t = _L5 + u2 * t
        t = _L4 + u2 * t
        t = _L3 + u2 * t
        t = _L2 + u2 * t
        t = _L1 + u2 * t
        res = e * _LN2_HI + ((2.0 * u + u * (u2 * t)) + e * _LN2_LO)
        if x == 0.0:
            res = -np.inf
        if x == np.inf:
            res = np.inf
        if not x >= 0.0:
            res = np.nan
        return res

    @numba.njit(parallel=True, nogil=True, cache=True, fastmath=False, error_model="numpy")
    def kernel(
        X, y, w, has_w, x_loc, x_inv, y_loc, y_inv, intercept, coef, const, scale,
        block_size,
    ):  # pragma: no cover - compiled
        n, d = X.shape
        K, p = coef.shape
        off = 1 if intercept else 0
        P = p * (p + 1) // 2
        stride = P + p + 2  # per component: packed upper A, b, c, N
        n_acc = K * stride + 1  # and the log-likelihood
        n_blocks = (n + block_size - 1) // block_size
        partial = np.zeros((n_blocks, n_acc))
        for blk in numba.prange(n_blocks):
            start = blk * block_size
            stop = min(start + block_size, n)
            Z = np.empty((p, _TILE))
            yt = np.empty(_TILE)
            wt = np.ones(_TILE)
            E = np.empty((K, _TILE))
            D = np.empty((K, _TILE))
            mx = np.empty(_TILE)
            sm = np.empty(_TILE)
            tmp = np.empty(_TILE)
            lanes = np.zeros((n_acc, _TILE))
            if intercept:
                Z[0, :] = 1.0
            for t0 in range(start, stop, _TILE):
                m = min(_TILE, stop - t0)
                for t in range(m):
                    i = t0 + t
                    for j in range(d):
                        Z[off + j, t] = (X[i, j] - x_loc[j]) * x_inv[j]
                    yt[t] = (y[i] - y_loc) * y_inv
                if has_w:
                    for t in range(m):
                        wt[t] = w[t0 + t]
                for t in range(m):
                    mx[t] = -np.inf
                for k in range(K):
                    ek = E[k]
                    ck = coef[k]
                    z0 = Z[0]
                    c0 = ck[0]
                    for t in range(m):
                        ek[t] = c0 * z0[t]
                    for j in range(1, p):
                        zj = Z[j]
                        cj = ck[j]
                        for t in range(m):
                            ek[t] += cj * zj[t]
                    dk = D[k]
                    ck_ = const[k]
                    sk = scale[k]
                    for t in range(m):
                        e = yt[t] - ek[t]
                        ek[t] = e
                        v = e * sk
                        lk = ck_ - v * v
                        dk[t] = lk
                        mx[t] = lk if lk > mx[t] else mx[t]
                for t in range(m):
                    v = mx[t]
                    mx[t] = v if (v > -np.inf and v < np.inf) else 0.0
                    sm[t] = 0.0
                for k in range(K):
                    dk = D[k]
                    for t in range(m):
                        v = exp_(dk[t] - mx[t])
                        dk[t] = v
                        sm[t] += v
                acc = lanes[n_acc - 1]
                for t in range(m):
                    s = sm[t]
                    acc[t] += wt[t] * (log_(s) + mx[t])
                    sm[t] = 1.0 / s
                for k in range(K):
                    dk = D[k]
                    ek = E[k]
                    base = k * stride
                    for t in range(m):
                        dk[t] = (dk[t] * sm[t]) * wt[t]
                    acc = lanes[base + P + p + 1]
                    for t in range(m):
                        acc[t] += dk[t]
                    for t in range(m):
                        tmp[t] = ek[t] * dk[t]
                    acc = lanes[base + P + p]
                    for t in range(m):
                        acc[t] += tmp[t] * ek[t]
                    for j in range(p):
                        acc = lanes[base + P + j]
                        zj = Z[j]
                        for t in range(m):
                            acc[t] += tmp[t] * zj[t]
                    q = base
                    for j in range(p):
                        zj = Z[j]
                        for t in range(m):
                            tmp[t] = zj[t] * dk[t]
                        for l in range(j, p):
                            acc = lanes[q]
                            zl = Z[l]
                            for t in range(m):
                                acc[t] += tmp[t] * zl[t]
                            q += 1
            h = _TILE // 2
            while h >= 1:
                for a in range(n_acc):
                    acc = lanes[a]
                    for t in range(h):
                        acc[t] += acc[t + h]
                h //= 2
            for a in range(n_acc):
                partial[blk, a] = lanes[a, 0]
        total = np.zeros(n_acc)
        for blk in range(n_blocks):
            for a in range(n_acc):
                total[a] += partial[blk, a]
        resp_sum = np.empty(K)
        A = np.empty((K, p, p))
        b = np.empty((K, p))
        c = np.empty(K)
        for k in range(K):
            base = k * stride
            q = base
            for j in range(p):
                for l in range(j, p):
                    A[k, j, l] = total[q]
                    A[k, l, j] = total[q]
                    q += 1
                b[k, j] = total[base + P + j]
            c[k] = total[base + P + p]
            resp_sum[k] = total[base + P + p + 1]
        return total[n_acc - 1], resp_sum, A, b, c

    return kernel


def _get_kernel():
    global _kernel
    if _kernel is None:
        with _lock:
            if _kernel is None:
                _kernel = _build_kernel()
    return _kernel


def gaussian_e_step(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    x_loc: np.ndarray,
    x_inv: np.ndarray,
    y_loc: float,
    y_inv: float,
    fit_intercept: bool,
    coef: np.ndarray,
    sigma: np.ndarray,
    log_weights: np.ndarray,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """E-step and Gaussian M-step statistics over all rows in one compiled pass.

    Internally ``x* = (x - x_loc) * x_inv`` and ``y* = (y - y_loc) * y_inv``; the design
    row is ``(1, x*)`` with an intercept and ``x*`` without. For every row the kernel forms
    the residuals ``e_k = y* - x*' coef_k``, the joint log-densities
    ``log pi_k - log sigma_k - log(2 pi) / 2 - (e_k / sigma_k)^2 / 2``, normalises them by
    a log-sum-exp with the row maximum subtracted, and accumulates the weighted
    responsibilities ``r_k`` (sample weight times responsibility) into the sums below.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features in user units, float64, C-contiguous. Read only, never copied.
    y : ndarray of shape (n,)
        Response in user units.
    w : ndarray of shape (n,) or None
        Non-negative sample weights; None means all ones.
    x_loc, x_inv : ndarray of shape (d,)
        Column locations and inverse scales of the standardisation.
    y_loc, y_inv : float
        Location and inverse scale of the response.
    fit_intercept : bool
        Whether the design has a leading column of ones.
    coef : ndarray of shape (K, p)
        Component coefficients in internal units, ``p = d + fit_intercept``, intercept
        first.
    sigma : ndarray of shape (K,)
        Component noise standard deviations in internal units, positive.
    log_weights : ndarray of shape (K,) or (K, 1)
        Log mixing proportions; ``-inf`` marks a component with weight zero, which gets
        responsibility zero.
    block_size : int, default=8192
        Rows per block. Blocks are the unit of parallel work and of summation: the result
        depends on ``block_size`` but not on the number of threads.

    Returns
    -------
    loglik : float
        Weighted observed-data log-likelihood ``sum_i w_i log sum_k pi_k f_k(y_i)`` in
        internal units.
    resp_sum : ndarray of shape (K,)
        ``N_k = sum_i r_ik``.
    A : ndarray of shape (K, p, p)
        ``X'R_kX`` (symmetric).
    b : ndarray of shape (K, p)
        ``X'R_k e_k``.
    c : ndarray of shape (K,)
        ``e_k'R_k e_k``.

    Raises
    ------
    ImportError
        If numba is not installed.
    ValueError
        If an argument has the wrong type, layout or shape.

    Notes
    -----
    The number of threads is numba's (``numba.set_num_threads``, thread-local, at most
    ``numba.config.NUMBA_NUM_THREADS``). A row whose every component has log-density
    ``-inf`` gets NaN responsibilities, as in the numpy data pass.
    """
    if not isinstance(X, np.ndarray) or X.dtype != np.float64 or X.ndim != 2:
        raise ValueError("X must be a 2-D float64 ndarray")
    if not X.flags.c_contiguous:
        raise ValueError("X must be C-contiguous (it is read in place, never copied)")
    n, d = X.shape
    fit_intercept = bool(fit_intercept)
    p = d + int(fit_intercept)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},); got {y.shape}")
    has_w = w is not None
    if has_w:
        w = np.ascontiguousarray(w, dtype=np.float64)
        if w.shape != (n,):
            raise ValueError(f"w must have shape ({n},); got {w.shape}")
    else:
        w = np.empty(0)
    x_loc = np.ascontiguousarray(x_loc, dtype=np.float64).reshape(-1)
    x_inv = np.ascontiguousarray(x_inv, dtype=np.float64).reshape(-1)
    if x_loc.shape != (d,) or x_inv.shape != (d,):
        raise ValueError(f"x_loc and x_inv must have shape ({d},)")
    coef = np.ascontiguousarray(coef, dtype=np.float64)
    if coef.ndim != 2 or coef.shape[1] != p:
        raise ValueError(f"coef must have shape (K, {p}); got {coef.shape}")
    K = coef.shape[0]
    sigma = np.asarray(sigma, dtype=np.float64).reshape(-1)
    log_weights = np.asarray(log_weights, dtype=np.float64).reshape(-1)
    if sigma.shape != (K,) or log_weights.shape != (K,):
        raise ValueError(f"sigma and log_weights must have {K} entries")
    block_size = int(block_size)
    if block_size < 1:
        raise ValueError(f"block_size must be positive; got {block_size}")
    # The same arithmetic as Gaussian.log_density: log pi_k - (log sigma_k + log(2 pi)/2)
    # and (e_k * sqrt(1/2) / sigma_k)^2.
    const = np.ascontiguousarray(log_weights - (np.log(sigma) + 0.5 * _LOG_2PI))
    scale = np.ascontiguousarray(math.sqrt(0.5) / sigma)
    loglik, resp_sum, A, b, c = _get_kernel()(
        X,
        y,
        w,
        has_w,
        x_loc,
        x_inv,
        float(y_loc),
        float(y_inv),
        fit_intercept,
        coef,
        const,
        scale,
        block_size,
    )
    return float(loglik), resp_sum, A, b, c
