"""Marginal effects and predictive margins of a fitted mixture, with delta-method
standard errors.

The quantities are those of Stata's ``margins`` and ``estat lcmean`` after ``fmm``
(Stata Finite Mixture Models Reference Manual, *fmm postestimation*) and of statsmodels'
``get_margeff`` (``DiscreteMargins``: ``at="overall"`` averages the effect over the
rows, ``at="mean"`` evaluates it at the means; ``method="dydx"``; ``dummy=True`` takes
discrete changes). For rows ``i`` with weights ``w_i``, component means ``mu_ik =
g^-1(eta_ik)`` and prior probabilities ``pi_ik`` (constant, or the gating's
``softmax(z_i' gamma)``), the mixture mean is ``m_i = sum_k pi_ik mu_ik``, and

* the average marginal effect of a continuous variable ``v`` on component k is
  ``mean_i dmu_ik/dv = mean_i g^-1'(eta_ik) d eta_ik/dv``, and on the mixture
  ``mean_i dm_i/dv = mean_i sum_k pi_ik dmu_ik/dv + mean_i sum_k mu_ik dpi_ik/dv``: the
  part through the components' means and the part through the gating, with
  ``dpi_ik/dv = pi_ik (d s_ik/dv - sum_j pi_ij d s_ij/dv)`` for the gating's linear
  predictors ``s_ik = z_i' gamma_k``;
* the discrete change of a factor from its reference level ``r`` to level ``l`` is
  ``mean_i (mu_ik(l) - mu_ik(r))``, and on the mixture ``mean_i (m_i(l) - m_i(r))``,
  split exactly as ``sum_k pibar_ik (mu_ik(l) - mu_ik(r)) + sum_k mubar_ik (pi_ik(l) -
  pi_ik(r))`` with the midpoints ``pibar = (pi(l) + pi(r)) / 2`` and ``mubar = (mu(l) +
  mu(r)) / 2``;
* the predictive margin of component k is ``mean_i mu_ik`` (``estat lcmean``), and of
  the mixture ``mean_i m_i``.

The standard errors are the delta method's, ``sqrt(G V G')``, with ``V`` the covariance
of the natural parameters (:func:`regmix.inference.covariance.natural_covariance`,
which carries the constraints and the choice of ``cov_type``) and ``G`` the derivatives
of the quantities with respect to those parameters, by central differences through the
estimator's own prediction code. A quantity that depends on a parameter without a
standard error (on the boundary) has none.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from regmix.inference.covariance import coef_table

# Central differences in the parameters take steps of this fraction of each parameter's
# magnitude (or its standard error, when larger): the cube root of the machine epsilon
# balances truncation and rounding.
_STEP = float(np.finfo(np.float64).eps ** (1.0 / 3.0))


class NaturalLayout:
    """Where the coefficients and the mixing parameters sit in the vector of natural
    parameters (:func:`regmix.inference.covariance.natural_parameters`): per component
    ``p`` coefficients, ``m`` extras and (without gating) the weight, then (with
    gating) the ``q`` gating coefficients of components 2..K."""

    def __init__(self, K: int, p: int, m: int, q: int | None) -> None:
        self.K, self.p, self.m, self.q = K, p, m, q
        self.per = p + m + (1 if q is None else 0)

    def unpack(self, theta: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(coef (K, p), weights (K,) or None, gating (K, q) or None)``; the first
        component's gating row is zero."""
        K, p = self.K, self.p
        blocks = theta[: K * self.per].reshape(K, self.per)
        if self.q is None:
            return blocks[:, :p], blocks[:, -1], None
        gating = np.vstack([np.zeros(self.q), theta[K * self.per:].reshape(K - 1, self.q)])
        return blocks[:, :p], None, gating

    def mean_parameters(self) -> np.ndarray:
        """Positions of the parameters the means depend on: coefficients and mixing."""
        rows = np.arange(self.K)[:, None] * self.per
        coef = (rows + np.arange(self.p)).ravel()
        if self.q is None:
            return np.concatenate([coef, rows.ravel() + self.per - 1])
        return np.concatenate([coef, np.arange(self.K * self.per,
                                               self.K * self.per + (self.K - 1) * self.q)])


def _wmean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean over the rows (axis 0)."""
    return np.tensordot(w, values, axes=(0, 0)) / w.sum()


def slope_effects(mu: np.ndarray, dmu: np.ndarray, pi: np.ndarray, deta: np.ndarray,
                  dscore: np.ndarray | None, w: np.ndarray) -> np.ndarray:
    """Average marginal effects of a continuous variable.

    Parameters
    ----------
    mu, dmu : ndarray of shape (n, K)
        The component means and their derivatives ``g^-1'(eta)`` at the rows.
    pi : ndarray of shape (n, K)
        The prior probabilities.
    deta : ndarray of shape (n, K)
        ``d eta_ik / dv``.
    dscore : ndarray of shape (n, K) or None
        ``d s_ik / dv`` of the gating's linear predictors; None without gating or when
        the gating does not read ``v``.
    w : ndarray of shape (n,)
        Row weights.

    Returns
    -------
    ndarray of shape (K + 3,)
        Per component ``mean dmu_k/dv``, then for the mixture the part through the
        components, the part through the gating, and the total.
    """
    slopes = dmu * deta
    comp = _wmean(slopes, w)
    via_components = float(_wmean((pi * slopes).sum(axis=1), w))
    via_gating = 0.0
    if dscore is not None:
        dpi = pi * (dscore - (pi * dscore).sum(axis=1, keepdims=True))
        via_gating = float(_wmean((mu * dpi).sum(axis=1), w))
    return np.concatenate([comp, [via_components, via_gating, via_components + via_gating]])


def change_effects(mu1: np.ndarray, pi1: np.ndarray, mu0: np.ndarray, pi0: np.ndarray,
                   w: np.ndarray) -> np.ndarray:
    """Average discrete changes from rows ``0`` (the reference) to rows ``1``, in the
    layout of :func:`slope_effects` (the mixture's change split at the midpoints)."""
    dmu, dpi = mu1 - mu0, pi1 - pi0
    comp = _wmean(dmu, w)
    via_components = float(_wmean((0.5 * (pi1 + pi0) * dmu).sum(axis=1), w))
    via_gating = float(_wmean((0.5 * (mu1 + mu0) * dpi).sum(axis=1), w))
    return np.concatenate([comp, [via_components, via_gating, via_components + via_gating]])


def mean_margins(mu: np.ndarray, pi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Predictive margins: per component ``mean mu_k``, then the mixture's ``mean
    sum_k pi_k mu_k``; shape (K + 1,)."""
    return np.concatenate([_wmean(mu, w), [float(_wmean((pi * mu).sum(axis=1), w))]])


def delta_method(fn: Callable[[np.ndarray], np.ndarray], theta: np.ndarray,
                 cov: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``fn`` at ``theta`` and their delta-method covariance ``G V G'``.

    Parameters
    ----------
    fn : callable
        Maps a parameter vector to the quantities (a 1-D array).
    theta : ndarray of shape (d,)
        The natural parameters.
    cov : ndarray of shape (d, d)
        Their covariance; NaN rows for parameters without a standard error.
    active : ndarray of int
        The parameters ``fn`` may depend on; the derivatives with respect to the
        others are zero.

    Returns
    -------
    values : ndarray of shape (r,)
    cov_values : ndarray of shape (r, r)
        NaN for a quantity whose derivative with respect to a parameter without a
        standard error is not zero.
    """
    theta = np.asarray(theta, dtype=np.float64)
    values = np.asarray(fn(theta), dtype=np.float64)
    var = np.diag(cov)
    G = np.zeros((values.size, theta.size))
    for j in active:
        scale = max(abs(theta[j]), float(np.sqrt(var[j])) if var[j] > 0 else 0.0)
        h = _STEP * (scale if scale > 0 else 1.0)
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        G[:, j] = (fn(up) - fn(down)) / (up[j] - down[j])
    used = np.flatnonzero(np.any(G != 0, axis=0))
    sub = cov[np.ix_(used, used)]
    unknown = ~np.isfinite(sub)
    out = G[:, used] @ np.where(unknown, 0.0, sub) @ G[:, used].T
    missing = ((G[:, used] != 0) & ~np.isfinite(np.diag(sub))).any(axis=1)
    out[missing, :] = np.nan
    out[:, missing] = np.nan
    return values, 0.5 * (out + out.T)


def margins_table(labels: pd.DataFrame, values: np.ndarray, cov: np.ndarray,
                  alpha: float, method: str, name: str) -> pd.DataFrame:
    """The tidy table: the label columns, then ``name`` (the effect or margin),
    ``std_err``, ``z``, ``p_value`` (for a zero value), ``ci_lower`` and ``ci_upper``
    (normal quantiles), as :func:`regmix.inference.covariance.coef_table` computes them.
    """
    table = coef_table(values, cov, pd.RangeIndex(values.size), alpha, no_test=(),
                       method=method)
    out = pd.concat([labels.reset_index(drop=True), table.rename(
        columns={"estimate": name})], axis=1)
    out.attrs.update(table.attrs)
    return out
