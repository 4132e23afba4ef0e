"""Marginal effects and predictive margins of a fitted mixture: the estimator's side.

:class:`MarginsMixin` gives :class:`~regmix.RegressionMixture` ``marginal_effects`` (Stata's
``margins, dydx()``) and ``predictive_margins`` (``margins`` and ``estat lcmean``). It
changes the caller's data (a copy: one variable moved, or set to a level or to the
values of ``at=``), turns every version into rows through the same validation and
design as :meth:`~regmix.RegressionMixture.predict` (a formula's own design, so ``x +
I(x**2)`` gives one effect of ``x``), and evaluates the component means and prior
probabilities with the estimator's prediction code at any parameter vector; the
definitions, the delta method and the table are :mod:`regmix.inference.margins`'s.
"""

from __future__ import annotations

import copy
import itertools
import numbers
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from regmix.estimator.formula import level_key, typical_value
from regmix.inference.margins import (
    NaturalLayout,
    change_effects,
    delta_method,
    margins_table,
    mean_margins,
    slope_effects,
)
from regmix.sources.validation import check_sample_weight

# Central differences of the design in a continuous variable take steps of this fraction
# of the variable's largest magnitude.
_DESIGN_STEP = float(np.finfo(np.float64).eps ** (1.0 / 3.0))

# At most this many levels for a variable treated as discrete.
_MAX_LEVELS = 50


class _Design(NamedTuple):
    """Validated rows of one version of the data: the design (n, p) without the
    intercept, the offset (n,) and the concomitant variables (n, q)."""

    X: np.ndarray
    offset: np.ndarray | None
    Z: np.ndarray | None


class _Task(NamedTuple):
    """One effect to compute: a continuous variable's design derivatives, or a
    discrete change between two versions of the rows."""

    variable: str
    contrast: str
    slope: _Design | None  # d design / dv, d offset / dv, d Z / dv
    rows: tuple[_Design, _Design] | None  # (reference, level)


class _Data:
    """The caller's rows (a data frame for a formula model; else ``X`` and the
    concomitant variables), which it never writes to: every change makes copies."""

    def __init__(self, model, X, concomitant, offset) -> None:
        self.model = model
        self.formula = model.formula is not None
        self.X, self.Z, self.offset = X, concomitant, offset
        if self.formula:
            if not isinstance(X, pd.DataFrame):
                raise ValueError("a formula model takes its rows as a data frame X")
            self.x_names: list[str] = []
            self.z_names: list[str] = []
        else:
            self.x_names = model.coef_names()
            self.z_names = list(model.state_.gating_names or [])

    @property
    def n(self) -> int:
        return len(self.X)

    def column(self, name: str) -> pd.Series:
        """The values of one variable (the first container that has it)."""
        if self.formula:
            return self.X[name]
        if name in self.x_names:
            return pd.Series(_column(self.X, self.x_names, name))
        return pd.Series(_column(self.Z, self.z_names, name))

    def with_values(self, changes: Mapping[str, object]) -> _Data:
        """A copy with each named variable set to a value (or an array of values)."""
        out = copy.copy(self)
        if self.formula:
            frame = self.X.copy()
            for name, value in changes.items():
                frame[name] = _values_like(frame[name], value, len(frame))
            out.X = frame
            return out
        out.X = _assign(self.X, self.x_names, changes)
        out.Z = None if self.Z is None else _assign(self.Z, self.z_names, changes)
        return out

    def design(self) -> _Design:
        """The rows as the model reads them (validated, formula applied)."""
        rows = self.model._eval_rows(self.X, None, None, self.offset, None,
                                     require_y=False, concomitant=self.Z)
        return _Design(rows.X, rows.offset, rows.Z)


def _column(container, names: list[str], name: str) -> np.ndarray:
    if isinstance(container, pd.DataFrame):
        return container[name].to_numpy()
    return np.asarray(container)[:, names.index(name)]


def _values_like(column: pd.Series, value, n: int, index=None) -> pd.Series:
    """``value`` (a scalar or n values) as a column like ``column`` (on its index, or
    on ``index``)."""
    if np.ndim(value) == 0:
        value = [value] * n
    dtype = column.dtype if isinstance(column.dtype, pd.CategoricalDtype) else None
    return pd.Series(value, index=column.index if index is None else index, dtype=dtype)


def _assign(container, names: list[str], changes: Mapping[str, object]):
    """A copy of an array or data frame of columns ``names`` with some columns set."""
    if isinstance(container, pd.DataFrame):
        out = container.copy()
        for name, value in changes.items():
            if name in names:
                out[name] = np.broadcast_to(np.asarray(value, dtype=np.float64), len(out))
        return out
    out = np.array(container, dtype=np.float64)
    if out.ndim == 1:
        out = out[:, None]
    for name, value in changes.items():
        if name in names:
            out[:, names.index(name)] = value
    return out


class MarginsMixin:
    """Marginal effects and predictive margins for :class:`~regmix.RegressionMixture`."""

    def marginal_effects(self, X, *, variables=None, at=None, kind: str = "average",
                         discrete=(), component="all", offset=None, concomitant=None,
                         sample_weight=None, alpha: float = 0.05, cov_type: str = "oim",
                         y=None, clusters=None, **data) -> pd.DataFrame:
        """Average marginal effects on the mixture mean and on each component's mean.

        With several responses (:class:`~regmix.MultiResponse`) every effect is given
        for each response's means, named in the ``response`` column.

        For a continuous variable ``v`` the derivative ``d E[y|x] / dv``, for a factor
        (a categorical variable of the formula, or one named in ``discrete``) the
        change from its reference level to each other level, averaged over the rows
        (``kind="average"``, Stata's ``margins, dydx()``, statsmodels' ``at="overall"``)
        or at the means (``kind="at_means"``). The mixture mean is ``sum_k pi_k(z)
        mu_k(x)``, as :meth:`predict` gives it; with gating its effect is also split into
        the part through the components' means, ``sum_k pi_k dmu_k/dv``, and the part
        through the gating, ``sum_k mu_k dpi_k/dv``. A formula model's variable is
        moved through the formula's own design, so ``x + I(x**2)`` gives one effect of
        ``x``, and a variable of both parts of ``"y ~ x | x"`` moves both. Delta-method
        standard errors; see :mod:`regmix.inference.margins` for the definitions.

        Parameters
        ----------
        X : array-like or DataFrame
            The rows to average over (usually the training data): the data frame for a
            formula model, else the features.
        variables : str or list of str, optional
            The variables (default: every variable of the model). For a formula model
            the data columns its formula reads; else feature names and the names of the
            concomitant variables (``x0, x1, ...`` and ``z0, z1, ...`` for arrays
            without names); a feature and a concomitant variable of the same name are
            one variable.
        at : dict, optional
            Variables set to given values for every row, ``{"x": 1.0}`` or ``{"x": [0,
            1, 2], "g": ["a", "b"]}``: the effects at each combination (Stata's
            ``at()``), labelled in the ``at`` column.
        kind : {"average", "at_means"}, default="average"
            Average the effects over the rows, or evaluate them at one row of the
            (weighted) means: numerical variables at their means, categorical ones at
            their most frequent level (a formula model; Stata's ``atmeans`` instead
            averages the level indicators), the offset at its mean.
        discrete : str or list of str, default=()
            Numerical variables to treat as discrete (0/1 indicators): the change from
            the smallest value to each other value, instead of the derivative.
        component : "all", "mixture" or int, default="all"
            Which means: the mixture and every component, the mixture only, or
            component k (numbered from 1).
        offset, concomitant : optional
            As for :meth:`predict`.
        sample_weight : array-like of shape (n,), optional
            Weights of the rows in the average (and the means).
        alpha : float, default=0.05
            The intervals have coverage ``1 - alpha``.
        cov_type : {"oim", "robust", "cluster"}, default="oim"
            The covariance of the estimates, as for :meth:`covariance_matrix`; for
            ``"robust"`` and ``"cluster"`` X is the training data, with ``y``,
            ``clusters`` and ``**data`` (``trials``, ``groups``) as given to
            :meth:`fit`.

        Returns
        -------
        pandas.DataFrame
            One row per effect: ``at`` (with ``at=``), ``response`` (with several
            responses), ``variable``, ``contrast``
            (``"dy/dx"``, or ``"b vs a"`` for a change), ``component`` (``"mixture"``
            or the component's number), ``part`` (``"total"``; for the mixture of a
            model with gating also ``"components"`` and ``"gating"``), ``effect``,
            ``std_err``, ``z``, ``p_value``, ``ci_lower`` and ``ci_upper``;
            ``attrs["se_method"]`` says how the covariance was computed.

        Examples
        --------
        >>> model.marginal_effects(df, variables="x")  # doctest: +SKIP
        """
        self._check_margins_apply()
        rows = _Data(self, X, concomitant, offset)
        kinds = self._margin_variables(rows)
        chosen = self._chosen_variables(variables, kinds, "variables")
        as_discrete = set(self._chosen_variables(
            [discrete] if isinstance(discrete, str) else list(discrete), kinds, "discrete"))
        levels = {v: _levels(rows.column(v), v) for v in chosen
                  if kinds[v] == "categorical" or v in as_discrete}
        source, w, points = self._margin_setup(rows, at, kind, sample_weight)
        gated = self.state_.gating_names is not None
        labels, plans = [], []
        for label, point in points:
            base = source.with_values(point) if point else source
            tasks = [task for v in chosen for task in self._margin_tasks(
                base, v, levels.get(v))]
            plans.append((base.design(), tasks))
            for task in tasks:
                labels += self._effect_labels(label, task, gated)

        def values(coef, weights, gating):
            out = []
            for base, tasks in plans:
                mus, dmus, pi = self._margin_means(base, coef, weights, gating)
                for task in tasks:
                    if task.slope is not None:
                        detas, dscore = self._margin_slopes(task.slope, coef, gating)
                        out += [slope_effects(mu, dmu, pi, deta, dscore, w) for mu, dmu, deta
                                in zip(mus, dmus, detas, strict=True)]
                    else:
                        ref, level = task.rows
                        mu0, _, pi0 = self._margin_means(ref, coef, weights, gating)
                        mu1, _, pi1 = self._margin_means(level, coef, weights, gating)
                        out += [change_effects(a, pi1, b, pi0, w)
                                for a, b in zip(mu1, mu0, strict=True)]
            return np.concatenate([self._effect_rows(v, gated) for v in out])

        return self._margins_table(values, labels, at is not None, component, "effect",
                                   alpha, cov_type, X, y, clusters, offset, concomitant,
                                   data)

    def predictive_margins(self, X, *, at=None, kind: str = "average", component="all",
                           offset=None, concomitant=None, sample_weight=None,
                           alpha: float = 0.05, cov_type: str = "oim", y=None,
                           clusters=None, **data) -> pd.DataFrame:
        """The mean over the rows of each component's mean and of the mixture mean.

        Component k's margin is ``mean_i mu_k(x_i)`` (Stata's ``estat lcmean``), the
        mixture's ``mean_i sum_k pi_k(z_i) mu_k(x_i)`` (``margins``), with
        delta-method standard errors; with ``at=`` at given values of variables
        (``margins, at()``). With several responses, each response's margins, named in
        the ``response`` column.

        Parameters
        ----------
        X, at, kind, component, offset, concomitant, sample_weight, alpha, cov_type, \
y, clusters, **data :
            As for :meth:`marginal_effects`.

        Returns
        -------
        pandas.DataFrame
            One row per margin: ``at`` (with ``at=``), ``response`` (with several
            responses), ``component`` (``"mixture"`` or
            the component's number), ``margin``, ``std_err``, ``z``, ``p_value``,
            ``ci_lower``, ``ci_upper``.
        """
        self._check_margins_apply()
        source, w, points = self._margin_setup(_Data(self, X, concomitant, offset), at,
                                               kind, sample_weight)
        designs = [(source.with_values(point) if point else source).design()
                   for _, point in points]
        K = self.n_components
        labels = [{"at": label, "response": r, "variable": None, "contrast": None,
                   "component": c, "part": "total"}
                  for label, _ in points for r in self._margin_responses()
                  for c in ["mixture", *range(1, K + 1)]]

        def values(coef, weights, gating):
            out = []
            for design in designs:
                mus, _, pi = self._margin_means(design, coef, weights, gating)
                for mu in mus:
                    margins = mean_margins(mu, pi, w)
                    out.append(np.concatenate([margins[-1:], margins[:-1]]))
            return np.concatenate(out)

        table = self._margins_table(values, labels, at is not None, component, "margin",
                                    alpha, cov_type, X, y, clusters, offset, concomitant,
                                    data)
        return table.drop(columns=["variable", "contrast", "part"])

    # ------------------------------------------------------------------ set-up
    def _check_margins_apply(self) -> None:
        check_is_fitted(self)
        family = self.family_
        members = (getattr(family, "families", None) or getattr(family, "members", None)
                   or (family,))
        needing = [f.name for f in members if getattr(f, "mean_needs_scale", False)]
        if needing:
            raise ValueError(f"margins of {needing[0]} components are not available: their "
                             "mean depends on sigma as well as on the linear predictor "
                             "(predict gives the means)")

    def _margin_responses(self) -> list[str | None]:
        """The responses whose means the margins are of: several responses' names, or
        [None] for one response."""
        responses = getattr(self.family_, "responses", None)
        return [None] if responses is None else list(responses)

    def _margin_setup(self, source: _Data, at, kind, sample_weight):
        """The rows (or the one row of means), their weights and the ``at`` points as
        ``(label, {variable: value})``."""
        if kind not in ("average", "at_means"):
            raise ValueError(f"kind must be 'average' or 'at_means'; got {kind!r}")
        w = check_sample_weight(sample_weight, source.n)
        w = np.ones(source.n) if w is None else w
        if at is not None and not isinstance(at, Mapping):
            raise ValueError(f"at must be a dict of variable to value(s); got {at!r}")
        at = dict(at or {})
        readable = self._margin_variables(source, every=True)
        for name in at:
            if name not in readable:
                raise ValueError(f"at: {name!r} is not a variable of the model (its "
                                 f"variables: {', '.join(readable)})")
        if kind == "at_means":
            source, w = self._at_means(source, readable, w), np.ones(1)
        levels = {name: [v] if np.ndim(v) == 0 and not isinstance(v, (list, tuple))
                  else list(v) for name, v in at.items()}
        points: list[tuple[str | None, dict]] = [(None, {})]
        if at:
            points = [(", ".join(f"{n}={v}" for n, v in zip(levels, combo, strict=True)),
                       dict(zip(levels, combo, strict=True)))
                      for combo in itertools.product(*levels.values())]
        return source, w, points

    def _margin_variables(self, source: _Data, every: bool = False) -> dict[str, str]:
        """The model's variables and their kinds (``"numerical"`` or
        ``"categorical"``); with ``every`` also those only the offset terms read."""
        if not source.formula:
            names = source.x_names + [z for z in source.z_names if z not in source.x_names]
            return dict.fromkeys(names, "numerical")
        kinds = self.formula_design_.variables(source.X.columns if every else None)
        if self._gating_formula() is not None:
            for name, kind in self.concomitant_design_.variables().items():
                if kind == "categorical" or name not in kinds:
                    kinds[name] = kind
        return kinds

    @staticmethod
    def _chosen_variables(variables, kinds: Mapping[str, str], argument: str) -> list[str]:
        if variables is None:
            return list(kinds)
        chosen = [variables] if isinstance(variables, str) else list(variables)
        for name in chosen:
            if name not in kinds:
                raise ValueError(f"{argument}: {name!r} is not a variable of the model "
                                 f"(its variables: {', '.join(kinds)})")
        return chosen

    def _at_means(self, source: _Data, kinds: Mapping[str, str], w: np.ndarray) -> _Data:
        """One row: every variable at its weighted mean (most frequent level)."""
        out = copy.copy(source)
        if source.formula:
            out.X = pd.DataFrame({v: _values_like(source.X[v], typical_value(
                source.X[v], kind, w), 1, pd.RangeIndex(1)) for v, kind in kinds.items()})
        else:
            out.X = _mean_row(source.X, w)
            out.Z = None if source.Z is None else _mean_row(source.Z, w)
        if source.offset is not None:
            out.offset = np.array([np.average(np.asarray(source.offset, dtype=np.float64),
                                              weights=w)])
        return out

    def _margin_tasks(self, base: _Data, name: str, levels: list | None) -> list[_Task]:
        """The effects of one variable at the rows ``base``: its derivative, or (given
        its levels) the change from the first level to each other."""
        if levels is None:
            return [_Task(name, "dy/dx", self._design_slope(base, name), None)]
        ref = base.with_values({name: levels[0]}).design()
        return [_Task(name, f"{level} vs {levels[0]}", None,
                      (ref, base.with_values({name: level}).design()))
                for level in levels[1:]]

    def _design_slope(self, base: _Data, name: str) -> _Design:
        """Derivatives of the design, offset and concomitant rows in one variable:
        exact unit columns for arrays, central differences of the formula's design."""
        if not base.formula:
            X = np.zeros((base.n, len(base.x_names)))
            if name in base.x_names:
                X[:, base.x_names.index(name)] = 1.0
            Z = None
            if base.Z is not None:
                Z = np.zeros((base.n, len(base.z_names)))
                if name in base.z_names:
                    Z[:, base.z_names.index(name)] = 1.0
            return _Design(X, None, Z)
        values = base.column(name).to_numpy(dtype=np.float64)
        scale = float(np.max(np.abs(values))) if values.size else 0.0
        h = _DESIGN_STEP * (scale if scale > 0 else 1.0)
        up = base.with_values({name: values + h}).design()
        down = base.with_values({name: values - h}).design()

        def slope(a, b):
            return None if a is None else (a - b) / (2.0 * h)

        return _Design(slope(up.X, down.X), slope(up.offset, down.offset),
                       slope(up.Z, down.Z))

    # ------------------------------------------------------------------ evaluation
    def _margin_means(self, design: _Design, coef, weights, gating):
        """Component means, their derivatives in the linear predictor (each a list of
        (n, K) arrays, one per response) and the prior probabilities at the rows, at the
        given parameters (the prediction code's)."""
        pi = self._prior_weights(design.Z, design.X.shape[0], weights, gating)
        if getattr(self.family_, "responses", None) is not None:
            eta = self._response_predictors(design.X, coef, intercept=True)
            pairs = [_mean_and_slope(member, eta[:, :, r])
                     for r, member in enumerate(self.family_.members)]
            return [mu for mu, _ in pairs], [dmu for _, dmu in pairs], pi
        eta = self._component_means(design.X, design.offset, kind="link", coef=coef)
        members = getattr(self.family_, "families", None)
        if members is None:
            mu, dmu = _mean_and_slope(self.family_, eta)
        else:  # a family per component, each its own mean
            mu, dmu = np.empty_like(eta), np.empty_like(eta)
            for k, member in enumerate(members):
                mu[:, k], dmu[:, k] = _mean_and_slope(member, eta[:, k])
        return [mu], [dmu], pi

    def _margin_slopes(self, slope: _Design, coef, gating):
        """``d eta / dv`` (a list of (n, K) arrays, one per response) and ``d s / dv``
        of the gating's predictors (or None)."""
        dscore = None if slope.Z is None or gating is None else slope.Z @ gating[:, 1:].T
        if getattr(self.family_, "responses", None) is not None:
            deta = self._response_predictors(slope.X, coef, intercept=False)
            return [deta[:, :, r] for r in range(deta.shape[2])], dscore
        no_intercept = coef.copy()
        if self.fit_intercept:
            no_intercept[:, 0] = 0.0
        deta = self._component_means(slope.X, slope.offset, kind="link", coef=no_intercept)
        return [deta], dscore

    def _response_predictors(self, X: np.ndarray, coef: np.ndarray, intercept: bool
                             ) -> np.ndarray:
        """Several responses' linear predictors (n, K, R) at design rows ``X`` for the
        side-by-side coefficients ``coef`` (K, P); without ``intercept`` the intercept
        column is zero (the derivative of the design)."""
        family = self.family_
        full = X
        if self.fit_intercept:
            full = np.column_stack([np.full(X.shape[0], float(intercept)), X])
        params = family.make_params(coef, np.zeros((coef.shape[0], len(family.extra_names))))
        return family.response_means(params, full, "link")

    # ------------------------------------------------------------------ the table
    def _effect_rows(self, values: np.ndarray, gated: bool) -> np.ndarray:
        """The effects of one task in the table's order: the mixture's total (with
        gating: its parts), then the components."""
        K = self.n_components
        mixture = values[[K + 2, K, K + 1]] if gated else values[[K + 2]]
        return np.concatenate([mixture, values[:K]])

    def _effect_labels(self, at_label, task: _Task, gated: bool) -> list[dict]:
        parts: list[tuple[str | int, str]] = [("mixture", "total")]
        if gated:
            parts += [("mixture", "components"), ("mixture", "gating")]
        parts += [(k, "total") for k in range(1, self.n_components + 1)]
        return [{"at": at_label, "response": response, "variable": task.variable,
                 "contrast": task.contrast, "component": comp, "part": part}
                for response in self._margin_responses() for comp, part in parts]

    def _margins_table(self, values, labels, with_at: bool, component, name: str,
                       alpha: float, cov_type: str, X, y, clusters, offset, concomitant,
                       data) -> pd.DataFrame:
        """Delta-method table of ``values(coef, weights, gating)`` over the natural
        parameters, its rows chosen by ``component``."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
        K = self.n_components
        if not (component in ("all", "mixture") or (
                isinstance(component, numbers.Integral) and not isinstance(component, bool)
                and 1 <= int(component) <= K)):
            raise ValueError(f"component must be 'all', 'mixture' or a component number "
                             f"from 1 to {K}; got {component!r}")
        if cov_type == "oim":
            cov = self._natural_covariance()
        else:
            cov = self._natural_covariance(cov_type, X=X, y=y, clusters=clusters,
                                         offset=offset, concomitant=concomitant, **data)
        p = self.coef_.shape[1] + int(self.fit_intercept)
        gating = self.gating_coef_
        layout = NaturalLayout(K, p, len(self._free_extra_names()),
                               None if gating is None else gating.shape[1])
        # with a family per component the covariance leaves out what a component's
        # family lacks (a point mass's coefficients): zeros stand in for it
        present = self._natural_mask()
        position = np.cumsum(present) - 1

        def at(theta: np.ndarray) -> np.ndarray:
            full = np.zeros(present.size)
            full[present] = theta
            return values(*layout.unpack(full))

        means = [int(position[i]) for i in layout.mean_parameters() if present[i]]
        estimates, V = delta_method(at, self._natural_estimates(), cov.to_numpy(),
                                    np.array(means, dtype=np.intp))
        frame = pd.DataFrame(labels)
        keep = (np.ones(len(frame), dtype=bool) if component == "all"
                else (frame["component"] == component).to_numpy())
        table = margins_table(frame[keep].astype({"component": object}), estimates[keep],
                              V[np.ix_(keep, keep)], alpha, cov.attrs["se_method"], name)
        drop = ([] if with_at else ["at"]) + (
            ["response"] if self._margin_responses() == [None] else [])
        return table.drop(columns=drop)


def _mean_and_slope(family, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A family's means at linear predictors ``eta`` and their derivatives in them: a
    point mass's value (a constant), a GLM's inverse link, the linear predictor itself."""
    if getattr(family, "response_mean", None) is not None:  # a point mass
        mean = np.asarray(family.response_mean(eta, None), dtype=np.float64)
        return np.broadcast_to(mean, eta.shape).copy(), np.zeros_like(eta)
    link = getattr(family, "link", None)
    if link is None:
        return eta, np.ones_like(eta)
    mu, dmu, _ = link.derivatives(eta)
    return mu, dmu


def _levels(column: pd.Series, name: str) -> list:
    """The levels of a discrete variable in the rows, the reference first: a
    categorical column's categories in their order, else the sorted values."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        levels = [c for c in column.cat.categories if (column == c).any()]
    else:
        levels = sorted(pd.unique(column.dropna()), key=level_key)
    if len(levels) < 2:
        raise ValueError(f"{name!r} takes one value in these rows; a discrete change "
                         "needs two")
    if len(levels) > _MAX_LEVELS:
        raise ValueError(f"{name!r} has {len(levels)} distinct values; at most "
                         f"{_MAX_LEVELS} for a discrete change (a continuous variable "
                         "gets a derivative)")
    return levels


def _mean_row(container, w: np.ndarray):
    """The weighted column means of an array or data frame, as one row of it."""
    if isinstance(container, pd.DataFrame):
        return pd.DataFrame([np.average(container.to_numpy(dtype=np.float64), axis=0,
                                        weights=w)], columns=container.columns)
    values = np.asarray(container, dtype=np.float64)
    return np.average(values.reshape(values.shape[0], -1), axis=0, weights=w)[None, :]


__all__: Sequence[str] = ["MarginsMixin"]
