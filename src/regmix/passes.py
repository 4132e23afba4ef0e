"""The data pass: one read of the rows turns parameters into additive statistics.

A pass knows nothing of the EM loop. Given a row source and the current parameters it
runs the E-step on every chunk (component log-densities, log-sum-exp, responsibilities,
the observed-data log-likelihood) and accumulates what the M-step needs. Chunks are
processed on a thread pool and their results are summed in row order, so a result does
not depend on the number of threads. Memory beyond the data is O(chunk * K * p).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from .data import REDUCTION_BLOCK, Chunk

DEFAULT_CHUNK_SIZE = 8192
# Rows per batch of a streamed compiled pass (at least): large enough that reading and
# the kernel's per-call set-up are cheap per row, small enough that what pyarrow's
# scanner holds ahead stays small (with pyarrow decoding on its own threads it grew with
# the batch size: a peak RSS of about 730 MiB over 1e8 rows at 65,536 rows per batch,
# 1.7 GiB at 262,144; decoding on the reader's thread, about 490 MiB at either).
STREAM_BATCH_ROWS = 1 << 16
_RECENT = 4  # E-step results a runner remembers

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
    mix_stats : tuple of ndarray
        The mixing model's statistics (for constant weights the summed posterior
        probabilities of the rows, or of the groups for grouped data).
    classes : tuple
        Of a compiled E-step pass: ``(sum_i w_i log max_k r_ik, hard counts (K,))``, the
        classification summaries of :func:`classification_chunk`, which the kernel
        gathers on the way at no cost (the numpy pass leaves them empty: computing them
        in every pass would cost more than the one classification pass at the end).
    """

    loglik: float
    resp_sum: np.ndarray
    stats: tuple
    mix_stats: tuple = ()
    classes: tuple = ()

    def __add__(self, other: PassResult) -> PassResult:
        return PassResult(
            self.loglik + other.loglik,
            self.resp_sum + other.resp_sum,
            tuple(a + b for a, b in zip(self.stats, other.stats, strict=True)),
            tuple(a + b for a, b in zip(self.mix_stats, other.mix_stats, strict=True)),
            tuple(a + b for a, b in zip(self.classes, other.classes, strict=True)),
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


def chunk_posteriors(chunk: Chunk, family, mixing, params):
    """Posterior probabilities of a chunk's rows and its log-likelihood contributions.

    Returns ``(resp, row_ll, cache, mix_resp, mix_w, mix_ZT)``: the (K, n) posterior
    probabilities of the rows; the log-likelihood contribution of each observation
    (each row, or each group for grouped data, where all rows of a group share one
    membership and the row weights multiply the rows' log-densities); the family's
    cache; and what the mixing statistics are taken over (the rows, or one column per
    group with weight one and the group's first gating row).
    """
    log_w = mixing.log_weights(params, chunk)
    if chunk.group_starts is None:
        logd, cache = family.log_density(params.component, chunk, log_w)
        resp, row_ll = log_responsibilities(logd)
        return resp, row_ll, cache, resp, chunk.w, getattr(chunk, "ZT", None)
    starts = chunk.group_starts
    logd, cache = family.log_density(params.component, chunk, 0.0)
    if chunk.w is not None:
        logd *= chunk.w
    group_logd = np.add.reduceat(logd, starts, axis=1)
    log_w = np.broadcast_to(log_w, logd.shape)[:, starts]
    group_logd += log_w
    group_resp, group_ll = log_responsibilities(group_logd)
    sizes = np.diff(np.append(starts, logd.shape[1]))
    resp = np.repeat(group_resp, sizes, axis=1)
    ZT = None if getattr(chunk, "ZT", None) is None else chunk.ZT[:, starts]
    return resp, group_ll, cache, group_resp, None, ZT


def _mix_statistics(mixing, params, chunk, resp, w, ZT) -> tuple:
    if ZT is None:
        return mixing.statistics(params, chunk, resp, w)
    return mixing.statistics(params, chunk, resp, w, ZT=ZT)


def e_step_chunk(chunk: Chunk, family, mixing, params) -> PassResult:
    """E-step on one chunk and the statistics for the following M-step."""
    resp, obs_ll, cache, mix_resp, mix_w, ZT = chunk_posteriors(chunk, family, mixing, params)
    if chunk.group_starts is not None or chunk.w is None:
        loglik = float(obs_ll.sum())
    else:
        loglik = float(chunk.w @ obs_ll)
    mix_stats = _mix_statistics(mixing, params, chunk, mix_resp, mix_w, ZT)
    wr = resp if chunk.w is None else resp * chunk.w
    stats = family.statistics(chunk, wr, params.component, cache)
    return PassResult(loglik, wr.sum(axis=1), stats, mix_stats)


def _classes(resp: np.ndarray, w) -> tuple:
    """``(sum_o w_o log max_k r_ok, weighted counts of the most probable component)``."""
    K, n = resp.shape
    w = np.ones(n) if w is None else w
    with np.errstate(divide="ignore", invalid="ignore"):
        top = np.log(resp.max(axis=0))
    return (float(w @ top), np.bincount(np.argmax(resp, axis=0), weights=w, minlength=K))


def given_chunk(chunk: Chunk, family, mixing, params, resp_fn: Callable) -> PassResult:
    """Statistics of one chunk for (K, n) responsibilities supplied by ``resp_fn(chunk)``."""
    resp = resp_fn(chunk)
    wr = resp if chunk.w is None else resp * chunk.w
    stats = family.statistics(chunk, wr, params.component)
    mix_stats = mixing.statistics(params, chunk, resp, chunk.w)
    return PassResult(float("nan"), wr.sum(axis=1), stats, mix_stats)


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
    """Apply ``chunk_fn`` to every reduction block of ``source`` and sum the results in
    row order.

    A source either offers random access (``blocks`` and ``chunk``: each worker thread
    takes about ``chunk_size`` rows' worth of consecutive blocks at a time), streams
    (``iter_chunks``: blocks are read in order and handed to the workers a few at a time,
    so that memory stays bounded), or computes where its rows live (``map_reduce``, a
    Dask cluster). The block sums are always added one after the other in row order, so
    the result is the same, bit for bit, whatever ``chunk_size`` and ``n_jobs``.
    """
    if hasattr(source, "map_reduce"):  # rows on a cluster: computed where they live
        return source.map_reduce(chunk_fn, chunk_size)
    if not hasattr(source, "ranges"):
        return _run_streaming(source, chunk_fn, chunk_size=chunk_size, n_jobs=n_jobs)
    blocks = source.blocks() if hasattr(source, "blocks") else source.ranges(chunk_size)
    per_item = max(1, int(chunk_size) // REDUCTION_BLOCK)
    items = [blocks[i : i + per_item] for i in range(0, len(blocks), per_item)]

    def work(item: list[tuple[int, int]]) -> list[PassResult]:
        return [chunk_fn(source.chunk(*r)) for r in item]

    total = None
    with single_threaded_blas():
        if n_jobs <= 1 or len(items) == 1:
            results = map(work, items)
        else:
            results = _pool(n_jobs).map(work, items)
        for item in results:
            for res in item:
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


def e_step_pass(source, family, component, log_weights, *, chunk_size, n_jobs=1) -> PassResult:
    """One E-step + statistics pass with constant mixing weights ``exp(log_weights)``
    and component parameters ``component`` (a shorthand for tests and benchmarks)."""
    from .em import MixtureParams
    from .mixing import ConstantWeights

    params = MixtureParams(np.exp(np.asarray(log_weights, dtype=np.float64).reshape(-1)),
                           component)
    mixing = ConstantWeights()
    return run_pass(source, lambda ch: e_step_chunk(ch, family, mixing, params),
                    chunk_size=chunk_size, n_jobs=n_jobs)


def row_posteriors(source, family, mixing, params, *, chunk_size):
    """Per-row responsibilities (n, K) and log-likelihood contributions.

    Used to evaluate a fitted model on given rows, where the per-row output is the point.
    For grouped rows the second output holds one contribution per group, and the rows of
    a group share their group's posterior probabilities.
    """
    n = source.n_rows
    K = params.n_components
    resp = np.empty((n, K))
    contributions = []
    for start, stop in source.ranges(chunk_size):
        chunk = source.chunk(start, stop)
        r, obs_ll, *_ = chunk_posteriors(chunk, family, mixing, params)
        contributions.append(obs_ll)
        resp[start:stop] = r.T
    return resp, np.concatenate(contributions) if contributions else np.zeros(0)


def classification_chunk(chunk: Chunk, family, mixing, params) -> PassResult:
    """Classification summaries of one chunk.

    ``loglik`` holds ``sum_i w_i log max_k r_ik`` over the observations (rows, or groups
    with weight one) — the ICL's entropy term, negated — ``resp_sum`` the summed
    responsibilities and ``stats`` the (weighted) number of observations whose most
    probable component is k.
    """
    _, _, _, resp, w, _ = chunk_posteriors(chunk, family, mixing, params)
    top, hard = _classes(resp, w)
    return PassResult(top, resp @ (np.ones(resp.shape[1]) if w is None else w), (hard,))


def check_source_response(source, family, *, chunk_size: int) -> None:
    """One pass that lets the family check the response of every chunk of a row source
    (where it lives, for a Dask source); raises the family's ValueError naming the row."""

    def check(chunk: Chunk) -> PassResult:
        family.check_response(chunk.y, chunk.trials, start=chunk.start, complete=False)
        return PassResult(0.0, np.zeros(1), ())

    run_pass(source, check, chunk_size=chunk_size, n_jobs=1)


def kernel_rows(source) -> bool:
    """Whether the compiled kernels can read the rows of ``source``: ungrouped rows
    without offset or concomitant variables, numba importable, and the rows either in
    memory as contiguous float64 arrays or streamed in plain batches (``row_batches``,
    as :class:`~regmix.parquet.ParquetData` offers)."""
    from ._gaussian_kernel import available

    if hasattr(source, "row_batches"):
        return bool(source.plain_rows and available())
    if not hasattr(source, "arrays"):
        return False
    if any(getattr(source, a, None) is not None for a in ("offset", "groups", "Z")):
        return False
    X, y, w = source.arrays()
    ok = (X.flags.c_contiguous or X.flags.f_contiguous) and y is not None and y.flags.c_contiguous
    ok = ok and (w is None or w.flags.c_contiguous)
    return bool(ok and available())


def compiled_pass_applies(source, family, mixing=None) -> bool:
    """Whether the fused compiled kernel can run this pass: Gaussian components without
    constraints, constant weights, and rows the kernel can read (:func:`kernel_rows`)."""
    from .families import Gaussian
    from .mixing import ConstantWeights

    if type(family) is not Gaussian or getattr(family, "constraints", None) is not None:
        return False
    if mixing is not None and not isinstance(mixing, ConstantWeights):
        return False
    return kernel_rows(source)


def kernel_threads(source, n_jobs: int) -> int:
    """Threads for a compiled kernel over ``source``: ``n_jobs``, or one fewer for
    streamed rows, whose reader keeps a core busy decoding the next batches."""
    return n_jobs if hasattr(source, "arrays") else max(1, n_jobs - 1)


def add_kernel_rows(source, sums, *, chunk_size: int, memberships=None) -> None:
    """Add every row of ``source`` (see :func:`kernel_rows`) to the compiled ``sums``
    (a :class:`~regmix._gaussian_kernel.GaussianSums` or ``GaussianInformation``).

    Rows in memory go in one batch, with the given ``memberships`` if any. Streamed
    rows are read ahead in a background thread; their values were checked when the
    source was created, so the batches are not checked again: a file that changed
    since shows as a different number of rows or as non-finite sums, and then the
    checks run again to name the row.
    """
    if hasattr(source, "arrays"):
        sums.add(*source.arrays(), memberships)
        return
    if memberships is not None:
        raise ValueError("given memberships of every row need the rows in memory")
    size = max(chunk_size, STREAM_BATCH_ROWS)
    for _, X, y, w in read_ahead(source.row_batches(size, validate=False)):
        sums.add(X, y, w)
    if sums.n_rows != source.n_rows:
        raise ValueError(f"{source.path!s} has changed since the source was created: "
                         f"{sums.n_rows} rows read, {source.n_rows} expected")
    if not np.isfinite(sums.totals()).all():
        for _ in source.row_batches(size):  # raises, naming the column and row
            pass


def read_ahead(items: Iterable, depth: int = 2) -> Iterator:
    """The items of ``items``, produced by a background thread up to ``depth`` ahead.

    The consumer's work (a compiled pass, which releases the GIL) then overlaps the
    producer's (reading and decoding a file). An exception raised by the producer is
    raised to the consumer, in order; when the consumer stops early, the producer is
    stopped at its next item.
    """
    slots: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def offer(entry) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((True, item)):
                    return
        except BaseException as err:  # handed to the consumer
            offer((False, err))
            return
        offer((False, None))

    thread = threading.Thread(target=produce, name="regmix-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, value = slots.get()
            if ok:
                yield value
            elif value is None:
                return
            else:
                raise value
    finally:
        stop.set()
        thread.join()


class MembershipArray:
    """Given memberships of every row as one (n, K) array, as a responsibility function.

    Called with a chunk it returns that chunk's rows divided by their sums, transposed to
    (K, rows); :meth:`as_array` hands the whole array to the compiled kernel instead,
    which divides on the fly. The array is only read.
    """

    def __init__(self, memberships: np.ndarray) -> None:
        self.memberships = memberships

    def __call__(self, chunk) -> np.ndarray:
        R = self.memberships[chunk.start : chunk.stop]
        return (R / R.sum(axis=1, keepdims=True)).T

    def as_array(self, n_rows: int) -> np.ndarray:
        """The (n, K) memberships of all rows (rows not normalised)."""
        return self.memberships


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
        self._recent: list = []  # the last E-step results, for classification
        self.engine = engine
        if engine == "numba" and not compiled_pass_applies(source, family, mixing):
            self.engine = "numpy"

    def _compiled_evaluate(self, params, memberships=None) -> PassResult:
        """The E-step pass by the fused compiled kernel (same sums as the numpy pass):
        on the rows in memory, or batch by batch on rows streamed by a background
        reader (the same blocks, so the same bits as the rows in memory)."""
        from ._gaussian_kernel import GaussianSums

        st = self.source.standardization
        sums = GaussianSums(st.x_loc, 1.0 / st.x_scale, st.y_loc, 1.0 / st.y_scale,
                            self.source.fit_intercept, params.component.coef,
                            params.component.sigma, self.mixing.log_weights(params)[:, 0],
                            n_threads=kernel_threads(self.source, self.n_jobs))
        add_kernel_rows(self.source, sums, chunk_size=self.chunk_size,
                        memberships=memberships)
        loglik, resp_sum, A, b, c, top, hard = sums.result(with_classes=True)
        if memberships is not None:
            return PassResult(loglik, resp_sum, (A, b, c), (resp_sum,))
        return PassResult(loglik, resp_sum, (A, b, c), (resp_sum,), (top, hard))

    @property
    def total_weight(self) -> float:
        return self.source.total_weight

    def evaluate(self, params) -> PassResult:
        """E-step pass at mixture parameters ``params``."""
        self.n_passes += 1
        if self.engine == "numba":
            result = self._compiled_evaluate(params)
        else:
            family, mixing = self.family, self.mixing
            result = run_pass(self.source,
                              lambda ch: e_step_chunk(ch, family, mixing, params),
                              chunk_size=self.chunk_size, n_jobs=self.n_jobs)
        self._recent = [*self._recent[-(_RECENT - 1):], (params, result)]
        return result

    def given(self, resp_fn: Callable, n_components: int, params=None) -> PassResult:
        """Statistics pass for responsibilities ``resp_fn(chunk)`` of shape (K, n), taken
        at mixture parameters ``params`` (by default :meth:`start_params`).
        Memberships that can be had for all rows at once (an ``as_array(n_rows)``
        method, as :class:`MembershipArray` and the initialisation's row-hash
        memberships have) go through the compiled kernel where it runs the E-steps."""
        self.n_passes += 1
        if params is None:
            params = self.start_params(n_components)
        if (self.engine == "numba" and hasattr(resp_fn, "as_array")
                and hasattr(self.source, "arrays")):
            return self._compiled_evaluate(params, resp_fn.as_array(self.source.n_rows))
        family, mixing = self.family, self.mixing
        return run_pass(self.source, lambda ch: given_chunk(ch, family, mixing, params, resp_fn),
                        chunk_size=self.chunk_size, n_jobs=self.n_jobs)

    def start_params(self, n_components: int):
        """Equal weights, zero gating and the family's reference point."""
        from .em import MixtureParams

        weights, gating = self.mixing.start(n_components, getattr(self.source, "n_gating", 1))
        return MixtureParams(weights, self.family.zero_params(n_components,
                                                              self.source.n_design), gating)

    def classification(self, params) -> PassResult:
        """Classification summaries at ``params`` (see :func:`classification_chunk`):
        from a recent compiled E-step pass at these very parameters when there was one
        (the kernel gathers them on the way), else by one more pass."""
        for seen, result in reversed(self._recent):
            if seen is params and result.classes:
                top, hard = result.classes
                return PassResult(top, result.mix_stats[0], (hard,))
        self.n_passes += 1
        family, mixing = self.family, self.mixing
        return run_pass(self.source, lambda ch: classification_chunk(ch, family, mixing, params),
                        chunk_size=self.chunk_size, n_jobs=self.n_jobs)
