"""A row source whose rows live on a Dask cluster.

:class:`DaskData` holds dask arrays (or a dask DataFrame's columns) split into row
blocks. Each data pass sends the current parameters and the chunk function to the
workers, computes every block's additive statistics where the block lives, and sums
them in a tree of pairwise additions (always in block order, so the result does not
depend on the number of workers or on scheduling). Only the small statistics travel back
to the client; the rows never do. The data are persisted once when the source is made.

The same EM code runs unchanged: the estimator sees a source whose passes return
:class:`~regmix.core.results.PassResult` sums. A compiled pass (``block_fn`` of
:meth:`DaskData.map_reduce`) runs on each block where numba imports on the worker, the
numpy pass where it does not. dask is imported lazily.

Point it at a cluster by creating a client before fitting::

    from dask.distributed import Client
    client = Client("tcp://scheduler-host:8786")   # or LocalCluster() for one machine
    model = RegressionMixture(3).fit(DaskData(X, y))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from regmix.compiled.helpers import available, row_uniforms
from regmix.core.chunk import (
    REDUCTION_BLOCK,
    Chunk,
    Standardization,
    aligned_ranges,
    group_starts,
    make_chunk,
)
from regmix.core.limits import interval_limits, observed_rows, point_limits
from regmix.sources.arrays import ArrayData, _safe_scale
from regmix.sources.validation import check_magnitude, check_one_response_column


def _block_chunks(X, y, w, g, start, st: Standardization, chunk_size: int, p: int,
                  L=None):
    """The standardised chunks of one block (runs on a worker); columns beyond the first
    ``p`` are concomitant variables; with group labels ``g`` chunks end on group
    boundaries (blocks do); ``L`` the rows' censoring limits (n, 4) or None."""
    n = X.shape[0]
    block = REDUCTION_BLOCK  # fixed blocks: results do not depend on chunk_size
    if g is None:
        ranges = [(s, min(s + block, n)) for s in range(0, n, block)]
    else:
        ranges = aligned_ranges(group_starts(g), n, block)
    for s, e in ranges:
        Z = X[s:e, p:] if X.shape[1] > p else None
        yield make_chunk(start + s, X[s:e, :p], None if y is None else y[s:e],
                         None if w is None else w[s:e], st, Z=Z,
                         group_starts=None if g is None else group_starts(g[s:e]),
                         limits=None if L is None else L[s:e])


def _block_pass(X, y, w, g, L, start, settings, chunk_fn, block_fn=None, block_arg=None):
    """Sum of ``chunk_fn`` over the chunks of one block (runs on a worker), or
    ``block_fn(X, y, w, block_arg)`` on the whole block where numba imports here (with
    ``concomitant=`` the block's concomitant columns, the features' and theirs each
    made contiguous: the compiled passes read contiguous columns)."""
    if block_fn is not None and available():
        p = settings[2]
        if X.shape[1] == p:
            return block_fn(X, y, w, block_arg)
        return block_fn(np.ascontiguousarray(X[:, :p]), y, w, block_arg,
                        concomitant=np.ascontiguousarray(X[:, p:]))
    total = None
    for chunk in _block_chunks(X, y, w, g, start, *settings, L=L):
        res = chunk_fn(chunk)
        total = res if total is None else total + res
    return total


def _aligned_chunks(chunks, starts: np.ndarray, n: int) -> tuple[int, ...]:
    """Block sizes near ``chunks`` whose boundaries fall on group starts."""
    bounds = np.cumsum(chunks)[:-1]
    moved = [int(starts[i]) if (i := np.searchsorted(starts, b)) < starts.size else n
             for b in bounds]
    edges = np.unique([0, *moved, n])
    return tuple(int(v) for v in np.diff(edges) if v > 0)


_T = TypeVar("_T")


def _response_names(y, names, several: bool) -> list[str]:
    """The response columns' names: ``names`` (or ``y0, y1, ...``) for several
    responses, ``["y"]`` for one, none without a response."""
    if y is None:
        return []
    if not several:
        return ["y"]
    width = int(y.shape[1])
    names = [f"y{j}" for j in range(width)] if names is None else [str(c) for c in names]
    if len(names) != width:
        raise ValueError(f"responses= has {len(names)} names but y has {width} columns")
    return names


_ROW = re.compile(r"\b(rows?) (\d+)\b")


def partition_starts(frame) -> np.ndarray:
    """The global row number of the first row of each partition of a dask DataFrame
    (one pass that counts the rows of every partition)."""
    lengths = np.asarray(frame.map_partitions(len).compute(), dtype=np.int64)
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def globally_numbered(fn: Callable, starts: np.ndarray, what: str) -> Callable:
    """``fn(part)`` for ``map_partitions``, whose ValueError speaks of global rows.

    A check that runs on one partition numbers the rows from the partition's start;
    the wrapper adds the partition's first global row (``starts``) to every "row N" of
    the message, and a message without a row gets the rows it is about. ``what`` names
    what is being applied, for that context.
    """

    def wrapper(part, partition_info=None):
        start = 0 if partition_info is None else int(starts[partition_info["number"]])
        try:
            return fn(part)
        except ValueError as err:
            text = str(err)
            shifted = _ROW.sub(lambda m: f"{m.group(1)} {int(m.group(2)) + start}", text)
            if shifted == text:
                stop = start + len(part) - 1
                shifted = f"{what} fails on the rows {start} to {stop}: {text}"
            raise ValueError(shifted) from None

    return wrapper


def _add(a, b):
    return a + b


def _block_start(block_info) -> int:
    """The global number of a ``map_blocks`` block's first row."""
    return 0 if block_info is None else int(block_info[0]["array-location"][0][0])


def _limits_block(L: np.ndarray, block_info=None) -> np.ndarray:
    """One block of censoring limits (n, 2) or (n, 4) as the representative values and
    the limits (n, 1 + 4), checked by :func:`~regmix.core.limits.interval_limits`, its
    errors naming the global row (runs on a worker)."""
    y, limits = interval_limits(L, name="limits", start=_block_start(block_info))
    return np.column_stack([y, limits])


def _point_limits_block(y: np.ndarray, lower: float | None, upper: float | None,
                        truncation: tuple[float, float] | None,
                        block_info=None) -> np.ndarray:
    """One block's limits (n, 4) of a response censored at constant points, by
    :func:`~regmix.core.limits.point_limits`, its errors naming the global row (runs
    on a worker)."""
    return point_limits(y, lower, upper, truncation, start=_block_start(block_info))


class DaskData:
    """Rows held as dask arrays, processed where they live.

    Parameters
    ----------
    X : dask array of shape (n, n_features), or dask DataFrame
        Features, chunked by rows only (one chunk along the columns). A dask DataFrame
        is converted with ``to_dask_array(lengths=True)``.
    y : dask array of shape (n,) or (n, R), dask Series or DataFrame
        Response, chunked like ``X``; ``R`` columns are several responses sharing the
        class (:class:`~regmix.families.multi_response.MultiResponse`), NaN where one
        is missing.
    sample_weight : dask array or Series, optional
        Row weights, chunked like ``X``.
    fit_intercept : bool, default=True
    standardize : bool, default=True
        Centre and scale as :class:`~regmix.sources.arrays.ArrayData` does (one distributed pass).
    standardization : Standardization, optional
        Use this map instead.
    feature_names : sequence of str, optional
        Column names (taken from a dask DataFrame automatically).
    concomitant : dask array of shape (n, q) or dask DataFrame, optional
        Concomitant variables of the gating model, chunked like ``X``.
    groups : dask array of shape (n,) or Series, optional
        Numeric group labels, sorted (the rows of a group consecutive): the rows of a
        group share one component membership. The blocks are re-cut at group
        boundaries so that no group spans two blocks.
    limits : dask array of shape (n, 2) or (n, 4), or dask DataFrame, optional
        A censored response's limits per row, ``[lower, upper]`` or ``[lower, upper,
        trunc_lower, trunc_upper]`` (NaN or an infinity is an open limit; see
        ``docs/censored.md``), for the censored Gaussian family; they are the response
        (``y=None``).
    responses : sequence of str, optional
        The names of several responses' columns (taken from a dask DataFrame ``y``).
    """

    def __init__(self, X, y=None, sample_weight=None, *, fit_intercept: bool = True,
                 standardize: bool = True, standardization: Standardization | None = None,
                 feature_names=None, concomitant=None, groups=None, limits=None,
                 responses=None) -> None:
        import dask
        import dask.array as da

        if limits is not None and y is not None:
            raise ValueError("with limits= the limit columns are the response; set y=None")
        self.limit_columns: list[str] = []
        if limits is not None:
            if hasattr(limits, "columns") and hasattr(limits, "to_dask_array"):
                self.limit_columns = [str(c) for c in limits.columns]
                limits = limits.to_dask_array(lengths=True)
            limits = da.asarray(limits).astype(np.float64)
            if limits.ndim != 2 or limits.shape[1] not in (2, 4):
                raise ValueError("limits must have two columns [lower, upper] or four "
                                 "[lower, upper, trunc_lower, trunc_upper]; got shape "
                                 f"{limits.shape}")
            self.limit_columns = self.limit_columns or [
                "lower", "upper", "trunc_lower", "trunc_upper"][: limits.shape[1]]

        z_names = None
        if concomitant is not None:
            if hasattr(concomitant, "columns") and hasattr(concomitant, "to_dask_array"):
                z_names = [str(c) for c in concomitant.columns]
                concomitant = concomitant.to_dask_array(lengths=True)
            concomitant = da.asarray(concomitant).astype(np.float64)
            if concomitant.ndim == 1:
                concomitant = concomitant[:, None]

        if hasattr(X, "columns") and hasattr(X, "to_dask_array"):
            feature_names = [str(c) for c in X.columns]
            X = X.to_dask_array(lengths=True)
        if y is not None and hasattr(y, "columns") and hasattr(y, "to_dask_array"):
            responses = [str(c) for c in y.columns] if responses is None else responses
        if y is not None and hasattr(y, "to_dask_array"):
            y = y.to_dask_array(lengths=True)
        if sample_weight is not None and hasattr(sample_weight, "to_dask_array"):
            sample_weight = sample_weight.to_dask_array(lengths=True)
        X = da.asarray(X).astype(np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D; got {X.ndim}-D")
        if any(np.isnan(c) for c in X.chunks[0]):
            raise ValueError("X has unknown chunk sizes; compute them first "
                             "(to_dask_array(lengths=True))")
        self.n_features = int(X.shape[1])
        if concomitant is not None:
            if concomitant.ndim != 2:
                raise ValueError(f"concomitant must be 1-D or 2-D; got shape "
                                 f"{concomitant.shape}")
            if concomitant.shape[0] != X.shape[0]:
                raise ValueError(f"concomitant has {concomitant.shape[0]} rows but X has "
                                 f"{X.shape[0]}")
            X = da.concatenate([X, concomitant.rechunk((X.chunks[0], -1))], axis=1)
        X = X.rechunk({1: -1})
        arrays = [X]
        several = y is not None and getattr(y, "ndim", 1) == 2 and y.shape[1] > 1
        self.y_columns = _response_names(y, responses, several)
        self.y_column = "y" if y is not None and not several else None
        for name, v in (("y", y), ("sample_weight", sample_weight), ("limits", limits)):
            if v is None:
                continue
            v = da.asarray(v)
            if name == "y" and v.ndim == 2 and v.shape[1] == 1:
                v = v[:, 0]
            if v.ndim != 1 and not (name == "limits" or (name == "y" and several)):
                raise ValueError(f"{name} must be 1-D (one value per row); got shape "
                                 f"{v.shape}")
            if v.shape[0] != X.shape[0]:
                raise ValueError(f"{name} has {v.shape[0]} rows but X has {X.shape[0]}")
            arrays.append(v.astype(np.float64).rechunk((X.chunks[0],) + v.shape[1:]))
        self.n_groups = None
        if groups is not None:
            if hasattr(groups, "to_dask_array"):
                groups = groups.to_dask_array(lengths=True)
            g = da.asarray(groups)
            if g.shape != (X.shape[0],):
                raise ValueError(f"groups must have shape ({X.shape[0]},); got {g.shape}")
            if g.dtype.kind not in "biuf":
                raise ValueError("groups on Dask must be numeric labels (factorize them)")
            g = g.rechunk((X.chunks[0],))
            unsorted, starts = dask.compute((g[1:] < g[:-1]).any(),
                                            da.flatnonzero(g[1:] != g[:-1]) + 1)
            if unsorted:
                row = self._first_row(g[1:] < g[:-1]) + 1
                raise ValueError("groups on Dask need the rows sorted by group label; row "
                                 f"{row} has a smaller label than the row before it")
            self.n_groups = int(starts.size) + 1
            cut = _aligned_chunks(X.chunks[0], starts, int(X.shape[0]))
            arrays = [a.rechunk((cut,) + a.chunks[1:]) for a in arrays] + [g.rechunk((cut,))]
        if limits is not None:  # representative values and limits, checked per block
            index = 1 + (sample_weight is not None)
            both = arrays[index].map_blocks(_limits_block, dtype=np.float64,
                                            chunks=(arrays[index].chunks[0], (5,)))
            arrays[index : index + 1] = []
            arrays[1:1] = [both[:, 0]]
            arrays.append(both[:, 1:])
        arrays = list(dask.persist(*arrays))
        self._X = arrays.pop(0)
        self._y = arrays.pop(0) if y is not None or limits is not None else None
        self._w = arrays.pop(0) if sample_weight is not None else None
        self._g = arrays.pop(0) if groups is not None else None
        self._L = arrays.pop(0) if limits is not None else None
        self.weight_column = "sample_weight" if sample_weight is not None else None
        self.fit_intercept = fit_intercept
        self.n_rows = int(self._X.shape[0])
        self.n_design = self.n_features + int(fit_intercept)
        self.x_columns = (list(feature_names) if feature_names is not None
                          else [f"x{j}" for j in range(self.n_features)])
        q = int(self._X.shape[1]) - self.n_features
        self.z_columns = (z_names if z_names is not None else [f"z{j}" for j in range(q)])
        self.n_gating = 1 + q
        self._starts = np.concatenate([[0], np.cumsum(self._X.chunks[0])[:-1]]).astype(int)
        self._check_finite()
        self.total_weight = float(self.n_rows if self._w is None else self._w.sum().compute())
        self.observed_weight = self._observed_weight()
        self.standardization = Standardization.choose(
            standardization, standardize, self._standardization, self.n_features, fit_intercept
        )

    def _check_finite(self) -> None:
        import dask
        import dask.array as da

        checks = [(~np.isfinite(self._X)).any(axis=0), abs(self._X).max(axis=0)]
        names = ["X", "magnitude"]
        several = self._y is not None and self._y.ndim == 2
        vectors = {"y": None if several else self._y, "sample_weight": self._w}
        for name, v in vectors.items():
            if v is not None:
                checks.append((~np.isfinite(v)).any())
                names.append(name)
        # several responses: NaN marks a missing one; limits: NaN or infinity an open one
        columns: Any = self._y if several else self._L
        if columns is not None:
            extra = [da.isinf(columns).any(axis=0) if several else None,
                     da.where(da.isfinite(columns), abs(columns), 0.0).max(axis=0)]
        else:
            extra = [None, None]
        results = list(dask.compute(*checks))
        infinite, largest = dask.compute(*extra)
        bad_cols = np.flatnonzero(results[0])
        if bad_cols.size:
            j = int(bad_cols[0])
            row = self._first_row(~np.isfinite(self._X[:, j]))
            where = (f"X contains NaN or infinity at row {row}, column "
                     f"{self.x_columns[j]!r}" if j < self.n_features else
                     f"concomitant contains NaN or infinity at row {row}, column "
                     f"{self.z_columns[j - self.n_features]!r}")
            raise ValueError(where)

        check_magnitude(np.asarray(results[1])[None, :], "dask data",
                        self.x_columns + self.z_columns)
        del names[1], results[1]
        for name, bad in zip(names[1:], results[1:], strict=True):
            if bad:
                vector: Any = vectors[name]
                row = self._first_row(~np.isfinite(vector))
                raise ValueError(f"{name} contains NaN or infinity at row {row}")
        if infinite is not None and np.any(infinite):
            j = int(np.argmax(infinite))
            row = self._first_row(da.isinf(columns[:, j]))
            raise ValueError(f"response {self.y_columns[j]!r} contains infinity at row "
                             f"{row} (NaN marks a missing response)")
        if largest is not None:
            check_magnitude(np.asarray(largest)[None, :], "dask data",
                            self.y_columns if several else self.limit_columns)
        if self._w is not None and bool((self._w < 0).any().compute()):
            row = self._first_row(self._w < 0)
            raise ValueError(f"sample_weight is negative at row {row}")

    @staticmethod
    def _first_row(mask) -> int:
        """The global row number of the first true entry of a dask boolean vector."""
        import dask.array as da

        return int(da.argmax(mask).compute())

    def _standardization(self) -> Standardization:
        import dask

        w = self._w
        wsum = self.total_weight
        ww = 1.0 if w is None else w[:, None]
        if self.fit_intercept:
            x_loc = (self._X * ww).sum(axis=0) / wsum
        else:
            x_loc = np.zeros(self._X.shape[1])
        x_var = (((self._X - x_loc) ** 2) * ww).sum(axis=0) / wsum
        y_loc = y_var = None
        if self._y is not None and self._y.ndim == 1:  # (several: not standardised)
            wy = 1.0 if w is None else w
            y_loc = (self._y * wy).sum() / wsum if self.fit_intercept else 0.0
            y_var = (((self._y - y_loc) ** 2) * wy).sum() / wsum
        x_loc, x_var, y_loc, y_var = dask.compute(x_loc, x_var, y_loc, y_var)
        y_scale = float(np.sqrt(y_var)) if y_var is not None else 1.0
        if not y_scale > 0:
            y_scale = 1.0
        x_loc = np.asarray(x_loc, dtype=float)
        x_scale = _safe_scale(np.sqrt(x_var))
        p = self.n_features
        q = x_loc.shape[0] - p
        return Standardization(x_loc[:p], x_scale[:p], float(y_loc or 0.0), y_scale,
                               self.fit_intercept, x_loc[p:] if q else None,
                               x_scale[p:] if q else None)

    def feature_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean and standard deviation of each feature (one distributed pass)."""
        import dask

        ww = 1.0 if self._w is None else self._w[:, None]
        X = self._X[:, : self.n_features]
        mean = (X * ww).sum(axis=0) / self.total_weight
        var = (((X - mean) ** 2) * ww).sum(axis=0) / self.total_weight
        mean, var = dask.compute(mean, var)
        return np.asarray(mean, dtype=float), np.sqrt(np.asarray(var, dtype=float))

    # ------------------------------------------------------------------ the source protocol
    def map_reduce(self, chunk_fn: Callable[[Chunk], _T], chunk_size: int,
                   block_fn: Callable[..., _T] | None = None,
                   block_args: list | None = None) -> _T:
        """Sum ``chunk_fn`` over every chunk, computed on the workers, reduced in a tree.

        With ``block_fn`` (a compiled pass, for :attr:`block_rows`), a worker on which
        numba imports computes a block's sum as ``block_fn(X, y, w, arg)`` on its rows in
        user units instead (``arg`` the block's entry of ``block_args``, or None; with
        concomitant variables also ``concomitant=Z``, the block's); a worker without
        numba sums ``chunk_fn`` over its chunks. The blocks' sums are added in the same
        tree either way.
        """
        import dask

        settings = (self.standardization, int(chunk_size), self.n_features)
        # keys without hashing the arguments: every pass has new parameters anyway, and
        # hashing the chunk function once per block costs more than the pass on small data
        fn = dask.delayed(_block_pass, pure=False)
        xs, ys, ws, gs, ls = self._blocks()
        args = [None] * len(xs) if block_args is None else block_args
        level = [fn(x, y, w, g, lim, int(s), settings, chunk_fn, block_fn, a)
                 for x, y, w, g, lim, s, a
                 in zip(xs, ys, ws, gs, ls, self._starts, args, strict=True)]
        add = dask.delayed(_add, pure=False)
        while len(level) > 1:
            pairs = [add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            level = pairs + ([level[-1]] if len(level) % 2 else [])
        return level[0].compute()

    def per_block(self, fn: Callable[..., _T]) -> list[_T]:
        """``fn(X, y, w)`` of every block's rows in user units, computed on the workers
        (for :attr:`plain_rows`)."""
        import dask

        call = dask.delayed(fn, pure=True)
        xs, ys, ws, *_ = self._blocks()
        return list(dask.compute(*[call(x, y, w) for x, y, w in zip(xs, ys, ws, strict=True)]))

    @property
    def block_rows(self) -> bool:
        """Whether the compiled passes can take whole blocks (``block_fn`` of
        :meth:`map_reduce`): one response and neither groups nor censoring limits
        (concomitant variables are handed over beside the features)."""
        return (self._y is not None and self._y.ndim == 1 and self._g is None
                and self._L is None)

    @property
    def plain_rows(self) -> bool:
        """:attr:`block_rows` without concomitant variables."""
        return self.block_rows and self.n_gating == 1

    def _blocks(self) -> tuple[Any, ...]:
        """Delayed blocks of X, y, w, the group labels and the censoring limits (None
        where absent)."""
        xs = self._X.to_delayed().ravel()
        rest = [v.to_delayed().ravel() if v is not None else [None] * len(xs)
                for v in (self._y, self._w, self._g, self._L)]
        return (xs, *rest)

    def with_censoring(self, lower: float | None, upper: float | None,
                       truncation: tuple[float, float] | None) -> DaskData:
        """The same rows with the response read as censored at the constant points
        ``lower``/``upper`` and truncated at ``truncation`` (the censored Gaussian
        family's constant limits; see :func:`regmix.core.limits.point_limits`): each
        partition's limits are made and checked where it lives, an error naming the
        row of the whole collection.

        Raises
        ------
        ValueError
            For a source without one response column (limit columns, several
            responses, none), or a value the limits refuse (naming its row).
        """
        check_one_response_column(self)
        y = self._y
        assert y is not None  # a response column
        limits = y.map_blocks(_point_limits_block, lower, upper, truncation,
                              dtype=np.float64, new_axis=1, chunks=(y.chunks[0], (4,)))
        new = self._copy()
        new._L = limits.persist()
        new.observed_weight = new._observed_weight()
        return new

    def _copy(self) -> DaskData:
        """A shallow copy (the same persisted arrays)."""
        new = object.__new__(DaskData)
        new.__dict__.update(self.__dict__)
        return new

    def _observed_weight(self) -> float:
        """The weight of the rows observed exactly (all rows without limits), whose
        densities carry the response's unit."""
        if self._L is None:
            return self.total_weight
        exact = observed_rows(self._L)
        return float((exact if self._w is None else exact * self._w).sum().compute())

    def plain(self) -> DaskData:
        """The same rows in user units (no standardisation)."""
        new = self._copy()
        new.standardization = Standardization.identity(self.n_features, self.fit_intercept)
        return new

    def iter_chunks(self, chunk_size: int) -> Iterator[Chunk]:
        """Chunks brought to the client one block at a time (for small evaluations)."""
        settings = (self.standardization, int(chunk_size), self.n_features)
        for i, start in enumerate(self._starts):
            X = self._X.blocks[i].compute()
            y = self._y.blocks[i].compute() if self._y is not None else None
            w = self._w.blocks[i].compute() if self._w is not None else None
            g = self._g.blocks[i].compute() if self._g is not None else None
            L = self._L.blocks[i].compute() if self._L is not None else None
            yield from _block_chunks(X, y, w, g, int(start), *settings, L=L)

    def subsample(self, size: int, seed: int) -> ArrayData:
        """About ``size`` rows drawn by a per-row hash, gathered to the client."""
        import dask

        fraction = size / self.n_rows

        def pick(X, y, w, g, L, start):
            u = row_uniforms(seed, start, start + X.shape[0], 1)[:, 0]
            if g is not None:  # whole groups, by the draw of their first row
                starts = group_starts(g)
                u = np.repeat(u[starts], np.diff(np.append(starts, X.shape[0])))
            keep = u < fraction
            return tuple(None if v is None else v[keep] for v in (X, y, w, g, L))

        fn = dask.delayed(pick, pure=True)
        xs, ys, ws, gs, ls = self._blocks()
        parts = dask.compute(*[fn(x, y, w, g, lim, int(s)) for x, y, w, g, lim, s
                               in zip(xs, ys, ws, gs, ls, self._starts, strict=True)])
        XZ = np.concatenate([part[0] for part in parts])
        n_x = self.n_features
        return ArrayData(
            XZ[:, :n_x],
            None if self._y is None else np.concatenate([part[1] for part in parts]),
            None if self._w is None else np.concatenate([part[2] for part in parts]),
            fit_intercept=self.fit_intercept,
            standardization=self.standardization,
            Z=XZ[:, n_x:] if XZ.shape[1] > n_x else None,
            groups=(None if self._g is None else
                    np.unique(np.concatenate([part[3] for part in parts]),
                              return_inverse=True)[1]),
            limits=None if self._L is None else np.concatenate([part[4] for part in parts]),
        )
