"""Censoring and truncation limits per row: the rules every source and the censored
family share.

A censored response is given, row by row, as the interval ``[lower, upper]`` that holds
its latent value (equal limits for an observed value, NaN or an infinity for an open
side) and, optionally, truncation limits ``[trunc_lower, trunc_upper]``. The functions
here turn such columns into the ``(n, 4)`` limits that travel with the rows
(:class:`~regmix.core.chunk.Chunk`), a representative value per row and the refusals
that name the row; :class:`~regmix.families.censored_gaussian.CensoredGaussian` and
:class:`~regmix.sources.parquet.ParquetData` both use them, so that arrays and files
read the same limits the same way.
"""

from __future__ import annotations

import numpy as np

__all__ = ["censored_limits", "clip_to_truncation", "interval_limits", "observed_rows",
           "point_limits"]

_OPEN = (-np.inf, np.inf, -np.inf, np.inf)


def observed_rows(limits: np.ndarray) -> np.ndarray:
    """Which rows of ``limits`` (n, 4) are observed values, whose log-density is a
    density (the others' is the log-probability of an interval), bool (n,)."""
    return limits[:, 0] == limits[:, 1]


def censored_limits(y, censored, side: str = "right") -> np.ndarray:
    """The ``[lower, upper]`` columns of a response given as values and a censoring
    indicator (survival data: R's ``Surv(time, event)`` with ``censored = 1 - event``,
    lifelines' ``event_observed`` negated), for ``family="censored_gaussian"``.

    Parameters
    ----------
    y : array-like of shape (n,)
        The recorded values: the observed value, or the censoring point.
    censored : array-like of shape (n,)
        Whether each row is censored (True or 1) or observed (False or 0).
    side : {"right", "left"}, default="right"
        Right censoring (the latent value is at least ``y``: ``[y, inf]``) or left
        censoring (at most ``y``: ``[-inf, y]``).

    Returns
    -------
    ndarray of shape (n, 2)
        ``[y, y]`` for an observed row, ``[y, inf]`` or ``[-inf, y]`` for a censored
        one. ``y`` and ``censored`` are not written to.

    Raises
    ------
    ValueError
        Naming the row: a value that is not finite, an indicator other than 0 or 1;
        lengths that differ, an unknown ``side``.

    Examples
    --------
    >>> censored_limits([2.0, 3.5, 1.0], [0, 1, 0])
    array([[2. , 2. ],
           [3.5, inf],
           [1. , 1. ]])
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left'; got {side!r}")
    values = np.asarray(y, dtype=np.float64).reshape(-1)
    flags = np.asarray(censored).reshape(-1)
    if flags.shape != values.shape:
        raise ValueError(f"censored has {flags.size} entries but y has {values.size}")
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"y is not a finite number at row {int(np.argmax(bad))}")
    numeric = flags.astype(np.float64) if flags.dtype != object else np.array(
        [float(f) if isinstance(f, (bool, int, float, np.number)) else np.nan for f in flags])
    bad = ~np.isin(numeric, (0.0, 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        value = flags[i].item() if isinstance(flags[i], np.generic) else flags[i]
        raise ValueError(f"censored must be 0 or 1 (False or True); got {value!r} at row {i}")
    out = np.column_stack([values, values])
    out[numeric == 1.0, 1 if side == "right" else 0] = np.inf if side == "right" else -np.inf
    return out


def interval_limits(values: np.ndarray, truncation: tuple[float, float] = (-np.inf, np.inf),
                    name: str = "y", start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Representative values and limits from columns of limits.

    Parameters
    ----------
    values : ndarray of shape (n, 2) or (n, 4)
        ``lower, upper`` and optionally ``trunc_lower, trunc_upper`` per row; NaN or an
        infinity is an open limit. Not written to.
    truncation : tuple of two floats
        Truncation limits of every row, for two columns.
    name : str
        The argument named in errors.
    start : int
        Row number of the first row (for the errors of one block of a file).

    Returns
    -------
    rep : ndarray of shape (n,)
        A value inside each row's interval: the observed value, the finite limit of a row
        censored on one side, the midpoint of an interval.
    limits : ndarray of shape (n, 4)
        The limits, infinite where open, each censored row's interval clipped to its
        truncation limits.

    Raises
    ------
    ValueError
        Naming the row: a lower limit above the upper one, a row with no finite limit,
        truncation limits that hold no value or that leave nothing of the row's interval.
    """
    n = values.shape[0]
    limits = np.empty((n, 4))
    limits[:, : values.shape[1]] = values
    if values.shape[1] == 2:
        limits[:, 2], limits[:, 3] = truncation
    for j, open_value in enumerate(_OPEN):
        col = limits[:, j]
        col[np.isnan(col)] = open_value
    lo, hi = limits[:, 0], limits[:, 1]
    bad = ~(lo <= hi)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} has its lower limit {lo[i]:g} above its upper limit "
                         f"{hi[i]:g} at row {start + i}")
    bad = ~(np.isfinite(lo) | np.isfinite(hi)) | (lo == np.inf) | (hi == -np.inf)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} has no finite limit at row {start + i} ([{lo[i]:g}, "
                         f"{hi[i]:g}]): such a row says nothing about the response; drop it")
    clip_to_truncation(limits, name, start)
    lo, hi = limits[:, 0], limits[:, 1]
    with np.errstate(invalid="ignore"):
        rep = np.where(np.isfinite(lo), np.where(np.isfinite(hi), 0.5 * (lo + hi), lo), hi)
    return rep, limits


def point_limits(y: np.ndarray, lower: float | None, upper: float | None,
                 truncation: tuple[float, float] | None, name: str = "y",
                 start: int = 0) -> np.ndarray:
    """The limits of a one-column response censored at constant points (the tobit
    reading): a value equal to ``lower`` is known only to be at most ``lower``, one
    equal to ``upper`` only at least ``upper``, the others are observed; every row is
    truncated at ``truncation`` (None: not truncated).

    Parameters
    ----------
    y : ndarray of shape (n,)
        The recorded values. Not written to.
    lower, upper : float or None
        The censoring points.
    truncation : tuple of two floats or None
        Truncation limits of every row.
    name, start :
        As for :func:`interval_limits`.

    Returns
    -------
    ndarray of shape (n, 4)
        ``lower, upper, trunc_lower, trunc_upper`` per row, infinite where open.

    Raises
    ------
    ValueError
        Naming the row: NaN, a value beyond a censoring point (a censored value is
        recorded at the point itself), a value outside the truncation limits.
    """
    bad = np.isnan(y)
    if bad.any():
        raise ValueError(f"{name} is NaN at row {start + int(np.argmax(bad))}")
    t_lo, t_hi = truncation if truncation is not None else (-np.inf, np.inf)
    limits = np.empty((y.shape[0], 4))
    limits[:, 0] = limits[:, 1] = y
    limits[:, 2], limits[:, 3] = t_lo, t_hi
    for j, point in ((0, lower), (1, upper)):
        if point is None:
            continue
        beyond = y < point if j == 0 else y > point
        if beyond.any():
            i = int(np.argmax(beyond))
            raise ValueError(f"{name} is {'below' if j == 0 else 'above'} the censoring point "
                             f"{'lower' if j == 0 else 'upper'}={point!r} at row {start + i} "
                             f"({y[i]:g}); a censored value is recorded at the point itself")
        limits[y == point, j] = -np.inf if j == 0 else np.inf
    clip_to_truncation(limits, name, start)
    return limits


def clip_to_truncation(limits: np.ndarray, name: str = "y", start: int = 0) -> None:
    """Refuse truncation limits that are empty or that leave nothing of a row's
    interval, and clip each censored row's interval to its truncation limits (in
    place): only values inside them can have been observed."""
    lo, hi, t_lo, t_hi = limits.T
    bad = ~(t_lo < t_hi)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} has truncation limits [{t_lo[i]:g}, {t_hi[i]:g}] that "
                         f"hold no value at row {start + i}")
    exact = lo == hi
    new_lo, new_hi = np.maximum(lo, t_lo), np.minimum(hi, t_hi)
    bad = np.where(exact, (lo < t_lo) | (hi > t_hi), ~(new_lo < new_hi))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} lies outside its truncation limits [{t_lo[i]:g}, "
                         f"{t_hi[i]:g}] at row {start + i} ([{lo[i]:g}, {hi[i]:g}])")
    limits[:, 0], limits[:, 1] = new_lo, new_hi
