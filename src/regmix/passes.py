"""The data pass: one read of the rows turns parameters into additive statistics.

A pass knows nothing of the EM loop. Given a row source and the current parameters it
runs the E-step on every chunk (component log-densities, log-sum-exp, responsibilities,
the observed-data log-likelihood) and accumulates what the M-step needs. Chunks are
processed on a thread pool and their results are summed in row order, so a result does
not depend on the number of threads. Memory beyond the data is O(chunk * K * p).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from .data import Chunk

DEFAULT_CHUNK_SIZE = 8192

_pools: dict[int, ThreadPoolExecutor] = {}
_controller: ThreadpoolController | None = None


_pinned = threading.local()


@contextmanager
def single_threaded_blas():
    """Context in which BLAS runs on one thread: the pass parallelises over chunks
    itself, and a fixed BLAS thread count keeps results bit-identical across machines.

    Re-entrant and cheap when nested: a fit enters it once, and the many passes inside
    do not pay for it again.
    """
    global _controller
    depth = getattr(_pinned, "depth", 0)
    if depth:
        _pinned.depth = depth + 1
        try:
            yield
        finally:
            _pinned.depth -= 1
        return
    if _controller is None:
        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        _pinned.depth = 1
        try:
            yield
        finally:
            _pinned.depth = 0


@dataclass
class PassResult:
    """Additive summary of one pass over some rows.

    Attributes
    ----------
    loglik : float
        Weighted observed-data log-likelihood of the rows (NaN for a pass that was given
        responsibilities rather than parameters).
    resp_sum : ndarray of shape (K,)
        Summed weighted responsibilities ``N_k``.
    stats : tuple of ndarray
        The family's statistics.
    """

    loglik: float
    resp_sum: np.ndarray
    stats: tuple

    def __add__(self, other: PassResult) -> PassResult:
        return PassResult(
            self.loglik + other.loglik,
            self.resp_sum + other.resp_sum,
            tuple(a + b for a, b in zip(self.stats, other.stats, strict=True)),
        )


def log_responsibilities(logd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise joint log-densities row by row, in place, without underflow.

    Parameters
    ----------
    logd : ndarray of shape (K, n)
        ``log pi_k + log f_k(y_i | x_i)``; overwritten with the responsibilities.

    Returns
    -------
    resp : ndarray of shape (K, n)
        The responsibilities (the same buffer as ``logd``).
    row_loglik : ndarray of shape (n,)
        ``log sum_k exp(logd_ki)``.
    """
    m = logd.max(axis=0)
    m[~np.isfinite(m)] = 0.0
    logd -= m
    np.exp(logd, out=logd)
    s = logd.sum(axis=0)
    logd /= s
    np.log(s, out=s)
    s += m
    return logd, s


def e_step_chunk(chunk: Chunk, family, params, log_weights: np.ndarray) -> PassResult:
    """E-step on one chunk and the statistics for the following M-step."""
    logd, cache = family.log_density(params, chunk, log_weights)
    wr, row_ll = log_responsibilities(logd)
    if chunk.w is None:
        loglik = float(row_ll.sum())
    else:
        loglik = float(chunk.w @ row_ll)
        wr *= chunk.w
    stats = family.statistics(chunk, wr, params, cache)
    return PassResult(loglik, wr.sum(axis=1), stats)


def given_chunk(chunk: Chunk, family, params, resp_fn: Callable) -> PassResult:
    """Statistics of one chunk for (K, n) responsibilities supplied by ``resp_fn(chunk)``."""
    wr = resp_fn(chunk)
    if chunk.w is not None:
        wr = wr * chunk.w
    stats = family.statistics(chunk, wr, params)
    return PassResult(float("nan"), wr.sum(axis=1), stats)


def _pool(n_jobs: int) -> ThreadPoolExecutor:
    if n_jobs not in _pools:
        _pools[n_jobs] = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="regmix")
    return _pools[n_jobs]


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Threads to use: ``None`` or ``-1`` means every core."""
    if n_jobs is None or n_jobs == -1:
        return os.cpu_count() or 1
    return max(1, int(n_jobs))


def run_pass(
    source, chunk_fn: Callable[[Chunk], PassResult], *, chunk_size: int, n_jobs: int = 1
) -> PassResult:
    """Apply ``chunk_fn`` to every chunk of ``source`` and sum the results in row order.

    A source either offers random access (``ranges`` and ``chunk``: chunks are built on
    the worker threads), streams (``iter_chunks``: chunks are read in order and handed
    to the workers a few at a time, so that memory stays bounded), or computes where
    its rows live (``map_reduce``, a Dask cluster).
    """
    if hasattr(source, "map_reduce"):  # rows on a cluster: computed where they live
        return source.map_reduce(chunk_fn, chunk_size)
    if not hasattr(source, "ranges"):
        return _run_streaming(source, chunk_fn, chunk_size=chunk_size, n_jobs=n_jobs)
    ranges = source.ranges(chunk_size)

    def work(r: tuple[int, int]) -> PassResult:
        return chunk_fn(source.chunk(*r))

    total = None
    with single_threaded_blas():
        if n_jobs <= 1 or len(ranges) == 1:
            results = map(work, ranges)
        else:
            results = _pool(n_jobs).map(work, ranges)
        for res in results:
            total = res if total is None else total + res
    return total


def _run_streaming(source, chunk_fn, *, chunk_size: int, n_jobs: int) -> PassResult:
    total = None
    window = 2 * max(n_jobs, 1)
    with single_threaded_blas():
        pending = []
        for chunk in source.iter_chunks(chunk_size):
            if n_jobs <= 1:
                res = chunk_fn(chunk)
                total = res if total is None else total + res
                continue
            pending.append(_pool(n_jobs).submit(chunk_fn, chunk))
            if len(pending) >= window:
                res = pending.pop(0).result()
                total = res if total is None else total + res
        for fut in pending:
            res = fut.result()
            total = res if total is None else total + res
    return total


def e_step_pass(source, family, params, log_weights, *, chunk_size, n_jobs=1) -> PassResult:
    """One full E-step + statistics pass at the given parameters."""
    return run_pass(
        source,
        lambda ch: e_step_chunk(ch, family, params, log_weights),
        chunk_size=chunk_size,
        n_jobs=n_jobs,
    )


def given_pass(source, family, params, resp_fn, *, chunk_size, n_jobs=1) -> PassResult:
    """One statistics pass for responsibilities given by ``resp_fn(chunk)``."""
    return run_pass(
        source,
        lambda ch: given_chunk(ch, family, params, resp_fn),
        chunk_size=chunk_size,
        n_jobs=n_jobs,
    )


def row_posteriors(
    source, family, params, log_weights, *, chunk_size
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row responsibilities (n, K) and log-likelihood contributions (n,).

    Used to evaluate a fitted model on given rows, where the per-row output is the point.
    """
    n = source.n_rows
    K = np.shape(log_weights)[0]
    resp = np.empty((n, K))
    row_ll = np.empty(n)
    for start, stop in source.ranges(chunk_size):
        chunk = source.chunk(start, stop)
        logd, _ = family.log_density(params, chunk, log_weights)
        r, row_ll[start:stop] = log_responsibilities(logd)
        resp[start:stop] = r.T
    return resp, row_ll


def classification_chunk(chunk: Chunk, family, params, log_weights: np.ndarray) -> PassResult:
    """Classification summaries of one chunk.

    ``loglik`` holds ``sum_i w_i log max_k r_ik`` (the ICL's entropy term, negated),
    ``resp_sum`` the summed responsibilities and ``stats`` the (weighted) number of rows
    whose most probable component is k.
    """
    logd, _ = family.log_density(params, chunk, log_weights)
    resp, _ = log_responsibilities(logd)
    K = resp.shape[0]
    w = np.ones(resp.shape[1]) if chunk.w is None else chunk.w
    with np.errstate(divide="ignore"):
        top = np.log(resp.max(axis=0))
    hard = np.bincount(np.argmax(resp, axis=0), weights=w, minlength=K)
    return PassResult(float(w @ top), resp @ w, (hard,))


def check_source_response(source, family, *, chunk_size: int) -> None:
    """One pass that lets the family check the response of every chunk of a row source
    (where it lives, for a Dask source); raises the family's ValueError naming the row."""

    def check(chunk: Chunk) -> PassResult:
        family.check_response(chunk.y, chunk.trials, start=chunk.start, complete=False)
        return PassResult(0.0, np.zeros(1), ())

    run_pass(source, check, chunk_size=chunk_size, n_jobs=1)


def compiled_pass_applies(source, family) -> bool:
    """Whether the fused compiled kernel can run this pass: Gaussian components, rows in
    memory as contiguous float64 arrays, and numba importable."""
    from ._gaussian_kernel import available
    from .families import Gaussian

    if not (isinstance(family, Gaussian) and hasattr(source, "arrays")):
        return False
    if getattr(source, "offset", None) is not None:
        return False
    X, y, w = source.arrays()
    ok = (X.flags.c_contiguous or X.flags.f_contiguous) and y is not None and y.flags.c_contiguous
    ok = ok and (w is None or w.flags.c_contiguous)
    return bool(ok and available())


class PassRunner:
    """Binds a row source, a family and a mixing model into the two passes EM needs.

    ``evaluate(params)`` is an E-step pass and ``given(resp_fn)`` a pass with supplied
    responsibilities; ``n_passes`` counts both. The EM driver receives these bound
    methods and never sees the rows.
    """

    def __init__(self, source, family, mixing, *, chunk_size: int, n_jobs: int,
                 engine: str = "numpy") -> None:
        self.source, self.family, self.mixing = source, family, mixing
        self.chunk_size, self.n_jobs = chunk_size, n_jobs
        self.n_passes = 0
        self.engine = engine
        if engine == "numba" and not compiled_pass_applies(source, family):
            self.engine = "numpy"

    def _compiled_evaluate(self, params) -> PassResult:
        """The E-step pass by the fused compiled kernel (same sums as the numpy pass)."""
        from ._gaussian_kernel import gaussian_e_step

        X, y, w = self.source.arrays()
        st = self.source.standardization
        loglik, resp_sum, A, b, c = gaussian_e_step(
            X, y, w, st.x_loc, 1.0 / st.x_scale, st.y_loc, 1.0 / st.y_scale,
            self.source.fit_intercept, params.component.coef, params.component.sigma,
            self.mixing.log_weights(params.weights)[:, 0], block_size=self.chunk_size,
            n_threads=self.n_jobs,
        )
        return PassResult(loglik, resp_sum, (A, b, c))

    @property
    def total_weight(self) -> float:
        return self.source.total_weight

    def evaluate(self, params) -> PassResult:
        """E-step pass at mixture parameters ``params``."""
        self.n_passes += 1
        if self.engine == "numba":
            return self._compiled_evaluate(params)
        return e_step_pass(
            self.source,
            self.family,
            params.component,
            self.mixing.log_weights(params.weights),
            chunk_size=self.chunk_size,
            n_jobs=self.n_jobs,
        )

    def given(self, resp_fn: Callable, n_components: int, params=None) -> PassResult:
        """Statistics pass for responsibilities ``resp_fn(chunk)`` of shape (K, n), taken
        at component parameters ``params`` (by default the family's reference point)."""
        self.n_passes += 1
        if params is None:
            params = self.family.zero_params(n_components, self.source.n_design)
        return given_pass(
            self.source, self.family, params, resp_fn, chunk_size=self.chunk_size,
            n_jobs=self.n_jobs,
        )

    def classification(self, params) -> PassResult:
        """Classification summaries at ``params`` (see :func:`classification_chunk`)."""
        self.n_passes += 1
        log_weights = self.mixing.log_weights(params.weights)
        return run_pass(
            self.source,
            lambda ch: classification_chunk(ch, self.family, params.component, log_weights),
            chunk_size=self.chunk_size,
            n_jobs=self.n_jobs,
        )
