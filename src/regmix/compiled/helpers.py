"""Compiled set-up helpers: column extremes and moments, row-hash draws.

Threaded numba versions of work that the numpy layers above do too, with the same
results: the column extremes that input validation needs, the extremes, locations and
scales of the standardisation, and the row-hash uniform draws of
:func:`regmix.core.rowhash.row_uniforms` (bit for bit). Fits that run the compiled
Gaussian kernel use them; :func:`loaded` says whether they are already defined in this
process, so that other callers use them only when that costs nothing.

numba is imported only when a helper is first needed; the compiled code is cached on
disk as the kernel's is (``cache=True``).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from regmix.core.rowhash import GOLDEN, MIX1, MIX2, hashed_key
from regmix.core.rowhash import row_uniforms as numpy_row_uniforms

DEFAULT_BLOCK_SIZE = 8192


def wait_passively() -> None:
    """Have the OpenMP threads of numba's ``omp`` threading layer sleep between passes
    instead of spinning (``OMP_WAIT_POLICY=PASSIVE``, unless the variable is set
    already), by setting it before numba starts its threads (the OpenMP runtime reads it
    once, when it is loaded; started earlier, the threads keep their policy).

    A spinning thread holds a core for a while after each pass: on a machine whose
    cores other processes want too, the spinning takes time from them and from the
    pass's own threads, and two threads came out 1.4 to 2.5 times slower than one
    (docs/benchmarks.md, ``bench_threads.py``); sleeping costs a wake-up per pass,
    microseconds.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")



def _build() -> SimpleNamespace:
    """Define the compiled helpers (compiled, or loaded from numba's on-disk cache)."""
    global _prange, _block_extremes, _merge_extremes
    import numba

    _prange = numba.prange
    jit = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")

    @jit
    def block_extremes(X, w, has_w, with_sums, start, stop, lo, hi, sums):  # pragma: no cover
        # lo, hi = column minima and maxima of rows start..stop-1 (stop > start), a NaN
        # in a column making both NaN; with_sums also adds the weighted column sums
        # (weights w where has_w) to sums.
        d = X.shape[1]
        for j in range(d):
            lo[j] = X[start, j]
            hi[j] = X[start, j]
        for i in range(start, stop):
            wi = w[i] if has_w else 1.0
            for j in range(d):
                x = X[i, j]
                lo[j] = x if (x < lo[j] or x != x) else lo[j]
                hi[j] = x if (x > hi[j] or x != x) else hi[j]
                if with_sums:
                    sums[j] += wi * x

    @jit
    def merge_extremes(lo_b, hi_b):  # pragma: no cover - compiled
        # The extremes over the rows of lo_b and hi_b (per-block results).
        lo = lo_b[0].copy()
        hi = hi_b[0].copy()
        for blk in range(1, lo_b.shape[0]):
            for j in range(lo_b.shape[1]):
                a = lo_b[blk, j]
                b = hi_b[blk, j]
                lo[j] = a if (a < lo[j] or a != a) else lo[j]
                hi[j] = b if (b > hi[j] or b != b) else hi[j]
        return lo, hi

    _block_extremes, _merge_extremes = block_extremes, merge_extremes

    @numba.njit(parallel=True, nogil=True, cache=True, fastmath=False, error_model="numpy")
    def moments(X, w, has_w, centre, block_size):  # pragma: no cover - compiled
        # Column minima, maxima, locations (weighted means, or zeros) and sums of
        # w ((x - loc) / big)^2 with big the column's largest magnitude where it exceeds
        # 1e100 (else 1): two reads of X, each in fixed blocks added in block order.
        n, d = X.shape
        n_blocks = (n + block_size - 1) // block_size
        lo_b = np.empty((n_blocks, d))
        hi_b = np.empty((n_blocks, d))
        sum_b = np.zeros((n_blocks, d))
        for blk in _prange(n_blocks):
            start = blk * block_size
            stop = min(start + block_size, n)
            _block_extremes(X, w, has_w, True, start, stop, lo_b[blk], hi_b[blk], sum_b[blk])
        lo, hi = _merge_extremes(lo_b, hi_b)
        total = np.zeros(d)
        for blk in range(n_blocks):
            for j in range(d):
                total[j] += sum_b[blk, j]
        weight = 0.0
        if has_w:
            for i in range(n):
                weight += w[i]
        else:
            weight = float(n)
        inv = np.ones(d)
        loc = np.zeros(d)
        for j in range(d):
            big = max(abs(lo[j]), abs(hi[j]))
            if big > 1e100:
                inv[j] = 1.0 / big
            if centre:
                loc[j] = total[j] / weight
        sq_b = np.zeros((n_blocks, d))
        for blk in _prange(n_blocks):
            start = blk * block_size
            stop = min(start + block_size, n)
            for i in range(start, stop):
                wi = w[i] if has_w else 1.0
                for j in range(d):
                    e = (X[i, j] - loc[j]) * inv[j]
                    sq_b[blk, j] += wi * (e * e)
        spread = np.zeros(d)
        for blk in range(n_blocks):
            for j in range(d):
                spread[j] += sq_b[blk, j]
        return lo, hi, loc, spread, inv, weight

    @numba.njit(parallel=True, nogil=True, cache=True, fastmath=False, error_model="numpy")
    def extremes(X, block_size):  # pragma: no cover - compiled
        # Column minima and maxima in one read of X; a NaN in a column makes both NaN.
        n, d = X.shape
        n_blocks = (n + block_size - 1) // block_size
        lo_b = np.empty((n_blocks, d))
        hi_b = np.empty((n_blocks, d))
        for blk in _prange(n_blocks):
            start = blk * block_size
            _block_extremes(X, X[0], False, False, start, min(start + block_size, n),
                            lo_b[blk], hi_b[blk], lo_b[blk])
        return _merge_extremes(lo_b, hi_b)

    golden, mix1, mix2 = (np.uint64(v) for v in (GOLDEN, MIX1, MIX2))
    s11, s27, s30, s31 = (np.uint64(v) for v in (11, 27, 30, 31))
    one = np.uint64(1)

    @numba.njit(parallel=True, nogil=True, cache=True, fastmath=False, error_model="numpy")
    def uniforms(key, start, n_columns, out):  # pragma: no cover - compiled
        # out[i, j] = the draw of row start + i, column j (regmix.core.rowhash.row_uniforms)
        width = np.uint64(n_columns)
        for i in _prange(out.shape[0]):
            row = np.uint64(start + i)
            for j in range(n_columns):
                z = key + (row * width + np.uint64(j) + one) * golden
                z = (z ^ (z >> s30)) * mix1
                z = (z ^ (z >> s27)) * mix2
                z = z ^ (z >> s31)
                out[i, j] = (np.float64(z >> s11) + 0.5) * 2.0**-53


    return SimpleNamespace(moments=moments, extremes=extremes, uniforms=uniforms)


class CompiledOnce:
    """The namespace of compiled functions that ``build`` defines, built on first use and
    once per process (thread-safe)."""

    def __init__(self, build: Callable[[], SimpleNamespace]) -> None:
        self._build = build
        self._functions: SimpleNamespace | None = None
        self._lock = threading.Lock()

    def __call__(self) -> SimpleNamespace:
        if self._functions is None:
            with self._lock:
                if self._functions is None:
                    wait_passively()
                    self._functions = self._build()
        return self._functions

    @property
    def loaded(self) -> bool:
        """Whether the functions are already defined (using them costs no compilation)."""
        return self._functions is not None


# Rows per thread of a threaded compiled pass, at the least: a pass over fewer rows runs
# on fewer threads (one below twice this). Waking a thread and waiting for it costs more
# than it saves on small passes, and far more when another process holds its core (the
# pass then waits for the scheduler to run that thread again).
MIN_ROWS_PER_THREAD = 1 << 15


def on_threads(n_threads: int | None, n_rows: int, fn: Callable, *args, serial: bool = False):
    """``fn(*args, threads)`` for a compiled pass over ``n_rows`` rows, on ``threads``
    numba threads: ``n_threads`` (None: the calling thread's setting) but no more than
    ``numba.config.NUMBA_NUM_THREADS`` and one per :data:`MIN_ROWS_PER_THREAD` rows (at
    least one). The calling thread's setting is restored; the results of the passes do
    not depend on it.

    With ``serial`` (a kernel that runs on the calling thread alone when given one
    worker, without entering numba's thread pool), a pass over fewer than twice
    :data:`MIN_ROWS_PER_THREAD` rows is called directly, without setting the number of
    threads: on small data that setting costs more than the pass."""
    if serial and int(n_rows) < 2 * MIN_ROWS_PER_THREAD:
        return fn(*args, 1)
    wait_passively()
    import numba

    previous = numba.get_num_threads()
    threads = previous if n_threads is None else int(n_threads)
    threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS,
                         int(n_rows) // MIN_ROWS_PER_THREAD))
    if threads == previous:
        return fn(*args, threads)
    numba.set_num_threads(threads)
    try:
        return fn(*args, threads)
    finally:
        numba.set_num_threads(previous)


@functools.cache
def upper_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(p)`` (read-only), made once for each ``p``: the order, row by
    row, in which the compiled sums pack a symmetric matrix's upper triangle."""
    rows, cols = np.triu_indices(p)
    return read_only(rows), read_only(cols)


def symmetric_from_packed(packed: np.ndarray, p: int) -> np.ndarray:
    """The symmetric (..., p, p) matrices whose upper triangles ``packed`` (..., p (p +
    1) / 2) holds in the order of :func:`upper_indices`."""
    rows, cols = upper_indices(p)
    A = np.empty((*packed.shape[:-1], p, p))
    A[..., rows, cols] = packed
    A[..., cols, rows] = packed
    return A


_TURNS = threading.Lock()


def taking_turns():
    """A context for a compiled pass that other threads of the process may run at the
    same time (the partitions of a Dask worker with several threads): numba's workqueue
    threading layer must not be entered by two threads at once, so with it (or before
    any parallel pass has run, when the layer is not known yet) the passes take turns
    under one lock; with OpenMP or TBB they run side by side."""
    import contextlib

    import numba

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel pass has run in this process yet
        layer = None
    return contextlib.nullcontext() if layer in ("omp", "tbb") else _TURNS


def read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a``, as the compiled functions take their inputs."""
    view = a.view()
    view.flags.writeable = False
    return view


_compiled = CompiledOnce(_build)


def available() -> bool:
    """Whether numba can be imported, that is, whether the compiled kernel can be used.

    Returns
    -------
    bool
        True when ``import numba`` succeeds.
    """
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True

def loaded() -> bool:
    """Whether the compiled functions are already defined in this process (so that using
    them costs no import or compilation)."""
    return _compiled.loaded

def column_moments(X: np.ndarray, w: np.ndarray | None, centre: bool,
                   block_size: int = DEFAULT_BLOCK_SIZE) -> tuple:
    """Column extremes, locations and scales of a C-contiguous float64 array, compiled
    and on all threads (what :func:`regmix.sources.arrays._location_scale` computes with numpy).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        C-contiguous float64, finite.
    w : ndarray of shape (n,) or None
        Non-negative row weights.
    centre : bool
        Whether the locations are the weighted means (else zeros, and the scales are
        root mean squares).
    block_size : int, default=8192
        Rows per block of the fixed-order sums.

    Returns
    -------
    lo, hi : ndarray of shape (d,)
        Column minima and maxima.
    loc, scale : ndarray of shape (d,)
        Weighted means (or zeros) and weighted standard deviations (root mean squares
        without ``centre``), computed around the mean and, for columns beyond 1e100 in
        magnitude, on the column divided by its largest magnitude.
    """
    has_w = w is not None
    w = np.ascontiguousarray(w, dtype=np.float64) if has_w else np.empty(0)
    lo, hi, loc, spread, inv, weight = _compiled().moments(
        read_only(X), read_only(w), has_w, bool(centre), int(block_size))
    return lo, hi, loc, np.sqrt(spread / weight) / inv

def column_extremes(X: np.ndarray, block_size: int = DEFAULT_BLOCK_SIZE) -> tuple:
    """Column minima and maxima of a C-contiguous float64 array with at least one row,
    compiled, in one read on all threads. A column holding a NaN gets NaN for both;
    otherwise the results are exact (those of ``X.min(axis=0)``, ``X.max(axis=0)``)."""
    return _compiled().extremes(read_only(X), int(block_size))

def row_uniforms(seed: int, start: int, stop: int, n_columns: int,
                 compiled: bool = False) -> np.ndarray:
    """:func:`regmix.core.rowhash.row_uniforms`, compiled and on all threads when
    ``compiled`` (the same bits), for fits that load the compiled kernel anyway."""
    if not compiled:
        return numpy_row_uniforms(seed, start, stop, n_columns)
    out = np.empty((stop - start, n_columns))
    _compiled().uniforms(hashed_key(seed), int(start), int(n_columns), out)
    return out
