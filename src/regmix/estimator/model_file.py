"""The model file: a fitted :class:`~regmix.RegressionMixture` as JSON, and back.

A model file is one JSON object; ``docs/model-format.md`` describes every field and the
versioning rule. Floats are written with Python's shortest repr, which reads back to the
same bits, so a loaded model predicts exactly as the saved one did. The user's entry
points are :func:`regmix.persistence.save` and :func:`regmix.load`.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from regmix.core.files import atomic_path, file_kind
from regmix.core.version import __version__
from regmix.estimator.formula_safety import UnsafeFormulaError, check_formula
from regmix.estimator.state import FittedState
from regmix.families.registry import family_from_dict

__all__ = ["FORMAT", "FORMAT_VERSION", "model_from_dict", "model_to_dict", "read", "save"]


FORMAT = "regmix-model"


FORMAT_VERSION = 2


# The largest model file read, and the deepest nesting of its JSON (a model file nests
# a few levels: the formula designs' states are the deepest, well under this).
MAX_BYTES = 512 * 2**20
MAX_DEPTH = 64


# ---------------------------------------------------------------------- writing
def save(model: BaseEstimator, path: str | os.PathLike) -> None:
    """Write the fitted ``model`` to ``path`` as JSON, through a temporary file that is
    renamed, so that an interrupted save never leaves a truncated model behind (the
    user's entry point, with the parameters documented, is :func:`regmix.persistence.save`).
    """
    text = json.dumps(model_to_dict(model), allow_nan=False, indent=1) + "\n"
    _write_atomically(Path(path), text)


def model_to_dict(model: BaseEstimator) -> dict[str, Any]:
    """The JSON-safe dict that :func:`save` writes; see
    :func:`regmix.persistence.model_to_dict`."""
    check_is_fitted(model)
    state = model.state_
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "regmix_version": str(__version__),
        "estimator_params": _params_to_dict(model.get_params(deep=False)),
        "fitted": state.to_dict(),
        "formula_design": (None if state.formula_design is None
                           else state.formula_design.to_dict()),
        "concomitant_design": (None if state.concomitant_design is None
                               else state.concomitant_design.to_dict()),
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


def _json_numbers(value: Any) -> Any:
    """Numbers, or nested lists of them, as JSON (NaN and None as null); components
    (integers) stay integers."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_numbers(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def _json_option(value: Any) -> Any:
    """A constraint option as JSON: a list of names, or a dict of names to ``"all"``,
    components or values (None for free ones); else None."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: v if isinstance(v, str) else _json_numbers(v) for k, v in value.items()}
    return None


def _params_to_dict(params: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: _json_scalar(value) for name, value in params.items()}
    for name in ("common_coef", "fixed_coef"):
        if params.get(name) is not None:
            out[name] = _json_option(params[name])
    if params.get("fixed_weights") is not None:
        out["fixed_weights"] = _json_numbers(
            np.asarray(params["fixed_weights"], dtype=np.float64).tolist())
    family = params.get("family")
    if isinstance(family, (list, tuple)):  # a family per component: their names
        out["family"] = [f if isinstance(f, str) else f.name for f in family]
    elif isinstance(family, Mapping) or hasattr(family, "responses"):  # several responses
        members = (family.items() if isinstance(family, Mapping)
                   else zip(family.responses, family.members, strict=True))
        out["family"] = {r: f if isinstance(f, str) else f.name for r, f in members}
    elif family is not None and not isinstance(family, str):
        out["family"] = family.name  # the object's options are in fitted["family"]
    return out


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a fresh file next to ``path``, then rename it over ``path``
    (only a regular file is replaced; see :func:`regmix.core.files.atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "x", encoding="utf-8") as handle:
        handle.write(text)


# ---------------------------------------------------------------------- reading
def read(path: str | os.PathLike) -> Any:
    """The JSON content of a model file, refused clearly when it is not JSON text.

    Only a regular file (or a link to one) of at most :data:`MAX_BYTES` is read: a
    FIFO would block, a device such as ``/dev/zero`` never ends; and JSON nested more
    deeply than :data:`MAX_DEPTH` is refused before it is parsed.
    """
    path = Path(path)
    info = os.stat(path)  # FileNotFoundError and PermissionError as they are
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path} is {file_kind(info.st_mode)}, not a regular file: it "
                         "cannot be a regmix model")
    with open(path, "rb") as handle:
        raw = handle.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ValueError(f"{path} is larger than {MAX_BYTES} bytes, more than any "
                         "regmix model file needs: it is not read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is damaged: it is not UTF-8 text") from None
    depth = _nesting(text)
    if depth > MAX_DEPTH:
        raise ValueError(f"{path} is damaged: its JSON is nested {depth} levels deep, "
                         f"more than the {MAX_DEPTH} a model file has")
    try:
        content = json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as err:
        raise ValueError(
            f"{path} is damaged (truncated or not JSON): {err}; it cannot be read as a "
            "regmix model"
        ) from None
    return content


def _nesting(text: str) -> int:
    """The deepest nesting of JSON arrays and objects in ``text`` (brackets inside
    strings not counted), found without parsing it."""
    # drop the strings (with their escapes), then count the brackets left
    bare = _JSON_STRING.sub("", text)
    depth = deepest = 0
    for char in _BRACKETS.findall(bare):
        depth += 1 if char in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def _refuse_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def model_from_dict(content: Any, estimator: type, source: str = "the model") -> BaseEstimator:
    """Rebuild a fitted ``estimator`` (the class to build) from the dict
    :func:`model_to_dict` gives; see :func:`regmix.persistence.model_from_dict`."""
    _check_header(content, source)
    for key in ("estimator_params", "fitted"):
        if not isinstance(content.get(key), Mapping):
            raise ValueError(f"{source} is damaged: {key!r} is missing or not an object")
    params = _params_from_dict(content["estimator_params"], estimator, source)
    if isinstance(params.get("formula"), str):
        try:
            check_formula(params["formula"])  # a model file is data, never code
        except UnsafeFormulaError as err:
            raise ValueError(f"{source} is damaged or unsafe: {err}") from None
    family = _family_with_options(content["fitted"].get("family"))
    if family is not None:  # the file names the family; its fixed options are in fitted
        params = {**params, "family": family}
    model = estimator(**params)
    try:
        model._check_params()
    except ValueError as err:
        raise ValueError(f"{source} is damaged: {err}") from None
    state = FittedState.from_dict(content["fitted"], source,
                                  params=model.get_params(deep=False),
                                  formula_design=content.get("formula_design"),
                                  concomitant_design=content.get("concomitant_design"))
    model._set_state(state)
    return model


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
            if not (isinstance(value, Mapping) or isinstance(value, list)
                    and all(isinstance(v, str) for v in value)):
                raise ValueError(f"{source} is damaged: parameter {name!r} is {value!r}")
        elif name == "fixed_weights" and value is not None:
            if not isinstance(value, list) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise ValueError(f"{source} is damaged: parameter {name!r} is {value!r}")
        elif name == "fixed_coef" and value is not None:
            if not isinstance(value, Mapping):
                raise ValueError(f"{source} is damaged: parameter {name!r} is {value!r}")
        elif name == "family" and isinstance(value, Mapping):
            if not value or not all(isinstance(v, str) for v in value.values()):
                raise ValueError(f"{source} is damaged: parameter {name!r} is {value!r}")
        elif name == "family" and isinstance(value, list):
            if not value or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{source} is damaged: parameter {name!r} is {value!r}")
        elif value is not None and not isinstance(value, (bool, int, float, str)):
            raise ValueError(f"{source} is damaged: parameter {name!r} is {value!r}")
        params[name] = value
    return params


def _family_with_options(saved: Any):
    """The family object a saved family description stands for when it has fixed
    options (Student-t ``df``, negative-binomial ``size``, Gamma ``shape``, a point
    mass's ``value`` other than 0, or any of these in a family per component): the
    estimator parameter ``family`` of the saved model, which the file names only.
    None for a family given by its name."""
    if not isinstance(saved, Mapping):
        return None
    if saved.get("responses") is not None:  # several responses: their designs, options
        return family_from_dict(saved)
    members = saved.get("families")
    if isinstance(members, list):  # a family per component: options of any of them
        if all(_family_with_options(f) is None for f in members):
            return None
    elif (all(saved.get(option) is None for option in ("df", "size", "shape", "z_rows"))
          and not saved.get("value")):  # a point mass at 0 is "pointmass"
        return None
    return family_from_dict(saved)
