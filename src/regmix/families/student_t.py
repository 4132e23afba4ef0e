"""Student-t regression components: the robust mixture of regressions.

``y | x, k ~ t_{nu_k}(x' beta_k, sigma_k)``: a location-scale t with ``nu_k`` degrees of
freedom. A gross outlier has a small likelihood under a Gaussian component and drags its
line; under a t component it is down-weighted instead.

EM works on the complete data ``(y, z, u)`` with latent scale weights ``u`` (Peel and
McLachlan, 2000, Statistics and Computing 10, 339-348): given component k, ``u ~
Gamma(nu/2, nu/2)`` and ``y | u ~ N(x' beta, sigma^2 / u)``. The E-step adds the weights
``u_ik = (nu + 1) / (nu + d_ik^2)`` (``d`` the standardised residual) to the
responsibilities; the M-step is a weighted least squares with weights ``r_ik u_ik`` for
``beta`` and ``sigma`` (exact for the complete data), and one Newton step on ``log nu``
of ``sum_i r_ik log t(y_i)``, the component's own expected log-likelihood (an ECME-like
step: the classical EM update of ``nu`` through the scale weights crawls when ``nu`` is
large and the likelihood flat). Every statistic is additive; the EM driver halves a step
that would lower the log-likelihood, so it never decreases.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from regmix.core.chunk import Chunk, Standardization
from regmix.core.linalg import linear_predictor, weighted_moments
from regmix.core.params import ComponentParams
from regmix.families.constraints import (
    CoefficientConstraints,
    VarianceFloor,
    coefficient_update,
    log_newton_step,
    scale_update,
)
from regmix.families.negative_binomial import trigamma

__all__ = ["StudentT"]


_LOG_PI = float(np.log(np.pi))


# Largest change of log df in one M-step (a factor of e^2 ~ 7.4).
_MAX_LOG_DF_STEP = 2.0


def _log_df_derivatives(q: np.ndarray, log1p_q: np.ndarray, nu: np.ndarray):
    """First and second derivatives of the t log-density with respect to ``log df``,
    per row, from ``q = e^2 / (df sigma^2)`` (``e`` the residuals, (K, n)) and
    ``log1p(q)``, for df ``nu`` (K, 1).

    With ``a = 1 / (1 + q)`` the derivatives in ``df`` are ``f = (psi((nu + 1) / 2) -
    psi(nu / 2) - 1 / nu - log1p(q) + (nu + 1) q a / nu) / 2`` and ``f' = (psi'((nu +
    1) / 2) / 2 - psi'(nu / 2) / 2 + 1 / nu^2 + 1 / nu - a / nu - q a ((nu + 1) a + 1)
    / nu^2) / 2``; those in ``log df`` are ``nu f`` and ``nu f + nu^2 f'``.
    """
    a = 1.0 / (1.0 + q)
    qa = q * a
    half = 0.5 * (nu + 1.0)
    c1 = special.digamma(half) - special.digamma(0.5 * nu) - 1.0 / nu
    c2 = 0.5 * trigamma(half) - 0.5 * trigamma(0.5 * nu) + 1.0 / nu**2 + 1.0 / nu
    f = c1 - log1p_q + ((nu + 1.0) / nu) * qa
    fp = c2 - a / nu - qa * ((nu + 1.0) * a + 1.0) / nu**2
    g = (0.5 * nu) * f
    return g, g + (0.5 * nu * nu) * fp


class StudentT(VarianceFloor):
    """Student-t regression components with scale ``sigma_k`` and ``df_k`` degrees of
    freedom.

    Parameters
    ----------
    df : float, optional
        Known degrees of freedom, the same for every component; None (default)
        estimates one value per component by maximum likelihood, within
        ``df_bounds``.
    var_floor : float, default=1e-8
        Lower bound on ``sigma_k^2`` relative to the square of the response's robust
        scale, as for :class:`~regmix.families.gaussian.Gaussian`.
    df_bounds : tuple of float, default=(0.5, 1000.0)
        Range of the estimated degrees of freedom. Beyond 1000 a t component is a
        Gaussian for any practical purpose (and the likelihood is flat in ``df``).
    """

    name = "student_t"
    label = "Student-t"
    link_name = "identity"
    location_scale = True
    discrete = False
    exact_m_step = False
    init_steps = 0
    extra_names = ("sigma", "df")

    def __init__(self, df: float | None = None, var_floor: float = 1e-8,
                 df_bounds: tuple[float, float] = (0.5, 1000.0)) -> None:
        if df is not None and not (np.isfinite(df) and df > 0):
            raise ValueError(f"df must be a positive number or None; got {df!r}")
        lo, hi = (float(b) for b in df_bounds)
        if not 0 < lo < hi:
            raise ValueError(f"df_bounds must satisfy 0 < low < high; got {df_bounds!r}")
        self.df = None if df is None else float(df)
        self.var_floor = float(var_floor)
        self.df_bounds = (lo, hi)

    def __repr__(self) -> str:
        return f"StudentT(df={self.df!r}, var_floor={self.var_floor!r})"

    constraints: CoefficientConstraints | None = None

    def free_extra(self) -> np.ndarray:
        return np.array([True, self.df is None])

    def n_parameters(self, n_components: int, n_design: int) -> int:
        cons = self.constraints
        n_df = n_components * int(self.df is None)
        if cons is None:
            return n_components * (n_design + 1) + n_df
        return cons.n_coefficients(n_components) + (
            1 if cons.equal_scale else n_components) + n_df

    def make_params(self, coef: np.ndarray, extra: np.ndarray) -> ComponentParams:
        coef = np.asarray(coef, dtype=np.float64)
        return ComponentParams(coef, np.asarray(extra, dtype=np.float64).reshape(-1, 2))

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")

    def _start_df(self) -> float:
        return 2.0 if self.df is None else self.df

    def zero_params(self, n_components: int, n_design: int) -> ComponentParams:
        """No coefficients (the first step starts at zero), unit scale, starting df."""
        extra = np.tile([1.0, self._start_df()], (n_components, 1))
        return ComponentParams(None, extra)

    def with_unit_scale(self, params: ComponentParams) -> ComponentParams:
        extra = np.tile([1.0, self._start_df()], (params.n_components, 1))
        return ComponentParams(params.coef, extra)

    def linear_predictor(self, params: ComponentParams, XT: np.ndarray,
                         offset: np.ndarray | None = None) -> np.ndarray:
        assert params.coef is not None
        return linear_predictor(params.coef, XT, offset)

    def mean(self, params: ComponentParams, XT: np.ndarray,
             offset: np.ndarray | None = None) -> np.ndarray:
        return self.linear_predictor(params, XT, offset)

    def _residuals(self, params: ComponentParams, chunk: Chunk) -> np.ndarray:
        if params.coef is None:
            e = np.broadcast_to(chunk.y, (params.n_components, chunk.y.shape[0])).copy()
            if chunk.offset is not None:
                e -= chunk.offset
            if self.constraints is not None and self.constraints.fixed.any():
                e -= self.constraints.fixed_part(chunk.XT)
            return e
        e = self.linear_predictor(params, chunk.XT, chunk.offset)
        np.subtract(chunk.y, e, out=e)
        return e

    def log_density(self, params: ComponentParams, chunk: Chunk,
                    log_weights: np.ndarray | float = 0.0) -> tuple[np.ndarray, tuple]:
        """Component log-densities plus ``log_weights`` (K, n); as a cache the residuals
        ``e``, ``q = e^2 / (df sigma^2)`` and ``log1p(q)``."""
        e = self._residuals(params, chunk)
        sigma, nu = params.extra[:, 0], params.extra[:, 1]
        const = (special.gammaln(0.5 * (nu + 1.0)) - special.gammaln(0.5 * nu)
                 - 0.5 * (np.log(nu) + _LOG_PI) - np.log(sigma))
        q = (e / sigma[:, None]) ** 2
        q /= nu[:, None]
        log1p_q = np.log1p(q)
        logd = -(0.5 * (nu + 1.0))[:, None] * log1p_q
        logd += const[:, None]
        logd += log_weights
        return logd, (e, q, log1p_q)

    def statistics(self, chunk: Chunk, wr: np.ndarray, params: ComponentParams,
                   cache: Any = None) -> tuple[np.ndarray, ...]:
        """``(X'R_kU_kX, X'R_kU_k e_k, e_k'R_kU_k e_k, (g_k, h_k))``: the weighted least
        squares sums with the scale weights ``u``, and the first and second derivatives
        of ``sum_i r_ik log t(y_i)`` with respect to ``log df_k``."""
        e, q, log1p_q = self.log_density(params, chunk)[1] if cache is None else cache
        nu = params.extra[:, 1][:, None]
        u = ((nu + 1.0) / nu) / (1.0 + q)  # (nu + 1) / (nu + (e / sigma)^2)
        A, b, c = weighted_moments(chunk.XT, wr * u, e)
        if self.df is None:
            g, h = _log_df_derivatives(q, log1p_q, nu)
            gh = np.column_stack([np.einsum("kn,kn->k", wr, g), np.einsum("kn,kn->k", wr, h)])
        else:
            gh = np.zeros((wr.shape[0], 2))
        return A, b, c, gh

    def m_step(self, stats: tuple[np.ndarray, ...], resp_sum: np.ndarray,
               params: ComponentParams) -> tuple[ComponentParams, np.ndarray]:
        """Weighted least squares with weights ``r u``; then the degrees of freedom."""

        A, b, c, gh = stats
        K, p = b.shape
        cons = self.constraints
        coef = np.zeros((K, p)) if params.coef is None else params.coef
        if params.coef is None and cons is not None:
            coef = cons.with_fixed(coef)
        extra = params.extra.copy()
        live = resp_sum > 1e-12 * max(float(resp_sum.sum()), 1e-300)
        coef, delta, deficient = coefficient_update(A, b, coef, live, cons,
                                                    1.0 / params.extra[:, 0] ** 2)
        if live.any():
            extra[live, 0] = scale_update(A, b, c, delta, resp_sum, live, cons,
                                          self.internal_var_floor)
            if self.df is None and params.coef is not None:
                # one Newton step on log df (a unit gradient step where not concave)
                step = log_newton_step(gh[live, 0], gh[live, 1], _MAX_LOG_DF_STEP)
                extra[live, 1] = np.clip(params.extra[live, 1] * np.exp(step), *self.df_bounds)
        return ComponentParams(coef, extra), deficient

    def to_vector(self, params: ComponentParams) -> np.ndarray:
        assert params.coef is not None
        return np.concatenate([params.coef.ravel(), np.log(params.extra).ravel()])

    def from_vector(self, vec: np.ndarray, like: ComponentParams) -> ComponentParams:
        assert like.coef is not None
        K, p = like.coef.shape
        extra = np.exp(vec[K * p :].reshape(K, 2))
        extra[:, 0] = np.maximum(extra[:, 0], np.sqrt(self.internal_var_floor))
        extra[:, 1] = np.clip(extra[:, 1], *self.df_bounds)
        if self.df is not None:
            extra[:, 1] = like.extra[:, 1]
        return ComponentParams(vec[: K * p].reshape(K, p).copy(), extra)

    def to_user(self, params: ComponentParams,
                standardization: Standardization) -> ComponentParams:
        assert params.coef is not None
        extra = params.extra.copy()
        extra[:, 0] *= standardization.y_scale
        return ComponentParams(standardization.to_user(params.coef), extra)

    def to_internal(self, params: ComponentParams,
                    standardization: Standardization) -> ComponentParams:
        assert params.coef is not None
        extra = params.extra.copy()
        extra[:, 0] /= standardization.y_scale
        return ComponentParams(standardization.to_internal(params.coef), extra)

    def row_derivatives(self, params: ComponentParams,
                        chunk: Chunk) -> tuple[np.ndarray, ...]:
        """Per-row log-density and derivatives in ``(eta, log sigma, log df)``; see
        :meth:`regmix.families.gaussian.Gaussian.row_derivatives`."""
        logf, (e, q, log1p_q) = self.log_density(params, chunk)
        s2 = (params.extra[:, 0] ** 2)[:, None]
        nu = params.extra[:, 1][:, None]
        e2 = e * e
        D = nu * s2 + e2
        D2 = D * D
        d1 = (nu + 1.0) * e / D
        d2 = (nu + 1.0) * (e2 - nu * s2) / D2
        g_s = -1.0 + (nu + 1.0) * e2 / D
        h_ss = -2.0 * (nu + 1.0) * nu * s2 * e2 / D2
        c_s = -2.0 * (nu + 1.0) * nu * s2 * e / D2
        g_n, h_nn = _log_df_derivatives(q, log1p_q, nu)
        h_sn = nu * e2 * (e2 - s2) / D2
        c_n = nu * e * (e2 - s2) / D2
        K, n = e.shape
        E1 = np.stack([g_s, g_n], axis=1)
        E2 = np.empty((K, 2, 2, n))
        E2[:, 0, 0], E2[:, 1, 1] = h_ss, h_nn
        E2[:, 0, 1] = E2[:, 1, 0] = h_sn
        C = np.stack([c_s, c_n], axis=1)
        free = self.free_extra()
        return logf, d1, d2, E1[:, free], E2[:, free][:, :, free], C[:, free]

    def sample(self, params: ComponentParams, X: np.ndarray, labels: np.ndarray,
               rng: np.random.Generator, offset: np.ndarray | None = None,
               trials: np.ndarray | None = None) -> np.ndarray:
        assert params.coef is not None
        mu = np.einsum("ij,ij->i", X, params.coef[labels])
        if offset is not None:
            mu = mu + offset
        extra = params.extra[labels]
        return mu + extra[:, 0] * rng.standard_t(extra[:, 1])
