"""Linear algebra shared by the families and mixing models: normal-equation solvers with a
minimum-norm fallback, rank checks, linear predictors, weighted moments and the softmax.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

# Relative threshold below which a (scaled) normal-equation pivot counts as zero.
_RANK_RTOL = 1e-10


def solve_normal_equations(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, bool]:
    """Solve ``A x = b`` for a symmetric positive semi-definite ``A``.

    The system is scaled to unit diagonal and solved by Cholesky; when a pivot falls
    below ``1e-10`` of its diagonal (exact or numerical rank deficiency) the
    minimum-norm solution of the scaled system is returned instead.

    Returns
    -------
    x : ndarray
        The solution.
    rank_deficient : bool
        Whether the minimum-norm fallback was used.
    """
    d = np.sqrt(np.diag(A).copy())
    d[~(d > 0)] = 1.0
    As = A / np.outer(d, d)
    bs = b / d
    try:
        L = linalg.cholesky(As, lower=True, check_finite=False)
        if np.all(np.diag(L) ** 2 > _RANK_RTOL):
            x = linalg.cho_solve((L, True), bs, check_finite=False)
            return x / d, False
    except linalg.LinAlgError:
        pass
    lam, V = linalg.eigh(As, check_finite=False)
    keep = lam > _RANK_RTOL * max(float(lam.max()), 1.0)
    x = V[:, keep] @ ((V[:, keep].T @ bs) / lam[keep])
    return x / d, True


def solve_normal_equations_batch(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`solve_normal_equations` for a stack of K systems at once.

    The systems are scaled together; each well-conditioned one is one Cholesky
    factorisation and one solve with it (LAPACK's ``potrf`` and ``potrs``, called
    directly: the systems are small and few, so the calls' overhead is what counts);
    a system that fails the check is solved by :func:`solve_normal_equations`.

    Returns
    -------
    x : ndarray of shape (K, p)
    rank_deficient : ndarray of bool, shape (K,)
    """
    K, p, _ = A.shape
    x = np.empty((K, p))
    deficient = np.zeros(K, dtype=bool)
    if p == 0:
        return x, deficient
    d = np.sqrt(np.diagonal(A, axis1=1, axis2=2))
    d[~(d > 0)] = 1.0
    As = A / (d[:, :, None] * d[:, None, :])
    bs = b / d
    for k in range(K):
        L, info = lapack.dpotrf(As[k], lower=1, clean=0)
        if info == 0 and (np.diagonal(L) ** 2 > _RANK_RTOL).all():
            x[k] = lapack.dpotrs(L, bs[k], lower=1)[0] / d[k]
        else:
            x[k], deficient[k] = solve_normal_equations(A[k], b[k])
    return x, deficient


def collinear_columns(A: np.ndarray) -> list[int]:
    """Indices of columns that are (numerically) linear combinations of earlier ones.

    Greedy pivoted Cholesky on the unit-diagonal scaling of ``A = X'WX``, in column
    order: column j is reported when its residual variance after regressing on the kept
    columns is below ``1e-10`` of its own variance (or it is identically zero).
    """
    p = A.shape[0]
    d = np.sqrt(np.diag(A).copy())
    zero = ~(d > 0)
    d[zero] = 1.0
    As = A / np.outer(d, d)
    kept: list[int] = []
    bad: list[int] = []
    for j in range(p):
        if zero[j]:
            bad.append(j)
            continue
        if kept:
            S = As[np.ix_(kept, kept)]
            s = As[kept, j]
            resid = As[j, j] - s @ linalg.solve(S, s, assume_a="pos")
        else:
            resid = As[j, j]
        if resid > _RANK_RTOL:
            kept.append(j)
        else:
            bad.append(j)
    return bad


def linear_predictor(coef: np.ndarray, XT: np.ndarray, offset=None) -> np.ndarray:
    """``eta = coef @ XT + offset``, shape (K, n): every family's linear predictor."""
    eta = coef @ XT
    if offset is not None:
        eta += offset
    return eta


def weighted_moments(XT: np.ndarray, wr: np.ndarray, resid: np.ndarray):
    """``(X'R_kX, X'R_k e_k, e_k'R_k e_k)`` for weights ``wr`` and residuals ``resid``
    (both (K, n)): the statistics of a weighted least-squares step per component."""
    p, n = XT.shape
    K = wr.shape[0]
    weighted = np.empty((K * p, n))
    for k in range(K):
        np.multiply(XT, wr[k], out=weighted[k * p : (k + 1) * p])
    A = (weighted @ XT.T).reshape(K, p, p)
    resid_w = resid * wr
    b = resid_w @ XT.T
    c = np.einsum("ki,ki->k", resid_w, resid)
    return A, b, c


def softmax(eta: np.ndarray, axis: int = 0) -> np.ndarray:
    """The softmax of ``eta`` along ``axis``, without overflow: the mixing weights
    ``pi_k = exp(eta_k) / sum_l exp(eta_l)`` of linear predictors ``eta``.

    Parameters
    ----------
    eta : ndarray
        Linear predictors, the components along ``axis`` (a vector, a (K, n) block with
        ``axis=0`` or an (n, K) block with ``axis=1``).
    axis : int, default=0

    Returns
    -------
    ndarray
        Same shape as ``eta``; non-negative, summing to one along ``axis``.
    """
    e = np.exp(eta - eta.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(eta: np.ndarray, axis: int = 0) -> np.ndarray:
    """``log softmax(eta)`` along ``axis`` (see :func:`softmax`), computed as
    ``eta - (m + log sum exp(eta - m))`` with ``m`` the maximum, without overflow."""
    m = eta.max(axis=axis, keepdims=True)
    return eta - (m + np.log(np.exp(eta - m).sum(axis=axis, keepdims=True)))


# A response whose values span at most this many units in the last place of its largest
# magnitude varies by round-off only (fewer than 10 bits of it are not constant).
ROUNDOFF_ULPS = 1024


def roundoff_spread(v: np.ndarray) -> float | None:
    """The spread ``max(v) - min(v)`` relative to ``eps * max |v|`` when it is at most
    :data:`ROUNDOFF_ULPS` (0 for identical values), else None: whether, and by how
    many units in the last place, the values differ by round-off only."""
    lo, hi = float(np.min(v)), float(np.max(v))
    big = max(abs(lo), abs(hi))
    spread = hi - lo
    if spread == 0:
        return 0.0
    ulps = spread / (np.finfo(np.float64).eps * big)
    return ulps if ulps <= ROUNDOFF_ULPS else None
