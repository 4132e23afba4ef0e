"""Parameters on the boundary of the parameter space: diverging coefficients (of the
components or of the gating) and sigmas at the variance floor.

Three situations leave a fit without a maximum-likelihood estimate for some parameters:

* **Separation** (binomial and count components). The likelihood of a component keeps
  increasing along a direction ``d`` of its coefficients when the rows it owns can be
  pushed to a bound of the mean that the link reaches only at infinity (probability 0
  or 1, a count's mean 0) with their responses on that bound (no successes, no failures,
  zero counts), while ``d`` leaves the linear predictor of the component's other rows
  unchanged. EM then walks off along ``d`` and stops only because the gain per step
  falls below ``tol``: the coefficients involved are large and meaningless and their
  information is zero to working precision.
* **Separation of the gating** (concomitant variables). The gating is a
  multinomial-logit regression of the posterior probabilities on the concomitant
  design, and it separates in the same way: along a direction of the gating
  coefficients that moves the prior probabilities only where one component alone has
  prior and posterior probability above ``MEAN_BOUND_TOL`` (pushing them further to
  that component) the likelihood increases to its supremum
  (:func:`separated_gating`).
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
from regmix.engine.passes import chunk_posteriors, observation_posteriors, run_pass
from regmix.families.glm import MEAN_BOUND_TOL

__all__ = ["KINDS", "BoundaryParameters", "boundary_parameters", "fit_boundary",
           "separated_coefficients", "separated_gating"]


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
    "gating_separation": (
        "the concomitant variables separate the components: the prior probabilities "
        "of the gating are 0 or 1 at every row these coefficients move, and the "
        "posterior probabilities agree"),
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
        ``"quasi_complete_separation"``, ``"zero_mean"`` (coefficients that diverge),
        ``"variance_floor"`` (sigma at the floor) or ``"gating_separation"`` (gating
        coefficients that diverge; ``component`` is then 1 or more, the reference
        component having none).
    parameters : tuple of str
        The parameters without an estimate or standard error, named as in the
        coefficient table (``"intercept"``, the coefficient names, ``"sigma"``; for the
        gating ``"gate:intercept"``, ``"gate:<variable>"``).
    directions : ndarray of shape (r, n_design) or None
        For diverging coefficients: an orthonormal basis (rows, user units, over the
        design columns with the intercept first, each row's largest entry positive) of
        the directions along which the likelihood increases to its supremum;
        ``parameters`` are the coordinates they involve. For the gating the columns are
        the gating coefficients of components 2..K in the coefficient table's order
        (``(K - 1) * (1 + q)`` of them), and every component's entry holds the same
        basis. None for ``"variance_floor"``, where all of ``parameters`` are removed.
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
        if self.kind == "gating_separation" and self.component < 1:
            raise ValueError("the first component has no gating coefficients")

    @property
    def gating(self) -> bool:
        """Whether the entry is of the gating coefficients."""
        return self.kind == "gating_separation"

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
        coefs = f"gating {coefs}" if self.gating else f"{coefs} of"
        return (f"component {k}: the {coefs} {self._names()} {verb} ({KINDS[self.kind]}"
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
                  source: str = "the model", gating_names: Sequence[str] | None = None
                  ) -> BoundaryParameters:
        """An entry of a model file, checked against the model's components, parameter
        names and number of design columns (for a gating entry: against the gating
        coefficients' names ``gating_names``, ``"gate:intercept"`` first, None for a
        model without concomitant variables)."""
        damaged = f"{source} is damaged: an entry of 'boundary_'"
        if not isinstance(d, Mapping):
            raise ValueError(f"{damaged} is not an object")
        k, kind, params = d.get("component"), d.get("kind"), d.get("parameters")
        if kind not in KINDS:
            raise ValueError(f"{damaged} has kind {kind!r}, not one of {sorted(KINDS)}")
        first = 1
        if kind == "gating_separation":
            if gating_names is None:
                raise ValueError(f"{damaged} is of the gating, but the model has no "
                                 "concomitant variables")
            first, names = 2, list(gating_names)
            n_design = (n_components - 1) * len(names)
        if isinstance(k, bool) or not isinstance(k, int) or not first <= k <= n_components:
            raise ValueError(f"{damaged} has component {k!r}, not in {first}..{n_components}")
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
def _saturates(family) -> bool:
    """Whether a family (or its link) has a bound of the mean reached only at infinity
    (asked about one made-up row: a family without one answers None)."""
    saturated = getattr(family, "saturated", None)
    return saturated is not None and saturated(
        np.zeros(1), np.full((1, 1), 0.5), None) is not None


@dataclass(frozen=True)
class _Member:
    """A family whose coefficients may diverge, within the fit's family: the family
    itself; a component's own family (a family per component, ``components`` that one
    component); or a response's family (several responses: ``response`` its position,
    ``columns`` its coefficients' positions among the component's)."""

    family: Any
    components: np.ndarray | None = None  # the fit's components it is (None: all)
    response: int | None = None
    columns: np.ndarray | None = None


def _members(family) -> list[_Member]:
    """The parts of ``family`` whose coefficients can diverge."""
    if getattr(family, "responses", None) is not None:  # several responses
        starts = np.cumsum([0, *(b.size for b in family.blocks)])
        return [_Member(m, None, r, np.arange(starts[r], starts[r + 1]))
                for r, m in enumerate(family.members) if _saturates(m)]
    members = getattr(family, "families", None)
    if members is not None:  # a family per component
        return [_Member(f, np.array([k])) for k, f in enumerate(members) if _saturates(f)]
    return [_Member(family)] if _saturates(family) else []


def _member_rows(member: _Member, family, params, chunk: Chunk):
    """The member's parameters, its chunk and the positions of its rows in ``chunk``
    (None: every row)."""
    if member.response is not None:
        sub, rows = family._sub_chunks(chunk)[member.response]
        return params.component.parts[member.response], sub, rows
    if member.components is not None:
        return params.component.parts[int(member.components[0])], chunk, None
    return params.component, chunk, None


def _chunk_statistics(chunk: Chunk, family, mixing, params, members: list[_Member],
                      frees: list[np.ndarray]) -> PassResult:
    """Per member and its components ``S``, ``S_int`` (over the member's free design
    columns) and the weighted posterior mass of the saturated and of the unsaturated
    rows."""
    logf, _ = family.log_density(params.component, chunk, 0.0)
    resp, _, _ = observation_posteriors(logf, mixing.log_weights(params, chunk), chunk)
    starts = chunk.group_starts
    n = logf.shape[1]
    if starts is not None:
        resp = np.repeat(resp, np.diff(np.append(starts, n)), axis=1)
    weighted = resp if chunk.w is None else resp * chunk.w
    out: list[np.ndarray] = []
    for member, free in zip(members, frees, strict=True):
        part, sub, rows = _member_rows(member, family, params, chunk)
        mu = member.family.log_density(part, sub, 0.0)[1][0]
        q = weighted if rows is None else weighted[:, rows]
        if member.components is not None:
            q = q[member.components]
        sat = np.broadcast_to(member.family.saturated(sub.y, mu, sub.trials), q.shape)
        XT = sub.XT[free]
        q_int = np.where(sat, 0.0, q)
        out.append(np.stack([(XT * qk) @ XT.T for qk in q]))
        out.append(np.stack([(XT * qk) @ XT.T for qk in q_int]))
        out.append(np.stack([np.where(sat, q, 0.0).sum(axis=1), q_int.sum(axis=1)]))
    return PassResult(0.0, np.zeros(1), tuple(out))


def _any_saturated(family, params, source, members: list[_Member], *, chunk_size: int,
                   n_jobs: int) -> bool:
    """Whether any row sits at a saturating bound of any member's component means, by a
    pass that computes the means only (no densities, no posteriors).

    Without such a row every component's unsaturated moments equal its moments, so no
    direction diverges: the statistics pass of :func:`separated_coefficients` would find
    none, and is skipped.
    """
    def count(chunk: Chunk) -> PassResult:
        found = 0
        for member in members:
            part, sub, _ = _member_rows(member, family, params, chunk)
            mu = member.family.mean(part, sub.XT, sub.offset)
            found += np.count_nonzero(member.family.saturated(sub.y, mu, sub.trials))
        return PassResult(0.0, np.zeros(1), (found,))

    result = run_pass(source, count, chunk_size=int(chunk_size), n_jobs=n_jobs)
    return int(result.stats[0]) > 0


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
    """Which design columns (user units, all of them) a diverging subspace involves."""
    full = np.zeros((free.size, basis.shape[1]))
    full[free] = basis
    return _involved(full, st.x_loc, st.x_scale, fit_intercept) & free


def _involved(full: np.ndarray, loc: np.ndarray, scale: np.ndarray,
              intercept: bool) -> np.ndarray:
    """Which coordinates (user units) the directions ``full`` (standardised units, one
    column each, the intercept's row first when there is one) involve.

    A slope's user value is its standardised value over the column's scale, so it takes
    part exactly when its standardised entry does; the user intercept is the standardised
    one minus ``sum_j slope_j * loc_j``, compared with the size of its terms (so that
    the rounding of a cancellation does not count).
    """
    involved = np.linalg.norm(full, axis=1) > _INVOLVED_TOL
    if intercept:
        user_slopes = full[1:] / scale[:, None]
        terms = user_slopes * loc[:, None]
        icpt = full[0] - terms.sum(axis=0)
        size = np.abs(full[0]) + np.abs(terms).sum(axis=0)
        involved[0] = bool(np.any(np.abs(icpt) > _INVOLVED_TOL * np.maximum(size, 1.0)))
    return involved


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
    # (a family or link without a bound at infinity has no member here, so that the
    # pass is not run for nothing)
    members = _members(family)
    if not members:
        return []
    if not _any_saturated(family, params, source, members, chunk_size=chunk_size,
                          n_jobs=n_jobs):
        return []
    p = source.n_design
    cons = getattr(family, "constraints", None)
    several = getattr(family, "responses", None) is not None
    fixed = (np.zeros(family.coef_width(p) if several else p, dtype=bool) if cons is None
             else cons.fixed)
    frees = [~fixed if m.columns is None else ~fixed[m.columns] for m in members]
    result = run_pass(source, lambda ch: _chunk_statistics(ch, family, mixing, params,
                                                           members, frees),
                      chunk_size=int(chunk_size), n_jobs=n_jobs)
    st = source.standardization
    member_st = family._standardizations(st, p) if several else None
    found = []
    for i, (member, free) in enumerate(zip(members, frees, strict=True)):
        S, S_int, mass = result.stats[3 * i : 3 * i + 3]
        unit = st if member.response is None else member_st[member.response]
        comps = np.arange(S.shape[0]) if member.components is None else member.components
        for j, k in enumerate(comps):
            if not mass[0, j] > 0:
                continue
            basis = _diverging_basis(S[j], S_int[j])
            if basis.shape[1] == 0:
                continue
            columns = _user_involvement(basis, free, unit, unit.fit_intercept)
            if not columns.any():
                continue
            if member.family.name != "binomial":
                kind = "zero_mean"
            elif mass[1, j] > _INTERIOR_RTOL * mass[0, j]:
                kind = "quasi_complete_separation"
            else:
                kind = "complete_separation"
            directions = _user_directions(basis, free, unit)
            if member.columns is not None:  # in the component's coefficients
                columns, directions = _embedded(columns, directions, member.columns,
                                                fixed.size)
            found.append((int(k), kind, columns, directions))
    return found


def _embedded(columns: np.ndarray, directions: np.ndarray, at: np.ndarray, width: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """A response's diverging columns and directions placed among the component's
    ``width`` coefficients at positions ``at``."""
    full_columns = np.zeros(width, dtype=bool)
    full_columns[at] = columns
    full_directions = np.zeros((directions.shape[0], width))
    full_directions[:, at] = directions
    return full_columns, full_directions


def _user_directions(basis: np.ndarray, free: np.ndarray, st: Standardization) -> np.ndarray:
    """The diverging subspace in user units: the linear part of ``st.to_user`` applied
    to its basis, orthonormalised; shape (r, n_design)."""
    full = np.zeros((free.size, basis.shape[1]))
    full[free] = basis
    return _orthonormal_rows(st.to_user(full.T) - st.to_user(np.zeros((1, free.size))))


def _orthonormal_rows(linear: np.ndarray) -> np.ndarray:
    """An orthonormal basis (rows) of the span of the rows of ``linear``, each row's
    largest entry positive, so that a single direction is written one way."""
    Q, _ = np.linalg.qr(linear.T)
    rows = Q.T.copy()
    top = np.argmax(np.abs(rows), axis=1)
    rows *= np.sign(rows[np.arange(rows.shape[0]), top])[:, None]
    return rows


# ---------------------------------------------------------------------- gating separation
def _gating_chunk_statistics(chunk: Chunk, family, mixing, params) -> PassResult:
    """The weighted moments ``Z' W Z`` of the gating design over the chunk's
    observations (rows, or groups), and per pair of components ``j < k`` over the
    observations at which both are live: a prior or posterior probability above
    ``MEAN_BOUND_TOL``."""
    # the observations' posteriors and gating rows by the data pass's own rule (a
    # family with per-group densities included)
    _, _, _, resp, mix_w, ZT = chunk_posteriors(chunk, family, mixing, params)
    assert ZT is not None  # a source with concomitant variables serves ZT
    starts = chunk.group_starts
    log_pi = np.broadcast_to(mixing.log_weights(params, chunk), (resp.shape[0],
                                                                 chunk.y.shape[0]))
    if starts is not None:
        log_pi = log_pi[:, starts]
    w = np.ones(ZT.shape[1]) if mix_w is None else mix_w
    live = (log_pi > np.log(MEAN_BOUND_TOL)) | (resp > MEAN_BOUND_TOL)
    K, q = resp.shape[0], ZT.shape[0]
    pairs = np.zeros((K, K, q, q))
    for j in range(K):
        for k in range(j + 1, K):
            c = np.where(live[j] & live[k], w, 0.0)
            pairs[j, k] = (ZT * c) @ ZT.T
    return PassResult(0.0, np.zeros(1), ((ZT * w) @ ZT.T, pairs))


def _pairwise_moments(blocks: np.ndarray) -> np.ndarray:
    """``sum_{j<k} (e_j - e_k)(e_j - e_k)' (x) blocks[j, k]`` over the gating
    coordinates of components 1..K-1 (component 0's are zero): the weighted squared
    movement ``sum ((d_j - d_k)' z)^2`` of the log-odds of each pair of components along
    a direction ``d`` of the gating coefficients, shape ((K - 1) q, (K - 1) q)."""
    K, q = blocks.shape[0], blocks.shape[2]
    out = np.zeros((K * q, K * q))
    for j in range(K):
        for k in range(j + 1, K):
            e = np.zeros(K)
            e[j], e[k] = 1.0, -1.0
            out += np.kron(np.outer(e, e), blocks[j, k])
    return out[q:, q:]


def separated_gating(family, mixing, params, source, *, chunk_size: int,
                     n_jobs: int = 1) -> np.ndarray | None:
    """The directions along which the gating coefficients diverge, by one pass.

    The gating is a multinomial-logit regression of the posterior probabilities on the
    concomitant design. Along a direction ``d`` of its coefficients the log-likelihood
    keeps increasing to its supremum when ``d`` moves the prior probabilities only at
    observations where one component alone is live (prior and posterior probabilities
    of every other component within ``MEAN_BOUND_TOL`` of 0), pushing them further to
    that vertex: the pairwise movement over the observations where both components of
    a pair are live is then zero, while over all observations it is not. Directions
    that move no observation (collinear concomitant variables) are left out.

    Parameters
    ----------
    family, mixing : family and mixing model of the fit (a gating)
    params : MixtureParams
        The fitted parameters in the internal units of ``source``.
    source : row source
        The fit's rows.
    chunk_size, n_jobs : int
        As for every data pass.

    Returns
    -------
    ndarray of shape (r, K, q) or None
        An orthonormal basis of the diverging directions in the standardised gating
        coordinates of the fit's internal components (component 0's rows zero), or None
        when there is none (or no gating).
    """
    if params.gating is None or params.gating.shape[0] < 2:
        return None
    result = run_pass(source, lambda ch: _gating_chunk_statistics(ch, family, mixing, params),
                      chunk_size=int(chunk_size), n_jobs=n_jobs)
    M, pairs = result.stats
    K, q = params.gating.shape
    every = np.broadcast_to(M, (K, K, q, q))
    basis = _diverging_basis(_pairwise_moments(every), _pairwise_moments(pairs))
    if basis.shape[1] == 0:
        return None
    full = np.zeros((basis.shape[1], K, q))
    full[:, 1:] = basis.T.reshape(-1, K - 1, q)
    return full


def _gating_boundary(directions: np.ndarray, order: np.ndarray, gating_names: Sequence[str],
                     st: Standardization) -> list[BoundaryParameters]:
    """The entries of diverging gating directions ``directions`` (as from
    :func:`separated_gating`) in the model's component order: one per component whose
    gating coefficients (relative to the model's first component) they involve."""
    # the model's gating coefficients are the fit's, reordered, less the first one's
    model = directions[:, order] - directions[:, order[:1]]
    K, q = model.shape[1], model.shape[2]
    loc = np.zeros(q - 1) if st.z_loc is None else st.z_loc
    scale = np.ones(q - 1) if st.z_scale is None else st.z_scale
    user = np.stack([st.gating_to_user(d) for d in model])[:, 1:].reshape(len(model), -1)
    rows = _orthonormal_rows(user)
    out = []
    for k in range(1, K):
        involved = _involved(model[:, k].T, loc, scale, True)
        if involved.any():
            names = tuple(f"gate:{n}" for n, i in zip(gating_names, involved, strict=True)
                          if i)
            out.append(BoundaryParameters(k, "gating_separation", names, rows))
    return out


# ---------------------------------------------------------------------- a fit's boundary
# A sigma within this relative distance of the floor sits on it (the M-step clips to the
# floor exactly; an accelerated step may leave it a rounding above).
_FLOOR_RTOL = 1e-6


def sigmas_at_floor(family, params) -> np.ndarray:
    """The components (in the parameters' order) whose sigma sits at the family's
    variance floor (internal units; none for a family without one; for several
    responses, at the floor of any response's family)."""
    if getattr(family, "responses", None) is not None:
        hits = [sigmas_at_floor(m, _OneFamily(p))
                for m, p in zip(family.members, params.component.parts, strict=True)]
        return np.unique(np.concatenate([np.zeros(0, dtype=np.int64), *hits]))
    names = list(getattr(family, "extra_names", ()))
    var_floor = getattr(family, "internal_var_floor", None)
    if var_floor is None or "sigma" not in names:
        return np.zeros(0, dtype=np.int64)
    sigma = np.asarray(params.component.extra)[:, names.index("sigma")]
    return np.flatnonzero(sigma <= np.sqrt(var_floor) * (1.0 + _FLOOR_RTOL))


@dataclass(frozen=True)
class _OneFamily:
    """A member's parameters where :func:`sigmas_at_floor` reads ``params.component``."""

    component: Any


def _floor_entries(family, params) -> list[tuple[int, str, np.ndarray | None, None]]:
    """The components at the variance floor; for several responses one entry per
    response's family at its floor, its parameters (the response's free coefficients
    and extras) marked among the component's coefficients and then its extras."""
    if getattr(family, "responses", None) is None:
        return [(int(k), "variance_floor", None, None) for k in sigmas_at_floor(family, params)]
    starts = np.cumsum([0, *(b.size for b in family.blocks)])
    cons = getattr(family, "constraints", None)
    free = np.ones(starts[-1], dtype=bool) if cons is None else ~cons.fixed
    extras = [n for n, f in zip(family.extra_names, family.free_extra(), strict=True) if f]
    out = []
    for r, (name, member, part) in enumerate(zip(family.responses, family.members,
                                                 params.component.parts, strict=True)):
        mask = np.zeros(starts[-1], dtype=bool)
        mask[starts[r] : starts[r + 1]] = True
        mask &= free
        mine = np.array([n.startswith(f"{name}:") for n in extras], dtype=bool)
        out += [(int(k), "variance_floor", np.concatenate([mask, mine]), None)
                for k in sigmas_at_floor(member, _OneFamily(part))]
    return out


def fit_boundary(family, params, runner
                 ) -> list[tuple[int, str, np.ndarray | None, np.ndarray | None]]:
    """What of a fit sits on the boundary, in the fit's internal component order.

    Sigmas at the variance floor are read off the parameters (internal units, where the
    floor is ``sqrt(var_floor)``); diverging coefficients take one pass over the runner's
    rows (:func:`separated_coefficients`), for the families that can saturate, and
    diverging gating coefficients one more (:func:`separated_gating`), for a gating.

    Returns
    -------
    list of (int, str, ndarray of bool or None, ndarray or None)
        ``(k, kind, columns, directions)`` as :func:`separated_coefficients`;
        ``columns`` and ``directions`` are None for ``"variance_floor"`` (the
        component's sigma and all its estimated coefficients; for several responses
        ``columns`` marks the coefficients, then the extras, of the response at its
        floor). A diverging gating is
        one entry ``(0, "gating_separation", None, directions)`` with the directions
        of :func:`separated_gating`.
    """
    found: list[tuple[int, str, np.ndarray | None, np.ndarray | None]] = []
    found += _floor_entries(family, params)
    found += separated_coefficients(family, runner.mixing, params, runner.source,
                                    chunk_size=runner.chunk_size, n_jobs=runner.n_jobs)
    gating = separated_gating(family, runner.mixing, params, runner.source,
                              chunk_size=runner.chunk_size, n_jobs=runner.n_jobs)
    if gating is not None:
        found.append((0, "gating_separation", None, gating))
    return found


def boundary_parameters(found: Sequence[tuple[int, str, np.ndarray | None, np.ndarray | None]],
                        order: np.ndarray, design_names: Sequence[str],
                        free: np.ndarray, extra_names: Sequence[str] = ("sigma",),
                        gating_names: Sequence[str] | None = None,
                        standardization: Standardization | None = None
                        ) -> list[BoundaryParameters]:
    """The entries of :func:`fit_boundary` in the model's component order and names.

    ``order`` lists the fit's components in the model's order, ``design_names`` the
    design columns (``"intercept"`` first when there is one), ``free`` which of them
    are estimated (not fixed) and ``extra_names`` the family's estimated parameters
    besides the coefficients. A component at the variance floor loses the standard
    errors of all of them: with every residual zero its Student-t degrees of freedom are
    not determined either. A diverging gating needs the gating design's columns
    (``gating_names``, ``"intercept"`` first) and the fit's ``standardization``.
    """
    rank = np.argsort(order)
    out = []
    for k, kind, columns, directions in found:
        if kind == "gating_separation":
            assert directions is not None and gating_names is not None
            assert standardization is not None
            out += _gating_boundary(directions, order, gating_names, standardization)
            continue
        if columns is None:
            names = [n for n, f in zip(design_names, free, strict=True) if f]
            names += list(extra_names)
        elif kind == "variance_floor":  # the coefficients, then the extras, marked
            every = [*design_names, *extra_names]
            names = [n for n, c in zip(every, columns, strict=True) if c]
        else:
            names = [n for n, c in zip(design_names, columns, strict=True) if c]
        out.append(BoundaryParameters(int(rank[k]), kind, tuple(names), directions))
    return sorted(out, key=lambda b: (b.component, b.kind))
