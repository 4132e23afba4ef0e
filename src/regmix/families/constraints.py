"""Constraints on the component parameters: shared coefficients, known coefficients and
a common scale.

* **Common coefficients** (flexmix's ``fixed = ~ x``, Stata's ``lcinvariant``): some
  design columns have one coefficient for all components, or for a subset of them
  (flexmix's ``nested``).
* **Fixed coefficients**: known values, the same for all components or one per
  component, possibly in some components only (a coefficient absent from a component
  is one fixed at zero there); they are not estimated.
* **Equal scale** (mixtools' ``arbvar = FALSE``): one ``sigma`` for all Gaussian or
  Student-t components.

The M-step solves the constrained problem exactly: the per-component normal equations
``A_k delta_k = b_k`` (each scaled by the component's precision ``1 / sigma_k^2``, or by 1
where the weights already carry it) are stacked into one system whose unknowns are the
free coefficients, each shared one once (a stacked weighted least squares); fixed
coefficients do not move.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from regmix.core.linalg import solve_normal_equations, solve_normal_equations_batch


class VarianceFloor:
    """The variance floor of a location-scale family (Gaussian, Student-t).

    ``var_floor`` is relative to the square of the response's robust scale (see
    :func:`regmix.sources.arrays.response_robust_scale`): a few gross outliers inflate
    ``var(y)``, and a floor relative to it would hold every component far above its
    noise. ``floor_unit`` is that squared robust scale in the fit's internal units
    (where the response has unit spread), set for each fit by :meth:`with_floor_unit`;
    :attr:`internal_var_floor` is the floor the M-step applies.
    """

    var_floor: float
    floor_unit: float = 1.0

    @property
    def internal_var_floor(self) -> float:
        """The lower bound on every ``sigma_k^2`` in internal units."""
        return self.var_floor * self.floor_unit

    def with_floor_unit(self, unit: float):
        """A copy whose floor is ``var_floor * unit`` in internal units."""
        new = copy.copy(self)
        new.floor_unit = float(unit)
        return new


def scale_update(A, b, c, delta, resp_sum, live, constraints, var_floor) -> np.ndarray:
    """New sigmas of the live components from the weighted residual sums after the
    coefficient step; one pooled sigma under an equal-scale constraint."""
    if constraints is None or not constraints.has_coefficient_constraints:
        rss = c[live] - np.einsum("kp,kp->k", b[live], delta[live])
    else:

        rss = residual_sums(A, b, c, delta)[live]
    if constraints is not None and constraints.equal_scale:
        var = np.full(rss.shape, rss.sum() / resp_sum[live].sum())
    else:
        var = rss / resp_sum[live]
    return np.sqrt(np.maximum(var, var_floor))


@dataclass(frozen=True)
class CoefficientConstraints:
    """Which coefficients are shared or known, and whether the scale is common.

    Every coefficient ``(k, j)`` (component ``k``, design column ``j``, intercept first)
    is either one of the free coefficients of the model, ``index[k, j] >= 0``, or known,
    ``index[k, j] == -1``. Entries with the same index share one coefficient (a
    coefficient common to all components or to a subset of them).

    Attributes
    ----------
    index : ndarray of int, shape (K, p)
        The free coefficient of every entry, ``0 .. n_free - 1``, or -1 where the value
        is known; the per-component coefficients are numbered first, component by
        component, then the shared ones.
    fixed_values : ndarray of shape (K, p)
        The known values in internal units (zero at the free entries).
    equal_scale : bool
        One scale parameter (sigma) for all components.
    scale_columns : tuple of int, default=(0,)
        With ``equal_scale``, the columns of the family's extras that are each one
        parameter of all components: the sigma, or with several responses each scaled
        response's sigma.
    """

    index: np.ndarray
    fixed_values: np.ndarray
    equal_scale: bool = False
    scale_columns: tuple[int, ...] = (0,)

    @property
    def fixed_entries(self) -> np.ndarray:
        """The known coefficients, (K, p) bool."""
        return self.index < 0

    @property
    def fixed(self) -> np.ndarray:
        """Design columns whose coefficient is known in every component, (p,) bool."""
        return np.asarray(self.fixed_entries.all(axis=0))

    @property
    def n_free(self) -> int:
        """The number of free coefficients of all components together."""
        return int(self.index.max(initial=-1)) + 1

    @property
    def symmetric(self) -> bool:
        """Whether the constraints are the same for every component (so that the
        components may be renumbered): the same known values, and each shared
        coefficient shared by all of them."""
        known = self.fixed_entries
        if not (np.all(known == known[0]) and np.all(self.fixed_values == self.fixed_values[0])):
            return False
        counts = np.bincount(self.index[~known], minlength=self.n_free)
        return bool(np.all((counts == 1) | (counts == self.index.shape[0])))

    @property
    def has_coefficient_constraints(self) -> bool:
        return self.n_free < self.index.size

    def n_coefficients(self, n_components: int) -> int:
        """Free coefficients of all components together."""
        return self.n_free

    def with_fixed(self, coef: np.ndarray) -> np.ndarray:
        """``coef`` (K, p) with the known entries set to their values."""
        out = np.array(coef, dtype=np.float64, copy=True)
        known = self.fixed_entries
        out[known] = self.fixed_values[known]
        return out

    def project(self, family, params):
        """Starting parameters made to satisfy the constraints: known entries at their
        values, shared ones at their mean over the components that share them, and
        (with an equal scale) every component's sigma at their geometric mean."""
        coef = self.with_fixed(params.coef)
        free = self.index >= 0
        idx = self.index[free]
        sums = np.bincount(idx, weights=coef[free], minlength=self.n_free)
        counts = np.bincount(idx, minlength=self.n_free)
        coef[free] = (sums / np.maximum(counts, 1))[idx]
        extra = np.array(params.extra, dtype=np.float64, copy=True)
        if self.equal_scale:
            cols = list(self.scale_columns)
            extra[:, cols] = np.exp(np.log(extra[:, cols]).mean(axis=0))
        return family.make_params(coef, extra)

    def fixed_part(self, XT: np.ndarray) -> np.ndarray:
        """The known entries' contribution to each component's linear predictor (K, n)."""
        cols = self.fixed_entries.any(axis=0)
        return self.fixed_values[:, cols] @ XT[cols]

    def step(self, A: np.ndarray, b: np.ndarray, scale: np.ndarray,
             live: np.ndarray) -> tuple[np.ndarray, bool]:
        """The constrained Newton / least-squares step ``delta`` (K, p).

        Solves the stacked system ``sum_k scale_k E_k' A_k E_k x = sum_k scale_k E_k'
        b_k`` over the live components, where ``E_k`` maps the free coefficients ``x``
        to component ``k``'s entries (``delta_k = E_k x``, zero at the known entries).
        Only the free coefficients of live components are solved for; a shared one
        moves in every component that shares it.

        Returns
        -------
        delta : ndarray of shape (K, p)
        rank_deficient : bool
        """
        K, p = b.shape
        n = self.n_free
        M = np.zeros((n, n))
        r = np.zeros(n)
        touched = np.zeros(n, dtype=bool)
        for k in np.flatnonzero(live):
            cols = np.flatnonzero(self.index[k] >= 0)
            par = self.index[k, cols]
            M[np.ix_(par, par)] += scale[k] * A[k][np.ix_(cols, cols)]
            r[par] += scale[k] * b[k][cols]
            touched[par] = True
        delta = np.zeros((K, p))
        if not touched.any():
            return delta, False
        x = np.zeros(n)
        x[touched], deficient = solve_normal_equations(M[np.ix_(touched, touched)],
                                                       r[touched])
        free = self.index >= 0
        delta[free] = x[self.index[free]]
        return delta, deficient


def coefficient_index(names: list[str], n_components: int, common_coef=None,
                      fixed_coef=None) -> tuple[np.ndarray, np.ndarray]:
    """The free-coefficient numbering and the known values of a constraint spec.

    Parameters
    ----------
    names : list of str
        The coefficient names, ``"intercept"`` first when there is one.
    n_components : int
    common_coef : list of str or dict, optional
        Names shared by all components, or ``{name: spec}`` with ``spec`` ``"all"``, a
        list of components (numbered 1..K) that share one coefficient, or a list of such
        lists (several shared coefficients of one name).
    fixed_coef : dict, optional
        ``{name: value}`` (every component) or ``{name: [v_1, ..., v_K]}`` where a
        ``None`` or NaN entry leaves that component's coefficient free.

    Returns
    -------
    index : ndarray of int, shape (K, p)
        As :attr:`CoefficientConstraints.index`.
    values : ndarray of shape (K, p)
        The known values in user units (zero at the free entries).

    Raises
    ------
    ValueError
        For a name that is not a coefficient, a component outside 1..K, a shared
        subset of fewer than two components, overlapping subsets, a value that is not a
        finite number, or an entry that is both shared and known.
    """
    K, p = int(n_components), len(names)

    def column(name, what):
        if name not in names:
            raise ValueError(f"{what}: {name!r} is not a coefficient; the coefficients "
                             f"are {names}")
        return names.index(name)

    shared = np.full((K, p), -1)  # the shared group of each entry, -1 for none
    groups: list[tuple[int, np.ndarray]] = []
    spec = _common_spec(common_coef)
    for name, subsets in spec.items():
        j = column(name, "common_coef")
        for subset in subsets:
            members = _components(subset, K, f"common_coef[{name!r}]")
            if np.any(shared[members, j] >= 0):
                raise ValueError(f"common_coef[{name!r}]: the subsets of components "
                                 f"overlap ({subsets!r})")
            shared[members, j] = len(groups)
            groups.append((j, members))
    if fixed_coef is not None and not isinstance(fixed_coef, Mapping):
        raise ValueError("fixed_coef must be a dict {coefficient name: value or K values "
                         "(None for a free one)}")
    known = np.zeros((K, p), dtype=bool)
    values = np.zeros((K, p))
    for name, value in dict(fixed_coef or {}).items():
        j = column(name, "fixed_coef")
        v = _fixed_values(value, K, name)
        known[:, j] = ~np.isnan(v)
        values[known[:, j], j] = v[known[:, j]]
    both = known & (shared >= 0)
    if both.any():
        k, j = np.argwhere(both)[0]
        raise ValueError(f"{names[j]!r} in component {k + 1} is both common and fixed "
                         "(common_coef and fixed_coef)")
    index = np.full((K, p), -1)
    own = ~known & (shared < 0)
    index[own] = np.arange(int(own.sum()))
    for g, (j, members) in enumerate(groups):
        index[members, j] = int(own.sum()) + g
    return index, values


def _common_spec(common_coef) -> dict[str, list]:
    """``common_coef`` as ``{name: [subset, ...]}`` (a subset: "all" or components)."""
    if common_coef is None:
        return {}
    if isinstance(common_coef, str):
        raise ValueError(f"common_coef must be a list of names or a dict {{name: 'all' or "
                         f"components}}; got the string {common_coef!r}")
    if isinstance(common_coef, Mapping):
        out = {}
        for name, value in common_coef.items():
            if isinstance(value, str) or not isinstance(value, Sequence):
                out[name] = [value]
            elif value and all(isinstance(v, Sequence) and not isinstance(v, str)
                               for v in value):
                out[name] = list(value)
            else:
                out[name] = [value]
        return out
    return {name: ["all"] for name in common_coef}


def _components(subset, K: int, what: str) -> np.ndarray:
    """The 0-based components of a user subset ("all" or 1-based numbers)."""
    if isinstance(subset, str):
        if subset != "all":
            raise ValueError(f"{what} must be 'all' or a list of components 1..{K}; "
                             f"got {subset!r}")
        return np.arange(K)  # with one component: the component's own coefficient
    else:
        items = list(subset) if isinstance(subset, Sequence) else [subset]
        for c in items:
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 1 <= c <= K:
                raise ValueError(f"{what}: component {c!r} is not one of 1..{K} "
                                 "(components are numbered from 1)")
        members = np.array(sorted(set(int(c) - 1 for c in items)), dtype=np.intp)
        if members.size < len(items):
            raise ValueError(f"{what} names a component twice: {list(items)!r}")
    if members.size < 2:
        raise ValueError(f"{what} must name at least two components to share a "
                         f"coefficient; got {subset!r}")
    return members


def _fixed_values(value, K: int, name: str) -> np.ndarray:
    """A fixed-coefficient spec as K values, NaN where free."""
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    try:
        if items is None:
            v = np.full(K, float(value))
            if np.isnan(v).any():
                raise TypeError
        else:
            v = np.array([np.nan if x is None else float(x) for x in items])
    except (TypeError, ValueError):
        v = np.array([np.inf])
    if v.size != K or np.isinf(v).any():
        raise ValueError(f"fixed_coef[{name!r}] must be a finite number or {K} values "
                         f"(a number, or None for a free coefficient); got {value!r}")
    return v


def residual_sums(A: np.ndarray, b: np.ndarray, c: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``e'R e`` after the step: ``c - 2 b'delta + delta' A delta`` per component, for
    statistics taken around the old coefficients (residuals ``e``)."""
    quad = np.einsum("kp,kpq,kq->k", delta, A, delta)
    return c - 2.0 * np.einsum("kp,kp->k", b, delta) + quad


def coefficient_update(A: np.ndarray, b: np.ndarray, coef: np.ndarray, live: np.ndarray,
                       constraints: CoefficientConstraints | None,
                       scale: np.ndarray | None = None):
    """The coefficient step of an M-step, with or without constraints.

    Parameters
    ----------
    A, b : ndarray of shape (K, p, p) and (K, p)
        Per-component normal equations around ``coef``.
    coef : ndarray of shape (K, p)
        The current coefficients (the fixed ones at their values).
    live : ndarray of bool, shape (K,)
        Components with weight; the others keep their coefficients.
    constraints : CoefficientConstraints or None
    scale : ndarray of shape (K,), optional
        Each component's precision (``1 / sigma_k^2``) for the stacked system.

    Returns
    -------
    coef : ndarray of shape (K, p)
    delta : ndarray of shape (K, p)
        The step (zero for components without weight).
    deficient : ndarray of bool, shape (K,)
    """

    K, p = b.shape
    delta = np.zeros((K, p))
    deficient = np.zeros(K, dtype=bool)
    if not live.any():
        return coef.copy(), delta, deficient
    if constraints is None or not constraints.has_coefficient_constraints:
        delta[live], deficient[live] = solve_normal_equations_batch(A[live], b[live])
    else:
        s = np.ones(K) if scale is None else scale
        delta, flag = constraints.step(A, b, s, live)
        deficient[live] = flag
    return coef + delta, delta, deficient


def log_newton_step(g: np.ndarray, h: np.ndarray, bound: float) -> np.ndarray:
    """One Newton step on the logarithm of a positive parameter per component (a
    negative-binomial size, a Student-t df), from the summed first and second
    derivatives ``g`` and ``h`` of the expected log-likelihood in it: ``-g / h``, or a
    unit step along the gradient where it is not concave, at most ``bound`` either
    way; no step where it is undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(h < 0, -g / h, np.sign(g))
    step[np.isnan(step)] = 0.0
    np.maximum(step, -bound, out=step)
    return np.minimum(step, bound, out=step)
