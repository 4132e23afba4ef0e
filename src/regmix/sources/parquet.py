"""A row source that streams a Parquet file or directory, batch by batch.

:class:`ParquetData` offers the same chunks as :class:`regmix.sources.arrays.ArrayData` (design
transposed and standardised, response, weights) but reads them from disk with
``pyarrow.dataset``, only the needed columns, one record batch at a time, so that the
memory a fit needs does not grow with the number of rows. The EM code is unchanged: it
sees the same :class:`~regmix.core.results.PassResult` sums. pyarrow is imported lazily.

Examples
--------
>>> from regmix import RegressionMixture
>>> from regmix.parquet import ParquetData
>>> source = ParquetData("data.parquet", x=["x1", "x2"], y="y")   # doctest: +SKIP
>>> model = RegressionMixture(3, random_state=0).fit(source)        # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from regmix.compiled.helpers import row_uniforms
from regmix.core.chunk import (
    REDUCTION_BLOCK,
    Chunk,
    Standardization,
    aligned_ranges,
    check_sorted_groups,
    group_starts,
    make_chunk,
)
from regmix.core.limits import interval_limits, observed_rows, point_limits
from regmix.sources.arrays import ArrayData, _safe_scale, column_extremes
from regmix.sources.validation import check_magnitude, check_one_response_column


def _dataset(path):
    try:
        import pyarrow.dataset as ds
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading Parquet needs pyarrow: pip install 'regmix[parquet]'"
        ) from err
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no such file or directory: {str(path)!r}")
    # Column chunks are read as they are decoded rather than pre-buffered whole (which
    # suits remote storage; on a local disk it costs one more copy of every value).
    fmt = ds.ParquetFileFormat(
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False))
    try:
        return ds.dataset(str(path), format=fmt)
    except Exception as err:  # pyarrow raises its own error types
        raise ValueError(f"cannot read {str(path)!r} as Parquet: {err}") from None


# The footer bytes hashed at most (a footer is a few KiB per row group).
_FOOTER_HASH_BYTES = 1 << 24


def file_fingerprint(path: str) -> tuple[int, int, bytes]:
    """Size, modification time in ns and a hash of the footer of one Parquet file.

    The footer holds the schema, the row groups' offsets and sizes and the column
    chunks' statistics (minimum, maximum, null count), so a rewrite with other values
    changes it even when the size and modification time are kept. Reading it costs one
    ``stat`` and one small read.
    """
    st = os.stat(path)
    size = st.st_size
    with open(path, "rb") as fh:
        footer = b""
        if size >= 8:
            fh.seek(size - 8)
            tail = fh.read(8)
            length = min(int.from_bytes(tail[:4], "little"), size - 8, _FOOTER_HASH_BYTES)
            fh.seek(size - 8 - length)
            footer = fh.read(length) + tail
    return size, st.st_mtime_ns, hashlib.blake2b(footer, digest_size=16).digest()


def _column_table(batch, names: list[str]) -> np.ndarray:
    """The columns ``names`` of a record batch as one column-major (rows, columns)
    float64 array, filled by pyarrow in one copy, missing values as NaN."""
    import pyarrow as pa

    columns = [batch.column(c) for c in names]
    if any(c.type != pa.float64() for c in columns):
        columns = [c.cast(pa.float64()) for c in columns]
    table = pa.RecordBatch.from_arrays(columns, names=list(names))
    return np.asarray(table.to_tensor(null_to_nan=True, row_major=False))


def _whole_blocks(batches: Iterator[tuple], block: int) -> Iterator[tuple]:
    """Re-cut ``(start, arrays...)`` batches of consecutive rows into blocks of
    ``block`` rows from the first row (the last one shorter): views of a batch where a
    block lies inside it, a copy only of a block that spans two batches."""
    pending = None
    for start, *arrays in batches:
        n = arrays[0].shape[0]
        a = 0
        if pending is not None:
            a = min(block - pending[1].shape[0], n)
            pending = (pending[0], *(None if p is None else np.concatenate([p, v[:a]])
                                     for p, v in zip(pending[1:], arrays, strict=True)))
            if pending[1].shape[0] < block:
                continue
            yield pending
            pending = None
        while n - a >= block:
            yield (start + a, *(None if v is None else v[a : a + block] for v in arrays))
            a += block
        if a < n:
            pending = (start + a, *(None if v is None else v[a:] for v in arrays))
    if pending is not None:
        yield pending


def _column_names(names, argument: str) -> list[str]:
    """Column names of a list argument; a bare string is refused (``x="x1"`` would
    otherwise be read as the columns "x" and "1")."""
    if isinstance(names, (str, bytes)):
        raise ValueError(f"{argument} must be a list of column names, not a string: "
                         f"write {argument}=[{names!r}]")
    try:
        items = list(names)
    except TypeError:
        raise ValueError(f"{argument} must be a list of column names; got "
                         f"{names!r}") from None
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{argument} must be a list of column names; got {item!r} "
                             "in it")
    return items


def _column_name(name, argument: str) -> str | None:
    """One column name (or None)."""
    if name is not None and not isinstance(name, str):
        raise ValueError(f"{argument} must be one column name (a string) or None; got "
                         f"{name!r}")
    return name


class ParquetData:
    """Rows of a Parquet file or directory, streamed in standardised chunks.

    Parameters
    ----------
    path : str or path-like
        A Parquet file or a directory of Parquet files (a pyarrow dataset).
    x : sequence of str
        Feature columns, in order.
    y : str or sequence of str, optional
        Response column (None to read features only); a list of columns is several
        responses sharing the class (:class:`~regmix.families.multi_response.MultiResponse`,
        missing values allowed in them).
    weights : str, optional
        Sample-weight column.
    fit_intercept : bool, default=True
        Whether the design gets a leading column of ones.
    standardize : bool, default=True
        Centre and scale as :class:`~regmix.sources.arrays.ArrayData` does; the statistics take
        one pass over the file when the source is created.
    standardization : Standardization, optional
        Use this map instead of computing one.
    concomitant : sequence of str, optional
        Concomitant-variable columns of the gating model (mixing weights that depend on
        them).
    groups : str, optional
        A column of group labels: the rows of a group share one component membership.
        The file must be sorted by it (the rows of a group consecutive); chunks are cut
        at group boundaries, so a group is never split between two chunks.
    limits : sequence of str, optional
        The columns of a censored response's limits per row, ``[lower, upper]`` or
        ``[lower, upper, trunc_lower, trunc_upper]`` (a missing value or an infinity is
        an open limit; see ``docs/censored.md``), for the censored Gaussian family; they
        are the response (``y=None``).
    """

    def __init__(
        self,
        path,
        x: Sequence[str],
        y: str | Sequence[str] | None = None,
        *,
        weights: str | None = None,
        fit_intercept: bool = True,
        standardize: bool = True,
        standardization: Standardization | None = None,
        concomitant: Sequence[str] | None = None,
        groups: str | None = None,
        limits: Sequence[str] | None = None,
    ) -> None:
        self.path = path
        # constant censoring points and truncation of a one-column response
        # (:meth:`with_censoring`): (lower, upper, truncation), or None
        self.censoring: tuple[float | None, float | None, tuple[float, float] | None] | None
        self.censoring = None
        self.limit_columns = _column_names(limits, "limits") if limits is not None else []
        if self.limit_columns and len(self.limit_columns) not in (2, 4):
            raise ValueError("limits must name two columns [lower, upper] or four [lower, "
                             f"upper, trunc_lower, trunc_upper]; got {limits!r}")
        if self.limit_columns and y is not None:
            raise ValueError("with limits= the limit columns are the response; set y=None")
        self.group_column = _column_name(groups, "groups")
        self.x_columns = _column_names(x, "x")
        if not self.x_columns:
            raise ValueError("x must name at least one feature column")
        self.z_columns = _column_names(concomitant, "concomitant") if concomitant else []
        self._matrix_columns = self.x_columns + self.z_columns
        self.n_gating = 1 + len(self.z_columns)
        several = isinstance(y, (list, tuple)) and len(y) > 1
        if not several and y is not None and not isinstance(y, str):
            raise ValueError(f"y must be one column name (a string) or None, or a list of "
                             f"several response columns; got {y!r}")
        self.y_column = None if several else _column_name(y, "y")
        # the response columns: one, or several responses (NaN where missing)
        self.y_columns = (_column_names(y, "y") if several
                          else [] if self.y_column is None else [self.y_column])
        self.weight_column = _column_name(weights, "weights")
        if not isinstance(fit_intercept, (bool, np.bool_)):
            raise ValueError(f"fit_intercept must be True or False; got {fit_intercept!r}")
        self.fit_intercept = bool(fit_intercept)
        self._dataset = _dataset(path)
        self._fingerprints = {f: file_fingerprint(f) for f in self._dataset.files}
        self._check_schema()
        self.n_features = len(self.x_columns)
        self.n_design = self.n_features + int(fit_intercept)
        self.n_rows, self.total_weight, stats = self._first_pass()
        self._moments = stats
        if self.n_rows == 0:
            raise ValueError(f"{str(path)!r} has no rows")
        self.standardization = Standardization.choose(
            standardization, standardize, lambda: self._standardization(*stats),
            self.n_features, fit_intercept,
        )

    # ------------------------------------------------------------------ reading
    @property
    def columns(self) -> list[str]:
        """The columns read from the file."""
        cols = list(self._matrix_columns) + self.y_columns + self.limit_columns
        cols += [self.weight_column] if self.weight_column is not None else []
        return cols

    def _check_schema(self) -> None:
        import pyarrow.types as pat

        schema = self._dataset.schema
        for col in self.columns + ([self.group_column] if self.group_column else []):
            if col not in schema.names:
                raise ValueError(
                    f"column {col!r} is not in {str(self.path)!r}; it has "
                    f"{', '.join(schema.names)}"
                )
            kind = schema.field(col).type
            if col == self.group_column and col not in self.columns:
                continue
            if not (pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind)):
                raise ValueError(f"column {col!r} is not numeric (type {kind})")

    def _record_batches(self, columns: list[str], batch_size: int,
                        use_threads: bool = True) -> Iterator:
        """pyarrow's record batches of ``columns`` in file order, two read ahead
        (decoded on pyarrow's threads, or with ``use_threads=False`` on the calling
        thread); a read error (a file changed or damaged since the source was created)
        becomes a ValueError naming the path."""
        import pyarrow as pa

        self.check_unchanged()
        batches = self._dataset.to_batches(columns=columns, batch_size=batch_size,
                                           batch_readahead=2, fragment_readahead=1,
                                           use_threads=use_threads)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                self.check_unchanged()
                return
            except (OSError, pa.ArrowException) as err:
                raise ValueError(f"cannot read {str(self.path)!r}: {err} (has it changed "
                                 "since the source was created?)") from None
            yield batch

    def check_unchanged(self) -> None:
        """Raise a ValueError naming the file when a file of the source has changed
        (size, modification time or footer: :func:`file_fingerprint`) or gone since
        the source was created; every pass checks at its start and at its end."""
        for name, fingerprint in self._fingerprints.items():
            try:
                now = file_fingerprint(name)
            except OSError as err:
                raise ValueError(f"cannot read {name!r}, a file of this ParquetData: "
                                 f"{err.strerror or err}") from None
            if now != fingerprint:
                what = ("size" if now[0] != fingerprint[0] else
                        "modification time" if now[1] != fingerprint[1] else "footer")
                raise ValueError(f"{name!r} has changed since its ParquetData was made "
                                 f"(its {what} differs); make a new ParquetData to fit "
                                 "the new contents")

    def _split_table(self, table: np.ndarray) -> tuple:
        """``(X, y, w, L)`` views of a column table of :attr:`columns` (X the matrix
        columns, Fortran-ordered; y and w contiguous, or None; L the limit columns or
        None)."""
        width = len(self._matrix_columns)
        y = (table[:, width] if self.y_column is not None
             else table[:, width : width + len(self.y_columns)] if self.y_columns else None)
        w = table[:, -1] if self.weight_column is not None else None
        m = len(self.limit_columns)
        L = table[:, width : width + m] if m else None
        return table[:, :width], y, w, L

    def _batches(self, batch_size: int) -> Iterator[tuple]:
        """(start, X, y, w, g, L) blocks in file order, validated (g: group labels or
        None; L: the rows' censoring limits (rows, 4), with ``y`` their representative
        values, or None)."""
        start = 0
        columns = self.columns + ([self.group_column] if self.group_column else [])
        for batch in self._record_batches(columns, batch_size):
            n = batch.num_rows
            if n == 0:
                continue
            X, y, w, L = self._split_table(_column_table(batch, self.columns))
            if L is not None:
                check_magnitude(np.where(np.isfinite(L), L, 0.0), repr(str(self.path)),
                                self.limit_columns)
                y, L = interval_limits(L, name=f"the limit columns {self.limit_columns}",
                                       start=start)
            self._check_block(start, X, y, w)
            if self.censoring is not None:
                lower, upper, truncation = self.censoring
                L = point_limits(y, lower, upper, truncation,
                                 name=f"column {self.y_column!r}", start=start)
            g = None
            if self.group_column is not None:
                g = batch.column(self.group_column).to_numpy(zero_copy_only=False)
                if batch.column(self.group_column).null_count:
                    raise ValueError(f"group column {self.group_column!r} has a missing "
                                     f"label in the rows from {start}")
            yield start, X, y, w, g, L
            start += n

    def _aligned_blocks(self, batch_size: int) -> Iterator[tuple]:
        """The fixed reduction blocks as (start, X, y, w, g, L): :data:`REDUCTION_BLOCK`
        rows from row 0, or for grouped rows ranges that end on group boundaries (as
        :meth:`ArrayData.blocks`), whatever the batches pyarrow returns; the rows of an
        unfinished block wait for the next batch."""
        block = REDUCTION_BLOCK
        if self.group_column is None:
            yield from _whole_blocks(self._batches(max(int(batch_size), block)), block)
            return
        pending = None  # grouped rows: blocks end on group boundaries
        for batch in self._batches(max(int(batch_size), block)):
            previous = None if pending is None else pending[4][-1]
            check_sorted_groups(batch[4], repr(self.group_column), batch[0],
                                previous=previous)
            if pending is not None:
                batch = (pending[0], *(None if a is None else np.concatenate([a, b])
                                       for a, b in zip(pending[1:], batch[1:], strict=True)))
            n = batch[1].shape[0]
            ranges = aligned_ranges(group_starts(batch[4]), n, block)
            for a, b in ranges[:-1]:
                yield (batch[0] + a, *(None if v is None else v[a:b] for v in batch[1:]))
            a = ranges[-1][0]
            pending = (batch[0] + a, *(None if v is None else v[a:] for v in batch[1:]))
        if pending is not None and pending[1].shape[0]:
            yield pending

    def _check_block(self, start, X, y, w) -> None:
        """Raise a ValueError naming the column and row of the first missing,
        non-finite, negative (weights) or too large value of a block."""

        # NaN propagates to the extremes: a clean block is checked in one read
        lo, hi = column_extremes(X)
        if y is not None and y.ndim == 2:  # several responses: NaN marks a missing one
            self._check_responses(start, y)
            y = None
        y_lo, y_hi = (y.min(), y.max()) if y is not None else (0.0, 0.0)
        w_lo, w_hi = (w.min(), w.max()) if w is not None else (0.0, 0.0)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()
                and np.isfinite([y_lo, y_hi, w_lo, w_hi]).all()):
            for name, arr in [*zip(self._matrix_columns, X.T, strict=True),
                              (self.y_column, y), (self.weight_column, w)]:
                if arr is None:
                    continue
                bad = ~np.isfinite(arr)
                if bad.any():
                    row = start + int(np.argmax(bad))
                    raise ValueError(f"column {name!r} has a missing or non-finite value at "
                                     f"row {row}")
        if w is not None and w_lo < 0:
            row = start + int(np.argmax(w < 0))
            raise ValueError(f"weight column {self.weight_column!r} is negative at row {row}")
        check_magnitude(X, repr(str(self.path)), self._matrix_columns, extremes=(lo, hi))
        if y is not None:
            check_magnitude(y, f"{str(self.path)!r} column {self.y_column!r}",
                            extremes=(np.array([y_lo]), np.array([y_hi])))

    def _check_responses(self, start: int, y: np.ndarray) -> None:
        """Several responses of a block: each observed value finite and not too large."""
        for name, col in zip(self.y_columns, y.T, strict=True):
            bad = np.isinf(col)
            if bad.any():
                raise ValueError(f"column {name!r} has a non-finite value at row "
                                 f"{start + int(np.argmax(bad))}")
            seen = col[~np.isnan(col)]
            if seen.size:
                check_magnitude(seen, f"{str(self.path)!r} column {name!r}")

    # ------------------------------------------------------------------ plain row batches
    @property
    def batch_rows(self) -> bool:
        """Whether :meth:`row_batches` applies: the source has one response column and
        neither group columns nor censoring limits (concomitant columns come with the
        rows)."""
        return (self.y_column is not None and self.group_column is None
                and not self.limit_columns and self.censoring is None)

    @property
    def plain_rows(self) -> bool:
        """Whether :meth:`row_batches` applies and the rows have no concomitant
        columns."""
        return self.batch_rows and not self.z_columns

    def row_batches(self, batch_size: int, *, validate: bool = True) -> Iterator[tuple]:
        """Rows in user units as ``(start, X, y, w, Z)``, one per record batch, for the
        compiled pass.

        ``X`` (rows, n_features) and ``Z`` (rows, concomitant columns; None without
        them) are Fortran-ordered float64 views of one array that holds the batch's
        columns one after the other (pyarrow fills it in one copy, missing values as
        NaN), ``y`` and ``w`` are views of the columns after it. Batches hold at most
        ``batch_size`` rows and follow the file's row groups, so their sizes vary. Only
        for :attr:`batch_rows`. With ``validate=False`` the values are not checked again
        (they were when the source was created).
        """
        start, p = 0, self.n_features
        # decoded on the calling thread (the compiled pass's reader): pyarrow's own
        # threads would compete with the kernel for the cores
        for batch in self._record_batches(self.columns, int(batch_size), use_threads=False):
            if batch.num_rows == 0:
                continue
            XZ, y, w, _ = self._split_table(_column_table(batch, self.columns))
            if validate:
                self._check_block(start, XZ, y, w)
            yield start, XZ[:, :p], y, w, XZ[:, p:] if self.z_columns else None
            start += XZ.shape[0]

    def _first_pass(self):
        """Row count, total weight and shifted sums for the standardisation."""
        n, wsum = 0, 0.0
        shift_x = shift_y = None
        sx = sxx = lo = hi = None
        sy = syy = 0.0
        self.n_groups = 0 if self.group_column is not None else None
        self.observed_weight = 0.0
        ones = np.ones(REDUCTION_BLOCK)
        for _, X, y, w, g, L in self._aligned_blocks(1 << 16):
            if g is not None:
                self.n_groups += len(group_starts(g))
            if w is None and ones.shape[0] < X.shape[0]:  # a long group block
                ones = np.ones(X.shape[0])
            ww = ones[: X.shape[0]] if w is None else w
            if shift_x is None:
                shift_x = X.mean(axis=0)
                shift_y = float(y.mean()) if y is not None and y.ndim == 1 else 0.0
                sx = np.zeros(X.shape[1])
                sxx = np.zeros(X.shape[1])
                lo = np.full(X.shape[1], np.inf)
                hi = np.full(X.shape[1], -np.inf)
            block_lo, block_hi = column_extremes(X)
            lo, hi = np.minimum(lo, block_lo), np.maximum(hi, block_hi)
            dx = X - shift_x
            sx += ww @ dx
            sxx += ww @ (dx * dx)
            if y is not None and y.ndim == 1:  # (several responses are not standardised)
                dy = y - shift_y
                sy += float(ww @ dy)
                syy += float(ww @ (dy * dy))
            n += X.shape[0]
            wsum += float(ww.sum())
            self.observed_weight += float(ww.sum() if L is None else ww[observed_rows(L)].sum())
        return n, wsum, (shift_x, shift_y, sx, sxx, sy, syy, wsum, lo, hi)

    def _standardization(self, shift_x, shift_y, sx, sxx, sy, syy, wsum, lo,
                         hi) -> Standardization:
        if not wsum > 0:
            raise ValueError("the sample weights sum to zero")
        mean_dx, mean_dy = sx / wsum, sy / wsum
        if self.fit_intercept:
            x_loc = shift_x + mean_dx
            x_scale = np.sqrt(np.maximum(sxx / wsum - mean_dx**2, 0.0))
            y_loc = shift_y + mean_dy
            y_scale = np.sqrt(max(syy / wsum - mean_dy**2, 0.0))
        else:
            x_loc = np.zeros(shift_x.shape[0])
            # root mean square about zero
            x_scale = np.sqrt(np.maximum(sxx / wsum + 2 * shift_x * mean_dx + shift_x**2, 0))
            y_loc = 0.0
            y_scale = np.sqrt(max(syy / wsum + 2 * shift_y * mean_dy + shift_y**2, 0.0))
        if not y_scale > 0:
            y_scale = 1.0
        if self.fit_intercept:  # constant columns: centred on their exact value
            constant = lo == hi
            x_loc[constant] = lo[constant]
            x_scale[constant] = 0.0
        p = self.n_features
        x_scale = _safe_scale(x_scale)
        z_loc = x_loc[p:] if self.z_columns else None
        z_scale = x_scale[p:] if self.z_columns else None
        return Standardization(x_loc[:p], x_scale[:p], float(y_loc), float(y_scale),
                               self.fit_intercept, z_loc, z_scale)

    # ------------------------------------------------------------------ the source protocol
    def iter_chunks(self, chunk_size: int) -> Iterator[Chunk]:
        """Standardised chunks, one per reduction block, in file order (``chunk_size`` is
        the number of rows read at a time)."""
        p = self.n_features
        for start, X, y, w, g, L in self._aligned_blocks(chunk_size):
            yield make_chunk(start, X[:, :p], y, w, self.standardization,
                             Z=X[:, p:] if self.z_columns else None,
                             group_starts=None if g is None else group_starts(g), limits=L)

    def feature_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean and standard deviation of each feature, from the first pass."""
        shift_x, _, sx, sxx, _, _, wsum, lo, hi = self._moments
        mean_dx = sx / wsum
        std = np.sqrt(np.maximum(sxx / wsum - mean_dx**2, 0.0))
        std[lo == hi] = 0.0
        p = self.n_features
        return (shift_x + mean_dx)[:p], std[:p]

    def with_censoring(self, lower: float | None, upper: float | None,
                       truncation: tuple[float, float] | None) -> ParquetData:
        """The same rows with the response column read as censored at the constant
        points ``lower``/``upper`` and truncated at ``truncation`` (the censored
        Gaussian family's constant limits; see :func:`regmix.core.limits.point_limits`):
        each block's limits are made from its values as they are read.

        Raises
        ------
        ValueError
            For a source without one response column (limit columns, several
            responses, none).
        """
        import copy

        check_one_response_column(self)
        new = copy.copy(self)
        new.censoring = (lower, upper, truncation)
        # one pass: the limits checked, and the weight of the observed (uncensored)
        # rows, whose densities carry the response's unit
        new.n_rows, new.total_weight, new._moments = new._first_pass()
        return new

    def plain(self) -> ParquetData:
        """The same rows in user units (no standardisation), without reading the file
        again: the row count, weights and moments carry over."""
        import copy

        new = copy.copy(self)
        new.standardization = Standardization.identity(self.n_features, self.fit_intercept)
        return new

    def subsample(self, size: int, seed: int) -> ArrayData:
        """About ``size`` rows drawn by a per-row hash, held in memory, same units."""

        fraction = size / self.n_rows
        Xs: list[np.ndarray] = []
        ys: list[Any] = []  # arrays, or None for an absent column (then not read)
        ws: list[Any] = []
        gs: list[Any] = []
        Ls: list[Any] = []
        for start, X, y, w, g, L in self._aligned_blocks(1 << 16):
            u = row_uniforms(seed, start, start + X.shape[0], 1)[:, 0]
            if g is not None:  # whole groups, by the draw of their first row
                starts = group_starts(g)
                u = np.repeat(u[starts], np.diff(np.append(starts, X.shape[0])))
            keep = u < fraction
            Xs.append(X[keep])
            ys.append(None if y is None else y[keep])
            ws.append(None if w is None else w[keep])
            gs.append(None if g is None else g[keep])
            Ls.append(None if L is None else L[keep])
        XZ = np.concatenate(Xs)
        p = self.n_features
        return ArrayData(
            XZ[:, :p],
            np.concatenate(ys) if self.y_columns or self.limit_columns else None,
            None if self.weight_column is None else np.concatenate(ws),
            fit_intercept=self.fit_intercept,
            standardization=self.standardization,
            Z=XZ[:, p:] if self.z_columns else None,
            groups=(None if self.group_column is None
                    else np.unique(np.concatenate(gs), return_inverse=True)[1]),
            limits=(np.concatenate(Ls) if self.limit_columns or self.censoring is not None
                    else None),
        )
