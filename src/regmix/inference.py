"""Standard errors and confidence intervals for a fitted mixture of linear regressions.

Two routes are offered:

* **Observed information.** :func:`observed_information` is minus the exact analytic
  Hessian of the observed-data log-likelihood, gathered in one chunked pass over the
  rows; :func:`covariance` turns it into the covariance of the natural parameters by
  the delta method, and :func:`coef_table` into a Wald table.
* **Bootstrap.** :func:`bootstrap` refits on resampled rows (nonparametric) or on
  responses simulated from the fit (parametric), undoes label switching by matching
  each replicate's components to the reference fit, and summarises the replicates.

Everything here works on plain NumPy arrays; the parameters of a K-component mixture
with a design of ``p`` columns (intercept first when there is one) are

* ``weights`` of shape (K,), the mixing proportions;
* ``coef_full`` of shape (K, p), the coefficients on the design;
* ``sigma`` of shape (K,), the noise standard deviations.

The information is taken in the unconstrained parametrisation
``theta = (b_1, log s_1, ..., b_K, log s_K, eta_2, ..., eta_K)`` with
``pi = softmax(0, eta_2, ..., eta_K)``, of dimension ``K * (p + 1) + K - 1``. The
natural parameters are ordered as :func:`parameter_index`: per component the
coefficients, then ``sigma``, then ``weight``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import linear_sum_assignment
from threadpoolctl import threadpool_limits

__all__ = [
    "BootstrapResult",
    "InformationWarning",
    "bootstrap",
    "coef_table",
    "covariance",
    "family_information",
    "mixture_information",
    "natural_parameters",
    "observed_information",
    "parameter_index",
]

# Eigenvalues of the unit-diagonal information below this fraction of the largest are
# treated as zero (the inverse would have fewer than about four correct digits).
_EIG_RTOL = 1e-12
TABLE_COLUMNS = ["estimate", "std_err", "z", "p_value", "ci_lower", "ci_upper"]


class InformationWarning(UserWarning):
    """The observed information is singular or not positive definite."""


# ---------------------------------------------------------------------- parameter layout
def parameter_index(
    n_components: int, coef_names: Sequence[str], fit_intercept: bool,
    extra_names: Sequence[str] = ("sigma",), gating_names: Sequence[str] | None = None,
) -> pd.MultiIndex:
    """Labels of the natural parameters, one (component, parameter) pair each.

    Parameters
    ----------
    n_components : int
        Number of components K; components are labelled ``1, ..., K``.
    coef_names : sequence of str
        Names of the features (the columns of ``coef_``, without the intercept).
    fit_intercept : bool
        Whether each component has an intercept.
    extra_names : sequence of str, default=("sigma",)
        The family's estimated parameters besides the coefficients (``("sigma",)``
        for Gaussian components, ``()`` for Poisson, ``("shape",)`` for Gamma, ...).
    gating_names : sequence of str, optional
        With concomitant variables: the gating design's columns (``"intercept"`` and
        the variables). Components 2..K then get ``"gate:<name>"`` rows after all
        components' parameters, and no ``"weight"`` rows.

    Returns
    -------
    pandas.MultiIndex
        Levels ``component`` and ``parameter``; per component ``"intercept"`` (when
        fitted), each coefficient name, the extras and ``"weight"``, in that order.

    Raises
    ------
    ValueError
        If a name occurs twice, including a feature named like a reserved parameter.

    Examples
    --------
    >>> parameter_index(2, ["x0"], True).tolist()[:4]
    [(1, 'intercept'), (1, 'x0'), (1, 'sigma'), (1, 'weight')]
    """
    names = (["intercept"] if fit_intercept else []) + [str(c) for c in coef_names]
    names += [*extra_names, "weight"]
    duplicated = sorted({s for s in names if names.count(s) > 1})
    if duplicated:
        raise ValueError(
            f"parameter names must be unique within a component; {duplicated} occur more "
            "than once (rename features called 'intercept', 'weight' or like a family "
            "parameter such as 'sigma')"
        )
    components = range(1, int(n_components) + 1)
    if gating_names is None:
        return pd.MultiIndex.from_product([components, names],
                                          names=["component", "parameter"])
    tuples = [(k, nm) for k in components for nm in names[:-1]]
    tuples += [(k, f"gate:{g}") for k in components[1:] for g in gating_names]
    return pd.MultiIndex.from_tuples(tuples, names=["component", "parameter"])


def natural_parameters(weights, coef_full, extra, gating=None) -> np.ndarray:
    """The natural parameters as one vector, in the order of :func:`parameter_index`.

    Parameters
    ----------
    weights : array-like of shape (K,)
    coef_full : array-like of shape (K, p)
        Coefficients on the design, intercept first when there is one.
    extra : array-like of shape (K,) or (K, m)
        The family's estimated parameters besides the coefficients (for Gaussian
        components the sigmas).

    gating : array-like of shape (K, q), optional
        Gating coefficients (first row zero); then the weights are left out.

    Returns
    -------
    ndarray of shape (K * (p + m + 1),)
        Per component: coefficients, extras, weight (with gating: no weight, then the
        gating coefficients of components 2..K).
    """
    weights, coef_full, extra = _check_params(weights, coef_full, extra)
    if gating is None:
        return np.column_stack([coef_full, extra, weights]).ravel()
    gating = np.asarray(gating, dtype=np.float64)
    return np.concatenate([np.column_stack([coef_full, extra]).ravel(), gating[1:].ravel()])


def _check_params(weights, coef_full, extra) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    extra = np.asarray(extra, dtype=np.float64)
    coef_full = np.asarray(coef_full, dtype=np.float64)
    K = weights.shape[0]
    if extra.ndim == 1:
        extra = extra[:, None]
    if coef_full.ndim != 2 or coef_full.shape[0] != K or extra.ndim != 2 or (
            extra.shape[0] != K):
        raise ValueError(
            f"need weights (K,), coef_full (K, p) and sigma (K,) or extras (K, m); got "
            f"{weights.shape}, {coef_full.shape} and {extra.shape}"
        )
    if np.any(~(weights > 0)) or np.any(~(extra > 0)):
        raise ValueError("weights and sigma (and the other family parameters) must be positive")
    return weights, coef_full, extra


# ---------------------------------------------------------------------- observed information
def observed_information(
    weights,
    coef_full,
    sigma,
    D,
    y,
    w=None,
    chunk_size: int = 8192,
) -> np.ndarray:
    """Minus the analytic Hessian of the observed-data log-likelihood (Gaussian components).

    The log-likelihood is ``sum_i w_i log sum_k pi_k N(y_i; D_i' b_k, s_k^2)``, in the
    unconstrained parametrisation ``theta = (b_1, log s_1, ..., b_K, log s_K,
    eta_2, ..., eta_K)`` with ``pi = softmax(0, eta_2, ..., eta_K)``.

    Parameters
    ----------
    weights : array-like of shape (K,)
        Mixing proportions (positive, summing to one).
    coef_full : array-like of shape (K, p)
        Coefficients on the design ``D``.
    sigma : array-like of shape (K,)
        Noise standard deviations.
    D : array-like of shape (n, p)
        The full design, intercept column first when there is one.
    y : array-like of shape (n,)
        Response.
    w : array-like of shape (n,), optional
        Row weights (frequency weights); ones by default.
    chunk_size : int, default=8192
        Rows per chunk. Memory beyond the data is O(chunk_size * (K * p + d)).

    Returns
    -------
    ndarray of shape (d, d)
        The observed information, ``d = K * (p + 1) + K - 1``. At a local maximum of
        the likelihood it is positive semi-definite.

    Notes
    -----
    Row i contributes the Hessian of ``log sum_k exp(l_ik)``,
    ``sum_k r_ik (H_ik + g_ik g_ik') - gbar_i gbar_i'`` with ``l_ik = log pi_k +
    log f_ik``, ``g_ik`` and ``H_ik`` its gradient and Hessian, ``r_ik`` the posterior
    probabilities and ``gbar_i = sum_k r_ik g_ik`` the row's score. Each ``g_ik`` is
    non-zero only in component k's block and in the ``eta`` block, so the first term is
    accumulated block by block; the second is ``G' diag(w) G`` for the chunk's score
    matrix ``G``. :func:`family_information` does the same for any family.
    """
    from .data import Chunk
    from .families import Gaussian

    weights, coef_full, extra = _check_params(weights, coef_full, sigma)
    D = np.asarray(D, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n = y.shape[0]
    K, p = coef_full.shape
    if D.ndim != 2 or D.shape != (n, p):
        raise ValueError(f"D must have shape ({n}, {p}); got {D.shape}")
    w = np.ones(n) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
    if w.shape != (n,):
        raise ValueError(f"w must have shape ({n},); got {w.shape}")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}")
    from .em import MixtureParams

    family = Gaussian()
    params = MixtureParams(weights, family.make_params(coef_full, extra))
    layout = _Layout(K, p, 1)
    info = np.zeros((layout.dim, layout.dim))
    # Chunks are thin: BLAS on several threads would only add overhead and variance.
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, n, int(chunk_size)):
            rows = slice(start, start + int(chunk_size))
            chunk = Chunk(start, np.ascontiguousarray(D[rows].T), y[rows], w[rows])
            info -= _chunk_hessian(layout, family, params, chunk)
    return 0.5 * (info + info.T)


def family_information(family, weights, coef_full, extra, source,
                       chunk_size: int = 8192) -> np.ndarray:
    """Observed information of a mixture of any family, from a user-unit row source.

    The parametrisation is, per component, the coefficients and the logarithms of the
    family's free extras (sigma, shape, size, df), then ``eta_2, ..., eta_K``.
    """
    from .em import MixtureParams
    from .families import Gaussian

    family = Gaussian() if family is None else family
    weights, coef_full, extra = _check_params(weights, coef_full, extra)
    params = MixtureParams(weights, family.make_params(coef_full, extra))
    return mixture_information(family, params, source, chunk_size)


def mixture_information(family, params, source, chunk_size: int = 8192,
                        n_jobs: int | None = 1, engine: str = "numpy") -> np.ndarray:
    """Observed information of a mixture at ``params`` (user units), any mixing model.

    The parametrisation is, per component, the coefficients and the logarithms of the
    family's free extras, then the gating coefficients ``gamma_2, ..., gamma_K`` (each
    of length q, the gating design's width; with constant weights q = 1 and ``gamma``
    is ``eta``, ``pi = softmax(0, eta)``). Grouped rows (``chunk.group_starts``) are
    handled: the observations are the groups. Constraints are not applied here: the
    caller restricts the matrix (``C' I C``) to its free parameters. ``n_jobs`` threads
    share the rows (None: every core). With ``engine="numba"``, Gaussian components
    with constant positive weights on rows the compiled kernels read (in user units,
    ungrouped, without offset) take the compiled pass
    (:class:`regmix._gaussian_kernel.GaussianInformation`, the same matrix to
    round-off); everything else takes the numpy pass.
    """
    if engine == "numba" and _compiled_information_applies(family, params, source):
        from ._gaussian_kernel import GaussianInformation
        from .passes import add_kernel_rows, kernel_threads, resolve_n_jobs

        info = GaussianInformation(
            source.fit_intercept, params.component.coef, params.component.sigma,
            params.weights, n_threads=kernel_threads(source, resolve_n_jobs(n_jobs)))
        add_kernel_rows(source, info, chunk_size=int(chunk_size))
        return info.result()
    K, p = params.component.coef.shape
    m = int(family.free_extra().sum())
    q = 1 if params.gating is None else params.gating.shape[1]
    layout = _Layout(K, p, m, q)

    def chunk_info(chunk) -> np.ndarray:
        return -_chunk_hessian(layout, family, params, chunk)

    if hasattr(source, "map_reduce"):  # computed where the rows live
        with threadpool_limits(limits=1, user_api="blas"):
            info = source.map_reduce(chunk_info, int(chunk_size))
    else:  # the data pass's threads and fixed reduction blocks
        from .passes import PassResult, resolve_n_jobs, run_pass

        def block_info(chunk):
            return PassResult(0.0, np.zeros(1), (chunk_info(chunk),))

        info = run_pass(source, block_info, chunk_size=int(chunk_size),
                        n_jobs=resolve_n_jobs(n_jobs)).stats[0]
    return 0.5 * (info + info.T)


def _compiled_information_applies(family, params, source) -> bool:
    """Whether :class:`regmix._gaussian_kernel.GaussianInformation` can take the
    information: Gaussian components, constant positive weights, rows in user units
    that the compiled kernels read (:func:`regmix.passes.kernel_rows`)."""
    from .families import Gaussian
    from .passes import kernel_rows

    if type(family) is not Gaussian or params.gating is not None:
        return False
    if not np.all(np.asarray(params.weights) > 0):
        return False
    st = source.standardization
    user_units = (not np.any(st.x_loc) and np.all(st.x_scale == 1.0) and st.y_loc == 0.0
                  and st.y_scale == 1.0)
    return bool(user_units and kernel_rows(source))


@dataclass(frozen=True)
class _Layout:
    """Positions of the parameters in ``theta``: per component the ``p`` coefficients
    and ``m`` log extras, then the gating coefficients of components 2..K (``q`` each)."""

    K: int
    p: int
    m: int = 1
    q: int = 1

    @property
    def dim(self) -> int:
        return self.K * (self.p + self.m) + (self.K - 1) * self.q

    def block(self, k: int) -> np.ndarray:
        """Indices of ``(b_k, log extras_k)``."""
        size = self.p + self.m
        return np.arange(k * size, (k + 1) * size)

    @property
    def eta(self) -> np.ndarray:
        """Indices of the gating coefficients (``eta_2, ..., eta_K`` when q = 1)."""
        return np.arange(self.K * (self.p + self.m), self.dim)


def _chunk_hessian(layout, family, params, chunk) -> np.ndarray:
    """Hessian of the chunk's log-likelihood ``sum_o w_o log sum_k exp(l_ok)``.

    ``o`` runs over the observations: the rows (weight ``w_i``), or the groups (weight
    one, ``l_ok`` summing ``w_i log f_ik`` over the group's rows). Per observation the
    Hessian of ``log sum_k exp(l_ok)`` is ``sum_k r_ok (H_ok + g_ok g_ok') - gbar_o
    gbar_o'`` with ``g_ok``, ``H_ok`` the gradient and Hessian of ``l_ok``, ``r_ok`` the
    posterior probabilities and ``gbar_o`` the observation's score; ``g_ok`` is non-zero
    only in component k's block and in the gating block.
    """
    K, p, m, q = layout.K, layout.p, layout.m, layout.q
    logf, d1, d2, e1, e2, ce = family.row_derivatives(params.component, chunk)
    D = chunk.XT.T
    n = D.shape[0]
    w = np.ones(n) if chunk.w is None else chunk.w
    if params.gating is None:
        Z = np.ones((n, 1))
        logpi = np.broadcast_to(np.log(params.weights)[:, None], (K, n))
    else:
        Z = chunk.ZT.T
        eta = params.gating @ chunk.ZT
        mx = eta.max(axis=0)
        logpi = eta - (mx + np.log(np.exp(eta - mx).sum(axis=0)))
    starts = chunk.group_starts
    if starts is None:
        L = logf + logpi
        omega, Zo, logpi_o = w, Z, logpi
    else:
        L = np.add.reduceat(logf * w, starts, axis=1) + logpi[:, starts]
        omega, Zo, logpi_o = np.ones(starts.size), Z[starts], logpi[:, starts]
    r = np.exp(L - L.max(axis=0))
    r /= r.sum(axis=0)
    pi_o = np.exp(logpi_o)
    r_rows = r if starts is None else np.repeat(r, np.diff(np.append(starts, n)), axis=1)
    q_rows = w * r_rows
    N = r.shape[1]
    H = np.zeros((layout.dim, layout.dim))
    scores = np.empty((N, layout.dim))
    scores[:, layout.eta] = ((r - pi_o)[1:].T[:, :, None] * Zo[:, None, :]).reshape(N, -1)
    blk = slice(0, p + m)
    for k in range(K):
        a = np.column_stack([D * d1[k][:, None], e1[k].T])  # (n, p + m)
        A = a if starts is None else np.add.reduceat(a * w[:, None], starts, axis=0)
        scores[:, layout.block(k)] = r[k][:, None] * A
        indicator = (np.arange(K) == k)[:, None] - pi_o  # (K, N)
        Ck = (indicator[1:].T[:, :, None] * Zo[:, None, :]).reshape(N, -1)
        G = np.column_stack([A, Ck])
        M = (G * (omega * r[k])[:, None]).T @ G
        Hk = np.empty((p + m, p + m))
        Hk[:p, :p] = (D * (q_rows[k] * d2[k])[:, None]).T @ D
        Hk[:p, p:] = D.T @ (q_rows[k] * ce[k]).T
        Hk[p:, :p] = Hk[:p, p:].T
        Hk[p:, p:] = np.einsum("abn,n->ab", e2[k], q_rows[k])
        M[blk, blk] += Hk
        local = np.concatenate([layout.block(k), layout.eta])
        H[np.ix_(local, local)] += M
    # Hessian of log pi_k(z) (the same for every k): -(diag(pi) - pi pi') (x) z z'
    gate = layout.eta
    for k in range(1, K):
        for j in range(k, K):
            c = omega * pi_o[k] * ((1.0 if j == k else 0.0) - pi_o[j])
            block = (Zo * c[:, None]).T @ Zo
            rows = gate[(k - 1) * q : k * q]
            cols = gate[(j - 1) * q : j * q]
            H[np.ix_(rows, cols)] -= block
            if j != k:
                H[np.ix_(cols, rows)] -= block.T
    H -= (scores * omega[:, None]).T @ scores
    return H


# ---------------------------------------------------------------------- covariance
def covariance(weights, coef_full, sigma, information) -> np.ndarray:
    """Covariance of the natural parameters by the delta method.

    Parameters
    ----------
    weights, coef_full : array-like
        The parameters at which ``information`` was computed.
    sigma : array-like of shape (K,) or (K, m)
        The sigmas, or in general the family's free extras (natural units).
    information : array-like of shape (d, d)
        The observed information from :func:`observed_information` or
        :func:`family_information`.

    Returns
    -------
    ndarray of shape (K * (p + m + 1), K * (p + m + 1))
        Covariance in the order of :func:`parameter_index` (per component:
        coefficients, extras, weight). The weights sum to one, so the matrix is singular
        along that direction; with K = 1 the weight's row and column are zero.

    Warns
    -----
    InformationWarning
        If the information is singular or not positive definite; a pseudo-inverse is
        used then, and variances may come out negative (their standard errors NaN).
    """
    weights, coef_full, extra = _check_params(weights, coef_full, sigma)
    K, p = coef_full.shape
    layout = _Layout(K, p, extra.shape[1])
    information = np.asarray(information, dtype=np.float64)
    if information.shape != (layout.dim, layout.dim):
        raise ValueError(
            f"information must have shape ({layout.dim}, {layout.dim}) for K={K} and "
            f"p={p}; got {information.shape}"
        )
    return natural_covariance(weights, extra, information, layout)


def natural_covariance(weights, extra, information, layout, constraint_map=None,
                       gating: bool = False) -> np.ndarray:
    """Covariance of the natural parameters from the information of the free ones.

    ``information`` is taken in the free parameters ``phi``, which give the full
    unconstrained vector as ``theta = C phi + const`` (``constraint_map`` C; the identity
    when None); the covariance of ``theta`` is ``C I^-1 C'``, mapped to the natural
    parameters by the delta method.
    """
    weights = np.asarray(weights, dtype=np.float64)
    extra = np.asarray(extra, dtype=np.float64).reshape(weights.shape[0], -1)
    cov_phi = _inverse_information(np.asarray(information, dtype=np.float64))
    C = np.eye(layout.dim) if constraint_map is None else constraint_map
    cov_theta = C @ cov_phi @ C.T
    J = _natural_jacobian(layout, weights, extra, gating)
    cov = J @ cov_theta @ J.T
    return 0.5 * (cov + cov.T)


def _inverse_information(information: np.ndarray) -> np.ndarray:
    """Inverse of the information, scaled to unit diagonal first; pinv with a warning."""
    info = 0.5 * (information + information.T)
    diag = np.diag(info).copy()
    scale = np.sqrt(np.where(diag > 0, diag, 1.0))
    scaled = info / np.outer(scale, scale)
    lam, V = np.linalg.eigh(scaled)
    tol = _EIG_RTOL * max(float(np.abs(lam).max()), 1.0)
    if lam.min() <= tol:
        kind = "singular to working precision" if lam.min() >= -tol else (
            "not positive definite")
        warnings.warn(
            f"The observed information is {kind} (smallest eigenvalue {lam.min():.3g} of "
            f"its unit-diagonal scaling, largest {lam.max():.3g}): some parameters are not "
            "identified, the design is badly conditioned (for instance features far from "
            "zero relative to their spread), or the parameters are not a local maximum of "
            "the likelihood. A pseudo-inverse was used; standard errors may be meaningless.",
            InformationWarning,
            stacklevel=3,
        )
    keep = np.abs(lam) > tol
    inv_scaled = (V[:, keep] / lam[keep]) @ V[:, keep].T
    return inv_scaled / np.outer(scale, scale)


def _natural_jacobian(layout: _Layout, weights: np.ndarray, extra: np.ndarray,
                      gating: bool = False) -> np.ndarray:
    """Derivative of the natural parameters with respect to ``theta``."""
    K, p, m = layout.K, layout.p, layout.m
    per = p + m + (0 if gating else 1)
    n_gate = (K - 1) * layout.q if gating else 0
    J = np.zeros((K * per + n_gate, layout.dim))
    # d pi_k / d eta_j = pi_k (delta_kj - pi_j), j = 2..K
    dpi = (np.diag(weights) - np.outer(weights, weights))[:, 1:]
    for k in range(K):
        row = k * per
        cols = layout.block(k)
        J[row : row + p, cols[:p]] = np.eye(p)
        for j in range(m):  # extras are exp(theta)
            J[row + p + j, cols[p + j]] = extra[k, j]
        if not gating:
            J[row + p + m, layout.eta] = dpi[k]
    if gating:
        J[K * per :, layout.eta] = np.eye(n_gate)
    return J


# ---------------------------------------------------------------------- tables
def coef_table(
    estimates,
    cov,
    index: pd.Index,
    alpha: float = 0.05,
    *,
    no_test: Sequence[str] = ("sigma", "weight", "shape", "size", "df"),
    method: str = "observed information",
) -> pd.DataFrame:
    """Wald table: estimates, standard errors, z statistics, p-values, intervals.

    Parameters
    ----------
    estimates : array-like of shape (m,)
        Parameter estimates in the order of ``index``.
    cov : array-like of shape (m, m)
        Their covariance.
    index : pandas.Index
        Row labels, typically from :func:`parameter_index`.
    alpha : float, default=0.05
        Intervals have coverage ``1 - alpha`` (normal quantiles).
    no_test : sequence of str, default=("sigma", "weight", "shape", "size", "df")
        Parameter names (last level of ``index``) whose ``z`` and ``p_value`` are left
        NaN: the test of a zero value is not meaningful for them (zero lies on the
        boundary of the parameter space).
    method : str, default="observed information"
        How the standard errors were obtained, kept in ``attrs["se_method"]``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``index`` with columns ``estimate``, ``std_err``, ``z``,
        ``p_value`` (two-sided, for a zero value), ``ci_lower`` and ``ci_upper``;
        ``attrs`` holds ``alpha``, ``se_method`` and ``no_test``. A parameter with
        zero or negative variance gets NaN statistics (and a degenerate interval for
        zero variance).
    """
    est = np.asarray(estimates, dtype=np.float64).reshape(-1)
    cov = np.asarray(cov, dtype=np.float64)
    if cov.shape != (est.size, est.size) or len(index) != est.size:
        raise ValueError(
            f"estimates ({est.size}), cov {cov.shape} and index ({len(index)}) disagree"
        )
    var = np.diag(cov)
    se = np.sqrt(np.where(var >= 0, var, np.nan))
    return _table(est, se, est - _z_crit(alpha) * se, est + _z_crit(alpha) * se, index,
                  alpha, no_test, method)


def _z_crit(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    return float(stats.norm.isf(alpha / 2))


def _table(est, se, lower, upper, index, alpha, no_test, method) -> pd.DataFrame:
    testable = se > 0
    z = np.full(est.shape, np.nan)
    z[testable] = est[testable] / se[testable]
    names = index.get_level_values(-1) if isinstance(index, pd.MultiIndex) else index
    z[np.isin(np.asarray(names, dtype=object), list(no_test))] = np.nan
    p = np.full(est.shape, np.nan)
    finite = np.isfinite(z)
    p[finite] = 2.0 * stats.norm.sf(np.abs(z[finite]))
    columns = np.column_stack([est, se, z, p, lower, upper])
    table = pd.DataFrame(columns, index=index, columns=TABLE_COLUMNS)
    present = set(names)
    table.attrs.update(alpha=float(alpha), se_method=method,
                       no_test=[n for n in no_test if n in present])
    return table


# ---------------------------------------------------------------------- bootstrap
@dataclass
class BootstrapResult:
    """Replicates of a bootstrap of a mixture fit, components matched to the reference.

    Attributes
    ----------
    replicates : pandas.DataFrame
        One row per successful replicate, columns the parameter index.
    estimates : pandas.Series
        The reference fit's parameters.
    kind : str
        ``"parametric"`` or ``"nonparametric"``.
    alpha : float
        Percentile intervals have coverage ``1 - alpha``.
    n_failed : int
        Replicates whose fit raised an exception (dropped).
    errors : list of str
        The messages of those exceptions.
    """

    replicates: pd.DataFrame
    estimates: pd.Series
    kind: str
    alpha: float = 0.05
    n_failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def n_boot(self) -> int:
        """Number of successful replicates."""
        return len(self.replicates)

    @property
    def std_err(self) -> pd.Series:
        """Standard deviation of the replicates (``ddof=1``)."""
        return self.replicates.std(ddof=1)

    @property
    def ci(self) -> pd.DataFrame:
        """Percentile intervals, columns ``ci_lower`` and ``ci_upper``."""
        q = self.replicates.quantile([self.alpha / 2, 1 - self.alpha / 2]).T
        q.columns = ["ci_lower", "ci_upper"]
        return q

    def table(self, *, no_test: Sequence[str] = ("sigma", "weight", "shape", "size", "df")
              ) -> pd.DataFrame:
        """A table with the columns of :func:`coef_table`.

        Standard errors are the bootstrap ones, ``z`` and ``p_value`` Wald statistics
        computed from them, and the intervals percentile intervals.

        Parameters
        ----------
        no_test : sequence of str, default=("sigma", "weight", "shape", "size", "df")
            Parameter names whose ``z`` and ``p_value`` are left NaN.

        Returns
        -------
        pandas.DataFrame
        """
        ci = self.ci
        method = f"{self.kind} bootstrap ({self.n_boot} replicates, percentile intervals)"
        return _table(self.estimates.to_numpy(), self.std_err.to_numpy(),
                      ci["ci_lower"].to_numpy(), ci["ci_upper"].to_numpy(),
                      self.estimates.index, self.alpha, no_test, method)


def bootstrap(
    fit_fn: Callable,
    X,
    y,
    sample_weight=None,
    n_boot: int = 200,
    kind: str = "parametric",
    random_state=None,
    sample_fn: Callable | None = None,
    alpha: float = 0.05,
    reference=None,
) -> BootstrapResult:
    """Bootstrap a mixture fit, undoing label switching.

    Parameters
    ----------
    fit_fn : callable
        ``fit_fn(X, y, w)`` returns a fitted model with attributes ``coef_``,
        ``intercept_``, ``sigma_``, ``weights_``, ``fit_intercept`` and method
        ``coef_names()`` (a fitted :class:`~regmix.RegressionMixture`). ``w`` may be
        None. It should be deterministic (fixed ``random_state``).
    X : ndarray of shape (n, n_features)
    y : ndarray of shape (n,)
    sample_weight : ndarray of shape (n,), optional
        Row weights, carried along with the rows.
    n_boot : int, default=200
        Number of replicates.
    kind : {"parametric", "nonparametric"}, default="parametric"
        Nonparametric: rows drawn with replacement. Parametric: responses simulated
        from the reference fit at the same ``X`` by ``sample_fn``.
    random_state : int, numpy Generator, SeedSequence or None
        Seed; replicate ``b`` uses the ``b``-th child of its seed sequence, so the
        result is deterministic for a given seed (and a deterministic ``fit_fn``).
    sample_fn : callable, optional
        ``sample_fn(X, rng)`` returns simulated responses for the rows of ``X`` given
        a ``numpy.random.Generator``. Defaults to the reference model's ``sample``.
    alpha : float, default=0.05
        Percentile intervals have coverage ``1 - alpha``.
    reference : fitted model, optional
        The fit to bootstrap; ``fit_fn(X, y, sample_weight)`` when None.

    Returns
    -------
    BootstrapResult

    Raises
    ------
    RuntimeError
        If every replicate fails.

    Notes
    -----
    Each replicate's components are put in the order that minimises the total squared
    distance between its natural-parameter vectors and the reference's (an assignment
    problem, solved exactly). The distance is in the units of the parameters.
    """
    if kind not in ("parametric", "nonparametric"):
        raise ValueError(f"kind must be 'parametric' or 'nonparametric'; got {kind!r}")
    if int(n_boot) < 2:
        raise ValueError(f"n_boot must be an integer >= 2; got {n_boot!r}")
    _z_crit(alpha)
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if reference is None:
        reference = fit_fn(X, y, w)
    if sample_fn is None:
        sample_fn = _default_sample_fn(reference)
    ref = _model_parameters(reference)
    index = parameter_index(ref.shape[0], reference.coef_names(), reference.fit_intercept)
    rows, errors = [], []
    for seed in _seed_sequence(random_state).spawn(int(n_boot)):
        rng = np.random.default_rng(seed)
        Xb, yb, wb = _resample(kind, X, y, w, rng, sample_fn)
        try:
            params = _model_parameters(fit_fn(Xb, yb, wb))
        except Exception as exc:  # a failed refit is dropped and counted
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        rows.append(_match_components(params, ref).ravel())
    if not rows:
        raise RuntimeError(f"every one of the {n_boot} bootstrap fits failed; first: {errors[0]}")
    replicates = pd.DataFrame(np.array(rows), columns=index)
    return BootstrapResult(replicates, pd.Series(ref.ravel(), index=index), kind, float(alpha),
                           len(errors), errors)


def _seed_sequence(random_state) -> np.random.SeedSequence:
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(2**63)))
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(int(random_state.randint(2**31 - 1)))
    return np.random.SeedSequence(random_state)


def _default_sample_fn(reference) -> Callable:
    def sample_fn(X, rng):
        return reference.sample(X=X, random_state=int(rng.integers(2**31 - 1)))[1]

    return sample_fn


def _resample(kind, X, y, w, rng, sample_fn):
    if kind == "nonparametric":
        idx = rng.integers(0, y.shape[0], size=y.shape[0])
        return X[idx], y[idx], None if w is None else w[idx]
    yb = np.asarray(sample_fn(X, rng), dtype=np.float64).reshape(-1)
    if yb.shape != y.shape:
        raise ValueError(f"sample_fn returned shape {yb.shape}; expected {y.shape}")
    return X, yb, w


def _model_parameters(model) -> np.ndarray:
    """Natural parameters of a fitted model, shape (K, p + 2)."""
    coef = np.asarray(model.coef_, dtype=np.float64)
    if model.fit_intercept:
        coef = np.column_stack([model.intercept_, coef])
    return natural_parameters(model.weights_, coef, model.sigma_).reshape(coef.shape[0], -1)


def _match_components(params: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``params`` with its components reordered to best match ``ref``'s."""
    if params.shape != ref.shape:
        raise ValueError(f"a replicate has parameters of shape {params.shape}; "
                         f"the reference {ref.shape}")
    cost = ((ref[:, None, :] - params[None, :, :]) ** 2).sum(axis=2)
    _, order = linear_sum_assignment(cost)
    return params[order]
