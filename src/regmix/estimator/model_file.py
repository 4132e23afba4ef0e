"""The model file: a fitted :class:`~regmix.RegressionMixture` as JSON, and back.

A model file is one JSON object; ``docs/model-format.md`` describes every field and the
versioning rule. Floats are written with Python's shortest repr, which reads back to the
same bits, so a loaded model predicts exactly as the saved one did. The user's entry
points are :func:`regmix.persistence.save` and :func:`regmix.load`.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from regmix.core.chunk import Standardization
from regmix.core.version import __version__
from regmix.estimator.formula import FormulaDesign
from regmix.families.registry import family_from_dict, family_to_dict, get_family

__all__ = ["FORMAT", "FORMAT_VERSION", "model_from_dict", "model_to_dict", "read", "save"]


FORMAT = "regmix-model"


FORMAT_VERSION = 2


# fitted numbers written when the model has them, and read when the file has them
_OPTIONAL_NUMBERS = ("aic_", "bic_", "icl_", "n_samples_fit_", "sum_weights_")


# fitted arrays written when the model has them, with their shapes given K and p
_OPTIONAL_ARRAYS = {
    "component_sizes_": lambda K, p, i, m: (K,),
    "component_counts_": lambda K, p, i, m: (K,),
}


# ---------------------------------------------------------------------- writing
def save(model: BaseEstimator, path: str | os.PathLike) -> None:
    """Write a fitted model to ``path`` as JSON.

    The file is written to a temporary name in the same directory and then renamed, so
    that an interrupted save never leaves a truncated model behind.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model.
    path : str or path-like
        Where to write (conventionally ``*.json``); an existing file is replaced.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the model is not fitted.
    ValueError
        When a fitted value is not finite.
    """
    text = json.dumps(model_to_dict(model), allow_nan=False, indent=1) + "\n"
    _write_atomically(Path(path), text)


def model_to_dict(model: BaseEstimator) -> dict[str, Any]:
    """The JSON-safe dict that :func:`save` writes.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model.

    Returns
    -------
    dict
        With keys ``format``, ``format_version``, ``regmix_version``,
        ``estimator_params``, ``fitted`` and ``formula_design``.
    """
    check_is_fitted(model)
    design = getattr(model, "formula_design_", None)
    gating_design = getattr(model, "concomitant_design_", None)
    if model._gating_formula() is None:
        gating_design = None
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "regmix_version": str(__version__),
        "estimator_params": _params_to_dict(model.get_params(deep=False)),
        "fitted": _fitted_to_dict(model),
        "formula_design": None if design is None else design.to_dict(),
        "concomitant_design": None if gating_design is None else gating_design.to_dict(),
    }


def _json_scalar(value: Any) -> Any:
    """``value`` as a JSON scalar, or None when it is not one."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _json_option(value: Any) -> Any:
    """A list of names or a dict of numbers (constraint options) as JSON, else None."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: np.asarray(v, dtype=np.float64).tolist() for k, v in value.items()}
    return None


def _params_to_dict(params: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: _json_scalar(value) for name, value in params.items()}
    for name in ("common_coef", "fixed_coef"):
        if params.get(name) is not None:
            out[name] = _json_option(params[name])
    family = params.get("family")
    if family is not None and not isinstance(family, str):
        out["family"] = family.name  # the object's options are in fitted["family"]
    return out


def _floats(array) -> list:
    array = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError("cannot save a model with non-finite fitted values")
    return array.tolist()


def _fitted_to_dict(model: BaseEstimator) -> dict[str, Any]:

    fitted = {
        "family": family_to_dict(model.family_),
        "coef_": _floats(model.coef_),
        "intercept_": _floats(model.intercept_),
        "extra_": _floats(model._extra),
        "weights_": _floats(model.weights_),
        "fit_offset": bool(getattr(model, "_fit_offset", False)),
        "fit_trials": bool(getattr(model, "_fit_trials", False)),
        "gating_coef_": (None if getattr(model, "gating_coef_", None) is None
                         else _floats(model.gating_coef_)),
        "gating_names": getattr(model, "_gating_names", None),
        "n_groups_": getattr(model, "n_groups_", None),
        "log_likelihood_": _floats(model.log_likelihood_),
        "log_likelihood_history_": _floats(model.log_likelihood_history_),
        "converged_": bool(model.converged_),
        "n_iter_": int(model.n_iter_),
        "n_passes_": int(model.n_passes_),
        "n_parameters_": int(model.n_parameters_),
        "n_features_in_": int(model.n_features_in_),
        "x_mean": _floats(model._x_mean),
        "x_std": _floats(model._x_std),
    }
    for key in _OPTIONAL_NUMBERS:
        if hasattr(model, key):
            fitted[key] = _floats(getattr(model, key))
    for key in _OPTIONAL_ARRAYS:
        if getattr(model, key, None) is not None:
            fitted[key] = _floats(getattr(model, key))
    if getattr(model, "information_", None) is not None:
        fitted["information_"] = _floats(model.information_)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        fitted["feature_names_in_"] = [str(name) for name in names]
    return fitted


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a fresh file next to ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------- reading
def read(path: str | os.PathLike) -> Any:
    """The JSON content of a model file, refused clearly when it is not JSON text."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is damaged: it is not UTF-8 text") from None
    try:
        content = json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as err:
        raise ValueError(
            f"{path} is damaged (truncated or not JSON): {err}; it cannot be read as a "
            "regmix model"
        ) from None
    return content


def _refuse_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def model_from_dict(content: Any, estimator: type, source: str = "the model") -> BaseEstimator:
    """Rebuild a fitted model from the dict :func:`model_to_dict` gives.

    Parameters
    ----------
    content : dict
        The parsed JSON object.
    estimator : type
        The estimator class to build (:class:`~regmix.RegressionMixture`).
    source : str, default="the model"
        How to refer to it in error messages (the file name).

    Returns
    -------
    RegressionMixture

    Raises
    ------
    ValueError
        As for :func:`load`.
    """
    _check_header(content, source)
    for key in ("estimator_params", "fitted"):
        if not isinstance(content.get(key), Mapping):
            raise ValueError(f"{source} is damaged: {key!r} is missing or not an object")
    model = estimator(**_params_from_dict(content["estimator_params"], estimator, source))
    try:
        model._check_params()
    except ValueError as err:
        raise ValueError(f"{source} is damaged: {err}") from None
    _set_fitted(model, content["fitted"], source)
    design = content.get("formula_design")
    if (design is None) != (model.formula is None):
        raise ValueError(
            f"{source} is damaged: 'formula_design' must be present exactly when the "
            "estimator has a formula"
        )
    if design is not None:
        model.formula_design_ = _formula_design(design, source)
    gating_design = content.get("concomitant_design")
    if gating_design is not None:
        model.concomitant_design_ = _formula_design(gating_design, source)
    elif model.formula is not None and model._gating_formula() is not None:
        raise ValueError(f"{source} is damaged: the formula has a gating part but "
                         "'concomitant_design' is missing")
    if model._has_constraints():

        p_design = model.coef_.shape[1] + int(model.fit_intercept)
        try:
            model.family_ = model._constrained(
                model.family_, Standardization.identity(p_design - int(model.fit_intercept),
                                                        model.fit_intercept), p_design)
        except ValueError as err:
            raise ValueError(f"{source} is damaged: {err}") from None
    model._fitted_intercept = bool(model.fit_intercept)
    model._fitted_formula = model.formula
    _check_columns(model, source)
    return model


def _formula_design(saved: Any, source: str):
    try:
        return FormulaDesign.from_dict(saved)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None


def _check_header(content: Any, source: str) -> None:
    if not isinstance(content, Mapping):
        raise ValueError(
            f"{source} is not a regmix model file: it holds a JSON {type(content).__name__}, "
            "not an object"
        )
    if content.get("format") != FORMAT:
        raise ValueError(
            f"{source} is not a regmix model file: its format is "
            f"{content.get('format')!r}, not {FORMAT!r}"
        )
    version = content.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{source} is damaged: format_version {version!r} is not valid")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{source} was written by a newer regmix ({content.get('regmix_version')}, "
            f"format_version {version}); this regmix reads format_version up to "
            f"{FORMAT_VERSION}: upgrade regmix"
        )


def _params_from_dict(saved: Mapping[str, Any], estimator: type, source: str) -> dict[str, Any]:
    defaults = estimator().get_params(deep=False)
    unknown = sorted(set(saved) - set(defaults))
    if unknown:
        raise ValueError(
            f"{source} has estimator parameters this regmix does not know: {unknown}; "
            "it was written by a newer regmix: upgrade regmix"
        )
    params = {}
    for name, value in saved.items():
        if value is None and defaults[name] is not None:
            continue  # not saved (an array or dict init, a RandomState): use the default
        if name == "common_coef" and value is not None:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{source} is damaged: parameter {name!r} is {value!r}")
        elif name == "fixed_coef" and value is not None:
            if not isinstance(value, Mapping):
                raise ValueError(f"{source} is damaged: parameter {name!r} is {value!r}")
        elif value is not None and not isinstance(value, (bool, int, float, str)):
            raise ValueError(f"{source} is damaged: parameter {name!r} is {value!r}")
        params[name] = value
    return params


def _array(fitted: Mapping[str, Any], key: str, shape: tuple[int, ...], source: str):
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
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{source} is damaged: {key!r} holds non-finite values")
    return array


def _length(value: Any) -> int:
    return len(value) if isinstance(value, list) else -1


def _integer(fitted: Mapping[str, Any], key: str, low: int, source: str) -> int:
    value = fitted.get(key)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{source} is damaged: {key!r} must be an integer >= {low}")
    return int(value)


def _set_fitted(model: BaseEstimator, fitted: Mapping[str, Any], source: str) -> None:
    K = _length(fitted.get("weights_"))
    if K != model.n_components:
        raise ValueError(
            f"{source} is damaged: {K} mixing weights for n_components={model.n_components}"
        )
    p = _coef_width(fitted, source)
    n_history = _length(fitted.get("log_likelihood_history_"))
    model.family_ = _family(model, fitted, source)
    m = len(model.family_.extra_names)
    model.coef_ = _array(fitted, "coef_", (K, p), source)
    model.intercept_ = _array(fitted, "intercept_", (K,), source)
    if "extra_" in fitted or "sigma_" not in fitted:
        model._extra = _array(fitted, "extra_", (K, m), source)
    else:  # format_version 1: Gaussian components
        model._extra = _array(fitted, "sigma_", (K,), source)[:, None]
    model._set_extra_attributes()
    model._fit_offset = bool(fitted.get("fit_offset", False))
    model._fit_trials = bool(fitted.get("fit_trials", False))
    model.weights_ = _array(fitted, "weights_", (K,), source)
    names = fitted.get("gating_names")
    if names is not None and (not isinstance(names, list)
                              or not all(isinstance(v, str) for v in names)):
        raise ValueError(f"{source} is damaged: 'gating_names' must be a list of strings")
    model._gating_names = names
    model.gating_coef_ = (None if names is None else
                          _array(fitted, "gating_coef_", (K, len(names) + 1), source))
    groups = fitted.get("n_groups_")
    if groups is not None and (isinstance(groups, bool) or not isinstance(groups, int)):
        raise ValueError(f"{source} is damaged: 'n_groups_' must be an integer or null")
    model.n_groups_ = groups
    model.log_likelihood_ = float(_array(fitted, "log_likelihood_", (), source))
    model.log_likelihood_history_ = _array(
        fitted, "log_likelihood_history_", (max(n_history, 1),), source
    )
    if not isinstance(fitted.get("converged_"), bool):
        raise ValueError(f"{source} is damaged: 'converged_' must be true or false")
    model.converged_ = fitted["converged_"]
    model.n_iter_ = _integer(fitted, "n_iter_", 0, source)
    model.n_passes_ = _integer(fitted, "n_passes_", 0, source)
    model.n_parameters_ = _integer(fitted, "n_parameters_", 1, source)
    model.n_features_in_ = _integer(fitted, "n_features_in_", 1, source)
    model._x_mean = _array(fitted, "x_mean", (p,), source)
    model._x_std = _array(fitted, "x_std", (p,), source)
    for key in _OPTIONAL_NUMBERS:
        if key in fitted:
            setattr(model, key, float(_array(fitted, key, (), source)))
    for key, shape in _OPTIONAL_ARRAYS.items():
        value = fitted.get(key)
        shape = shape(K, p, int(model.fit_intercept), int(model.family_.free_extra().sum()))
        setattr(model, key, None if value is None else _array(fitted, key, shape, source))
    info = fitted.get("information_")
    d = model.n_parameters_
    model.information_ = None if info is None else _array(fitted, "information_", (d, d),
                                                          source)
    if isinstance(getattr(model, "n_samples_fit_", None), float):
        model.n_samples_fit_ = int(model.n_samples_fit_)
    counts = getattr(model, "component_counts_", None)
    if counts is not None and np.array_equal(counts, np.round(counts)) and getattr(
            model, "sum_weights_", None) == getattr(model, "n_samples_fit_", None):
        model.component_counts_ = counts.astype(np.int64)  # rows, not weights
    _set_feature_names(model, fitted, model.n_features_in_, source)
    _check_parameters(model, source)


def _family(model: BaseEstimator, fitted: Mapping[str, Any], source: str):
    """The fitted family: from the file's description (Gaussian for version 1 files)."""

    saved = fitted.get("family")
    if saved is None:
        return get_family(model.family, link=model.link, var_floor=model.var_floor)
    try:
        family = family_from_dict(saved)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{source} is damaged: the family {saved!r} is not valid ({err})"
                         ) from None
    if family.name != model.family:
        raise ValueError(f"{source} is damaged: the family {family.name!r} differs from the "
                         f"estimator's {model.family!r}")
    if any(getattr(family, o, None) is not None for o in ("df", "size", "shape")):
        model.family = family
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


def _set_feature_names(
    model: BaseEstimator, fitted: Mapping[str, Any], p: int, source: str
) -> None:
    names = fitted.get("feature_names_in_")
    if names is None:
        return
    if not isinstance(names, list) or len(names) != p or not all(
        isinstance(n, str) for n in names
    ):
        raise ValueError(f"{source} is damaged: 'feature_names_in_' must be {p} strings")
    model.feature_names_in_ = np.asarray(names, dtype=object)


def _check_parameters(model: BaseEstimator, source: str) -> None:
    if not np.all(model._extra > 0) or np.any(model.weights_ < 0):
        names = ", ".join(f"{n}_" for n in model.family_.extra_names) or "weights_"
        raise ValueError(f"{source} is damaged: {names} must be positive, weights_ >= 0")
    if not math.isclose(float(model.weights_.sum()), 1.0, rel_tol=1e-9):
        raise ValueError(f"{source} is damaged: weights_ sum to {model.weights_.sum()!r}")
    if not model.fit_intercept and np.any(model.intercept_ != 0):
        raise ValueError(f"{source} is damaged: intercept_ is not zero with fit_intercept=False")
    if not np.all(model._x_std >= 0):
        raise ValueError(f"{source} is damaged: x_std must be non-negative")


def _check_columns(model: BaseEstimator, source: str) -> None:
    """The design's columns, or else the features, must be the columns of ``coef_``."""
    p = model.coef_.shape[1]
    design = getattr(model, "formula_design_", None)
    if design is None:
        if model.n_features_in_ != p:
            raise ValueError(
                f"{source} is damaged: n_features_in_={model.n_features_in_} but coef_ has "
                f"{p} columns"
            )
        return
    if len(design.column_names) != p:
        raise ValueError(
            f"{source} is damaged: the formula gives {len(design.column_names)} design "
            f"columns but coef_ has {p}"
        )
    if design.fit_intercept != bool(model.fit_intercept):
        raise ValueError(f"{source} is damaged: the formula's intercept and fit_intercept differ")
