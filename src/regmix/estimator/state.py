"""The fitted state of a :class:`~regmix.RegressionMixture`: one owner for what a fit produces.

A fit ends by building one :class:`FittedState`; the estimator's fitted attributes
(``coef_``, ``weights_``, ``sigma_``, ...) are read from it, and the model file writes
its :meth:`FittedState.to_dict` as the ``"fitted"`` object and reads it back with
:meth:`FittedState.from_dict`, which refuses damaged content with a message naming the
key (``docs/model-format.md`` describes every key).
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from regmix.core.chunk import Standardization
from regmix.core.params import valid_extras
from regmix.estimator.formula import FormulaDesign, split_gating, split_random, split_responses
from regmix.estimator.formula_safety import UnsafeFormulaError
from regmix.families.composite import ComponentFamilies
from regmix.families.constraints import CoefficientConstraints, coefficient_index
from regmix.families.mixed_gaussian import MixedGaussian
from regmix.families.multi_response import MultiResponse
from regmix.families.registry import family_from_dict, family_to_dict, get_family
from regmix.inference.boundary import BoundaryParameters

__all__ = ["FittedState", "constrained_family"]


# fitted numbers written when the state has them, and read when the content has them
_OPTIONAL_NUMBERS = ("aic_", "bic_", "icl_", "n_samples_fit_", "sum_weights_", "entropy_")


# fitted arrays of shape (K,) written when the state has them
_OPTIONAL_ARRAYS = ("component_sizes_", "component_counts_")
_OPTIONAL_COUNTS = ("n_at_best_", "n_runs_", "n_known_labels_")


@dataclass(eq=False)
class FittedState:
    """Everything a fit produces that prediction, inference and the model file need.

    Parameters are in user units and in the model's component order (decreasing
    weight). The estimator's public attributes are these fields with a trailing
    underscore (``coef`` is ``coef_``; ``extra`` holds the columns ``sigma_``, ``df_``,
    ``shape_``, ``size_`` in the family's order; ``history`` is
    ``log_likelihood_history_``).

    Attributes
    ----------
    family : family object
        The fitted family, carrying the coefficient constraints when there are any.
    coef, intercept, extra, weights : ndarray
        Shapes (K, p), (K,), (K, m) and (K,).
    log_likelihood : float
    history : ndarray of shape (n,)
    converged : bool
    n_iter, n_passes, n_parameters, n_features_in : int
    x_mean, x_std : ndarray of shape (p,)
        Training moments of the features (for :meth:`~regmix.RegressionMixture.sample`).
    fit_intercept : bool
        The estimator's ``fit_intercept`` at fit time.
    formula : str or None
        The estimator's ``formula`` at fit time.
    fit_offset, fit_trials : bool
        Whether the fit was given an offset or binomial trials.
    gating_coef : ndarray of shape (K, 1 + q) or None
    gating_names : list of str or None
    n_groups : int or None
    feature_names_in : ndarray of str or None
    formula_design, concomitant_design : FormulaDesign or None
    aic, bic, icl, n_samples_fit, sum_weights : number or None
        None when not known (a model file that does not hold them).
    component_sizes, component_counts : ndarray of shape (K,) or None
    entropy : float or None
        The entropy of the training observations' posterior probabilities,
        ``-sum_o w_o sum_k r_ok log r_ok``.
    classification : ndarray of shape (K, K) or None
        ``classification[c, l]``: the summed (weighted) posterior probabilities of
        component l over the training observations whose most probable component is c
        (see :mod:`regmix.inference.diagnostics`).
    information : ndarray of shape (d, d) or None
    n_at_best, n_runs : int or None
        Of the EM runs from independent starting points (see
        :class:`regmix.fitting.search.StartSearch`), how many ended at the best
        log-likelihood, and how many there were; None when not known.
    n_known_labels : int or None
        Rows whose component was known or restricted (``fit(known_labels=...)``); None
        for a fit without known labels.
    boundary : list of BoundaryParameters
        The parameters on the boundary of the parameter space (diverging coefficients
        of the components or of the gating, sigmas at the variance floor), which get no
        standard errors; empty when there
        are none (and for model files that do not record them).
    """

    family: Any
    coef: np.ndarray
    intercept: np.ndarray
    extra: np.ndarray
    weights: np.ndarray
    log_likelihood: float
    history: np.ndarray
    converged: bool
    n_iter: int
    n_passes: int
    n_parameters: int
    n_features_in: int
    x_mean: np.ndarray
    x_std: np.ndarray
    fit_intercept: bool
    formula: str | None = None
    fit_offset: bool = False
    fit_trials: bool = False
    gating_coef: np.ndarray | None = None
    gating_names: list[str] | None = None
    n_groups: int | None = None
    feature_names_in: np.ndarray | None = None
    formula_design: FormulaDesign | None = None
    concomitant_design: FormulaDesign | None = None
    aic: float | None = None
    bic: float | None = None
    icl: float | None = None
    n_samples_fit: int | None = None
    sum_weights: float | None = None
    component_sizes: np.ndarray | None = None
    component_counts: np.ndarray | None = None
    entropy: float | None = None
    classification: np.ndarray | None = None
    information: np.ndarray | None = field(default=None)
    n_at_best: int | None = None
    n_runs: int | None = None
    n_known_labels: int | None = None
    boundary: list[BoundaryParameters] = field(default_factory=list)

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    def extra_column(self, name: str) -> np.ndarray:
        """A copy of the family parameter ``name`` (``"sigma"``, ``"df"``, ...), (K,)."""
        names = list(self.family.extra_names)
        if name not in names:
            raise AttributeError(f"the {self.family.name} family has no parameter {name!r}")
        return self.extra[:, names.index(name)].copy()

    # ------------------------------------------------------------------ writing
    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe ``"fitted"`` object of the model file.

        Raises
        ------
        ValueError
            When a fitted value is not finite.
        """
        absent_coef, absent_extra = _absent(self.family, self.coef.shape, self.extra.shape)
        fitted = {
            "family": family_to_dict(self.family),
            "coef_": _floats(self.coef, absent_coef),
            "intercept_": _floats(self.intercept, absent_coef[:, 0]),
            "extra_": _floats(self.extra, absent_extra),
            "weights_": _floats(self.weights),
            "fit_offset": bool(self.fit_offset),
            "fit_trials": bool(self.fit_trials),
            "gating_coef_": None if self.gating_coef is None else _floats(self.gating_coef),
            "gating_names": None if self.gating_names is None else list(self.gating_names),
            "n_groups_": self.n_groups,
            "log_likelihood_": _floats(self.log_likelihood),
            "log_likelihood_history_": _floats(self.history),
            "converged_": bool(self.converged),
            "n_iter_": int(self.n_iter),
            "n_passes_": int(self.n_passes),
            "n_parameters_": int(self.n_parameters),
            "n_features_in_": int(self.n_features_in),
            "x_mean": _floats(self.x_mean),
            "x_std": _floats(self.x_std),
        }
        for key in _OPTIONAL_NUMBERS:
            value = getattr(self, key[:-1])
            if value is not None:
                fitted[key] = _floats(value)
        for key in _OPTIONAL_ARRAYS:
            value = getattr(self, key[:-1])
            if value is not None:
                fitted[key] = _floats(value)
        if self.classification is not None:
            fitted["classification_"] = _floats(self.classification)
        if self.information is not None:
            fitted["information_"] = _floats(self.information)
        if self.boundary:
            fitted["boundary_"] = [b.to_dict() for b in self.boundary]
        if self.feature_names_in is not None:
            fitted["feature_names_in_"] = [str(name) for name in self.feature_names_in]
        for key in _OPTIONAL_COUNTS:
            value = getattr(self, key[:-1])
            if value is not None:
                fitted[key] = int(value)
        return fitted

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, d: Any, source: str = "the model", *, params: Mapping[str, Any],
                  formula_design: Any = None, concomitant_design: Any = None
                  ) -> FittedState:
        """The state of a model file's ``"fitted"`` object, checked.

        Parameters
        ----------
        d : dict
            The ``"fitted"`` object (see ``docs/model-format.md``).
        source : str, default="the model"
            How to refer to it in error messages (the file name).
        params : dict
            The estimator's parameters (``get_params(deep=False)``) the state belongs to:
            ``n_components``, ``family``, ``link``, ``var_floor``, ``fit_intercept``,
            ``formula`` and the constraints are checked against, or rebuilt from, them.
        formula_design, concomitant_design : dict, optional
            The model file's ``"formula_design"`` and ``"concomitant_design"`` objects.

        Returns
        -------
        FittedState

        Raises
        ------
        ValueError
            "<source> is damaged: ..." naming the key that is missing, of the wrong shape
            or type, non-finite or inconsistent with the parameters.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"{source} is damaged: 'fitted' is missing or not an object")
        K = _length(d.get("weights_"))
        if K != params["n_components"]:
            raise ValueError(f"{source} is damaged: {K} mixing weights for n_components="
                             f"{params['n_components']}")
        p = _coef_width(d, source)
        fit_intercept = bool(params["fit_intercept"])
        n_history = _length(d.get("log_likelihood_history_"))
        family = _family(params, d, source)
        m = len(family.extra_names)
        absent_coef, absent_extra = _absent(family, (K, p), (K, m))
        coef = _array(d, "coef_", (K, p), source, absent_coef)
        intercept = _array(d, "intercept_", (K,), source, absent_coef[:, 0])
        if "extra_" in d or "sigma_" not in d:
            extra = _array(d, "extra_", (K, m), source, absent_extra)
        else:  # format_version 1: Gaussian components
            extra = _array(d, "sigma_", (K,), source)[:, None]
        weights = _array(d, "weights_", (K,), source)
        names = d.get("gating_names")
        if names is not None and (not isinstance(names, list)
                                  or not all(isinstance(v, str) for v in names)):
            raise ValueError(f"{source} is damaged: 'gating_names' must be a list of strings")
        gating_coef = (None if names is None
                       else _array(d, "gating_coef_", (K, len(names) + 1), source))
        groups = d.get("n_groups_")
        if groups is not None and (isinstance(groups, bool) or not isinstance(groups, int)):
            raise ValueError(f"{source} is damaged: 'n_groups_' must be an integer or null")
        log_likelihood = float(_array(d, "log_likelihood_", (), source))
        history = _array(d, "log_likelihood_history_", (max(n_history, 1),), source)
        for key in ("fit_offset", "fit_trials"):
            if not isinstance(d.get(key, False), bool):
                raise ValueError(f"{source} is damaged: {key!r} must be true or false")
        if not isinstance(d.get("converged_"), bool):
            raise ValueError(f"{source} is damaged: 'converged_' must be true or false")
        n_iter = _integer(d, "n_iter_", 0, source)
        n_passes = _integer(d, "n_passes_", 0, source)
        n_parameters = _integer(d, "n_parameters_", 1, source)
        # the features' moments: one per coefficient, but for several responses (whose
        # coefficients are every response's side by side)
        n_x = (_integer(d, "n_features_in_", 1, source) if isinstance(family, MultiResponse)
               else p)
        state = cls(
            family=family, coef=coef, intercept=intercept, extra=extra, weights=weights,
            log_likelihood=log_likelihood, history=history, converged=d["converged_"],
            n_iter=n_iter, n_passes=n_passes, n_parameters=n_parameters,
            n_features_in=_integer(d, "n_features_in_", 1, source),
            x_mean=_array(d, "x_mean", (n_x,), source), x_std=_array(d, "x_std", (n_x,), source),
            fit_intercept=fit_intercept, formula=params.get("formula"),
            fit_offset=bool(d.get("fit_offset", False)),
            fit_trials=bool(d.get("fit_trials", False)),
            gating_coef=gating_coef, gating_names=names, n_groups=groups,
        )
        for key in _OPTIONAL_NUMBERS:
            if key in d:
                setattr(state, key[:-1], float(_array(d, key, (), source)))
        for key in _OPTIONAL_ARRAYS:
            value = d.get(key)
            setattr(state, key[:-1], None if value is None else _array(d, key, (K,), source))
        table = d.get("classification_")
        state.classification = (None if table is None else
                                _array(d, "classification_", (K, K), source))
        info = d.get("information_")
        state.information = (None if info is None else
                             _array(d, "information_", (n_parameters, n_parameters), source))
        if isinstance(state.n_samples_fit, float):
            state.n_samples_fit = int(state.n_samples_fit)
        counts = state.component_counts
        if (counts is not None and np.array_equal(counts, np.round(counts))
                and state.sum_weights == state.n_samples_fit):
            state.component_counts = counts.astype(np.int64)  # rows, not weights
        state.feature_names_in = _feature_names(d, state.n_features_in, source)
        for key in _OPTIONAL_COUNTS:
            if d.get(key) is not None:
                setattr(state, key[:-1], _integer(d, key, 0, source))
        state._check_parameters(source)
        state.boundary = state._boundary(d.get("boundary_"), source)
        state._set_designs(formula_design, concomitant_design, source)
        if _has_constraints(params):
            names = (["intercept"] if fit_intercept else []) + state.coef_labels()
            try:
                state.family = constrained_family(
                    family, Standardization.identity(p, fit_intercept), params, names)
            except ValueError as err:
                raise ValueError(f"{source} is damaged: {err}") from None
        state._check_columns(source)
        n_gating = 1 if state.gating_names is None else len(state.gating_names) + 1
        expected = (state.family.n_parameters(K, p + int(fit_intercept))
                    + (K - 1) * n_gating * (params.get("fixed_weights") is None))
        if n_parameters != expected:
            raise ValueError(f"{source} is damaged: 'n_parameters_' is {n_parameters}, but "
                             f"the model it describes (its components, constraints and "
                             f"concomitant variables) has {expected} free parameters")
        return state

    def coef_labels(self) -> list[str]:
        """Names of the columns of ``coef``: feature names, or ``x0, x1, ...``."""
        if self.feature_names_in is not None:
            return [str(s) for s in self.feature_names_in]
        return [f"x{j}" for j in range(self.coef.shape[1])]

    def _boundary(self, saved: Any, source: str) -> list[BoundaryParameters]:
        """The ``boundary_`` entries of a model file, checked (none when absent)."""
        if saved is None:
            return []
        if not isinstance(saved, list):
            raise ValueError(f"{source} is damaged: 'boundary_' must be a list")
        free = self.family.free_extra()
        coefs = (["intercept"] if self.fit_intercept else []) + self.coef_labels()
        if isinstance(self.family, MultiResponse):  # every response's coefficients
            design = ([str(s) for s in self.feature_names_in]
                      if self.feature_names_in is not None
                      else [f"x{j}" for j in range(self.n_features_in)])
            coefs = self.family.coef_names(design, self.fit_intercept)
        names = coefs + [n for n, f in zip(self.family.extra_names, free, strict=True) if f]
        n_design = self.coef.shape[1] + int(self.fit_intercept)
        gating = (None if self.gating_names is None
                  else [f"gate:{n}" for n in ["intercept", *self.gating_names]])
        return [BoundaryParameters.from_dict(entry, self.n_components, names, n_design,
                                             source, gating) for entry in saved]

    def _set_designs(self, design: Any, gating_design: Any, source: str) -> None:
        if (design is None) != (self.formula is None):
            raise ValueError(
                f"{source} is damaged: 'formula_design' must be present exactly when the "
                "estimator has a formula"
            )
        if design is not None:
            self.formula_design = _formula_design(design, source)
            main = split_random(split_gating(self.formula)[0])[0]
            if isinstance(self.family, MultiResponse):  # the responses are not the design's
                main = split_responses(main)[1]
            if self.formula_design.formula != main:
                raise ValueError(f"{source} is damaged: the estimator's formula {main!r} is "
                                 f"not its formula design's {self.formula_design.formula!r}")
        if gating_design is not None:
            self.concomitant_design = _formula_design(gating_design, source)
        elif self.formula is not None and split_gating(self.formula)[1] is not None:
            raise ValueError(f"{source} is damaged: the formula has a gating part but "
                             "'concomitant_design' is missing")

    def _check_parameters(self, source: str) -> None:
        valid = valid_extras(self.family, self.extra)
        if not np.all(valid | np.isnan(self.extra)) or np.any(self.weights < 0):
            signed = np.asarray(valid_extras(self.family, -np.ones((1, self.extra.shape[1])))
                                ).ravel()  # the extras that may be negative
            names = ", ".join(f"{n}_" for n, s in zip(self.family.extra_names, signed,
                                                      strict=True) if not s) or "weights_"
            raise ValueError(f"{source} is damaged: {names} must be positive, weights_ >= 0")
        if not math.isclose(float(self.weights.sum()), 1.0, rel_tol=1e-9):
            raise ValueError(f"{source} is damaged: weights_ sum to "
                             f"{float(self.weights.sum())!r}")
        if not self.fit_intercept and np.any(self.intercept != 0):
            raise ValueError(f"{source} is damaged: intercept_ is not zero with "
                             "fit_intercept=False")
        if not np.all(self.x_std >= 0):
            raise ValueError(f"{source} is damaged: x_std must be non-negative")

    def _check_columns(self, source: str) -> None:
        """The design's columns, or else the features, must be the columns of ``coef``."""
        p = self.coef.shape[1]
        design = self.formula_design
        if isinstance(self.family, MultiResponse):  # every response's columns side by side
            n_design = self.n_features_in + int(self.fit_intercept)
            expected = self.family.coef_width(n_design) - int(self.fit_intercept)
            if p != expected:
                raise ValueError(f"{source} is damaged: the responses' designs have "
                                 f"{expected} coefficients but coef_ has {p} columns")
            return
        if design is None:
            if self.n_features_in != p:
                raise ValueError(
                    f"{source} is damaged: n_features_in_={self.n_features_in} but coef_ "
                    f"has {p} columns"
                )
            return
        if len(design.column_names) != p:
            raise ValueError(
                f"{source} is damaged: the formula gives {len(design.column_names)} design "
                f"columns but coef_ has {p}"
            )
        if design.fit_intercept != self.fit_intercept:
            raise ValueError(f"{source} is damaged: the formula's intercept and "
                             "fit_intercept differ")


# ---------------------------------------------------------------------- constraints
def _has_constraints(params: Mapping[str, Any]) -> bool:
    return (bool(params.get("common_coef")) or bool(params.get("fixed_coef"))
            or bool(params.get("equal_variance")))


def constrained_family(family, st, params: Mapping[str, Any], names: list[str]):
    """A copy of ``family`` carrying the constraints of the estimator parameters.

    Parameters
    ----------
    family : family object
    st : Standardization
        The internal units of the fit (the fixed values are mapped into them).
    params : dict
        ``n_components``, ``common_coef``, ``fixed_coef`` and ``equal_variance``.
    names : list of str
        The coefficient names, ``"intercept"`` first when there is one.

    Returns
    -------
    family object
        ``family`` itself when there are no constraints.
    """
    if not _has_constraints(params):
        return family
    if isinstance(family, ComponentFamilies):
        raise ValueError("common_coef, fixed_coef and equal_variance apply to one family; "
                         "with a family per component (family=[...]) they are not "
                         "supported")
    if isinstance(family, MultiResponse):
        return _constrained_responses(family, st, params, names)
    if isinstance(family, MixedGaussian) and (params.get("common_coef")
                                              or params.get("fixed_coef")):
        raise ValueError("common_coef and fixed_coef are not supported yet for a "
                         "latent-class linear mixed model (random effects)")
    index, user_values = coefficient_index(names, params["n_components"],
                                           params.get("common_coef"),
                                           params.get("fixed_coef"))
    equal_variance = bool(params.get("equal_variance"))
    if equal_variance and "sigma" not in family.extra_names:
        raise ValueError(f"equal_variance=True needs a family with a scale (gaussian, "
                         f"student_t); got {family.name!r}")
    # internal values of fixed columns: the user-unit map is column-wise for them
    internal = st.to_internal(user_values)
    internal[index >= 0] = 0.0
    family = copy.copy(family)
    family.constraints = CoefficientConstraints(index, internal, equal_variance)
    return family


def _constrained_responses(family: MultiResponse, st, params: Mapping[str, Any],
                           names: list[str]) -> MultiResponse:
    """Several responses: the constraints name a response's coefficients
    (``"yn:x"``, as :meth:`MultiResponse.coef_names` does); each member carries those
    of its own coefficients, in its own internal units, for its M-step, and the family
    carries all of them side by side (the count of parameters, the covariance).
    ``equal_variance`` makes each scaled response's sigma common to all components
    (a pooled residual sum per response in its M-step)."""
    equal = bool(params.get("equal_variance"))
    scaled = ["sigma" in m.extra_names for m in family.members]
    if equal and not any(scaled):
        raise ValueError(f"equal_variance=True needs a response with a scale (gaussian, "
                         f"student_t); the responses {list(family.responses)} have none")
    fit_intercept = bool(names) and names[0] == "intercept"
    full = family.coef_names(names[int(fit_intercept):], fit_intercept)
    try:
        index, user_values = coefficient_index(full, params["n_components"],
                                               params.get("common_coef"),
                                               params.get("fixed_coef"))
    except ValueError as err:
        raise ValueError(f"{err} (with several responses a coefficient is named "
                         "'<response>:<column>')") from None
    n_design = st.x_loc.shape[0] + int(st.fit_intercept)
    widths = [b.size for b in family._blocks(n_design)]
    starts = np.cumsum([0, *widths])
    internal = np.zeros_like(user_values)
    members = []
    for r, (member, sub_st) in enumerate(zip(family.members,
                                             family._standardizations(st, n_design),
                                             strict=True)):
        cols = slice(starts[r], starts[r + 1])
        sub_index = index[:, cols]
        free = sub_index >= 0
        renumbered = np.full(sub_index.shape, -1)
        renumbered[free] = np.unique(sub_index[free], return_inverse=True)[1]
        values = sub_st.to_internal(user_values[:, cols])
        values[free] = 0.0
        internal[:, cols] = values
        member = copy.copy(member)
        member.constraints = CoefficientConstraints(renumbered, values, equal and scaled[r])
        members.append(member)
    # the columns of the family's extras of the common sigmas
    offsets = np.cumsum([0, *[len(m.extra_names) for m in family.members]])
    scales = tuple(int(offsets[r]) + m.extra_names.index("sigma")
                   for r, m in enumerate(family.members) if scaled[r])
    out = copy.copy(family)
    out.members = tuple(members)
    out.constraints = CoefficientConstraints(index, internal, equal, scales)
    return out


# ---------------------------------------------------------------------- helpers
def _absent(family, coef_shape, extra_shape) -> tuple[np.ndarray, np.ndarray]:
    """Which entries of ``coef`` and ``extra`` are parameters a component's family does
    not have (NaN in the state, null in the file): none but with a family per
    component."""
    absent = getattr(family, "absent_parameters", None)
    if absent is None:
        return np.zeros(coef_shape, dtype=bool), np.zeros(extra_shape, dtype=bool)
    return absent(coef_shape[1])


def _floats(array, absent: np.ndarray | None = None) -> list:
    """The array as nested lists; the ``absent`` entries (NaN) as None."""
    array = np.asarray(array, dtype=np.float64)
    if absent is not None and absent.any():
        if not np.all(np.isfinite(array[~absent])):
            raise ValueError("cannot save a model with non-finite fitted values")
        values = np.where(absent, None, array.astype(object))
        return values.tolist()
    if not np.all(np.isfinite(array)):
        raise ValueError("cannot save a model with non-finite fitted values")
    return array.tolist()


def _array(fitted: Mapping[str, Any], key: str, shape: tuple[int, ...], source: str,
           absent: np.ndarray | None = None):
    """``fitted[key]`` as a finite float64 array of ``shape``; null (NaN) exactly at the
    ``absent`` entries."""
    if key not in fitted:
        raise ValueError(f"{source} is damaged: fitted value {key!r} is missing")
    try:
        array = np.array(fitted[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{source} is damaged: {key!r} is not an array of numbers") from None
    if array.shape != shape:
        raise ValueError(
            f"{source} is damaged: {key!r} has shape {array.shape}, expected {shape}"
        )
    finite = np.isfinite(array)
    if absent is not None:
        if np.any(~np.isnan(array[absent])):
            raise ValueError(f"{source} is damaged: {key!r} holds values for parameters "
                             "that its components' families do not have (null expected)")
        finite |= absent
    if not np.all(finite):
        raise ValueError(f"{source} is damaged: {key!r} holds non-finite values")
    return array


def _length(value: Any) -> int:
    return len(value) if isinstance(value, list) else -1


def _integer(fitted: Mapping[str, Any], key: str, low: int, source: str) -> int:
    value = fitted.get(key)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{source} is damaged: {key!r} must be an integer >= {low}")
    return int(value)


def _family(params: Mapping[str, Any], fitted: Mapping[str, Any], source: str):
    """The fitted family: from the file's description (Gaussian for version 1 files)."""
    saved = fitted.get("family")
    if saved is None:
        return get_family(params["family"], link=params.get("link"),
                          var_floor=params.get("var_floor", 1e-8))
    try:
        family = family_from_dict(saved)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{source} is damaged: the family {saved!r} is not valid ({err})"
                         ) from None
    expected = params["family"]
    if isinstance(expected, (list, tuple)):  # a family per component
        expected = ComponentFamilies.name
    elif isinstance(expected, Mapping):  # several responses
        expected = MultiResponse.name
    expected = expected if isinstance(expected, str) else expected.name
    if family.name != expected:
        raise ValueError(f"{source} is damaged: the family {family.name!r} differs from the "
                         f"estimator's {expected!r}")
    return family


def _coef_width(fitted: Mapping[str, Any], source: str) -> int:
    """The number of coefficients per component: the width of the saved ``coef_``."""
    rows = fitted.get("coef_")
    if "coef_" not in fitted:
        raise ValueError(f"{source} is damaged: fitted value 'coef_' is missing")
    width = _length(rows[0]) if isinstance(rows, list) and rows else -1
    if width < 1:
        raise ValueError(f"{source} is damaged: 'coef_' is not a list of rows of numbers")
    return width


def _feature_names(fitted: Mapping[str, Any], p: int, source: str):
    names = fitted.get("feature_names_in_")
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != p or not all(
        isinstance(n, str) for n in names
    ):
        raise ValueError(f"{source} is damaged: 'feature_names_in_' must be {p} strings")
    return np.asarray(names, dtype=object)


def _formula_design(saved: Any, source: str):
    try:
        return FormulaDesign.from_dict(saved)
    except UnsafeFormulaError as err:
        raise ValueError(f"{source} is damaged or unsafe: {err}") from None
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
