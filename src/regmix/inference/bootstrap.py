"""The label-matched bootstrap: refit on resampled rows, match components to the fitted
model, and summarise the replicates.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from regmix.inference.covariance import (
    _table,
    _z_crit,
    natural_parameters,
    reported_parameters,
)
from regmix.inference.information import parameter_index

#: Default threshold of the matching margin below which a replicate is ambiguous.
AMBIGUITY_THRESHOLD = 0.2

#: Above this many components the second-best assignment is found by re-solving.
_MAX_ENUMERATED = 7


# ---------------------------------------------------------------------- bootstrap
@dataclass
class BootstrapResult:
    """Replicates of a bootstrap of a mixture fit, components matched to the reference.

    Attributes
    ----------
    replicates : pandas.DataFrame
        One row per successful replicate, columns the parameter index.
    estimates : pandas.Series
        The reference fit's parameters.
    kind : str
        ``"parametric"`` or ``"nonparametric"``.
    alpha : float
        Percentile intervals have coverage ``1 - alpha``.
    n_failed : int
        Replicates whose fit raised an exception (dropped).
    errors : list of str
        The messages of those exceptions.
    matching_margin : ndarray of shape (n_boot,)
        Per replicate, how clearly its components were matched to the reference's:
        ``1 - best / second``, where ``best`` is the matching cost of the chosen
        assignment and ``second`` that of the cheapest other assignment (see
        :func:`bootstrap`). It lies in ``[0, 1]``: 0 when two assignments tie, 1 when
        the replicate equals the reference; 1 with a single component. Defaults to
        ones (every matching clear).
    ambiguous : ndarray of bool of shape (n_boot,)
        Replicates whose margin is below the threshold of :func:`bootstrap`. Defaults
        to none.
    include_ambiguous : bool, default=False
        Whether :attr:`std_err`, :attr:`ci` and :meth:`table` use the ambiguous
        replicates too; by default they use only :attr:`used_replicates`.
    """

    replicates: pd.DataFrame
    estimates: pd.Series
    kind: str
    alpha: float = 0.05
    n_failed: int = 0
    errors: list[str] = field(default_factory=list)
    matching_margin: np.ndarray | None = None
    ambiguous: np.ndarray | None = None
    include_ambiguous: bool = False

    def __post_init__(self) -> None:
        n = len(self.replicates)
        if self.matching_margin is None:
            self.matching_margin = np.ones(n)
        if self.ambiguous is None:
            self.ambiguous = np.zeros(n, dtype=bool)
        self.matching_margin = np.asarray(self.matching_margin, dtype=np.float64)
        self.ambiguous = np.asarray(self.ambiguous, dtype=bool)
        if self.matching_margin.shape != (n,) or self.ambiguous.shape != (n,):
            raise ValueError(f"matching_margin and ambiguous need shape ({n},); got "
                             f"{self.matching_margin.shape} and {self.ambiguous.shape}")

    @property
    def n_boot(self) -> int:
        """Number of successful replicates (ambiguous ones included)."""
        return len(self.replicates)

    @property
    def n_ambiguous(self) -> int:
        """Number of replicates whose label matching was ambiguous."""
        return int(np.count_nonzero(self.ambiguous))

    @property
    def used_replicates(self) -> pd.DataFrame:
        """The replicates the standard errors and intervals use: the unambiguous ones,
        or all of them with ``include_ambiguous``."""
        if self.include_ambiguous:
            return self.replicates
        return self.replicates.loc[~np.asarray(self.ambiguous, dtype=bool)]

    @property
    def std_err(self) -> pd.Series:
        """Standard deviation of :attr:`used_replicates` (``ddof=1``; NaN with fewer
        than two)."""
        return self.used_replicates.std(ddof=1)

    @property
    def ci(self) -> pd.DataFrame:
        """Percentile intervals of :attr:`used_replicates`, columns ``ci_lower`` and
        ``ci_upper``."""
        q = self.used_replicates.quantile([self.alpha / 2, 1 - self.alpha / 2]).T
        q.columns = ["ci_lower", "ci_upper"]
        return q

    def table(self, *, no_test: Sequence[str] = ("sigma", "weight", "shape", "size", "df",
                                                 "ratio")) -> pd.DataFrame:
        """A table with the columns of :func:`coef_table`.

        Standard errors are the bootstrap ones, ``z`` and ``p_value`` Wald statistics
        computed from them, and the intervals percentile intervals, all from
        :attr:`used_replicates`. ``attrs["se_method"]`` (the note of a summary) gives
        the number of replicates and of ambiguous label matchings.

        Parameters
        ----------
        no_test : sequence of str, optional
            Parameter names whose ``z`` and ``p_value`` are left NaN; by default
            sigma, weight, shape, size, df and ratio, as in ``coef_table``.

        Returns
        -------
        pandas.DataFrame
        """
        ci = self.ci
        method = f"{self.kind} bootstrap ({len(self.used_replicates)} replicates"
        if self.n_ambiguous:
            method += (f"; {self.n_ambiguous} of {self.n_boot} with an ambiguous label "
                       + ("matching, included" if self.include_ambiguous
                          else "matching left out"))
        method += ", percentile intervals)"
        return _table(self.estimates.to_numpy(), self.std_err.to_numpy(),
                      ci["ci_lower"].to_numpy(), ci["ci_upper"].to_numpy(),
                      self.estimates.index, self.alpha, no_test, method)


def bootstrap(
    fit_fn: Callable,
    X,
    y,
    sample_weight=None,
    n_boot: int = 200,
    kind: str = "parametric",
    random_state=None,
    sample_fn: Callable | None = None,
    alpha: float = 0.05,
    reference=None,
    *,
    rows: Mapping[str, np.ndarray] | None = None,
    groups=None,
    index: pd.Index | None = None,
    ambiguity_threshold: float = AMBIGUITY_THRESHOLD,
    include_ambiguous: bool = False,
) -> BootstrapResult:
    """Bootstrap a mixture fit, undoing label switching.

    Parameters
    ----------
    fit_fn : callable
        ``fit_fn(X, y, w, **rows)`` returns a fitted model with the attributes of a
        fitted :class:`~regmix.RegressionMixture`: ``coef_``, ``intercept_``,
        ``weights_``, ``fit_intercept``, ``family_`` (its ``extra_names`` and
        ``free_extra()`` name the family's parameters, each stored as ``<name>_``),
        ``gating_coef_`` (None without concomitant variables) and ``coef_names()``.
        ``w`` may be None; ``rows`` holds the resampled ``rows`` arrays and, with
        ``groups``, ``groups=`` the replicate's group labels. It should be
        deterministic (fixed ``random_state``).
    X : ndarray of shape (n, n_features)
    y : ndarray of shape (n,)
    sample_weight : ndarray of shape (n,), optional
        Row weights, carried along with the rows.
    n_boot : int, default=200
        Number of replicates.
    kind : {"parametric", "nonparametric"}, default="parametric"
        Nonparametric: rows (with ``groups``: whole groups) drawn with replacement.
        Parametric: responses simulated from the reference fit at the same rows by
        ``sample_fn``.
    random_state : int, numpy Generator, SeedSequence or None
        Seed; replicate ``b`` uses the ``b``-th child of its seed sequence, so the
        result is deterministic for a given seed (and a deterministic ``fit_fn``).
    sample_fn : callable, optional
        ``sample_fn(X, rng, **rows)`` (with ``groups``, also ``groups=``) returns
        simulated responses for the rows of ``X`` given a ``numpy.random.Generator``.
        Defaults to the reference model's ``sample`` (not for grouped rows).
    alpha : float, default=0.05
        Percentile intervals have coverage ``1 - alpha``.
    reference : fitted model, optional
        The fit to bootstrap; ``fit_fn(X, y, sample_weight, **rows)`` when None.
    rows : mapping of str to ndarray, optional
        Further per-row arrays (such as ``offset``, ``trials``, ``concomitant``),
        carried along with the rows and passed to ``fit_fn`` by name.
    groups : ndarray of shape (n,), optional
        Group labels: a nonparametric replicate draws groups, not rows, with
        replacement (a group drawn twice becomes two groups).
    index : pandas.Index, optional
        Labels of the natural parameters (every component's); by default built from
        the reference's attributes by :func:`parameter_index`. The replicates' columns
        are those of the reference's ``coef_table()``: a random-effect covariance
        common to all classes once, under class 1, and for proportional ones the
        ratios ``w_k`` (see :func:`~regmix.inference.covariance.reported_parameters`).
    ambiguity_threshold : float, default=0.2
        A replicate whose matching margin (below) is smaller is flagged ambiguous.
    include_ambiguous : bool, default=False
        Whether the standard errors and intervals use the ambiguous replicates too
        (stored on the result as ``include_ambiguous``).

    Returns
    -------
    BootstrapResult

    Raises
    ------
    RuntimeError
        If every replicate fails.

    Warns
    -----
    UserWarning
        If any replicate's label matching is ambiguous, naming how many of how many.

    Notes
    -----
    Each replicate's components are put in the order that minimises the total squared
    distance between their parameter vectors (coefficients, the family's estimated
    parameters and the weight) and the reference's (an assignment problem, solved
    exactly). The distance is in the units of the parameters. With concomitant
    variables the reordered gating coefficients are taken relative to the new first
    component again.

    The matching margin of a replicate is ``1 - best / second``, with ``best`` the
    total distance of the chosen assignment and ``second`` the smallest total distance
    of any other assignment of its components (all ``K!`` assignments are compared for
    ``K <= 7``; for larger ``K`` the best assignment with one of the chosen pairs
    forbidden, for each pair). It does not depend on the units (a common scale of all
    parameters cancels). A margin near 0 means that the replicate lies about as close
    to the reference with two of its components swapped: its labels are a guess, and
    averaging such replicates mixes the components. The default threshold 0.2 (the
    other assignment less than 1.25 times as far as the chosen one) was set by
    measurement on two-component Gaussian regressions (300 rows, slopes 0.8, sigma
    0.5, nonparametric replicates): with intercepts -1 and 1 every margin was above
    0.99; with intercepts -0.5 and 0.5, or equal, and every replicate refitted from
    all starts, the margins spread over ``[0, 1]`` and 20-30% fell below 0.2.
    Replicates started from the reference's parameters keep its labels more often,
    so their margins are larger.
    """
    if kind not in ("parametric", "nonparametric"):
        raise ValueError(f"kind must be 'parametric' or 'nonparametric'; got {kind!r}")
    if int(n_boot) < 2:
        raise ValueError(f"n_boot must be an integer >= 2; got {n_boot!r}")
    _z_crit(alpha)
    if not 0.0 <= float(ambiguity_threshold) <= 1.0:
        raise ValueError(f"ambiguity_threshold must lie in [0, 1]; got {ambiguity_threshold!r}")
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.float64)
    y = y.reshape(-1) if y.ndim < 2 else y
    n = y.shape[0]
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    extras = {name: np.asarray(a) for name, a in dict(rows or {}).items() if a is not None}
    for name, a in extras.items():
        if a.shape[:1] != (n,):
            raise ValueError(f"rows[{name!r}] has {a.shape[:1]} rows; y has {n}")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must have shape ({n},); got {groups.shape}")
        extras["groups"] = groups
    if reference is None:
        reference = fit_fn(X, y, w, **extras)
    if sample_fn is None:
        if groups is not None and kind == "parametric":
            raise ValueError("a parametric bootstrap of grouped rows needs a sample_fn that "
                             "draws one component per group")
        sample_fn = _default_sample_fn(reference)
    ref = _model_parameters(reference)
    # with a family per component, the parameters some component's family lacks (NaN)
    # are no parameters, and leave the vectors
    present = np.isfinite(ref.natural())
    if index is None:
        index = _parameter_index(reference)[present]
    reference_vector = ref.natural()[present]
    if len(index) != reference_vector.size:
        raise ValueError(f"index has {len(index)} labels; the model has "
                         f"{reference_vector.size} parameters")
    replicates, margins, errors = [], [], []
    for seed in _seed_sequence(random_state).spawn(int(n_boot)):
        rng = np.random.default_rng(seed)
        Xb, yb, wb, extras_b = _resample(kind, X, y, w, extras, rng, sample_fn)
        try:
            params = _model_parameters(fit_fn(Xb, yb, wb, **extras_b))
        except Exception as exc:  # a failed refit is dropped and counted
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        matched, margin = params.matched_to(ref, margin=True)
        replicates.append(matched.natural()[present])
        margins.append(margin)
    if not replicates:
        raise RuntimeError(f"every one of the {n_boot} bootstrap fits failed; first: {errors[0]}")
    family = getattr(reference, "family_", None)
    K = len(ref.weights)
    reference_vector, _, reported = reported_parameters(family, K, reference_vector, index)
    replicates = [reported_parameters(family, K, v, index)[0] for v in replicates]
    index = reported
    frame = pd.DataFrame(np.array(replicates), columns=index)
    margin_array = np.array(margins, dtype=np.float64)
    ambiguous = margin_array < float(ambiguity_threshold)
    if ambiguous.any():
        use = ("they are included in the standard errors and intervals" if include_ambiguous
               else "the standard errors and intervals leave them out "
               "(include_ambiguous=True keeps them)")
        if not include_ambiguous and np.count_nonzero(~ambiguous) < 2:
            use += "; fewer than two are left, so the standard errors are NaN"
        warnings.warn(f"{int(ambiguous.sum())} of {len(margins)} bootstrap replicates had an "
                      f"ambiguous label matching (margin < {float(ambiguity_threshold):g}); "
                      f"{use}", UserWarning, stacklevel=2)
    return BootstrapResult(frame, pd.Series(reference_vector, index=index), kind, float(alpha),
                           len(errors), errors, margin_array, ambiguous, bool(include_ambiguous))


def _seed_sequence(random_state) -> np.random.SeedSequence:
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(2**63)))
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(int(random_state.randint(2**31 - 1)))
    return np.random.SeedSequence(random_state)


def _default_sample_fn(reference) -> Callable:
    def sample_fn(X, rng, **rows):
        return reference.sample(X=X, random_state=int(rng.integers(2**31 - 1)), **rows)[1]

    return sample_fn


def _resample(kind, X, y, w, extras, rng, sample_fn):
    """One replicate's rows: ``(X, y, w, extras)``."""
    if kind == "nonparametric":
        groups = extras.get("groups")
        if groups is None:
            idx = rng.integers(0, y.shape[0], size=y.shape[0])
            taken = {name: a[idx] for name, a in extras.items()}
        else:
            idx, labels = _draw_groups(groups, rng)
            taken = {name: a[idx] for name, a in extras.items() if name != "groups"}
            taken["groups"] = labels
        return X[idx], y[idx], None if w is None else w[idx], taken
    yb = np.asarray(sample_fn(X, rng, **extras), dtype=np.float64)
    yb = yb.reshape(-1) if yb.ndim < 2 else yb
    if yb.shape != y.shape:
        raise ValueError(f"sample_fn returned shape {yb.shape}; expected {y.shape}")
    return X, yb, w, extras


def _draw_groups(groups: np.ndarray, rng: np.random.Generator):
    """Rows of ``G`` groups drawn with replacement from the ``G`` groups of ``groups``,
    and their new labels ``0..G-1`` (one per draw, in the order drawn)."""
    _, codes = np.unique(groups, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    draw = rng.integers(0, sizes.size, size=sizes.size)
    idx = np.concatenate([order[starts[g]: starts[g] + sizes[g]] for g in draw])
    return idx, np.repeat(np.arange(draw.size), sizes[draw])


@dataclass(frozen=True)
class _Parameters:
    """The estimated parameters of a fit, one row per component: the coefficients on
    the design (intercept first), the family's estimated parameters, the weights and
    the gating coefficients (or None)."""

    coef: np.ndarray
    extra: np.ndarray
    weights: np.ndarray
    gating: np.ndarray | None
    # each component's family name, with a family per component (None: one family);
    # the parameters a component's family lacks are NaN
    kinds: tuple[str, ...] | None = None

    def natural(self) -> np.ndarray:
        """The vector in the order of :func:`parameter_index` (with a family per
        component, NaN where a component's family lacks the parameter)."""
        coef_absent, extra_absent = np.isnan(self.coef), np.isnan(self.extra)
        if not (coef_absent.any() or extra_absent.any()):
            return natural_parameters(self.weights, self.coef, self.extra, self.gating)
        # laid out twice with two stand-ins for what is absent: where they differ
        one, two = (natural_parameters(self.weights, np.where(coef_absent, v, self.coef),
                                       np.where(extra_absent, v, self.extra), self.gating)
                    for v in (1.0, 2.0))
        return np.where(one == two, one, np.nan)

    def matched_to(self, ref: _Parameters, *, margin: bool = False):
        """These parameters with the components reordered to best match ``ref``'s,
        each with a component of its own family; with ``margin``, the pair
        ``(parameters, matching margin)``."""
        mine, theirs = self._matching_vectors(), ref._matching_vectors()
        if (mine.shape != theirs.shape or (self.gating is None) != (ref.gating is None)
                or sorted(self.kinds or ()) != sorted(ref.kinds or ())):
            raise ValueError(f"a replicate has parameters of shape {mine.shape}; "
                             f"the reference {theirs.shape}")
        cost = ((theirs[:, None, :] - mine[None, :, :]) ** 2).sum(axis=2)
        if ref.kinds is not None and self.kinds is not None:
            # never a component of one family for one of another: such assignments
            # cost more than any other, so they are neither chosen nor a close second
            other = np.array(ref.kinds)[:, None] != np.array(self.kinds)[None, :]
            cost = cost + other * _OTHER_FAMILY * (1.0 + float(cost.max()))
        order, best, second = _two_best_assignments(cost)
        gating = None if self.gating is None else self.gating[order] - self.gating[order[0]]
        kinds = None if self.kinds is None else tuple(self.kinds[i] for i in order)
        matched = _Parameters(self.coef[order], self.extra[order], self.weights[order], gating,
                              kinds)
        return (matched, _margin(best, second)) if margin else matched

    def _matching_vectors(self) -> np.ndarray:
        # a parameter a component's family lacks (NaN) adds nothing to the distance
        return np.nan_to_num(np.column_stack([self.coef, self.extra, self.weights]))


# How many times the largest distance between components of one family an assignment
# of a component to one of another family costs.
_OTHER_FAMILY = 1e6


def _two_best_assignments(cost: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The cheapest assignment of a ``K x K`` cost matrix (row ``k`` gets column
    ``order[k]``), its total cost and the smallest total cost of any other assignment
    (``inf`` for ``K = 1``)."""
    k = cost.shape[0]
    rows = np.arange(k)
    _, order = linear_sum_assignment(cost)
    best = float(cost[rows, order].sum())
    if k == 1:
        return order, best, np.inf
    if k <= _MAX_ENUMERATED:
        perms = _permutations(k)
        totals = cost[rows, perms].sum(axis=1)
        others = np.any(perms != order, axis=1)
        return order, best, float(totals[others].min())
    second = np.inf
    for i in range(k):  # the second best leaves out at least one of the chosen pairs
        forbidden = cost.copy()
        forbidden[i, order[i]] = np.inf
        _, alt = linear_sum_assignment(forbidden)
        second = min(second, float(cost[rows, alt].sum()))
    return order, best, second


@functools.cache
def _permutations(k: int) -> np.ndarray:
    """All ``k!`` permutations of ``range(k)``, one a row (read-only: cached)."""
    perms = np.array(list(itertools.permutations(range(k))))
    perms.flags.writeable = False
    return perms


def _margin(best: float, second: float) -> float:
    """The scale-free margin ``1 - best / second`` in ``[0, 1]`` (1 without a second
    assignment, 0 when every assignment costs nothing)."""
    if not np.isfinite(second):
        return 1.0
    if second <= 0.0:
        return 0.0
    return float(min(max(1.0 - best / second, 0.0), 1.0))


def _extra_values(model, name: str) -> np.ndarray:
    """The family parameter ``name`` of a fitted model: its attribute ``<name>_``, or
    the state's column where there is no such attribute (several responses'
    ``"yn:sigma"``, the entries of random-effect covariances)."""
    value = getattr(model, f"{name}_", None)
    return np.asarray(model.state_.extra_column(name) if value is None else value,
                      dtype=np.float64)


def _model_parameters(model) -> _Parameters:
    """The estimated parameters of a fitted model (any family, any mixing)."""
    coef = np.asarray(model.coef_, dtype=np.float64)
    if model.fit_intercept:
        coef = np.column_stack([model.intercept_, coef])
    family = model.family_
    names = [n for n, f in zip(family.extra_names, family.free_extra(), strict=True) if f]
    extra = np.column_stack([_extra_values(model, n) for n in names]) if names else (
        np.zeros((coef.shape[0], 0)))
    gating = getattr(model, "gating_coef_", None)
    gating = None if gating is None else np.asarray(gating, dtype=np.float64)
    members = getattr(family, "families", None)
    kinds = None if members is None else tuple(f.name for f in members)
    return _Parameters(coef, extra, np.asarray(model.weights_, dtype=np.float64), gating,
                       kinds)


def _parameter_index(model) -> pd.MultiIndex:
    """The labels of :func:`_model_parameters`'s vector, from public attributes."""
    family = model.family_
    names = [n for n, f in zip(family.extra_names, family.free_extra(), strict=True) if f]
    gating = getattr(model, "gating_coef_", None)
    gating_names = None
    if gating is not None:
        gating_names = ["intercept", *[f"z{j}" for j in range(gating.shape[1] - 1)]]
    labels = getattr(model, "_coefficient_labels", None)
    if labels is not None:  # every coefficient's name, the intercept's among them
        return parameter_index(len(model.weights_), labels(), False, names, gating_names)
    return parameter_index(len(model.weights_), model.coef_names(), model.fit_intercept,
                           names, gating_names)
