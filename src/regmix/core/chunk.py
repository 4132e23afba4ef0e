"""Chunks of rows, the standardisation map, and the fixed reduction blocks.

A :class:`Chunk` is what every row source hands out and every family reads: the
transposed design, the response, weights, offsets, trials, gating design and group
starts of a row range. :class:`Standardization` maps user units to the internal units
in which EM runs. Rows are summed in fixed blocks of :data:`REDUCTION_BLOCK` rows
aligned to the row index, which makes every pass bit-identical for any chunking.
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
    y : ndarray of shape (n_rows,) or (n_rows, R)
        Response; several responses sharing the class (NaN where missing) are its R
        columns.
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
    allowed : ndarray of int64 of shape (n_rows,) or None
        Known component labels: bit ``k`` of a row's entry is set when the row may
        belong to component ``k`` (every bit for an unknown label); None when no label
        is known.
    limits : ndarray of shape (4, n_rows) or None
        Censoring and truncation limits of a censored response (internal units, like
        ``y``): the interval ``[lower, upper]`` that holds each row's latent response
        (equal limits for an observed value) and the truncation interval
        ``[trunc_lower, trunc_upper]`` outside which no row could have been observed,
        infinite where open; None when every row is observed exactly.
    """

    start: int
    XT: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    offset: np.ndarray | None = None
    trials: np.ndarray | None = None
    ZT: np.ndarray | None = None
    group_starts: np.ndarray | None = None
    allowed: np.ndarray | None = None
    limits: np.ndarray | None = None

    @property
    def stop(self) -> int:
        return self.start + self.y.shape[0]

    def allowed_mask(self, n_components: int) -> np.ndarray | None:
        """The (K, n) bool mask of the components each row may belong to (None without
        known labels)."""
        if self.allowed is None:
            return None
        shifts = np.arange(n_components, dtype=np.int64)[:, None]
        return ((self.allowed[None, :] >> shifts) & 1).astype(bool)

    def log_allowed(self, n_components: int) -> np.ndarray | None:
        """0 where a row may belong to a component and -inf where its known label rules
        the component out, (K, n); None without known labels."""
        mask = self.allowed_mask(n_components)
        return None if mask is None else np.where(mask, 0.0, -np.inf)

    def restrict(self, resp: np.ndarray) -> np.ndarray:
        """Memberships (K, n) restricted to the components each row may belong to and
        normalised again (equal over its allowed components where none is left)."""
        mask = self.allowed_mask(resp.shape[0])
        if mask is None:
            return resp
        out = np.where(mask, resp, 0.0)
        total = out.sum(axis=0)
        empty = ~(total > 0)
        out[:, empty] = mask[:, empty]
        total[empty] = mask[:, empty].sum(axis=0)
        return out / total


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
               group_starts: np.ndarray | None = None,
               allowed: np.ndarray | None = None,
               limits: np.ndarray | None = None) -> Chunk:
    """A :class:`Chunk` from a block of raw rows: transposed, standardised by ``st``.

    Every row source builds its chunks here; the block is copied, never written to.
    The offset is on the scale of the linear predictor, so it is divided by the
    response's scale (which is 1 for families whose response is not standardised);
    the censoring limits ``(c, 4)`` are standardised like the response and transposed.
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
            assert st.z_scale is not None  # set together with z_loc
            np.subtract(Z.T, st.z_loc[:, None], out=ZT[1:])
            ZT[1:] *= (1.0 / st.z_scale)[:, None]
    if limits is not None:  # infinite (open) limits stay infinite
        limits = np.ascontiguousarray(((limits - st.y_loc) * (1.0 / st.y_scale)).T)
    return Chunk(start, XT, yc, w, offset, trials, ZT, group_starts, allowed, limits)


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
