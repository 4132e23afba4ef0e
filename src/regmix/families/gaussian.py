"""Component families: the density of one component and its M-step from statistics.

A family object answers four questions for the EM machinery:

* ``log_density(params, XT, y)``: the (K, n) component log-densities of a chunk;
* ``statistics(XT, y, wr, params, cache)``: additive per-component statistics of a
  chunk, given the (K, n) weighted responsibilities ``wr`` (sample weight times
  responsibility);
* ``m_step(stats, resp_sum, params)``: new parameters from the summed statistics;
* ``n_parameters(K, p)``: free parameters of the component models.

Blocks are laid out component-major: ``XT`` is the transposed design (n_design, n) and
per-row quantities are (K, n), so that every operation runs over long contiguous rows.
Statistics are tuples of arrays, summed element-wise across chunks. The Gaussian family
accumulates them around the current fit (residuals ``e = y - X beta_old``), so the
closed-form update is a correction ``delta = A^-1 X'R e`` and the new variance
``(e'R e - delta' X'R e) / N_k`` is computed without cancellation.
"""

from __future__ import annotations

import numpy as np

from regmix.core.chunk import Chunk, Standardization
from regmix.core.linalg import linear_predictor, weighted_moments
from regmix.core.params import GaussianParams
from regmix.families.constraints import (
    CoefficientConstraints,
    VarianceFloor,
    coefficient_update,
    scale_update,
)

_LOG_2PI = float(np.log(2.0 * np.pi))


class Gaussian(VarianceFloor):
    """Gaussian linear-regression components, ``y | x, k ~ N(x' beta_k, sigma_k^2)``.

    Parameters
    ----------
    var_floor : float, default=1e-8
        Lower bound on every ``sigma_k^2`` relative to the square of the response's
        robust scale (1.4826 times its median absolute deviation; see
        :class:`~regmix.families.constraints.VarianceFloor`). It keeps the likelihood
        bounded when a component collapses onto a few points.
    """

    name = "gaussian"
    label = "Gaussian"
    link_name = "identity"
    location_scale = True
    discrete = False
    exact_m_step = True
    init_steps = 0
    extra_names: tuple[str, ...] = ("sigma",)

    constraints: CoefficientConstraints | None = None

    def __init__(self, var_floor: float = 1e-8) -> None:
        self.var_floor = float(var_floor)

    def __repr__(self) -> str:
        return f"Gaussian(var_floor={self.var_floor!r})"

    def n_parameters(self, n_components: int, n_design: int) -> int:
        """Coefficients and one standard deviation per component (or one in all, with
        an equal-scale constraint)."""
        cons = self.constraints
        if cons is None:
            return n_components * (n_design + 1)
        return cons.n_coefficients(n_components) + (1 if cons.equal_scale else n_components)

    def make_params(self, coef: np.ndarray, extra: np.ndarray) -> GaussianParams:
        """Parameters from coefficients (K, p) and the extras (K, 1): the sigmas."""
        return GaussianParams(np.asarray(coef, dtype=np.float64),
                              np.asarray(extra, dtype=np.float64).reshape(-1))

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        """Any finite response is valid."""
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")

    def zero_params(self, n_components: int, n_design: int) -> GaussianParams:
        """The reference point around which statistics are taken for a first M-step
        (zero coefficients but the fixed ones)."""
        coef = np.zeros((n_components, n_design))
        if self.constraints is not None:
            coef = self.constraints.with_fixed(coef)
        return GaussianParams(coef, np.ones(n_components))

    def with_unit_scale(self, params: GaussianParams) -> GaussianParams:
        """The same lines with every sigma set to the response's spread (1 internally)."""
        return GaussianParams(params.coef, np.ones_like(params.sigma))

    def linear_predictor(self, params: GaussianParams, XT: np.ndarray,
                         offset: np.ndarray | None = None) -> np.ndarray:
        """``eta = coef @ XT + offset``, shape (K, n)."""
        return linear_predictor(params.coef, XT, offset)

    def mean(self, params: GaussianParams, XT: np.ndarray,
             offset: np.ndarray | None = None) -> np.ndarray:
        """Component means, shape (K, n)."""
        return self.linear_predictor(params, XT, offset)

    def log_density(self, params: GaussianParams, chunk: Chunk,
                    log_weights: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Component log-densities plus ``log_weights`` (K, n), and the residuals.

        ``log_weights`` (a (K, 1) column, the log mixing weights) is added for free.
        """
        resid = self.linear_predictor(params, chunk.XT, chunk.offset)
        np.subtract(chunk.y, resid, out=resid)
        logd = resid * (np.sqrt(0.5) / params.sigma)[:, None]
        np.square(logd, out=logd)
        const = log_weights - (np.log(params.sigma) + 0.5 * _LOG_2PI)[:, None]
        np.subtract(const, logd, out=logd)
        return logd, resid

    def statistics(self, chunk: Chunk, wr: np.ndarray, params: GaussianParams,
                   cache: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """``(X'R_kX, X'R_k e_k, e_k'R_k e_k)`` per component, with ``e_k`` the residuals."""
        XT = chunk.XT
        if cache is None:
            cache = chunk.y - self.linear_predictor(params, XT, chunk.offset)
        return weighted_moments(XT, wr, cache)

    def m_step(
        self,
        stats: tuple[np.ndarray, ...],
        resp_sum: np.ndarray,
        params: GaussianParams,
        count: np.ndarray | None = None,
    ) -> tuple[GaussianParams, np.ndarray]:
        """Closed-form weighted least squares per component.

        ``count`` (K,) divides the residual sums in the variance update instead of
        ``resp_sum`` (the expected number of latent draws of a censored family).

        Returns
        -------
        params : GaussianParams
            Updated parameters. A component with no weight keeps its old parameters.
        rank_deficient : ndarray of bool, shape (K,)
            Components whose weighted design was rank deficient (minimum-norm update).
        """

        A, b, c = stats
        sigma = params.sigma.copy()
        live = resp_sum > 1e-12 * max(float(resp_sum.sum()), 1e-300)
        coef, delta, deficient = coefficient_update(
            A, b, params.coef, live, self.constraints, 1.0 / params.sigma**2)
        if live.any():
            sigma[live] = scale_update(A, b, c, delta, resp_sum if count is None else count,
                                       live, self.constraints, self.internal_var_floor)
        return GaussianParams(coef, sigma), deficient

    def to_vector(self, params: GaussianParams) -> np.ndarray:
        """Unconstrained coordinates ``(coef, log sigma)`` for EM acceleration."""
        return np.concatenate([params.coef.ravel(), np.log(params.sigma)])

    def from_vector(self, vec: np.ndarray, like: GaussianParams) -> GaussianParams:
        """Inverse of :meth:`to_vector`; sigmas are kept above the variance floor."""
        K, p = like.coef.shape
        sigma = np.maximum(np.exp(vec[K * p :]), np.sqrt(self.internal_var_floor))
        return GaussianParams(vec[: K * p].reshape(K, p).copy(), sigma)

    def to_user(self, params: GaussianParams,
                standardization: Standardization) -> GaussianParams:
        """Parameters in user units."""
        return GaussianParams(
            standardization.to_user(params.coef), params.sigma * standardization.y_scale
        )

    def to_internal(self, params: GaussianParams,
                    standardization: Standardization) -> GaussianParams:
        """Parameters in internal (standardised) units."""
        return GaussianParams(
            standardization.to_internal(params.coef), params.sigma / standardization.y_scale
        )

    def free_extra(self) -> np.ndarray:
        """Which extras are estimated (the others are fixed, known values)."""
        return np.ones(1, dtype=bool)

    def row_derivatives(self, params: GaussianParams,
                        chunk: Chunk) -> tuple[np.ndarray, ...]:
        """Per-row log-density and its derivatives, for the observed information.

        Returns ``(logf, d1, d2, e1, e2, ce)``: the (K, n) log-densities, the first
        and second derivatives with respect to the linear predictor, and with respect
        to the free extras in their unconstrained coordinates (here ``log sigma``):
        ``e1`` (K, m, n), ``e2`` (K, m, m, n) and the cross derivatives ``ce``
        (K, m, n).
        """
        e = chunk.y - self.linear_predictor(params, chunk.XT, chunk.offset)
        s = params.sigma[:, None]
        z = e / s
        logf = -np.log(s) - 0.5 * _LOG_2PI - 0.5 * z * z
        d2 = np.broadcast_to(-1.0 / (s * s), e.shape)
        return (logf, z / s, d2, (z * z - 1.0)[:, None], (-2.0 * z * z)[:, None, None],
                (-2.0 * z / s)[:, None])

    def sample(self, params: GaussianParams, X: np.ndarray, labels: np.ndarray,
               rng: np.random.Generator, offset: np.ndarray | None = None,
               trials: np.ndarray | None = None) -> np.ndarray:
        """Draw responses for design rows ``X`` (n, n_design) from components ``labels``."""
        mu = np.einsum("ij,ij->i", X, params.coef[labels])
        if offset is not None:
            mu = mu + offset
        return mu + params.sigma[labels] * rng.standard_normal(X.shape[0])
