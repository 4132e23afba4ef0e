"""Per-row pseudo-random numbers that do not depend on how rows are chunked.

Random initialisation draws one value per (row, component) from a counter-based hash
(SplitMix64) of the row index and a seed. A row therefore gets the same draw whether it
is read in one block, in chunks of 7 rows, or from a stream, and no n-by-K array of
random numbers ever has to exist.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    z = z.copy()
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def row_uniforms(seed: int, start: int, stop: int, n_columns: int,
                 compiled: bool = False) -> np.ndarray:
    """Uniform draws in (0, 1) for rows ``start..stop-1``, ``n_columns`` per row.

    Parameters
    ----------
    seed : int
        Any non-negative integer below 2**63.
    start, stop : int
        The global row range.
    n_columns : int
        Draws per row.
    compiled : bool, default=False
        Compute them with numba on all threads (the same bits), for fits that load the
        compiled kernel anyway.

    Returns
    -------
    ndarray of shape (stop - start, n_columns)
        Values in the open interval (0, 1), a deterministic function of
        ``(seed, row, column)`` only.
    """
    if compiled:
        from ._gaussian_kernel import row_uniforms as compiled_uniforms

        with np.errstate(over="ignore"):
            key = _splitmix64(np.uint64(seed) ^ _GOLDEN)
        return compiled_uniforms(key, start, stop, n_columns)
    rows = np.arange(start, stop, dtype=np.uint64)[:, None]
    cols = np.arange(n_columns, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        counter = rows * np.uint64(n_columns) + cols + np.uint64(1)
        z = _splitmix64(_splitmix64(np.uint64(seed) ^ _GOLDEN) + counter * _GOLDEN)
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
