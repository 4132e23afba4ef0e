"""Input checks that say what is wrong and where.

Every check returns new float64 arrays (or the caller's own array when it already is
one: nothing here writes to it) and raises ``ValueError`` naming the argument, and
where it helps, the row and column.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import DataConversionWarning

from regmix.sources.arrays import column_extremes


def _column_label(names: list[str] | None, j: int) -> str:
    return f"column {names[j]!r}" if names is not None else f"column {j}"


def _is_dataframe(obj) -> bool:
    return hasattr(obj, "columns") and hasattr(obj, "dtypes") and hasattr(obj, "iloc")


def _frame_to_float(X, name: str) -> tuple[np.ndarray, list[str]]:
    names = [str(c) for c in X.columns]
    cols = []
    for j, (col, dtype) in enumerate(zip(X.columns, X.dtypes, strict=True)):
        kind = getattr(dtype, "kind", "O")
        if kind not in "biuf":
            raise ValueError(
                f"{name} {_column_label(names, j)} is not numeric (dtype {dtype}); "
                "encode it as numbers first"
            )
        series = X[col]
        try:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        except TypeError:  # older pandas without na_value for this dtype
            values = series.astype("float64").to_numpy()
        cols.append(values)
    if not cols:
        return np.empty((X.shape[0], 0)), names
    return np.column_stack(cols), names


def _to_float_array(obj, name: str) -> np.ndarray:
    if hasattr(obj, "toarray") or type(obj).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name} is a sparse matrix; regmix needs a dense array")
    arr = np.asarray(obj)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except TypeError as err:
            raise TypeError(f"{name} is not numeric: {err}") from None
        except ValueError as err:
            raise ValueError(
                f"{name} is not numeric (dtype {arr.dtype}): {err}; encode it as numbers first"
            ) from None
    return np.asarray(arr, dtype=np.float64)


def check_finite(arr: np.ndarray, name: str, names: list[str] | None = None) -> None:
    """Raise naming the first NaN or infinite entry of ``arr`` (1-D or 2-D)."""
    with np.errstate(over="ignore"):  # a sum that overflows is looked at row by row
        total = arr.sum()
    if arr.size and np.isfinite(total):  # one cheap pass; NaN and inf propagate
        return
    bad = ~np.isfinite(arr)
    if not bad.any():
        return
    where = np.argwhere(bad)[0]
    what = "NaN" if np.isnan(arr[tuple(where)]) else "infinity"
    count = int(bad.sum())
    if arr.ndim == 2:
        place = f"row {where[0]}, {_column_label(names, int(where[1]))}"
    else:
        place = f"row {where[0]}"
    raise ValueError(
        f"Input {name} contains {what} at {place} ({count} non-finite value"
        f"{'s' if count > 1 else ''} in all); drop or impute them before fitting"
    )


# Magnitudes regmix refuses: float64 squares values (variances, information), which
# overflows beyond ~1e154 and loses all precision below ~1e-154.
MAX_MAGNITUDE = 1e152


MIN_MAGNITUDE = 1e-152


def check_finite_magnitude(arr: np.ndarray, name: str, names: list[str] | None = None) -> None:
    """:func:`check_finite` and :func:`check_magnitude` from one computation of the
    column extremes (NaN and infinity propagate to them)."""
    a = arr[:, None] if arr.ndim == 1 else arr
    if a.shape[0] == 0:
        return

    lo, hi = column_extremes(a)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        check_finite(arr, name, names)
    check_magnitude(arr, name, names, extremes=(lo, hi))


def check_magnitude(arr: np.ndarray, name: str, names: list[str] | None = None,
                    extremes: tuple[np.ndarray, np.ndarray] | None = None,
                    advice: str = "rescale it (for instance to standard units) before "
                                  "fitting") -> None:
    """Raise when a column's largest magnitude is beyond 1e152 or (non-zero) below
    1e-152: its squares would overflow or underflow in float64. ``extremes`` are the
    column minima and maxima when the caller has them; ``advice`` ends the message."""
    a = arr[:, None] if arr.ndim == 1 else arr
    if a.shape[0] == 0:
        return

    lo, hi = column_extremes(a) if extremes is None else extremes
    big = np.maximum(hi, -lo)  # no temporary the size of arr
    bad = (big > MAX_MAGNITUDE) | ((big > 0) & (big < MIN_MAGNITUDE))
    if not bad.any():
        return
    j = int(np.argmax(bad))
    where = f" {_column_label(names, j)}" if arr.ndim == 2 else ""
    raise ValueError(
        f"Input {name}{where} has values of magnitude {big[j]:.3g}, outside "
        f"[{MIN_MAGNITUDE:g}, {MAX_MAGNITUDE:g}]: their squares over- or underflow in "
        f"float64; {advice}"
    )


def check_features(X, name: str = "X") -> tuple[np.ndarray, list[str] | None]:
    """Validate a 2-D feature matrix.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    names : list of str or None
        Column names when ``X`` is a data frame.
    """
    if X is None:
        raise ValueError(f"{name} is required; got None")
    names = None
    if _is_dataframe(X):
        arr, names = _frame_to_float(X, name)
    else:
        arr = _to_float_array(X, name)
    if arr.ndim != 2:
        raise ValueError(
            f"Expected 2D array for {name}, got {arr.ndim}D array of shape {arr.shape}. "
            "Reshape your data with X.reshape(-1, 1) for a single feature or "
            "X.reshape(1, -1) for a single sample"
        )
    if arr.shape[0] == 0:
        raise ValueError(
            f"{name} has 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if arr.shape[1] == 0:
        raise ValueError(
            f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    check_finite_magnitude(arr, name, names)
    return arr, names


def check_response(y, n_rows: int, name: str = "y", two_columns: bool = False,
                   limits: bool = False) -> np.ndarray:
    """Validate a response vector against the number of rows of X.

    With ``two_columns`` an (n, 2) response (binomial successes and failures) passes.
    With ``limits`` an (n, 2) or (n, 4) response of censoring limits passes, whose NaN
    and infinite entries are open limits (the family checks them).
    """
    widths = (2, 4) if limits else (2,) if two_columns else ()
    if y is None:
        raise ValueError(
            f"requires y to be passed, but the target {name} is None; "
            "a regression mixture needs a response"
        )
    if _is_dataframe(y):
        if y.shape[1] in widths:
            arr, _ = _frame_to_float(y, name)
            if arr.shape[0] != n_rows:
                raise ValueError(f"{name} has {arr.shape[0]} rows but X has {n_rows}")
            _check_columns(arr, name, limits)
            return arr
        if y.shape[1] != 1:
            raise ValueError(f"{name} must be one column; got {y.shape[1]} columns")
        arr, _ = _frame_to_float(y, name)
    elif hasattr(y, "dtype") and hasattr(y, "to_numpy"):  # a Series
        kind = getattr(y.dtype, "kind", "O")
        if kind not in "biuf":
            raise ValueError(f"{name} is not numeric (dtype {y.dtype})")
        arr = y.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        arr = _to_float_array(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        warnings.warn(
            f"A column-vector {name} was passed when a 1d array was expected; "
            "it is used as a 1d array",
            DataConversionWarning,
            stacklevel=3,
        )
        arr = arr[:, 0]
    if arr.ndim == 2 and arr.shape[1] in widths:
        pass
    elif arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(f"{name} has {arr.shape[0]} rows but X has {n_rows}")
    _check_columns(arr, name, limits and arr.ndim == 2)
    return arr


def _check_columns(arr: np.ndarray, name: str, limits: bool) -> None:
    """Finite values of a safe magnitude; for limits, only their finite entries."""
    if not limits:
        check_finite_magnitude(arr, name)
        return
    finite = np.isfinite(arr)
    check_magnitude(np.where(finite, arr, 0.0), name)


def check_sample_weight(sample_weight, n_rows: int) -> np.ndarray | None:
    """Validate non-negative, finite sample weights with a positive sum."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        # the numbers ABCs are opaque to type checkers: a Number here is a real scalar
        sample_weight = np.full(n_rows, float(sample_weight))  # type: ignore[arg-type]
    w = _to_float_array(sample_weight, "sample_weight")
    if w.ndim != 1 or w.shape[0] != n_rows:
        raise ValueError(f"sample_weight must have shape ({n_rows},); got {w.shape}")
    check_finite(w, "sample_weight")
    # the largest weight, as the largest magnitude of a column of X: the weights scale
    # the log-likelihood and its sums of squares
    check_magnitude(w, "sample_weight", advice="only the ratios of the weights matter: "
                    "divide them by their largest value")
    if np.any(w < 0):
        row = int(np.argmax(w < 0))
        raise ValueError(f"sample_weight is negative at row {row} ({w[row]})")
    if not w.sum() > 0:
        raise ValueError("sample_weight sums to zero; at least one row needs positive weight")
    return w


def check_one_response_column(source) -> None:
    """Refuse constant censoring points and truncation for a row source without one
    response column (``source.y_column`` None: limit columns, several responses or
    none), naming what it has instead."""
    if getattr(source, "y_column", None) is not None:
        return
    limits = getattr(source, "limit_columns", None)
    several = getattr(source, "y_columns", None)
    raise ValueError("constant censoring points and truncation apply to one response "
                     "column (y='...'); this source has "
                     + (f"the limit columns {limits}" if limits
                        else f"the responses {several}" if several
                        else "no response column"))
