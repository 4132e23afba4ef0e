"""The point-mass component: all its probability on one value, without a regression.

Beside Poisson, negative-binomial or binomial components it makes the zero-inflated
model (Stata's ``fmm: pointmass``, SAS ``DIST=CONSTANT``, flexmix's ``FLXMRziglm``);
with concomitant variables the probability of the structural value depends on them.
Its log-density is 0 where ``y`` equals the value and minus infinity elsewhere, with
respect to the counting measure, so it is commensurate with the probability mass
functions of the discrete families only. It has no parameters: its M-step keeps it as
it is, and its only estimated quantity is its mixing weight.

A point mass is a component of a mixture with a family per component
(:class:`regmix.families.composite.ComponentFamilies`), never a family of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from regmix.core.chunk import Chunk, Standardization
from regmix.core.params import ComponentParams

__all__ = ["PointMass"]


class PointMass:
    """A component with all its mass on ``value``.

    Parameters
    ----------
    value : float, default=0.0
        The value every response of the component takes (a finite number).
    """

    name = "pointmass"
    label = "Point mass"
    link_name = "none"
    location_scale = False
    discrete = True
    exact_m_step = True
    init_steps = 0
    extra_names: tuple[str, ...] = ()
    constraints = None

    def __init__(self, value: float = 0.0) -> None:
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"the point mass's value must be a finite number; got {value!r}")
        self.value = value

    def __repr__(self) -> str:
        return f"PointMass(value={self.value!r})"

    def n_parameters(self, n_components: int, n_design: int) -> int:
        """None: a point mass has no coefficients and no extras."""
        return 0

    def make_params(self, coef: np.ndarray, extra: np.ndarray) -> ComponentParams:
        """Parameters of the shape of ``coef``, whose values are not used: the
        coefficients are not numbers (NaN), as there is no regression."""
        shape = np.shape(coef)
        return ComponentParams(np.full(shape, np.nan), np.zeros((shape[0], 0)))

    def zero_params(self, n_components: int, n_design: int) -> ComponentParams:
        """Coefficients that are not numbers: there is no regression."""
        return self.make_params(np.zeros((n_components, n_design)), np.zeros(0))

    def with_unit_scale(self, params: ComponentParams) -> ComponentParams:
        return params

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        """Any response: the rows away from the value have zero density here."""

    def log_density(self, params: ComponentParams, chunk: Chunk,
                    log_weights: np.ndarray | float = 0.0) -> tuple[np.ndarray, Any]:
        """0 at the value and minus infinity elsewhere, plus ``log_weights`` (K, n)."""
        on = chunk.y == self.value
        logd = np.where(on, 0.0, -np.inf)[None, :] + np.zeros((params.n_components, 1))
        logd += log_weights
        return logd, None

    def statistics(self, chunk: Chunk, wr: np.ndarray, params: ComponentParams,
                   cache: Any = None) -> tuple[np.ndarray, ...]:
        """No statistics: nothing is estimated."""
        return ()

    def m_step(self, stats: tuple[np.ndarray, ...], resp_sum: np.ndarray,
               params: ComponentParams) -> tuple[ComponentParams, np.ndarray]:
        return params, np.zeros(params.n_components, dtype=bool)

    def to_vector(self, params: ComponentParams) -> np.ndarray:
        return np.zeros(0)

    def from_vector(self, vec: np.ndarray, like: ComponentParams) -> ComponentParams:
        return like

    def to_user(self, params: ComponentParams,
                standardization: Standardization) -> ComponentParams:
        return params

    def to_internal(self, params: ComponentParams,
                    standardization: Standardization) -> ComponentParams:
        return params

    def free_extra(self) -> np.ndarray:
        return np.zeros(0, dtype=bool)

    def mean(self, params: ComponentParams, XT: np.ndarray,
             offset: np.ndarray | None = None) -> np.ndarray:
        """The value, for every row (K, n)."""
        return np.full((params.n_components, XT.shape[1]), self.value)

    def response_mean(self, eta: np.ndarray, params: ComponentParams | None = None
                      ) -> np.ndarray:
        """The value, whatever the (absent) linear predictor and ``params``."""
        return np.full(np.shape(eta), self.value)

    def row_derivatives(self, params: ComponentParams,
                        chunk: Chunk) -> tuple[np.ndarray, ...]:
        """The log-density and zero derivatives: there are no parameters."""
        logf, _ = self.log_density(params, chunk)
        K, n = logf.shape
        zero = np.zeros((K, n))
        return (logf, zero, zero.copy(), np.zeros((K, 0, n)), np.zeros((K, 0, 0, n)),
                np.zeros((K, 0, n)))

    def sample(self, params: ComponentParams, X: np.ndarray, labels: np.ndarray,
               rng: np.random.Generator, offset: np.ndarray | None = None,
               trials: np.ndarray | None = None) -> np.ndarray:
        """The value for every row."""
        return np.full(X.shape[0], self.value)
