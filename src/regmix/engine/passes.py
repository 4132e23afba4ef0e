"""The data pass: one read of the rows turns parameters into additive statistics.

A pass knows nothing of the EM loop. Given a row source and the current parameters it
runs the E-step on every chunk (component log-densities, log-sum-exp, responsibilities,
the observed-data log-likelihood) and accumulates what the M-step needs. Chunks are
processed on a thread pool and their results are summed in row order, so a result does
not depend on the number of threads. Memory beyond the data is O(chunk * K * p).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

import numpy as np

from regmix.core.chunk import REDUCTION_BLOCK, Chunk
from regmix.core.params import MixtureParams
from regmix.core.results import PassResult
from regmix.engine.threads import _pool, single_threaded_blas
from regmix.mixing.constant import ConstantWeights


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
    finite = np.isfinite(m)
    if not finite.all():
        m[~finite] = 0.0
    logd -= m
    np.exp(logd, out=logd)
    s = logd.sum(axis=0)
    empty = s == 0  # a row that no component can produce: no responsibilities
    any_empty = bool(empty.any())
    if any_empty:
        s[empty] = 1.0
    logd /= s
    np.log(s, out=s)
    s += m
    if any_empty:
        s[empty] = -np.inf
    return logd, s


def observation_posteriors(logf: np.ndarray, log_w, chunk: Chunk):
    """Posterior probabilities and log-likelihood contributions of a chunk's observations.

    The observations are the rows, or for grouped rows (``chunk.group_starts``) the
    groups: all rows of a group share one membership and the row weights multiply the
    rows' log-densities.

    Parameters
    ----------
    logf : ndarray of shape (K, n)
        The rows' component log-densities (without the mixing weights); not modified.
    log_w : ndarray of shape (K, n) or (K, 1)
        The rows' log mixing weights (:meth:`log_weights` of the mixing model).
    chunk : Chunk

    Returns
    -------
    resp : ndarray of shape (K, N)
        The observations' posterior probabilities.
    obs_ll : ndarray of shape (N,)
        Their log-likelihood contributions (unweighted for rows).
    obs_log_w : ndarray of shape (K, N) or (K, 1)
        Their log mixing weights (a group's are its first row's).
    """
    starts = chunk.group_starts
    known = chunk.log_allowed(logf.shape[0])
    if starts is None:
        resp, obs_ll = log_responsibilities(logf + (log_w if known is None
                                                    else log_w + known))
        return resp, obs_ll, log_w
    weighted = logf if chunk.w is None else logf * chunk.w
    group_logd = np.add.reduceat(weighted, starts, axis=1)
    log_w = np.broadcast_to(log_w, logf.shape)[:, starts]
    group_logd += log_w
    if known is not None:  # the rows of a group share their known label
        group_logd += known[:, starts]
    resp, obs_ll = log_responsibilities(group_logd)
    return resp, obs_ll, log_w


def chunk_posteriors(chunk: Chunk, family, mixing, params):
    """Posterior probabilities of a chunk's rows and its log-likelihood contributions.

    Returns ``(resp, row_ll, cache, mix_resp, mix_w, mix_ZT)``: the (K, n) posterior
    probabilities of the rows; the log-likelihood contribution of each observation
    (each row, or each group for grouped data, where all rows of a group share one
    membership and the row weights multiply the rows' log-densities, see
    :func:`observation_posteriors`, or a family with ``group_log_density`` gives the
    groups' log-densities itself); the family's cache; and what the mixing
    statistics are taken over (the rows, or one column per group with weight one and
    the group's first gating row).
    """
    log_w = mixing.log_weights(params, chunk)
    if chunk.group_starts is None:
        logd, cache = family.log_density(params.component, chunk, log_w)
        known = chunk.log_allowed(logd.shape[0])
        if known is not None:  # components a row's known label rules out
            logd += known
        resp, row_ll = log_responsibilities(logd)
        return resp, row_ll, cache, resp, chunk.w, getattr(chunk, "ZT", None)
    starts = chunk.group_starts
    n = chunk.y.shape[0]
    group_density = getattr(family, "group_log_density", None)
    if group_density is not None:  # a family whose groups' densities are not row sums
        group_logd, cache = group_density(params.component, chunk)
        group_logd = group_logd + np.broadcast_to(log_w, (log_w.shape[0], n))[:, starts]
        known = chunk.log_allowed(group_logd.shape[0])
        if known is not None:  # the rows of a group share their known label
            group_logd += known[:, starts]
        group_resp, group_ll = log_responsibilities(group_logd)
    else:
        logd, cache = family.log_density(params.component, chunk, 0.0)
        group_resp, group_ll, _ = observation_posteriors(logd, log_w, chunk)
    sizes = np.diff(np.append(starts, n))
    resp = np.repeat(group_resp, sizes, axis=1)
    ZT = None if chunk.ZT is None else chunk.ZT[:, starts]
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
    else:  # a row of weight zero counts for nothing, whatever its density
        loglik = float(chunk.w @ np.where(chunk.w > 0, obs_ll, 0.0))
    mix_stats = _mix_statistics(mixing, params, chunk, mix_resp, mix_w, ZT)
    wr = resp if chunk.w is None else resp * chunk.w
    stats = family.statistics(chunk, wr, params.component, cache)
    return PassResult(loglik, wr.sum(axis=1), stats, mix_stats)


def given_chunk(chunk: Chunk, family, mixing, params, resp_fn: Callable) -> PassResult:
    """Statistics of one chunk for (K, n) responsibilities supplied by ``resp_fn(chunk)``."""
    resp = chunk.restrict(resp_fn(chunk))
    wr = resp if chunk.w is None else resp * chunk.w
    stats = family.statistics(chunk, wr, params.component)
    mix_stats = mixing.statistics(params, chunk, resp, chunk.w)
    return PassResult(float("nan"), wr.sum(axis=1), stats, mix_stats)


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

    total: PassResult | None = None
    results: Iterable[list[PassResult]]
    with single_threaded_blas():
        if n_jobs <= 1 or len(items) == 1:
            results = map(work, items)
        else:
            results = _pool(n_jobs).map(work, items)
        for item in results:
            for res in item:
                total = res if total is None else total + res
    return cast(PassResult, total)  # None only for a source without rows


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
    return cast(PassResult, total)  # None only for a source without rows


def e_step_pass(source, family, component, log_weights, *, chunk_size, n_jobs=1) -> PassResult:
    """One E-step + statistics pass with constant mixing weights ``exp(log_weights)``
    and component parameters ``component`` (a shorthand for tests and benchmarks)."""

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


@dataclass(frozen=True)
class ClassificationSums:
    """Additive sums of the observations' posterior probabilities ``r_ok`` (rows, or
    groups for grouped data) with weights ``w_o``.

    Attributes
    ----------
    entropy : float
        ``E = -sum_o w_o sum_k r_ok log r_ok``.
    table : ndarray of shape (K, K)
        ``table[c, l] = sum_{o assigned to c} w_o r_ol``, ``c`` the most probable
        component of ``o``.
    n : float
        ``sum_o w_o``.
    top : float
        ``sum_o w_o log max_k r_ok``, the ICL's entropy term, negated.
    counts : ndarray of shape (K,)
        The (weighted) number of observations whose most probable component is k.
    sizes : ndarray of shape (K,)
        The summed (weighted) posterior probabilities of each component.
    """

    entropy: float
    table: np.ndarray
    n: float
    top: float = 0.0
    counts: np.ndarray | None = None
    sizes: np.ndarray | None = None


def classification_sums(resp: np.ndarray, w=None) -> ClassificationSums:
    """The :class:`ClassificationSums` of (N, K) posteriors with weights ``w``.

    The sums run along the observations of each component's column (``resp.T``, which
    is contiguous for the (K, n) posteriors of a data pass): the largest posterior and
    its component (the first of equal ones) by one comparison per component, the table
    by one ``bincount`` per component.
    """
    by_component = np.asarray(resp, dtype=np.float64).T  # (K, N)
    K, N = by_component.shape
    w = np.ones(N) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
    top = by_component[0].copy() if K else np.zeros(N)
    assigned = np.zeros(N, dtype=np.intp)
    for k in range(1, K):
        assigned[by_component[k] > top] = k
        np.maximum(top, by_component[k], out=top)
    weighted = by_component * w
    table = np.zeros((K, K))
    for k in range(K):
        table[:, k] = np.bincount(assigned, weights=weighted[k], minlength=K)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_top = float(w @ np.log(top)) if N else 0.0
    # r log r with 0 log 0 = 0 (a posterior below the floor adds less than 1e-297)
    entropy = -sum(float(weighted[k] @ np.log(np.maximum(by_component[k], 1e-300)))
                   for k in range(K))
    return ClassificationSums(entropy, table, float(w.sum()), log_top,
                              np.bincount(assigned, weights=w, minlength=K),
                              weighted.sum(axis=1))


def classification_chunk(chunk: Chunk, family, mixing, params) -> PassResult:
    """The :class:`ClassificationSums` of one chunk, as a pass result: ``loglik`` holds
    ``top``, ``resp_sum`` the sizes and ``stats`` the counts, the
    table and the entropy (see :func:`classification_total`)."""
    _, _, _, resp, w, _ = chunk_posteriors(chunk, family, mixing, params)
    sums = classification_sums(resp.T, w)
    assert sums.sizes is not None
    return PassResult(sums.top, sums.sizes, (sums.counts, sums.table, np.array([sums.entropy])))


def classification_total(total: PassResult) -> ClassificationSums:
    """The :class:`ClassificationSums` of a pass of :func:`classification_chunk`."""
    counts, table, entropy = total.stats
    return ClassificationSums(float(entropy[0]), table, float(total.resp_sum.sum()),
                              float(total.loglik), counts, total.resp_sum)


def overlap_chunk(chunk: Chunk, family, mixing, params) -> PassResult:
    """Membership overlaps and design sums of one chunk.

    ``stats`` holds the (K, K) matrix ``sum_o w_o r_ok r_ol`` over the observations
    (rows, or groups with weight one), which says how alike two components' memberships
    are, and the weighted sums of the design columns (their means, divided by
    ``resp_sum.sum()``).
    """
    resp, _, _, mix_resp, w, _ = chunk_posteriors(chunk, family, mixing, params)
    wr = mix_resp if w is None else mix_resp * w
    xw = chunk.XT.sum(axis=1) if chunk.w is None else chunk.XT @ chunk.w
    total = float(chunk.XT.shape[1]) if chunk.w is None else float(chunk.w.sum())
    return PassResult(0.0, np.array([total]), (wr @ mix_resp.T, xw))


def check_source_response(source, family, *, chunk_size: int) -> None:
    """One pass that lets the family check the response of every chunk of a row source
    (where it lives, for a Dask source); raises the family's ValueError naming the row."""

    def check(chunk: Chunk) -> PassResult:
        family.check_response(chunk.y, chunk.trials, start=chunk.start, complete=False)
        return PassResult(0.0, np.zeros(1), ())

    run_pass(source, check, chunk_size=chunk_size, n_jobs=1)
