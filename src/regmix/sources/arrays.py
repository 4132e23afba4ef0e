"""Row sources: where the rows of a fit come from, served chunk by chunk.

A source knows its row count and total weight and can hand out any row range as a
:class:`Chunk`: the design block (intercept column first when there is one), the
response and the sample weights, already standardised. Nothing downstream of a source
knows whether the rows sit in memory, in a file or on a cluster.

Standardisation (centring and scaling every column and the response) keeps the normal
equations well conditioned for data of any magnitude; the EM iterates are equivariant
under it, so it changes round-off only. :class:`Standardization` maps parameters between
the user's units and the internal ones.
"""

from __future__ import annotations

import numpy as np

from regmix.compiled import helpers
from regmix.compiled.helpers import column_moments, row_uniforms
from regmix.core.chunk import (
    REDUCTION_BLOCK,
    Chunk,
    Standardization,
    aligned_ranges,
    group_starts,
    make_chunk,
)
from regmix.core.limits import observed_rows


def _safe_scale(s: np.ndarray) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64).copy()
    s[~(s > 0)] = 1.0
    return s


# Rows from which column_extremes uses the compiled pass (when it is loaded).
_COMPILED_EXTREMES_ROWS = 65536


def column_extremes(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column minimum and maximum of a 2-D array, fast for row-major data.

    numpy reduces a C-ordered (n, p) array along its rows with an inner loop of length
    p; viewing the rows in groups of 32 gives inner loops 32 times longer. Large
    C-ordered float64 arrays go through the compiled
    :func:`regmix.compiled.helpers.column_extremes` (one threaded read instead of two)
    when the compiled functions are already loaded. NaN propagates to both results.
    """
    if X.ndim == 2 and X.shape[1] == 1:  # a column vector: contiguous 1-D reductions
        v = X.ravel()
        return v.min(keepdims=True), v.max(keepdims=True)
    if not (X.flags.c_contiguous and X.ndim == 2 and X.shape[0] >= 64):
        return X.min(axis=0), X.max(axis=0)
    if X.shape[0] >= _COMPILED_EXTREMES_ROWS and X.dtype == np.float64:

        if helpers.loaded():
            return helpers.column_extremes(X)
    n, p = X.shape
    r = 32
    m = (n // r) * r
    view = X[:m].reshape(m // r, r * p)
    lo = view.min(axis=0).reshape(r, p).min(axis=0)
    hi = view.max(axis=0).reshape(r, p).max(axis=0)
    if m < n:
        lo = np.minimum(lo, X[m:].min(axis=0))
        hi = np.maximum(hi, X[m:].max(axis=0))
    return lo, hi


def _location_scale(X: np.ndarray, w: np.ndarray | None, centre: bool,
                    block: int = 65536, compiled: bool = False):
    """Column locations and scales: :func:`column_summary` without the extremes."""
    return column_summary(X, w, centre, block, compiled)[2:]


def column_summary(X: np.ndarray, w: np.ndarray | None, centre: bool,
                   block: int = 65536, compiled: bool = False):
    """Column minima, maxima, locations (weighted means, or zeros without ``centre``)
    and scales.

    The scale is the weighted standard deviation (root mean square without ``centre``).
    Two passes over the rows: the (weighted) column sums by a matrix-vector product,
    then the squared deviations from the mean in blocks, without a temporary the size
    of ``X``. Columns beyond 1e100 in magnitude are divided by their largest value
    first, so that their squares do not overflow. A column that is constant is centred
    on its exact value and given scale 1, so that its centred values are exactly zero
    rather than round-off. With ``compiled`` (and a C-contiguous float64 ``X``) the
    compiled :func:`regmix.compiled.helpers.column_moments` does the same in two threaded
    reads of ``X``.
    """
    n, p = X.shape
    if compiled and X.flags.c_contiguous and X.dtype == np.float64 and n > 0:

        lo, hi, loc, scale = column_moments(X, w, centre)
        return (lo, hi, *_finish_location_scale(lo, hi, loc, scale, centre))
    lo, hi = column_extremes(X)
    big = np.maximum(np.abs(lo), np.abs(hi))
    inv = np.where(big > 1e100, 1.0 / np.where(big > 0, big, 1.0), 1.0)
    ones = np.ones(min(n, block))
    total = float(n) if w is None else float(w.sum())

    def weighted_sum(Zb: np.ndarray, s: int) -> np.ndarray:
        return (ones[: Zb.shape[0]] if w is None else w[s : s + block]) @ Zb

    loc = np.zeros(p)
    if centre:
        for s in range(0, n, block):
            Xb = X[s : s + block]
            loc += weighted_sum(Xb * inv if np.any(inv != 1.0) else Xb, s)
        loc /= total
    spread = np.zeros(p)
    for s in range(0, n, block):
        Zb = X[s : s + block] * inv
        Zb -= loc
        Zb *= Zb
        spread += weighted_sum(Zb, s)
    scale = np.sqrt(spread / total) / inv
    return (lo, hi, *_finish_location_scale(lo, hi, loc / inv, scale, centre))


def _finish_location_scale(lo, hi, loc, scale, centre: bool):
    if centre:
        constant = lo == hi
        loc[constant] = lo[constant]
        scale[constant] = 0.0
    return loc, _safe_scale(scale)


# Rows from which the response's robust scale is taken from a subsample (drawn by the
# per-row hash, so every source draws the same rows), and the subsample's seed.
ROBUST_SCALE_ROWS = 100_000


_ROBUST_SCALE_SEED = 20_240_601


# 1 / Phi^-1(3/4): the median absolute deviation of a normal sample times this estimates
# its standard deviation.
_MAD_TO_SD = 1.482602218505602


def weighted_median(v: np.ndarray, w: np.ndarray | None = None) -> float:
    """The median of ``v`` with weights ``w`` (rows of weight zero do not count).

    The mean of the lower and the upper weighted median, so that integer weights give
    ``np.median`` of the values repeated that many times.
    """
    if w is None:
        return float(np.median(v))
    keep = w > 0
    order = np.argsort(v[keep], kind="stable")
    vs, cum = v[keep][order], np.cumsum(w[keep][order])
    half = 0.5 * cum[-1]
    lower = vs[min(int(np.searchsorted(cum, half, side="left")), vs.size - 1)]
    upper = vs[min(int(np.searchsorted(cum, half, side="right")), vs.size - 1)]
    return 0.5 * (float(lower) + float(upper))


def robust_scale(y: np.ndarray, w: np.ndarray | None, centre: bool) -> float:
    """A scale of ``y`` that a few gross outliers do not inflate.

    1.4826 times the (weighted) median absolute deviation from the (weighted) median
    (from zero without ``centre``, as the standardisation does without an intercept):
    the standard deviation for normal data. Where at least half the weight sits on
    one value (the median absolute deviation is zero) it is the (weighted) standard
    deviation, or root mean square without ``centre``; 1.0 for a constant response.
    """
    if w is not None and np.any(w == 0):
        keep = w > 0
        y, w = y[keep], w[keep]
    centre_value = weighted_median(y, w) if centre else 0.0
    mad = weighted_median(np.abs(y - centre_value), w)
    if mad > 0:
        return _MAD_TO_SD * mad
    return float(_location_scale(y[:, None], w, centre)[1][0])


def robust_scale_rows(source) -> tuple[np.ndarray, np.ndarray | None]:
    """The responses and weights (user units) from which a row source's robust scale is
    taken: every row up to :data:`ROBUST_SCALE_ROWS` rows and a subsample of about that
    many rows, drawn by the per-row hash, beyond, so that every source of the same rows
    gives the same rows."""
    n = source.n_rows
    sub = source
    if n > ROBUST_SCALE_ROWS or not isinstance(source, ArrayData):
        sub = source.subsample(min(n, ROBUST_SCALE_ROWS), _ROBUST_SCALE_SEED)
    _, y, w = sub.arrays()
    return y, w


def response_robust_scale(source) -> float:
    """:func:`robust_scale` of a row source's response (centred when it fits an
    intercept), from the rows of :func:`robust_scale_rows`."""
    y, w = robust_scale_rows(source)
    return robust_scale(y, w, source.fit_intercept)


class ArrayData:
    """Rows held in memory as numpy arrays, served in standardised chunks.

    The caller's arrays are never written to: each chunk is a fresh buffer.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features, float64, validated.
    y : ndarray of shape (n_samples,)
        Response, float64, validated.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative row weights; None means all ones.
    fit_intercept : bool
        Whether the design gets a leading column of ones.
    standardize : bool, default=True
        Whether to centre and scale columns and response. When False the chunks carry
        the data in user units (used to evaluate a fitted model on new rows).
    standardization : Standardization, optional
        Use this map instead of computing one (so that a subsample shares its parent's
        internal units).
    offset : ndarray of shape (n_samples,), optional
        Known term of every component's linear predictor.
    trials : ndarray of shape (n_samples,), optional
        Binomial trials per row.
    scale_response : bool, default=True
        Whether standardisation also centres and scales the response (location-scale
        families); counts, proportions and positive responses are left as they are.
    Z : ndarray of shape (n_samples, q), optional
        Concomitant variables of the gating model (standardised like ``X``; the gating
        design adds an intercept).
    groups : ndarray of int of shape (n_samples,), optional
        Group codes, sorted (rows of a group are consecutive): chunks then hold whole
        groups.
    centre_x : bool, default=True
        Whether standardisation centres the features (when ``fit_intercept``); a
        constraint on the intercept needs uncentred features, where the intercept means
        the same in both units for every component.
    compiled : bool, default=False
        Whether to compute the standardisation with the compiled (numba) column pass,
        for large data whose fit loads the compiled kernel anyway.
    allowed : ndarray of int64 of shape (n_samples,), optional
        Known component labels as bits (see :class:`~regmix.core.chunk.Chunk`).
    limits : ndarray of shape (n_samples, 4), optional
        Censoring and truncation limits of a censored response in user units
        (``lower, upper, trunc_lower, trunc_upper``; see
        :class:`~regmix.core.chunk.Chunk`).
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray | None,
        sample_weight: np.ndarray | None,
        *,
        fit_intercept: bool,
        standardize: bool = True,
        standardization: Standardization | None = None,
        offset: np.ndarray | None = None,
        trials: np.ndarray | None = None,
        scale_response: bool = True,
        Z: np.ndarray | None = None,
        groups: np.ndarray | None = None,
        centre_x: bool = True,
        compiled: bool = False,
        allowed: np.ndarray | None = None,
        limits: np.ndarray | None = None,
    ) -> None:
        self.compiled = compiled
        self._X = X
        self._y = y
        self._w = sample_weight
        self.offset = offset
        self.trials = trials
        self.Z = Z
        self.groups = groups
        self.allowed = allowed
        self.limits = limits
        self.n_gating = 1 if Z is None else Z.shape[1] + 1
        self.scale_response = scale_response
        self.centre_x = centre_x
        self.fit_intercept = fit_intercept
        if groups is not None:
            if np.any(np.diff(groups) < 0):
                raise ValueError("ArrayData needs rows sorted by group")
            self._group_starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
            self.n_groups: int | None = len(self._group_starts)
        else:
            self.n_groups = None
        self.n_rows, self.n_features = X.shape
        self.n_design = self.n_features + int(fit_intercept)
        self.total_weight = float(self.n_rows if sample_weight is None else sample_weight.sum())
        self.standardization = Standardization.choose(
            standardization, standardize, self._standardization, self.n_features, fit_intercept
        )

    def _standardization(self) -> Standardization:
        X, y, w = self._X, self._y, self._w
        centre = self.fit_intercept and self.centre_x
        lo, hi, x_loc, x_scale = column_summary(X, w, centre, compiled=self.compiled)
        if centre:  # the same numbers as feature_moments: keep them
            self._moments = (x_loc.copy(), np.where(lo == hi, 0.0, x_scale))
        y_loc, y_scale = 0.0, 1.0
        if y is not None and self.scale_response:
            loc, scale = _location_scale(y[:, None], w, self.fit_intercept,
                                         compiled=self.compiled)
            y_loc, y_scale = float(loc[0]), float(scale[0])
        z_loc = z_scale = None
        if self.Z is not None:
            z_loc, z_scale = _location_scale(self.Z, w, True)
        return Standardization(x_loc, x_scale, y_loc, y_scale, self.fit_intercept, z_loc,
                               z_scale)

    @property
    def observed_weight(self) -> float:
        """The weight of the rows observed exactly (all rows without censoring limits):
        their log-densities carry the response's unit."""
        if self.limits is None:
            return self.total_weight
        exact = observed_rows(self.limits)
        return float(exact.sum() if self._w is None else self._w[exact].sum())

    def feature_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean and standard deviation of each feature in user units (what
        :meth:`RegressionMixture.sample` draws new features from)."""
        if getattr(self, "_moments", None) is not None:
            return self._moments
        mean, std = _location_scale(self._X, self._w, True)
        lo, hi = column_extremes(self._X)
        self._moments = (mean, np.where(lo == hi, 0.0, std))
        return self._moments

    @property
    def group_starts(self) -> np.ndarray | None:
        """The first row of each group (rows sorted by group), or None without groups."""
        return None if self.groups is None else self._group_starts

    def arrays(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The raw (user-unit) features, response and weights, never to be written to."""
        return self._X, self._y, self._w

    def subsample(self, size: int, seed: int) -> ArrayData:
        """About ``size`` rows drawn without replacement, in the same internal units.

        Rows are chosen by a per-row hash (see :mod:`regmix.core.rowhash`), so the choice
        does not depend on chunking.
        """

        fraction = size / self.n_rows
        step = (1 << 20) if self.compiled else (1 << 16)  # no draw for every row at once
        rows = np.concatenate([
            start + np.flatnonzero(row_uniforms(seed, start, min(start + step, self.n_rows),
                                                1, compiled=self.compiled)[:, 0] < fraction)
            for start in range(0, self.n_rows, step)] or [np.empty(0, dtype=np.intp)])
        if self.groups is not None:  # whole groups, by the draw of their first row
            sizes = np.diff(np.append(self._group_starts, self.n_rows))
            rows = np.flatnonzero(np.repeat(np.isin(self._group_starts, rows), sizes))
        return ArrayData(
            self._X[rows],
            None if self._y is None else self._y[rows],
            None if self._w is None else self._w[rows],
            fit_intercept=self.fit_intercept,
            standardization=self.standardization,
            offset=None if self.offset is None else self.offset[rows],
            trials=None if self.trials is None else self.trials[rows],
            scale_response=self.scale_response,
            Z=None if self.Z is None else self.Z[rows],
            groups=None if self.groups is None else self.groups[rows],
            centre_x=self.centre_x,
            allowed=None if self.allowed is None else self.allowed[rows],
            limits=None if self.limits is None else self.limits[rows],
        )

    def blocks(self) -> list[tuple[int, int]]:
        """The fixed reduction blocks: :data:`REDUCTION_BLOCK` rows from row 0 (for
        grouped rows: extended to group boundaries)."""
        return self.ranges(REDUCTION_BLOCK)

    def ranges(self, chunk_size: int) -> list[tuple[int, int]]:
        """Row ranges of about ``chunk_size`` rows covering every row once (for grouped
        rows: extended to the end of the last group, so that a range holds whole
        groups)."""
        n = self.n_rows
        if self.groups is None:
            return [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
        return aligned_ranges(self._group_starts, n, chunk_size)

    def chunk(self, start: int, stop: int) -> Chunk:
        """The standardised block of rows ``start..stop-1``."""
        y = None if self._y is None else self._y[start:stop]
        w = None if self._w is None else self._w[start:stop]
        offset = None if self.offset is None else self.offset[start:stop]
        trials = None if self.trials is None else self.trials[start:stop]
        Z = None if self.Z is None else self.Z[start:stop]
        starts = None
        if self.groups is not None:
            starts = group_starts(self.groups[start:stop])
        allowed = None if self.allowed is None else self.allowed[start:stop]
        limits = None if self.limits is None else self.limits[start:stop]
        return make_chunk(start, self._X[start:stop], y, w, self.standardization, offset,
                          trials, Z, starts, allowed, limits)
