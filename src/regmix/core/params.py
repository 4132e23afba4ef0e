"""Parameter containers that every layer exchanges (internal, standardised units)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MixtureParams:
    """Mixing weights, component parameters and gating coefficients (internal units).

    ``gating`` is None for constant mixing weights; with concomitant variables it is
    the (K, q) multinomial-logit coefficients (first row zero) and ``weights`` the
    components' shares of the posterior probabilities.
    """

    weights: np.ndarray
    component: Any
    gating: np.ndarray | None = None

    @property
    def n_components(self) -> int:
        return self.weights.shape[0]

    def take(self, order: np.ndarray) -> MixtureParams:
        gating = None
        if self.gating is not None:  # re-express relative to the new first component
            gating = self.gating[order] - self.gating[order[0]]
        return MixtureParams(self.weights[order].copy(), self.component.take(order), gating)


@dataclass(frozen=True)
class GaussianParams:
    """Parameters of K Gaussian linear-regression components (internal units).

    Attributes
    ----------
    coef : ndarray of shape (K, n_design)
        Coefficients on the design, intercept first when there is one.
    sigma : ndarray of shape (K,)
        Noise standard deviations.
    """

    coef: np.ndarray
    sigma: np.ndarray

    @property
    def n_components(self) -> int:
        return self.coef.shape[0]

    @property
    def extra(self) -> np.ndarray:
        """The per-component parameters beyond the coefficients, shape (K, 1)."""
        return self.sigma[:, None]

    def take(self, order: np.ndarray) -> GaussianParams:
        """The components in the given order (or a subset)."""
        return GaussianParams(self.coef[order].copy(), self.sigma[order].copy())


@dataclass(frozen=True)
class ComponentParams:
    """Parameters of K regression components of any family (internal units).

    Attributes
    ----------
    coef : ndarray of shape (K, n_design) or None
        Coefficients of the linear predictor, intercept first when there is one. None
        only in the reference point of a first M-step, which then starts from the data
        (as R's ``glm.fit`` starts from ``mustart``).
    extra : ndarray of shape (K, m)
        The family's other parameters, natural scale, in the order of the family's
        ``extra_names`` (for example the Gamma shape).
    """

    coef: np.ndarray | None
    extra: np.ndarray

    @property
    def n_components(self) -> int:
        return self.extra.shape[0]

    def take(self, order: np.ndarray) -> ComponentParams:
        """The components in the given order (or a subset)."""
        coef = None if self.coef is None else self.coef[order].copy()
        return ComponentParams(coef, self.extra[order].copy())
