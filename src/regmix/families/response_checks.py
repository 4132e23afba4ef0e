"""Checks of a family's response that several families share."""

from __future__ import annotations

import numpy as np


def check_positive(y: np.ndarray, label: str, bounds: tuple[float, float], start: int = 0,
                   hint: str = "") -> None:
    """Refuse a response that is not positive or lies outside ``bounds``, naming the
    first such row (``start`` is the number of ``y[0]``); ``hint`` follows the
    message of a value out of bounds.

    Raises
    ------
    ValueError
        ``the <label> response must be positive; y[i] = v``, or ``... must lie within
        [lo, hi]; y[i] = v``.
    """
    bad = ~(y > 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"the {label} response must be positive; y[{start + i}] = {y[i]:g}")
    lo, hi = bounds
    bad = (y < lo) | (y > hi)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"the {label} response must lie within [{lo:g}, {hi:g}]; "
                         f"y[{start + i}] = {y[i]:g}{hint}")
