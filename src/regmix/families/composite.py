"""A family per component: the composite family that dispatches to each component's own.

``family=["pointmass", "poisson", "poisson"]`` is one :class:`ComponentFamilies`: a
family object like any other (it satisfies :class:`regmix.core.protocols.Family`), whose
component k is a one-component mixture of its own family. The E-step takes each
component's log-densities from its family and the data pass sums them as it always
does; the statistics are each component's own (one element of the tuple per component,
added element-wise across chunks); the M-step, the unconstrained coordinates, the units
and the per-row derivatives of the observed information are each component's family's.
So the EM loop, the data pass, the search and the inference code see one family.

The densities of a mixture must share one dominating measure: the discrete families
(Poisson, negative binomial, binomial and the point mass) are probability mass
functions, the continuous ones (Gaussian, Student-t, Gamma) densities in ``y``, and the
two kinds do not mix. The location-scale families (Gaussian, Student-t), whose response
is standardised, do not mix with the Gamma family either. Either is refused with a
ValueError naming ``family``.

The parameters (:class:`~regmix.core.params.PerComponentParams`) hold one parameter
object per component; read as arrays, ``coef`` (K, p) is NaN for a component without
a regression (a point mass) and ``extra`` (K, m) lists every extra name of the families
once, NaN where a component's family has no such parameter.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from regmix.core.chunk import Chunk, Standardization
from regmix.core.params import PerComponentParams
from regmix.families.pointmass import PointMass

__all__ = ["ComponentFamilies", "MemberFamilies", "component_order", "member_names",
           "response_mean"]


class _Sums(tuple):
    """One component's statistics: a tuple whose ``+`` adds element-wise, as the data
    pass adds the elements of every family's statistics."""

    __slots__ = ()

    def __add__(self, other):
        return _Sums(a + b for a, b in zip(self, other, strict=True))


def response_mean(family, eta: np.ndarray, params=None) -> np.ndarray:
    """Each component's mean on the response scale from its linear predictor ``eta``
    (n, K), user units: the family's own rule (a point mass's value, a log-normal
    component's ``exp(eta + sigma^2 / 2)`` from the component parameters ``params``, a
    GLM's inverse link, the linear predictor itself for Gaussian and Student-t
    components)."""
    own = getattr(family, "response_mean", None)
    if own is not None:
        return own(eta, params)
    link = getattr(family, "link", None)
    return eta if link is None else link.inverse(eta)


def member_names(family) -> set[str]:
    """The names of the families of a mixture's components (one name but with a
    family per component)."""
    return {f.name for f in getattr(family, "families", (family,))}


def _discrete(family) -> bool | None:
    return getattr(family, "discrete", None)


class MemberFamilies:
    """What a family made of member families (a family per component, a family per
    response) takes from its members alone: the links, whether every M-step is exact,
    the starts' extra M-steps, and the parameters' unconstrained coordinates, member by
    member. A subclass names its members (:attr:`_members`) and packs their parameter
    objects into its own (:meth:`_pack`)."""

    @property
    def _members(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def _pack(self, parts) -> Any:
        raise NotImplementedError

    def _parts(self, params):
        return zip(self._members, params.parts, strict=True)

    @property
    def link_name(self) -> str:
        return ",".join(f.link_name for f in self._members)

    @property
    def exact_m_step(self) -> bool:
        return all(f.exact_m_step for f in self._members)

    @property
    def init_steps(self) -> int:
        return max(f.init_steps for f in self._members)

    def with_unit_scale(self, params):
        return self._pack(f.with_unit_scale(p) for f, p in self._parts(params))

    def to_vector(self, params) -> np.ndarray:
        return np.concatenate([f.to_vector(p) for f, p in self._parts(params)])

    def from_vector(self, vec: np.ndarray, like):
        parts, start = [], 0
        for f, p in self._parts(like):
            size = f.to_vector(p).size
            parts.append(f.from_vector(vec[start : start + size], p))
            start += size
        return self._pack(parts)


class ComponentFamilies(MemberFamilies):
    """A mixture whose components each have their own family.

    Parameters
    ----------
    families : sequence of family objects
        One per component, in the components' order (``families[k]`` is component
        ``k + 1``'s). At least one must be a regression (not every component a point
        mass); all are discrete or all continuous, and all location-scale families or
        none.
    """

    name = "per_component"
    constraints = None

    def __init__(self, families: Sequence[Any]) -> None:
        families = tuple(families)
        if not families:
            raise ValueError("family must name at least one family per component; got an "
                             "empty list")
        if all(isinstance(f, PointMass) for f in families):
            raise ValueError("family: a point mass is a component beside a regression "
                             "component (for example ['pointmass', 'poisson'])")
        censored = [f.name for f in families if hasattr(f, "response_limits")]
        if censored:
            listed = ", ".join(repr(f.name) for f in families)
            raise ValueError(
                f"family [{listed}]: a {censored[0]} component reads the response's "
                "censoring and truncation limits, which a family per component does not "
                "carry to its components (a Gaussian or Student-t component beside it "
                "would take a censored row's recorded value for an observed one, and a "
                "point mass is a probability against its density); use "
                "family='censored_gaussian' for every component")
        kinds = {_discrete(f) for f in families} - {None}
        if len(kinds) > 1:
            cont = [f.name for f in families if _discrete(f) is False]
            disc = [f.name for f in families if _discrete(f) is True]
            raise ValueError(
                f"family mixes continuous ({', '.join(dict.fromkeys(cont))}) and discrete "
                f"({', '.join(dict.fromkeys(disc))}) components: their densities are with "
                "respect to different measures (a density in y against a probability), so "
                "their likelihoods cannot be compared; a point mass goes beside discrete "
                "families only (poisson, negative_binomial, binomial)")
        scales = {bool(f.location_scale) for f in families if not isinstance(f, PointMass)}
        if len(scales) > 1:
            raise ValueError(
                "family mixes location-scale components (gaussian, student_t), whose "
                "response is standardised, with components whose response keeps its "
                f"units ({', '.join(f.name for f in families if not f.location_scale)})")
        self.families = families
        names: list[str] = []
        for f in families:
            names += [n for n in f.extra_names if n not in names]
        self.extra_names: tuple[str, ...] = tuple(names)
        self._columns = tuple(np.array([names.index(n) for n in f.extra_names], dtype=np.intp)
                              for f in families)

    def __repr__(self) -> str:
        return f"ComponentFamilies([{', '.join(map(repr, self.families))}])"

    # ------------------------------------------------------------ description
    @property
    def label(self) -> str:
        return " + ".join(f.label for f in self.families)

    @property
    def location_scale(self) -> bool:
        return any(f.location_scale for f in self.families)

    @property
    def n_components(self) -> int:
        return len(self.families)

    @property
    def internal_var_floor(self) -> float | None:
        """The variance floor of the location-scale components (internal units), when
        they share one; else None."""
        floors = {getattr(f, "internal_var_floor", None) for f in self.families} - {None}
        return floors.pop() if len(floors) == 1 else None

    def with_floor_unit(self, unit: float) -> ComponentFamilies:
        """A copy whose location-scale components have the floor unit ``unit``."""
        new = copy.copy(self)
        new.families = tuple(f.with_floor_unit(unit) if hasattr(f, "with_floor_unit") else f
                             for f in self.families)
        return new

    def _check_k(self, n_components: int) -> None:
        if n_components != len(self.families):
            raise ValueError(f"family gives {len(self.families)} components' families but "
                             f"n_components={n_components}: give one family per component")

    @property
    def _members(self) -> tuple[Any, ...]:
        return self.families

    def _pack(self, parts) -> PerComponentParams:
        return PerComponentParams(tuple(parts), self._columns, len(self.extra_names))

    # ------------------------------------------------------------ parameters
    def n_parameters(self, n_components: int, n_design: int) -> int:
        self._check_k(n_components)
        return sum(f.n_parameters(1, n_design) for f in self.families)

    def make_params(self, coef: np.ndarray, extra: np.ndarray) -> PerComponentParams:
        """Per-component parameters from coefficients (K, p) and extras (K, m) in the
        layout of :attr:`extra_names` (entries a component's family lacks are unread)."""
        coef = np.asarray(coef, dtype=np.float64)
        extra = np.asarray(extra, dtype=np.float64).reshape(coef.shape[0], -1)
        self._check_k(coef.shape[0])
        return self._pack(f.make_params(coef[k : k + 1], extra[k : k + 1, cols])
                          for k, (f, cols) in enumerate(zip(self.families, self._columns,
                                                            strict=True)))

    def zero_params(self, n_components: int, n_design: int) -> PerComponentParams:
        self._check_k(n_components)
        return self._pack(f.zero_params(1, n_design) for f in self.families)

    def free_extra(self) -> np.ndarray:
        """An extra is estimated when some component's family estimates it."""
        free = np.zeros(len(self.extra_names), dtype=bool)
        for f, cols in zip(self.families, self._columns, strict=True):
            free[cols[f.free_extra()]] = True
        return free

    def _free_positions(self) -> list[np.ndarray]:
        """For each component, the positions of its free extras among the free extras
        of :meth:`free_extra`."""
        where = np.cumsum(self.free_extra()) - 1
        return [where[cols[f.free_extra()]]
                for f, cols in zip(self.families, self._columns, strict=True)]

    def parameter_mask(self, n_design: int) -> np.ndarray:
        """Which coordinates of the per-component blocks of the observed information
        (p coefficients, then the free extras of :meth:`free_extra`) are parameters of
        that component, bool (K, p + m')."""
        m = int(self.free_extra().sum())
        mask = np.zeros((len(self.families), n_design + m), dtype=bool)
        for k, (f, pos) in enumerate(zip(self.families, self._free_positions(), strict=True)):
            mask[k, :n_design] = f.n_parameters(1, n_design) > pos.size
            mask[k, n_design + pos] = True
        return mask

    def absent_parameters(self, n_coef: int) -> tuple[np.ndarray, np.ndarray]:
        """Which entries of the arrays of the parameters a component's family does not
        have (NaN there): of ``coef`` (K, n_coef), all or none of a row, and of
        ``extra`` (K, m)."""
        K = len(self.families)
        coef = np.zeros((K, n_coef), dtype=bool)
        extra = np.ones((K, len(self.extra_names)), dtype=bool)
        for k, (f, cols) in enumerate(zip(self.families, self._columns, strict=True)):
            coef[k] = f.n_parameters(1, 1) <= int(f.free_extra().sum())
            extra[k, cols] = False
        return coef, extra

    def to_user(self, params: PerComponentParams,
                standardization: Standardization) -> PerComponentParams:
        return self._pack(f.to_user(p, standardization) for f, p in self._parts(params))

    def to_internal(self, params: PerComponentParams,
                    standardization: Standardization) -> PerComponentParams:
        return self._pack(f.to_internal(p, standardization) for f, p in self._parts(params))

    # ------------------------------------------------------------ the data pass
    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        """Every component's family checks the response."""
        for f in self.families:
            f.check_response(y, trials, start=start, complete=complete)

    def log_density(self, params: PerComponentParams, chunk: Chunk,
                    log_weights: np.ndarray | float = 0.0) -> tuple[np.ndarray, Any]:
        """Each component's log-density from its family, plus ``log_weights``; the
        components' caches as the cache."""
        logd = np.empty((len(self.families), chunk.y.shape[0]))
        caches = []
        for k, (f, p) in enumerate(self._parts(params)):
            row, cache = f.log_density(p, chunk, 0.0)
            logd[k] = row[0]
            caches.append(cache)
        logd += log_weights
        return logd, tuple(caches)

    def statistics(self, chunk: Chunk, wr: np.ndarray, params: PerComponentParams,
                   cache: Any = None) -> tuple[Any, ...]:
        """One element per component: its family's statistics for its row of ``wr``."""
        caches = cache if cache is not None else (None,) * len(self.families)
        return tuple(_Sums(f.statistics(chunk, wr[k : k + 1], p, c))
                     for k, ((f, p), c) in enumerate(zip(self._parts(params), caches,
                                                         strict=True)))

    def m_step(self, stats: tuple, resp_sum: np.ndarray,
               params: PerComponentParams) -> tuple[PerComponentParams, np.ndarray]:
        """Each component's M-step by its family; a component without weight keeps its
        parameters."""
        live = resp_sum > 1e-12 * max(float(resp_sum.sum()), 1e-300)
        parts, deficient = [], np.zeros(len(self.families), dtype=bool)
        for k, (f, p) in enumerate(self._parts(params)):
            if not live[k] and p.coef is not None:
                parts.append(p)
                continue
            new, flag = f.m_step(tuple(stats[k]), resp_sum[k : k + 1], p)
            parts.append(new)
            deficient[k] = bool(np.any(flag))
        return self._pack(parts), deficient

    def mean(self, params: PerComponentParams, XT: np.ndarray,
             offset: np.ndarray | None = None) -> np.ndarray:
        """Component means on the response scale, (K, n)."""
        return np.vstack([f.mean(p, XT, offset) for f, p in self._parts(params)])

    def response_mean(self, eta: np.ndarray, params: PerComponentParams | None = None
                      ) -> np.ndarray:
        """Each component's mean from its column of ``eta`` (n, K) by its family (and
        its parameters in ``params``, user units, for a family whose mean needs
        them)."""
        parts = [None] * len(self.families) if params is None else params.parts
        return np.column_stack([response_mean(f, eta[:, k], part)
                                for k, (f, part) in enumerate(zip(self.families, parts,
                                                                  strict=True))])

    # ------------------------------------------------------------ inference, simulation
    def row_derivatives(self, params: PerComponentParams,
                        chunk: Chunk) -> tuple[np.ndarray, ...]:
        """Each component's per-row derivatives, its free extras in their positions
        among :meth:`free_extra` (zero derivatives in the positions of extras its
        family lacks: they are not its parameters, see :meth:`parameter_mask`)."""
        K, n = len(self.families), chunk.y.shape[0]
        m = int(self.free_extra().sum())
        logf, d1, d2 = np.empty((K, n)), np.empty((K, n)), np.empty((K, n))
        e1, e2, ce = np.zeros((K, m, n)), np.zeros((K, m, m, n)), np.zeros((K, m, n))
        for k, ((f, p), pos) in enumerate(zip(self._parts(params), self._free_positions(),
                                              strict=True)):
            lf, a1, a2, b1, b2, c = f.row_derivatives(p, chunk)
            logf[k], d1[k], d2[k] = lf[0], a1[0], a2[0]
            e1[k, pos] = b1[0]
            e2[k][np.ix_(pos, pos)] = b2[0]
            ce[k, pos] = c[0]
        return logf, d1, d2, e1, e2, ce

    def sample(self, params: PerComponentParams, X: np.ndarray, labels: np.ndarray,
               rng: np.random.Generator, offset: np.ndarray | None = None,
               trials: np.ndarray | None = None) -> np.ndarray:
        """Each row's response from its component's family."""
        y = np.empty(X.shape[0])
        for k, (f, p) in enumerate(self._parts(params)):
            rows = np.flatnonzero(labels == k)
            if rows.size:
                y[rows] = f.sample(p, X[rows], np.zeros(rows.size, dtype=np.intp), rng,
                                   None if offset is None else offset[rows],
                                   None if trials is None else trials[rows])
        return y


def component_order(family, order: np.ndarray) -> np.ndarray:
    """``order`` (the components sorted by the model's rule) restricted to permutations
    that keep each component's family: the components of one family take that family's
    positions, in the order in which ``order`` lists them. Unchanged for one family."""
    families = getattr(family, "families", None)
    if families is None:
        return order
    keys = [repr(f) for f in families]
    out = np.empty_like(order)
    for key in dict.fromkeys(keys):
        slots = [k for k, other in enumerate(keys) if other == key]
        out[slots] = [k for k in order if keys[k] == key]
    return out
