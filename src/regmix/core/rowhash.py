"""Per-row pseudo-random numbers that do not depend on how rows are chunked.

Random initialisation draws one value per (row, component) from a counter-based hash
(SplitMix64) of the row index and a seed. A row therefore gets the same draw whether it
is read in one block, in chunks of 7 rows, or from a stream, and no n-by-K array of
random numbers ever has to exist.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

# SplitMix64's constants.
GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_GOLDEN, _MIX1, _MIX2 = np.uint64(GOLDEN), np.uint64(MIX1), np.uint64(MIX2)


_Z = TypeVar("_Z", np.ndarray, np.uint64)


def _splitmix64(z: _Z) -> _Z:
    z = z.copy()
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def hashed_key(seed: int) -> np.uint64:
    """The hashed seed from which every row's draws are made."""
    with np.errstate(over="ignore"):
        return _splitmix64(np.uint64(seed) ^ _GOLDEN)


def row_uniforms(seed: int, start: int, stop: int, n_columns: int) -> np.ndarray:
    """Uniform draws in (0, 1) for rows ``start..stop-1``, ``n_columns`` per row.

    Parameters
    ----------
    seed : int
        Any non-negative integer below 2**63.
    start, stop : int
        The global row range.
    n_columns : int
        Draws per row.

    Returns
    -------
    ndarray of shape (stop - start, n_columns)
        Values in the open interval (0, 1), a deterministic function of
        ``(seed, row, column)`` only; :func:`regmix.compiled.helpers.row_uniforms`
        computes the same bits on all threads.
    """
    rows = np.arange(start, stop, dtype=np.uint64)[:, None]
    cols = np.arange(n_columns, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        counter = rows * np.uint64(n_columns) + cols + np.uint64(1)
        z = _splitmix64(hashed_key(seed) + counter * _GOLDEN)
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
