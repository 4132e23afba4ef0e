"""Parameters on the boundary of the parameter space: diverging coefficients and sigmas at
the variance floor.

Two situations leave a fit without a maximum-likelihood estimate for some parameters:

* **Separation** (binomial and count components). The likelihood of a component keeps
  increasing along a direction ``d`` of its coefficients when the rows it owns can be
  pushed to a bound of the mean that the link reaches only at infinity (probability 0
  or 1, a count's mean 0) with their responses on that bound (no successes, no failures,
  zero counts), while ``d`` leaves the linear predictor of the component's other rows
  unchanged. EM then walks off along ``d`` and stops only because the gain per step
  falls below ``tol``: the coefficients involved are large and meaningless and their
  information is zero to working precision.
* **Variance floor** (Gaussian and Student-t components). A component that has collapsed
  onto rows lying exactly on a line has a likelihood that grows without bound as sigma
  goes to zero; the fit stops at the floor, ``var_floor`` times the squared robust scale
  of y, and the standard errors of the component's sigma and coefficients are then
  proportional to that arbitrary floor.

:func:`separated_coefficients` detects the first in one pass over the rows at the fitted
parameters. Per component it sums ``S = sum_i q_ik x_i x_i'`` (``q_ik`` the weighted
posterior probabilities) over all rows and ``S_int`` over the rows that are *not*
saturated (:meth:`regmix.families.glm.GLMFamily.saturated`). A direction ``d`` with
``d' S_int d`` zero relative to ``d' S d`` moves only saturated rows: along it the
likelihood increases to its supremum, so the coefficients with a non-zero component in
such a direction (in user units) diverge. Directions in which the component's rows do not
move at all (``d' S d = 0``: a collinear design) are left out; they are rank deficiency,
not separation. A legitimately steep fit with some rows at the bound has unsaturated rows
in every direction, and no direction qualifies.

:class:`BoundaryParameters` records what was found, in the model's component order and
with the estimator's parameter names, for the fitted state, the warning, the coefficient
table (NaN standard errors) and the summary note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from regmix.core.chunk import Chunk, Standardization
from regmix.core.results import PassResult
from regmix.engine.passes import observation_posteriors, run_pass

__all__ = ["KINDS", "BoundaryParameters", "boundary_parameters", "fit_boundary",
           "separated_coefficients"]


# A direction counts as moving only saturated rows when the unsaturated rows carry less
# than this fraction of the component's weighted squared movement along it. At a
# separated fit that fraction is zero (up to posteriors of exp(-hundreds)); at a fit
# with a finite optimum it is of the order of the share of unsaturated rows.
_INTERIOR_RTOL = 1e-6


# Eigenvalues of the unit-diagonal scaling of S below this fraction of the largest are the
# directions in which the component's rows do not move (collinear columns).
_RANK_RTOL = 1e-10


# A coordinate takes part in a diverging direction when its entry in the direction's
# orthonormal basis (standardised units) exceeds this.
_INVOLVED_TOL = 1e-6


# The kinds of boundary, each with the reason the warning and the summary give.
KINDS: dict[str, str] = {
    "complete_separation": (
        "complete separation: the component's fitted probabilities are 0 or 1 at every "
        "row it owns, which have no successes or no failures"),
    "quasi_complete_separation": (
        "quasi-complete separation: the component's fitted probabilities are 0 or 1 at "
        "the rows it owns, which have no successes or no failures, except at rows on the "
        "separating boundary"),
    "zero_mean": (
        "the component's fitted means go to 0 at rows it owns whose counts are all zero"),
    "variance_floor": (
        "the rows the component owns lie (almost) exactly on its regression line or "
        "plane, where the likelihood is unbounded as sigma goes to zero (or var_floor is "
        "too large for these data)"),
}


@dataclass(frozen=True, eq=False)
class BoundaryParameters:
    """Parameters of one component that sit on the boundary of the parameter space.

    Attributes
    ----------
    component : int
        The component, 0-based in the model's reported order (the coefficient table's
        ``component`` level is ``component + 1``).
    kind : str
        One of :data:`KINDS`: ``"complete_separation"``,
        ``"quasi_complete_separation"``, ``"zero_mean"`` (coefficients that diverge) or
        ``"variance_floor"`` (sigma at the floor).
    parameters : tuple of str
        The parameters without an estimate or standard error, named as in the
        coefficient table (``"intercept"``, the coefficient names, ``"sigma"``).
    directions : ndarray of shape (r, n_design) or None
        For diverging coefficients: an orthonormal basis (rows, user units, over the
        design columns with the intercept first, each row's largest entry positive) of
        the directions along which the likelihood increases to its supremum;
        ``parameters`` are the coordinates they involve. None for
        ``"variance_floor"``, where all of ``parameters`` are removed.
    """

    component: int
    kind: str
    parameters: tuple[str, ...]
    directions: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}; got {self.kind!r}")
        if (self.directions is None) != (self.kind == "variance_floor"):
            raise ValueError("directions are given exactly for diverging coefficients")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BoundaryParameters):
            return NotImplemented
        same = (self.component, self.kind, self.parameters) == (
            other.component, other.kind, other.parameters)
        if self.directions is None or other.directions is None:
            return same and self.directions is other.directions
        return same and np.array_equal(self.directions, other.directions)

    __hash__ = None  # type: ignore[assignment]

    def _names(self) -> str:
        names = list(self.parameters)
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    def message(self, var_floor: float | None = None) -> str:
        """The warning: the component (1-based), the parameters and the reason."""
        k = self.component + 1
        if self.kind == "variance_floor":
            floor = "" if var_floor is None else (
                f" (var_floor={var_floor:g} times the squared robust scale of y)")
            return (f"component {k}: sigma sits at the variance floor{floor}: "
                    f"{KINDS[self.kind]}; no maximum-likelihood estimate exists (a "
                    "component on as few rows as it has coefficients is a spurious "
                    "maximum: raise min_weight), and coef_table() gives no standard "
                    f"errors (NaN) for {self._names()}, which would only scale with "
                    "the floor")
        one = len(self.parameters) == 1
        coefs, verb, them = ("coefficient", "diverges", "it") if one else (
            "coefficients", "diverge", "them")
        return (f"component {k}: the {coefs} of {self._names()} {verb} ({KINDS[self.kind]}"
                f"); no maximum-likelihood estimate exists for {them}, the values reported "
                f"are where EM stopped, and coef_table() gives {them} no standard errors "
                "(NaN)")

    def note(self) -> str:
        """The summary's note."""
        k = self.component + 1
        if self.kind == "variance_floor":
            return (f"Component {k}: sigma sits at the variance floor (the likelihood is "
                    f"unbounded); no standard errors for {self._names()}.")
        verb = "diverges" if len(self.parameters) == 1 else "diverge"
        return (f"Component {k}: {self._names()} {verb} ({self.kind.replace('_', ' ')}); "
                "no maximum-likelihood estimate, no standard errors.")

    def to_dict(self) -> dict[str, Any]:
        """The model file's entry: ``component`` 1-based, ``kind``, ``parameters`` and
        ``directions`` (a list of rows, or null)."""
        return {"component": self.component + 1, "kind": self.kind,
                "parameters": list(self.parameters),
                "directions": (None if self.directions is None
                               else np.asarray(self.directions, dtype=np.float64).tolist())}

    @classmethod
    def from_dict(cls, d: Any, n_components: int, names: Sequence[str], n_design: int,
                  source: str = "the model") -> BoundaryParameters:
        """An entry of a model file, checked against the model's components, parameter
        names and number of design columns."""
        damaged = f"{source} is damaged: an entry of 'boundary_'"
        if not isinstance(d, Mapping):
            raise ValueError(f"{damaged} is not an object")
        k, kind, params = d.get("component"), d.get("kind"), d.get("parameters")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n_components:
            raise ValueError(f"{damaged} has component {k!r}, not in 1..{n_components}")
        if kind not in KINDS:
            raise ValueError(f"{damaged} has kind {kind!r}, not one of {sorted(KINDS)}")
        if (not isinstance(params, list) or not params
                or not all(isinstance(p, str) and p in names for p in params)):
            raise ValueError(f"{damaged} names parameters {params!r}; the model's are "
                             f"{list(names)}")
        saved = d.get("directions")
        if (saved is None) != (kind == "variance_floor"):
            raise ValueError(f"{damaged} must have directions exactly when its kind is not "
                             "'variance_floor'")
        directions = None
        if saved is not None:
            try:
                directions = np.array(saved, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{damaged} has directions that are not rows of "
                                 "numbers") from None
            if (directions.ndim != 2 or directions.shape[0] < 1
                    or directions.shape[1] != n_design
                    or not np.all(np.isfinite(directions))):
                raise ValueError(f"{damaged} has directions of shape {directions.shape}; "
                                 f"expected finite rows of {n_design} numbers")
        return cls(k - 1, kind, tuple(params), directions)


# ---------------------------------------------------------------------- separation
def _chunk_statistics(chunk: Chunk, family, mixing, params, free: np.ndarray) -> PassResult:
    """Per component ``S``, ``S_int`` (over the free design columns) and the weighted
    posterior mass of the saturated and of the unsaturated rows."""
    logf, cache = family.log_density(params.component, chunk, 0.0)
    mu = cache[0]
    resp, _, _ = observation_posteriors(logf, mixing.log_weights(params, chunk), chunk)
    starts = chunk.group_starts
    n = logf.shape[1]
    if starts is not None:
        resp = np.repeat(resp, np.diff(np.append(starts, n)), axis=1)
    q = resp if chunk.w is None else resp * chunk.w
    sat = np.broadcast_to(family.saturated(chunk.y, mu, chunk.trials), q.shape)
    XT = chunk.XT[free]
    q_int = np.where(sat, 0.0, q)
    S = np.stack([(XT * qk) @ XT.T for qk in q])
    S_int = np.stack([(XT * qk) @ XT.T for qk in q_int])
    mass = np.stack([np.where(sat, q, 0.0).sum(axis=1), q_int.sum(axis=1)])
    return PassResult(0.0, np.zeros(1), (S, S_int, mass))


def _diverging_basis(S: np.ndarray, S_int: np.ndarray) -> np.ndarray:
    """Orthonormal basis (columns, standardised units) of the directions that move the
    component's rows (``d' S d > 0``) but none of its unsaturated ones."""
    p = S.shape[0]
    diag = np.diag(S).copy()
    used = diag > 0
    if not used.any():
        return np.zeros((p, 0))
    scale = np.sqrt(diag[used])
    A = S[np.ix_(used, used)] / np.outer(scale, scale)
    B = S_int[np.ix_(used, used)] / np.outer(scale, scale)
    lam, U = np.linalg.eigh(0.5 * (A + A.T))
    keep = lam > _RANK_RTOL * max(float(lam.max()), 1e-300)
    W = U[:, keep] / np.sqrt(lam[keep])  # whitens S on its range
    mu, V = np.linalg.eigh(0.5 * (W.T @ B @ W + (W.T @ B @ W).T))
    # mu is the unsaturated rows' share of the movement along each direction, in [0, 1]
    D = W @ V[:, mu < _INTERIOR_RTOL]
    if D.shape[1] == 0:
        return np.zeros((p, 0))
    full = np.zeros((p, D.shape[1]))
    full[used] = D / scale[:, None]
    Q, _ = np.linalg.qr(full)
    return Q


def _user_involvement(basis: np.ndarray, free: np.ndarray, st: Standardization,
                      fit_intercept: bool) -> np.ndarray:
    """Which design columns (user units, all of them) a diverging subspace involves.

    A slope's user value is its standardised value over the column's scale, so it takes
    part exactly when its standardised entry does; the user intercept is the standardised
    one minus ``sum_j slope_j * x_loc_j``, compared with the size of its terms (so that
    the rounding of a cancellation does not count).
    """
    p = free.size
    full = np.zeros((p, basis.shape[1]))
    full[free] = basis
    involved = np.linalg.norm(full, axis=1) > _INVOLVED_TOL
    if fit_intercept:
        user_slopes = full[1:] / st.x_scale[:, None]
        terms = user_slopes * st.x_loc[:, None]
        icpt = full[0] - terms.sum(axis=0)
        size = np.abs(full[0]) + np.abs(terms).sum(axis=0)
        involved[0] = bool(np.any(np.abs(icpt) > _INVOLVED_TOL * np.maximum(size, 1.0)))
    return involved & free


def separated_coefficients(family, mixing, params, source, *, chunk_size: int,
                           n_jobs: int = 1
                           ) -> list[tuple[int, str, np.ndarray, np.ndarray]]:
    """The components whose coefficients diverge, by one pass over the rows.

    Parameters
    ----------
    family, mixing : family and mixing model of the fit
    params : MixtureParams
        The fitted parameters in the internal units of ``source``.
    source : row source
        The fit's rows (standardised design; :attr:`standardization` maps to user units).
    chunk_size, n_jobs : int
        As for every data pass.

    Returns
    -------
    list of (int, str, ndarray of bool, ndarray)
        ``(k, kind, columns, directions)``: the component in the fit's internal order,
        the kind (``"complete_separation"``, ``"quasi_complete_separation"`` or
        ``"zero_mean"``), which design columns (intercept first when there is one)
        diverge, and an orthonormal basis of the diverging directions in user units,
        shape (r, n_design). Empty for families without a saturating bound
        (``saturated`` None).
    """
    saturated = getattr(family, "saturated", None)
    p = source.n_design
    # a family or link without a bound at infinity says so by answering None (asked
    # here about one made-up row, so that the pass is not run for nothing)
    if saturated is None or saturated(np.zeros(1), np.full((1, 1), 0.5), None) is None:
        return []
    cons = getattr(family, "constraints", None)
    free = np.ones(p, dtype=bool) if cons is None else ~cons.fixed
    result = run_pass(source, lambda ch: _chunk_statistics(ch, family, mixing, params, free),
                      chunk_size=int(chunk_size), n_jobs=n_jobs)
    S, S_int, mass = result.stats
    st = source.standardization
    found = []
    for k in range(S.shape[0]):
        if not mass[0, k] > 0:
            continue
        basis = _diverging_basis(S[k], S_int[k])
        if basis.shape[1] == 0:
            continue
        columns = _user_involvement(basis, free, st, source.fit_intercept)
        if not columns.any():
            continue
        if family.name != "binomial":
            kind = "zero_mean"
        elif mass[1, k] > _INTERIOR_RTOL * mass[0, k]:
            kind = "quasi_complete_separation"
        else:
            kind = "complete_separation"
        found.append((k, kind, columns, _user_directions(basis, free, st)))
    return found


def _user_directions(basis: np.ndarray, free: np.ndarray, st: Standardization) -> np.ndarray:
    """The diverging subspace in user units: the linear part of ``st.to_user`` applied
    to its basis, orthonormalised; shape (r, n_design)."""
    full = np.zeros((free.size, basis.shape[1]))
    full[free] = basis
    linear = st.to_user(full.T) - st.to_user(np.zeros((1, free.size)))
    Q, _ = np.linalg.qr(linear.T)
    rows = Q.T.copy()
    # each row's largest entry positive, so that a single direction is written one way
    top = np.argmax(np.abs(rows), axis=1)
    rows *= np.sign(rows[np.arange(rows.shape[0]), top])[:, None]
    return rows


# ---------------------------------------------------------------------- a fit's boundary
# A sigma within this relative distance of the floor sits on it (the M-step clips to the
# floor exactly; an accelerated step may leave it a rounding above).
_FLOOR_RTOL = 1e-6


def sigmas_at_floor(family, params) -> np.ndarray:
    """The components (in the parameters' order) whose sigma sits at the family's
    variance floor (internal units; none for a family without one)."""
    names = list(getattr(family, "extra_names", ()))
    var_floor = getattr(family, "internal_var_floor", None)
    if var_floor is None or "sigma" not in names:
        return np.zeros(0, dtype=np.int64)
    sigma = np.asarray(params.component.extra)[:, names.index("sigma")]
    return np.flatnonzero(sigma <= np.sqrt(var_floor) * (1.0 + _FLOOR_RTOL))


def fit_boundary(family, params, runner
                 ) -> list[tuple[int, str, np.ndarray | None, np.ndarray | None]]:
    """What of a fit sits on the boundary, in the fit's internal component order.

    Sigmas at the variance floor are read off the parameters (internal units, where the
    floor is ``sqrt(var_floor)``); diverging coefficients take one pass over the runner's
    rows (:func:`separated_coefficients`), for the families that can saturate.

    Returns
    -------
    list of (int, str, ndarray of bool or None, ndarray or None)
        ``(k, kind, columns, directions)`` as :func:`separated_coefficients`;
        ``columns`` and ``directions`` are None for ``"variance_floor"`` (the
        component's sigma and all its estimated coefficients).
    """
    found: list[tuple[int, str, np.ndarray | None, np.ndarray | None]] = [
        (int(k), "variance_floor", None, None) for k in sigmas_at_floor(family, params)]
    found += separated_coefficients(family, runner.mixing, params, runner.source,
                                    chunk_size=runner.chunk_size, n_jobs=runner.n_jobs)
    return found


def boundary_parameters(found: Sequence[tuple[int, str, np.ndarray | None, np.ndarray | None]],
                        order: np.ndarray, design_names: Sequence[str],
                        free: np.ndarray, extra_names: Sequence[str] = ("sigma",)
                        ) -> list[BoundaryParameters]:
    """The entries of :func:`fit_boundary` in the model's component order and names.

    ``order`` lists the fit's components in the model's order, ``design_names`` the
    design columns (``"intercept"`` first when there is one), ``free`` which of them
    are estimated (not fixed) and ``extra_names`` the family's estimated parameters
    besides the coefficients. A component at the variance floor loses the standard
    errors of all of them: with every residual zero its Student-t degrees of freedom are
    not determined either.
    """
    rank = np.argsort(order)
    out = []
    for k, kind, columns, directions in found:
        if columns is None:
            names = [n for n, f in zip(design_names, free, strict=True) if f]
            names += list(extra_names)
        else:
            names = [n for n, c in zip(design_names, columns, strict=True) if c]
        out.append(BoundaryParameters(int(rank[k]), kind, tuple(names), directions))
    return sorted(out, key=lambda b: (b.component, b.kind))
