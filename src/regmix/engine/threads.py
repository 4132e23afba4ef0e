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

from threadpoolctl import ThreadpoolController

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
