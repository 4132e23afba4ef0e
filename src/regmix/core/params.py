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


@dataclass(frozen=True)
class PerComponentParams:
    """Parameters of K components that each have their own family (internal units).

    Attributes
    ----------
    parts : tuple
        One parameter object per component, each of one component of that component's
        family (:class:`GaussianParams` or :class:`ComponentParams`).
    columns : tuple of ndarray
        For each component, the columns of :attr:`extra` that hold its family's extras
        (in the order of its family's ``extra_names``).
    n_extra : int
        Width m of :attr:`extra`: every extra name of the families, each once.
    """

    parts: tuple
    columns: tuple
    n_extra: int

    @property
    def n_components(self) -> int:
        return len(self.parts)

    @property
    def coef(self) -> np.ndarray | None:
        """Coefficients (K, p), NaN for a component without a regression; None in a
        reference point where a component starts from the data."""
        if any(part.coef is None for part in self.parts):
            return None
        return np.vstack([part.coef for part in self.parts])

    @property
    def extra(self) -> np.ndarray:
        """Extras (K, m): each component's own in its columns, NaN in the others."""
        out = np.full((self.n_components, self.n_extra), np.nan)
        for k, (part, cols) in enumerate(zip(self.parts, self.columns, strict=True)):
            out[k, cols] = np.asarray(part.extra).reshape(-1)
        return out

    def take(self, order: np.ndarray) -> PerComponentParams:
        """The components in the given order (or a subset); each keeps its family's
        parameters, so the result belongs to the families in that order."""
        order = np.asarray(order).reshape(-1)
        return PerComponentParams(tuple(self.parts[i].take(np.array([0])) for i in order),
                                  tuple(self.columns[i] for i in order), self.n_extra)


@dataclass(frozen=True)
class MultiResponseParams:
    """Parameters of K components with several responses sharing the class (internal
    units).

    Attributes
    ----------
    parts : tuple
        One parameter object of K components per response, of that response's family
        (:class:`GaussianParams` or :class:`ComponentParams`).
    """

    parts: tuple

    @property
    def n_components(self) -> int:
        return self.parts[0].n_components

    @property
    def coef(self) -> np.ndarray | None:
        """Every response's coefficients side by side (K, P); None in a reference point
        where a response starts from the data."""
        if any(part.coef is None for part in self.parts):
            return None
        return np.hstack([part.coef for part in self.parts])

    @property
    def extra(self) -> np.ndarray:
        """Every response's extras side by side (K, m)."""
        return np.hstack([np.asarray(part.extra).reshape(self.n_components, -1)
                          for part in self.parts])

    def take(self, order: np.ndarray) -> MultiResponseParams:
        """The components in the given order (or a subset), copied."""
        return MultiResponseParams(tuple(part.take(order) for part in self.parts))


def valid_extras(family, extra: np.ndarray) -> np.ndarray:
    """Which entries of a (K, m) array of the family's extras are admissible: positive,
    or finite for those the family holds as signed values (its ``linear_extra``, the
    covariances of random effects); bool of the same shape."""
    extra = np.asarray(extra, dtype=np.float64)
    linear = getattr(family, "linear_extra", None)
    if linear is None:
        return extra > 0
    return np.where(linear(), np.isfinite(extra), extra > 0)
