"""Saving and loading fitted models as JSON (no pickle).

A model file is one JSON object; ``docs/model-format.md`` describes every field and the
versioning rule. Floats are written with Python's shortest repr, which reads back to the
same bits, so a loaded model predicts exactly as the saved one did.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from regmix import RegressionMixture
>>> from regmix.datasets import make_regression_mixture
>>> from regmix.persistence import load, save
>>> X, y, _, _ = make_regression_mixture(200, 1, 2, random_state=0)
>>> model = RegressionMixture(2, n_init=1, random_state=0).fit(X, y)
>>> path = os.path.join(tempfile.mkdtemp(), "model.json")
>>> save(model, path)
>>> bool(np.array_equal(load(path).predict(X), model.predict(X)))
True
"""

from __future__ import annotations

import os
from typing import Any

from regmix.estimator import model_file
from regmix.estimator.mixture import RegressionMixture
from regmix.estimator.model_file import FORMAT, FORMAT_VERSION

__all__ = ["FORMAT", "FORMAT_VERSION", "load", "model_from_dict", "model_to_dict", "save"]


def save(model: RegressionMixture, path: str | os.PathLike) -> None:
    """Write a fitted model to ``path`` as JSON.

    The file is written to a temporary name in the same directory and then renamed, so
    that an interrupted save never leaves a truncated model behind.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model.
    path : str or path-like
        Where to write (conventionally ``*.json``); an existing regular file is
        replaced.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the model is not fitted.
    ValueError
        When a fitted value is not finite, or ``path`` is a symbolic link, directory,
        FIFO, socket or device (which the rename would replace by a regular file).
    """
    model_file.save(_checked(model), path)


def model_to_dict(model: RegressionMixture) -> dict[str, Any]:
    """The JSON-safe dict that :func:`save` writes.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model.

    Returns
    -------
    dict
        With keys ``format``, ``format_version``, ``regmix_version``,
        ``estimator_params``, ``fitted``, ``formula_design`` and ``concomitant_design``.
    """
    return model_file.model_to_dict(_checked(model))


def model_from_dict(content: Any, source: str = "the model") -> RegressionMixture:
    """Rebuild a fitted model from the dict :func:`model_to_dict` gives.

    Parameters
    ----------
    content : dict
        The parsed JSON object.
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
    return model_file.model_from_dict(content, RegressionMixture, source)


def _checked(model: Any) -> RegressionMixture:
    if not isinstance(model, RegressionMixture):
        raise TypeError(f"expected a RegressionMixture, got {type(model).__name__}")
    return model


def load(path: str | os.PathLike) -> RegressionMixture:
    """Read a model written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
        A regmix model file.

    Returns
    -------
    RegressionMixture
        Fitted, with the saved parameters and fitted attributes.

    Raises
    ------
    ValueError
        When the file is damaged (not JSON, truncated), is not a regmix model, was
        written by a newer regmix, or holds missing keys, wrong shapes or non-finite
        parameters; when ``path`` is not a regular file (a FIFO, a device, a
        directory; a link to a regular file is read), is larger than 512 MiB, or its
        JSON is nested more than 64 levels deep; or when a formula or stored formula
        expression has a term outside the allow-list ("is damaged or unsafe: formula
        term ... is not allowed").

    Notes
    -----
    A model file is data, never code. A model with a formula evaluates the formula's
    terms (such as ``np.log(z)``) on new data, and every such expression in the file is
    checked before anything is evaluated: only data columns, numbers and the allowed
    transforms may appear (:mod:`regmix.estimator.formula_safety`,
    ``docs/model-format.md``).
    """
    return model_from_dict(model_file.read(path), source=str(path))
