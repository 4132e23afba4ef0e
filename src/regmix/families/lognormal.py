"""Log-normal regression components for positive responses.

``log y | x, k ~ N(x' beta_k, sigma_k^2)``: the density of ``y`` is the normal density
of ``log y`` divided by ``y`` (the Jacobian of the logarithm), so that the
log-likelihood is in the response's own units and compares with the Gamma family's
(Stata's ``fmm: lognormal``, SAS ``PROC FMM`` ``DIST=LOGNORMAL``). Everything that
concerns the parameters is the Gaussian family's on ``log y``: the statistics, the
closed-form weighted least-squares M-step, the unconstrained coordinates and the
per-row derivatives of the observed information. The Jacobian ``-log y`` depends on
no parameter; it enters the log-densities only.

The response keeps its units (it is not standardised, as for the other families of
positive responses), so ``log y`` is in the natural log of the user's unit and a
change of unit shifts each intercept by the logarithm of the factor. The variance
floor is on the log scale, which has no unit: ``sigma_k^2 >= var_floor``.

The component mean is ``E[y | x, k] = exp(x' beta_k + sigma_k^2 / 2)``; ``exp(x'
beta_k)`` is its median.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from regmix.core.chunk import Chunk
from regmix.core.linalg import linear_predictor
from regmix.core.params import GaussianParams
from regmix.families.gaussian import Gaussian
from regmix.families.response_checks import check_positive

__all__ = ["LogNormal"]

# The range of a log-normal response: its logarithm must be a normal float64 number
# whose square (in the residual sums) stays finite.
LOGNORMAL_RANGE = (1e-300, 1e300)


class LogNormal(Gaussian):
    """Log-normal regression components, ``log y | x, k ~ N(x' beta_k, sigma_k^2)``.

    Parameters
    ----------
    var_floor : float, default=1e-8
        Lower bound on every ``sigma_k^2``, the variance of ``log y`` (which has no
        unit): it keeps the likelihood bounded when a component collapses onto a few
        points.
    """

    name = "lognormal"
    label = "Log-normal"
    link_name = "log"
    location_scale = False  # y keeps its units; log y is the normal variate
    mean_needs_scale = True  # the mean exp(eta + sigma^2 / 2) is not a function of eta

    def __repr__(self) -> str:
        return f"LogNormal(var_floor={self.var_floor!r})"

    def with_floor_unit(self, unit: float) -> LogNormal:
        """The family itself: the floor is on the log scale, whose unit does not
        depend on the response's (the estimator's robust scale of ``y`` is not its
        unit)."""
        return self

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        """A positive response within :data:`LOGNORMAL_RANGE`, naming the first row
        that is not (``start`` is the first row's number)."""
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")
        check_positive(y, "log-normal", LOGNORMAL_RANGE, start)

    @staticmethod
    def _log_chunk(chunk: Chunk) -> Chunk:
        """The chunk with ``log y`` as its response."""
        return dataclasses.replace(chunk, y=np.log(chunk.y))

    def log_density(self, params: GaussianParams, chunk: Chunk,
                    log_weights: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Component log-densities of ``y`` plus ``log_weights`` (K, n): the normal
        log-density of ``log y`` less ``log y``; and the residuals of ``log y``."""
        log_chunk = self._log_chunk(chunk)
        logd, resid = super().log_density(params, log_chunk, log_weights)
        logd -= log_chunk.y
        return logd, resid

    def statistics(self, chunk: Chunk, wr: np.ndarray, params: GaussianParams,
                   cache: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """The Gaussian family's statistics of ``log y`` (from the residuals of
        :meth:`log_density` when given)."""
        return super().statistics(chunk if cache is not None else self._log_chunk(chunk),
                                  wr, params, cache)

    def mean(self, params: GaussianParams, XT: np.ndarray,
             offset: np.ndarray | None = None) -> np.ndarray:
        """Component means ``exp(eta + sigma^2 / 2)``, shape (K, n)."""
        eta = linear_predictor(params.coef, XT, offset)
        return np.exp(eta + 0.5 * params.sigma[:, None] ** 2)

    def response_mean(self, eta: np.ndarray, params: GaussianParams | None = None
                      ) -> np.ndarray:
        """Each component's mean from its linear predictor ``eta`` (n, K) and the
        sigmas of ``params`` (user units): ``exp(eta + sigma^2 / 2)``.

        Raises
        ------
        ValueError
            Without ``params``: the mean depends on sigma.
        """
        if params is None:
            raise ValueError("the mean of a log-normal component depends on its sigma: "
                             "pass the parameters")
        return np.exp(eta + 0.5 * np.asarray(params.sigma) ** 2)

    def row_derivatives(self, params: GaussianParams,
                        chunk: Chunk) -> tuple[np.ndarray, ...]:
        """The Gaussian family's derivatives of ``log y`` (the Jacobian ``-log y``
        depends on no parameter), with the log-densities of ``y``."""
        log_chunk = self._log_chunk(chunk)
        logf, *rest = super().row_derivatives(params, log_chunk)
        return (logf - log_chunk.y, *rest)

    def sample(self, params: GaussianParams, X: np.ndarray, labels: np.ndarray,
               rng: np.random.Generator, offset: np.ndarray | None = None,
               trials: np.ndarray | None = None) -> np.ndarray:
        """Draw responses ``exp(x' beta_k + sigma_k e)``, ``e`` standard normal."""
        return np.exp(super().sample(params, X, labels, rng, offset, trials))
