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

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Chunk:
    """One block of rows, ready for the data pass.

    Attributes
    ----------
    start : int
        Global index of the first row (used for per-row random draws).
    XT : ndarray of shape (n_design, n_rows)
        Design block, transposed (one row per design column, intercept first when the
        model has one). The row-contiguous layout makes every per-component operation
        of the data pass a long contiguous vector operation.
    y : ndarray of shape (n_rows,)
        Response.
    w : ndarray of shape (n_rows,) or None
        Sample weights; None when every row has weight one.
    offset : ndarray of shape (n_rows,) or None
        Known term added to every component's linear predictor (internal units).
    trials : ndarray of shape (n_rows,) or None
        Binomial trials per row (``y`` then counts successes).
    ZT : ndarray of shape (n_gating, n_rows) or None
        Gating design (intercept row first, concomitant variables standardised), for
        mixing weights that depend on covariates.
    group_starts : ndarray of int or None
        For grouped data: the chunk-local index of the first row of each group (rows
        sorted by group; a chunk holds whole groups).
    """

    start: int
    XT: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    offset: np.ndarray | None = None
    trials: np.ndarray | None = None
    ZT: np.ndarray | None = None
    group_starts: np.ndarray | None = None

    @property
    def stop(self) -> int:
        return self.start + self.y.shape[0]


@dataclass(frozen=True)
class Standardization:
    """Affine map between user units and the internal standardised units.

    Internally ``x* = (x - x_loc) / x_scale`` and ``y* = (y - y_loc) / y_scale``.
    With an intercept the locations are the weighted means, without one they are zero
    (a shift would change the model).
    """

    x_loc: np.ndarray
    x_scale: np.ndarray
    y_loc: float
    y_scale: float
    fit_intercept: bool
    z_loc: np.ndarray | None = None
    z_scale: np.ndarray | None = None

    @classmethod
    def identity(cls, n_features: int, fit_intercept: bool) -> Standardization:
        return cls(np.zeros(n_features), np.ones(n_features), 0.0, 1.0, fit_intercept)

    @classmethod
    def choose(cls, given: Standardization | None, standardize: bool, compute,
               n_features: int, fit_intercept: bool) -> Standardization:
        """The map a row source uses: the one ``given``, else ``compute()`` when
        ``standardize``, else the identity (data served in user units)."""
        if given is not None:
            return given
        if standardize:
            return compute()
        return cls.identity(n_features, fit_intercept)

    def to_internal(self, coef_full: np.ndarray) -> np.ndarray:
        """Map (K, n_design) coefficients in user units to internal units."""
        coef_full = np.atleast_2d(coef_full)
        if self.fit_intercept:
            slopes = coef_full[:, 1:] * self.x_scale / self.y_scale
            icpt = (coef_full[:, 0] + coef_full[:, 1:] @ self.x_loc - self.y_loc) / self.y_scale
            return np.column_stack([icpt, slopes])
        return coef_full * self.x_scale / self.y_scale

    def gating_to_user(self, gamma: np.ndarray) -> np.ndarray:
        """Map (K, 1 + q) gating coefficients (intercept first) to user units."""
        if self.z_loc is None:
            return gamma.copy()
        slopes = gamma[:, 1:] / self.z_scale
        return np.column_stack([gamma[:, 0] - slopes @ self.z_loc, slopes])

    def gating_to_internal(self, gamma: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`gating_to_user`."""
        if self.z_loc is None:
            return gamma.copy()
        slopes = gamma[:, 1:] * self.z_scale
        return np.column_stack([gamma[:, 0] + gamma[:, 1:] @ self.z_loc, slopes])

    def to_user(self, coef_full: np.ndarray) -> np.ndarray:
        """Map (K, n_design) coefficients in internal units back to user units."""
        coef_full = np.atleast_2d(coef_full)
        if self.fit_intercept:
            slopes = coef_full[:, 1:] * self.y_scale / self.x_scale
            icpt = coef_full[:, 0] * self.y_scale + self.y_loc - slopes @ self.x_loc
            return np.column_stack([icpt, slopes])
        return coef_full * self.y_scale / self.x_scale


def make_chunk(start: int, X: np.ndarray, y: np.ndarray | None, w: np.ndarray | None,
               st: Standardization, offset: np.ndarray | None = None,
               trials: np.ndarray | None = None, Z: np.ndarray | None = None,
               group_starts: np.ndarray | None = None) -> Chunk:
    """A :class:`Chunk` from a block of raw rows: transposed, standardised by ``st``.

    Every row source builds its chunks here; the block is copied, never written to.
    The offset is on the scale of the linear predictor, so it is divided by the
    response's scale (which is 1 for families whose response is not standardised).
    """
    c = X.shape[0]
    XT = np.empty((X.shape[1] + int(st.fit_intercept), c))
    block = XT[1:] if st.fit_intercept else XT
    if st.fit_intercept:
        XT[0] = 1.0
    np.subtract(X.T, st.x_loc[:, None], out=block)
    block *= (1.0 / st.x_scale)[:, None]
    yc = np.zeros(c) if y is None else (y - st.y_loc) * (1.0 / st.y_scale)
    if offset is not None:
        offset = offset * (1.0 / st.y_scale)
    ZT = None
    if Z is not None:  # gating design: intercept row, then the standardised variables
        ZT = np.empty((Z.shape[1] + 1, c))
        ZT[0] = 1.0
        if st.z_loc is None:
            ZT[1:] = Z.T
        else:
            np.subtract(Z.T, st.z_loc[:, None], out=ZT[1:])
            ZT[1:] *= (1.0 / st.z_scale)[:, None]
    return Chunk(start, XT, yc, w, offset, trials, ZT, group_starts)


# Rows per reduction block. Every pass sums its per-row terms block by block over fixed
# row ranges (aligned to the row index, or to group boundaries) and adds the block sums in
# row order, so a result does not depend on the chunk size or the number of threads.
REDUCTION_BLOCK = 8192


def group_starts(labels: np.ndarray) -> np.ndarray:
    """Indices where a new group begins in consecutive ``labels`` (0 first)."""
    labels = np.asarray(labels)
    if labels.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])


def aligned_ranges(starts: np.ndarray, n: int, chunk_size: int) -> list[tuple[int, int]]:
    """Row ranges of about ``chunk_size`` rows that end on group boundaries (``starts``
    are the groups' first rows; a range is extended to the end of its last group)."""
    bounds = np.append(starts, n)
    out, s = [], 0
    while s < n:
        e = int(bounds[np.searchsorted(bounds, min(s + chunk_size, n))])
        out.append((s, e))
        s = e
    return out


def check_sorted_groups(labels: np.ndarray, name: str, start: int = 0, previous=None) -> None:
    """Raise unless ``labels`` are non-decreasing (rows of a group consecutive), also
    across the boundary with the ``previous`` block's last label."""
    labels = np.asarray(labels)
    if previous is not None and labels.shape[0]:
        labels = np.r_[np.asarray([previous], dtype=labels.dtype), labels]
        start -= 1
    try:
        bad = labels[1:] < labels[:-1]
    except TypeError:
        raise ValueError(f"group labels in {name} cannot be ordered (mixed types)") from None
    if np.any(bad):
        row = start + 1 + int(np.argmax(bad))
        raise ValueError(
            f"streamed groups need the rows sorted by {name}: the label at row {row} is "
            "smaller than the one before it (sort the data by the group column)")


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
    :func:`regmix._gaussian_kernel.column_extremes` (one threaded read instead of two)
    when the compiled functions are already loaded. NaN propagates to both results.
    """
    if X.ndim == 2 and X.shape[1] == 1:  # a column vector: contiguous 1-D reductions
        v = X.ravel()
        return v.min(keepdims=True), v.max(keepdims=True)
    if not (X.flags.c_contiguous and X.ndim == 2 and X.shape[0] >= 64):
        return X.min(axis=0), X.max(axis=0)
    if X.shape[0] >= _COMPILED_EXTREMES_ROWS and X.dtype == np.float64:
        from . import _gaussian_kernel

        if _gaussian_kernel.loaded():
            return _gaussian_kernel.column_extremes(X)
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
    compiled :func:`regmix._gaussian_kernel.column_moments` does the same in two threaded
    reads of ``X``.
    """
    n, p = X.shape
    if compiled and X.flags.c_contiguous and X.dtype == np.float64 and n > 0:
        from ._gaussian_kernel import column_moments

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
    ) -> None:
        self.compiled = compiled
        self._X = X
        self._y = y
        self._w = sample_weight
        self.offset = offset
        self.trials = trials
        self.Z = Z
        self.groups = groups
        self.n_gating = 1 if Z is None else Z.shape[1] + 1
        self.scale_response = scale_response
        self.centre_x = centre_x
        self.fit_intercept = fit_intercept
        if groups is not None:
            if np.any(np.diff(groups) < 0):
                raise ValueError("ArrayData needs rows sorted by group")
            self._group_starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
            self.n_groups = len(self._group_starts)
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

    def feature_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean and standard deviation of each feature in user units (what
        :meth:`RegressionMixture.sample` draws new features from)."""
        if getattr(self, "_moments", None) is not None:
            return self._moments
        mean, std = _location_scale(self._X, self._w, True)
        lo, hi = column_extremes(self._X)
        self._moments = (mean, np.where(lo == hi, 0.0, std))
        return self._moments

    def arrays(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The raw (user-unit) features, response and weights, never to be written to."""
        return self._X, self._y, self._w

    def subsample(self, size: int, seed: int) -> ArrayData:
        """About ``size`` rows drawn without replacement, in the same internal units.

        Rows are chosen by a per-row hash (see :mod:`regmix._rowhash`), so the choice
        does not depend on chunking.
        """
        from ._rowhash import row_uniforms

        fraction = size / self.n_rows
        if self.compiled:
            u = row_uniforms(seed, 0, self.n_rows, 1, compiled=True)[:, 0]
        else:
            u = np.concatenate([row_uniforms(seed, start, stop, 1)[:, 0]
                                for start, stop in self.ranges(1 << 16)])
        if self.groups is not None:  # whole groups, by the draw of their first row
            sizes = np.diff(np.append(self._group_starts, self.n_rows))
            u = np.repeat(u[self._group_starts], sizes)
        rows = np.flatnonzero(u < fraction)
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
        return make_chunk(start, self._X[start:stop], y, w, self.standardization, offset,
                          trials, Z, starts)
