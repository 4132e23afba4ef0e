"""Covariance of the natural parameters from the observed information, and coefficient
tables (estimate, standard error, z, p-value, confidence interval).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from regmix.core.errors import InformationWarning
from regmix.inference.information import _check_params, _Layout

# Eigenvalues of the unit-diagonal information below this fraction of the largest are
# treated as zero (the inverse would have fewer than about four correct digits).
_EIG_RTOL = 1e-12


TABLE_COLUMNS = ["estimate", "std_err", "z", "p_value", "ci_lower", "ci_upper"]


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
    weights, coef_full, extra = _check_params(weights, coef_full, extra, signed=True)
    if gating is None:
        return np.column_stack([coef_full, extra, weights]).ravel()
    gating = np.asarray(gating, dtype=np.float64)
    return np.concatenate([np.column_stack([coef_full, extra]).ravel(), gating[1:].ravel()])


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
                       gating: bool = False, drop=None, undefined=None,
                       meat=None, linear=None) -> np.ndarray:
    """Covariance of the natural parameters from the information of the free ones.

    ``information`` is taken in the free parameters ``phi``, which give the full
    unconstrained vector as ``theta = C phi + const`` (``constraint_map`` C; the identity
    when None); the covariance of ``theta`` is ``C I^-1 C'``, mapped to the natural
    parameters by the delta method.

    For parameters on the boundary of the parameter space (diverging coefficients, a
    sigma at the variance floor; see :mod:`regmix.inference.boundary`), ``drop`` lists
    free parameters to remove from the information before it is inverted (one
    coordinate per diverging direction, whose removal leaves a complement of the
    diverging directions), and ``undefined`` the natural parameters without a standard
    error. Those, and every natural parameter that depends on a dropped coordinate, get
    NaN variances and covariances.

    With ``meat`` (a ``(dim, dim)`` matrix ``B`` in the free parameters, small-sample
    factor included; :mod:`regmix.inference.robust`) the covariance of ``phi`` is the
    sandwich ``I^-1 B I^-1`` instead of ``I^-1``, on the same kept coordinates.

    ``linear`` (bool of shape (m,)) marks the extras that ``theta`` holds as they are
    (the covariance entries of random effects) rather than by their logarithm.
    """
    weights = np.asarray(weights, dtype=np.float64)
    extra = np.asarray(extra, dtype=np.float64).reshape(weights.shape[0], -1)
    information = np.asarray(information, dtype=np.float64)
    dim = information.shape[0]
    keep = np.ones(dim, dtype=bool)
    if drop is not None:
        keep[np.asarray(drop, dtype=np.intp)] = False
    # The other parameters' covariance is the inverse of the information with the
    # dropped coordinates removed, not the corresponding block of the inverse of the
    # whole matrix. Both have the same limit: along a diverging direction the
    # information and its cross-information with everything else vanish together (at
    # the rate of the fitted means' distance to their bound), and at the variance floor
    # the collapsed component's information grows without bound, so in either case the
    # Schur-complement correction tends to zero. But at the point where EM stopped the
    # whole matrix is singular to working precision (or holds a block scaled by the
    # arbitrary floor), and its pseudo-inverse would mix that noise into every standard
    # error. The limit is the model with the diverging directions (the collapsed
    # component) held at their boundary, whose information is that of the remaining
    # coordinates. Removing one coordinate per direction rather than every coordinate a
    # direction involves keeps the combinations that stay identified (the mean of a
    # category whose dummy and the intercept diverge together): a parameter orthogonal to
    # the directions then gets the same standard error however the design is coded.
    cov_phi = np.zeros((dim, dim))
    if keep.any():
        inverse = _inverse_information(information[np.ix_(keep, keep)])
        if meat is not None:
            inverse = inverse @ np.asarray(meat, dtype=np.float64)[np.ix_(keep, keep)] @ inverse
        cov_phi[np.ix_(keep, keep)] = inverse
    C = np.eye(layout.dim) if constraint_map is None else constraint_map
    cov_theta = C @ cov_phi @ C.T
    J = _natural_jacobian(layout, weights, extra, gating, linear)
    cov = J @ cov_theta @ J.T
    cov = 0.5 * (cov + cov.T)
    missing = np.zeros(cov.shape[0], dtype=bool)
    if undefined is not None:
        missing[np.asarray(undefined, dtype=np.intp)] = True
    if not keep.all():
        missing |= np.abs(J @ C[:, ~keep]).sum(axis=1) > 0
    cov[missing, :] = np.nan
    cov[:, missing] = np.nan
    return cov


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
                      gating: bool = False, linear=None) -> np.ndarray:
    """Derivative of the natural parameters with respect to ``theta`` (``linear``: the
    extras ``theta`` holds as they are, not by their logarithm)."""
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
        for j in range(m):  # extras are exp(theta), or theta itself
            J[row + p + j, cols[p + j]] = (1.0 if linear is not None and linear[j]
                                           else extra[k, j])
        if not gating:
            J[row + p + m, layout.eta] = dpi[k]
    if gating:
        J[K * per :, layout.eta] = np.eye(n_gate)
    return J


def reported_parameters(family, n_components: int, estimates, index: pd.MultiIndex,
                        cov=None) -> tuple[np.ndarray, np.ndarray | None, pd.MultiIndex]:
    """The parameters as the tables report them, from the natural ones.

    For a family whose classes share random-effect covariances (a latent-class mixed
    model with ``cov_classes="common"`` or ``"proportional"``): a parameter common to
    all classes (the family's ``common_extra_names``) appears once, under class 1; for
    proportional covariances ``D_k = w_k^2 D_K`` each class k < K gets a row ``ratio``
    (``w_k``) after its covariance entries, from the first variance (``w_k^2 =
    var@k / var@K``) and, for ``cov``, by the delta method. Other families' parameters
    are returned as they are.

    Parameters
    ----------
    family : Family
        The fitted family.
    n_components : int
    estimates : array-like of shape (m,)
        The natural parameters, in the order of ``index``.
    index : pandas.MultiIndex
        Their (component, parameter) labels.
    cov : array-like of shape (m, m), optional
        Their covariance (NaN rows of parameters on the boundary stay NaN and touch no
        other row).

    Returns
    -------
    estimates : ndarray of shape (m',)
    cov : ndarray of shape (m', m') or None
        None when ``cov`` is None.
    index : pandas.MultiIndex
    """
    estimates = np.asarray(estimates, dtype=np.float64)
    K = int(n_components)
    common = tuple(getattr(family, "common_extra_names", ()))
    proportional = getattr(family, "cov_classes", None) == "proportional" and K > 1
    if not (common or proportional):
        return estimates, None if cov is None else np.asarray(cov, dtype=np.float64), index
    first, last = family.extra_names[1], family.extra_names[-1]
    # each reported row: label, value, and its derivative in the natural parameters as
    # (positions, coefficients)
    rows: list[tuple[tuple, float, list[int], list[float]]] = []
    for i, (k, name) in enumerate(index):
        if name in common and k > 1:
            continue
        rows.append(((k, name), float(estimates[i]), [i], [1.0]))
        if proportional and name == last and k < K:
            a, b = index.get_loc((k, first)), index.get_loc((K, first))
            w = float(np.sqrt(estimates[a] / estimates[b]))
            rows.append(((k, "ratio"), w, [a, b],
                         [w / (2.0 * estimates[a]), -w / (2.0 * estimates[b])]))
    labels = pd.MultiIndex.from_tuples([r[0] for r in rows], names=index.names)
    values = np.array([r[1] for r in rows])
    if cov is None:
        return values, None, labels
    cov = np.asarray(cov, dtype=np.float64)
    out = np.empty((len(rows), len(rows)))
    for i, (_, _, pi, ci) in enumerate(rows):
        for j, (_, _, pj, cj) in enumerate(rows[: i + 1]):
            out[i, j] = out[j, i] = float(np.asarray(ci) @ cov[np.ix_(pi, pj)] @ cj)
    return values, out, labels


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
        zero variance); one with a NaN variance (a parameter on the boundary) gets NaN
        standard error, z, p-value and interval.
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
