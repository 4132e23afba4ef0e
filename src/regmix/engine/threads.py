"""Threads for the data pass: the worker pool, BLAS pinned to one thread per worker,
and a background reader that overlaps decoding with computing.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import threadpoolctl
from threadpoolctl import ThreadpoolController

DEFAULT_CHUNK_SIZE = 8192


_pools: dict[int, ThreadPoolExecutor] = {}


_controller: ThreadpoolController | None = None


_pin_lock = threading.Lock()


_pin_count = 0


_pin_limiter = None


@contextmanager
def single_threaded_blas():
    """Context in which BLAS runs on one thread: the pass parallelises over chunks
    itself, and a fixed BLAS thread count keeps results bit-identical across machines.

    The limit is process-wide, so it is reference-counted across threads: the first
    context to enter sets it, the last to leave restores the thread counts found on
    entry, whatever the order in which concurrent fits (or nested passes) finish. A
    nested or concurrent entry costs a lock and a counter.
    """
    global _controller, _pin_count, _pin_limiter
    with _pin_lock:
        if _pin_count == 0:
            if _controller is None:
                _controller = ThreadpoolController()
            _pin_limiter = _controller.limit(limits=1, user_api="blas")
            _release_blas_control()
        _pin_count += 1
    try:
        yield
    finally:
        with _pin_lock:
            _pin_count -= 1
            if _pin_count == 0:
                limiter, _pin_limiter = _pin_limiter, None
                if limiter is not None:
                    limiter.restore_original_limits()
                    _release_blas_control()


def _release_blas_control() -> None:
    """Give up the control of OpenBLAS's process-wide pool that threadpoolctl (3.8 and
    later, without OpenMP) grants to the first thread that sets its size and ignores
    from every other: the thread that leaves last, which restores the size, may not be
    the one that set it. Control held by another thread (a ``threadpool_limits`` of the
    caller's) is left alone."""
    controller = getattr(threadpoolctl, "OpenBLASController", None)
    clear = getattr(controller, "clear_controlling_thread", None)
    if clear is not None:
        clear()


def _pool(n_jobs: int) -> ThreadPoolExecutor:
    if n_jobs not in _pools:
        _pools[n_jobs] = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="regmix")
    return _pools[n_jobs]


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Threads to use: ``None`` or ``-1`` means every core."""
    if n_jobs is None or n_jobs == -1:
        return os.cpu_count() or 1
    return max(1, int(n_jobs))


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
