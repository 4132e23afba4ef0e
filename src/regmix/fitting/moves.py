"""Split and merge moves: new starting memberships built from a fitted mixture.

A move takes the posterior probabilities of a mixture with K' components and turns
them into memberships for K components, from which one M-step gives a start:

* **merge** ``(i, j)``: the two components' memberships are added (K' - 1);
* **split** ``(k, how)``: component k's memberships are shared out between two new
  components by a rule on each row (K' + 1);
* **swap** ``(i, j)``: components i and j exchange their memberships (K' stays), for a
  mixture with a family per component, where which family takes which rows is a
  choice EM does not revisit (a Gamma component on the tight rows and a log-normal one
  on the spread-out rows, or the other way round).

A split-and-merge move (Ueda, Nakano, Ghahramani and Hinton, 2000, Neural Computation
12, 2109-2128) does both, so that K stays the same: it moves a component from where
two overlap to where one is stretched over two regressions. The same moves give K from
a K - 1 fit (a split) or from a K + 1 fit (a merge), as the component-number path of
:func:`regmix.selection.select_components` uses.

How a component is split, for a regression, by the rows' residuals from its line:

* ``"residual"``: rows above the line go to one half, rows below to the other;
* ``("crossing", j)``: the residual's sign times the sign of design column j about its
  mean, for two lines that cross inside the component;
* ``("position", j)``: the rows left and right of the mean of design column j, for a
  component that spans two regressions side by side;
* ``"spread"`` (families with a scale ``sigma``): rows within ``0.674 sigma`` of the
  line (half of them, for a normal component) against the others, for a tight
  component inside a wide one.

A **seed** adds a component where none of the fitted ones is: a line that runs
through a small set of rows (about ``1.25 * min_weight`` of them) more tightly than
the others, found by elemental subsets and concentration steps (:func:`seed_lines`,
the idea of Rousseeuw and Van Driessen's FAST-LTS, 2006, Data Min. Knowl. Discov. 12,
29-45). The rows within its reach go to the new component, from whichever component
held them. Such small components are where EM from spread-out starts rarely goes, and
with ``min_weight`` they are often where the highest admissible maximum is. Lines are
also ranked by what a new component on them would add to a fitted mixture's
log-likelihood (:func:`line_gains`): a line through rows the mixture fits poorly, such
as a tight line inside a wide component, gains even where tighter lines elsewhere do
not.

For grouped data a group goes whole to one half, by the sum of its rows' rule values.
The memberships are computed chunk by chunk in the pass that makes the start (see
:meth:`regmix.engine.runner.PassRunner.given`), so a move costs one pass and no array
the size of the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from regmix.core.chunk import Chunk
from regmix.core.params import MixtureParams
from regmix.engine.passes import chunk_posteriors

SplitRule = str | tuple[str, int]

# The share of every row that every component keeps after a move.
MEMBERSHIP_FLOOR = 1e-3


# Elemental subsets drawn, and concentration steps taken from each, by seed_lines.
SEED_SUBSETS = 200
SEED_C_STEPS = 3


@dataclass(frozen=True)
class SeedLine:
    """A line for a new component: coefficients of the design (internal units) and
    the largest absolute residual of the rows it takes."""

    coef: tuple[float, ...]
    reach: float

    def near(self, XT: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Which rows of ``XT`` (p, n) and ``y`` (less any offset) are within the
        line's reach, bool (n,)."""
        return np.abs(y - np.asarray(self.coef) @ XT) <= self.reach


@dataclass(frozen=True)
class Move:
    """An exchange of the memberships of the pairs in ``swaps`` (applied first), a
    merge of the pairs in ``merges`` (in order, each on the component list left by the
    previous one), then the splits in ``splits`` (component index in the merged list,
    and the rule), then a new component for each line of ``seeds``; see the module
    docstring."""

    merges: tuple[tuple[int, int], ...] = ()
    splits: tuple[tuple[int, SplitRule], ...] = ()
    seeds: tuple[SeedLine, ...] = ()
    swaps: tuple[tuple[int, int], ...] = ()

    def n_components(self, k_from: int) -> int:
        """Components after the move, from ``k_from``."""
        return k_from - len(self.merges) + len(self.splits) + len(self.seeds)


def split_rules(n_design: int, fit_intercept: bool, scale: bool,
                mean: bool = True) -> list[SplitRule]:
    """The split rules for a design of ``n_design`` columns: by the residual, by its
    size (with a ``scale``), then by crossing and by position along each non-constant
    column. A family without a ``mean`` method (a user's family may lack it) has no
    residuals: only the position rules."""
    columns = range(int(fit_intercept), n_design)
    residual: list[SplitRule] = (
        ["residual"] + (["spread"] if scale else []) + [("crossing", j) for j in columns]
        if mean else [])
    return residual + [("position", j) for j in columns]


class MoveMemberships:
    """Memberships after a :class:`Move` from ``params`` (a mixture with K' components),
    as a responsibility function of a chunk, shape (K, rows).

    Parameters
    ----------
    family, mixing
        The family and mixing model of ``params``.
    params : MixtureParams
        The fitted mixture the move starts from.
    move : Move
        What to merge and split.
    centre : ndarray of shape (n_design,)
        The mean of each design column (the ``"crossing"`` and ``"position"`` rules
        split about it).
    """

    def __init__(self, family, mixing, params: MixtureParams, move: Move,
                 centre: np.ndarray) -> None:
        self.family, self.mixing, self.params = family, mixing, params
        self.move, self.centre = move, np.asarray(centre, dtype=np.float64)

    def __call__(self, chunk: Chunk) -> np.ndarray:
        resp = chunk_posteriors(chunk, self.family, self.mixing, self.params)[0]
        rows: list[np.ndarray] = list(resp)
        for i, j in self.move.swaps:
            rows[i], rows[j] = rows[j], rows[i]
        # which of the original components each current row of memberships follows
        # (the residual rules need a line); a merged pair follows the heavier one
        owner = list(range(len(rows)))
        weights = list(self.params.weights)
        for i, j in self.move.merges:
            i, j = min(i, j), max(i, j)
            rows[i] = rows[i] + rows[j]
            if weights[j] > weights[i]:
                owner[i] = owner[j]
            weights[i] += weights[j]
            del rows[j], owner[j], weights[j]
        if not self.move.splits:
            return self._floored(self._seeded(chunk, rows))
        mean = None
        if any(isinstance(rule, str) or rule[0] == "crossing" for _, rule in self.move.splits):
            mean = self.family.mean(self.params.component, chunk.XT, chunk.offset)
        new_rows = list(rows)
        extra = []
        for k, rule in self.move.splits:
            side = self._side(chunk, rule, None if mean is None else mean[owner[k]],
                              owner[k])
            extra.append(rows[k] * (1.0 - side))
            new_rows[k] = rows[k] * side
        return self._floored(self._seeded(chunk, new_rows + extra))

    def _seeded(self, chunk: Chunk, rows: list[np.ndarray]) -> np.ndarray:
        """``rows`` with a new component for each seed line, which takes the rows
        within its reach from the others."""
        out = np.asarray(rows)
        for seed in self.move.seeds:
            y = chunk.y if chunk.offset is None else chunk.y - chunk.offset
            near = seed.near(chunk.XT, y).astype(np.float64)
            out = np.vstack([out * (1.0 - near), near])
        return out

    @staticmethod
    def _floored(memberships: np.ndarray) -> np.ndarray:
        """Every component keeps a share ``MEMBERSHIP_FLOOR`` of every row, so that a
        half that no row went to still has a well-defined M-step (the fit to all rows,
        at a weight so small that the run from it ends at once as collapsed)."""
        return (1.0 - MEMBERSHIP_FLOOR) * memberships + MEMBERSHIP_FLOOR / memberships.shape[0]

    def _side(self, chunk: Chunk, rule: SplitRule, mean: np.ndarray | None,
              k: int) -> np.ndarray:
        """The share (0 or 1, or 0.5 on a tie) of each row kept by the first half; ``k``
        is the original component whose line the residual rules use."""
        y = chunk.y if chunk.trials is None else chunk.y / chunk.trials
        if rule == "residual":
            value = y - mean
        elif rule == "spread":
            value = 0.674 * self.params.component.sigma[k] - np.abs(y - mean)
        else:
            kind, j = rule
            x = chunk.XT[j] - self.centre[j]
            value = x if kind == "position" else (y - mean) * x
        if chunk.group_starts is not None:
            sizes = np.diff(np.append(chunk.group_starts, value.shape[0]))
            value = np.repeat(np.add.reduceat(value, chunk.group_starts), sizes)
        return np.where(value > 0, 1.0, np.where(value < 0, 0.0, 0.5))


@dataclass(frozen=True)
class LineCandidates:
    """Candidate lines for seeds, as :func:`line_candidates` finds them.

    Attributes
    ----------
    coef : ndarray of shape (lines, p)
        Each line's coefficients (internal units).
    near : ndarray of shape (lines, size)
        The indices of the ``size`` rows closest to each line.
    close : ndarray of shape (lines, size)
        Their absolute residuals.
    """

    coef: np.ndarray
    near: np.ndarray
    close: np.ndarray

    @property
    def n_lines(self) -> int:
        """How many candidates there are."""
        return int(self.coef.shape[0])

    @staticmethod
    def join(parts: Sequence[LineCandidates]) -> LineCandidates:
        """The candidates of ``parts`` (of the same rows and size) together."""
        return LineCandidates(*(np.concatenate([getattr(c, name) for c in parts])
                                for name in ("coef", "near", "close")))


def line_candidates(XT: np.ndarray, y: np.ndarray, size: int, rng: np.random.Generator,
                    n_subsets: int = SEED_SUBSETS, rows: np.ndarray | None = None
                    ) -> LineCandidates | None:
    """Lines that each run tightly through ``size`` of the rows.

    ``n_subsets`` elemental subsets (as many rows as design columns, drawn by ``rng``
    from ``rows``, by default all rows) each give the line through them;
    :data:`SEED_C_STEPS` concentration steps refit each line by least squares to the
    ``size`` rows (of all of them) closest to it.

    Parameters
    ----------
    XT : ndarray of shape (p, n)
        Design, transposed (internal units).
    y : ndarray of shape (n,)
        Response (less any offset).
    size : int
        Rows per line, at least ``p + 1``.
    rng : numpy.random.Generator
    n_subsets : int, default=SEED_SUBSETS
        Elemental subsets drawn.
    rows : ndarray of int, optional
        The rows the subsets are drawn from.

    Returns
    -------
    LineCandidates or None
        None when no subset gives a line (too few rows, or all singular).
    """
    p, n = XT.shape
    pool = n if rows is None else len(rows)
    if size < p + 1 or n < 2 * size or pool < p:
        return None
    A = XT.T
    subsets = np.sort(rng.integers(0, pool, size=(n_subsets, p)), axis=1)
    distinct = np.all(np.diff(subsets, axis=1) > 0, axis=1) if p > 1 else np.ones(
        n_subsets, dtype=bool)
    picked = subsets[distinct] if rows is None else np.asarray(rows)[subsets[distinct]]
    M = A[picked]
    ok = np.abs(np.linalg.det(M)) > 1e-10 * np.prod(np.abs(M).max(axis=1) + 1e-300, axis=1)
    if not np.any(ok):
        return None
    coef = np.linalg.solve(M[ok], y[picked[ok]][..., None])[..., 0]
    ridge = 1e-10 * np.eye(p)
    for _ in range(SEED_C_STEPS):
        res = np.abs(y - coef @ XT)
        near = np.argpartition(res, size - 1, axis=1)[:, :size]
        As = A[near]  # (lines, size, p)
        G = np.einsum("lip,liq->lpq", As, As)
        G += ridge * np.trace(G, axis1=1, axis2=2)[:, None, None]
        b = np.einsum("lip,li->lp", As, y[near])
        coef = np.linalg.solve(G, b[..., None])[..., 0]
    res = np.abs(y - coef @ XT)
    near = np.argpartition(res, size - 1, axis=1)[:, :size]
    return LineCandidates(coef, near, np.take_along_axis(res, near, axis=1))


def pick_lines(candidates: LineCandidates, order: np.ndarray, n_lines: int,
               taken: Sequence[set] = ()) -> list[SeedLine]:
    """The first ``n_lines`` candidates in ``order`` whose row sets overlap at most
    half of an earlier kept one's, and of each set of ``taken`` (rows of lines
    already used), as seed lines."""
    size = candidates.near.shape[1]
    kept: list[int] = []
    sets: list[set] = list(taken)
    for i in order:
        rows = set(candidates.near[i].tolist())
        if all(len(rows & other) <= size // 2 for other in sets):
            kept.append(int(i))
            sets.append(rows)
            if len(kept) == n_lines:
                break
    return [SeedLine(tuple(float(c) for c in candidates.coef[i]),
                     float(candidates.close[i].max())) for i in kept]


def seed_lines(XT: np.ndarray, y: np.ndarray, size: int, n_lines: int,
               rng: np.random.Generator, n_subsets: int = SEED_SUBSETS) -> list[SeedLine]:
    """Lines that each run tightly through ``size`` of the rows, for seeds.

    The candidates of :func:`line_candidates` are ranked by the sum of squares of
    their ``size`` rows' residuals, and the best ``n_lines`` whose row sets overlap
    an earlier one's by at most half are kept. ``XT``, ``y``, ``size``, ``rng`` and
    ``n_subsets`` are those of :func:`line_candidates`; ``n_lines`` is the most lines
    wanted.

    Returns
    -------
    list of SeedLine
    """
    if n_lines < 1:
        return []
    candidates = line_candidates(XT, y, size, rng, n_subsets)
    if candidates is None:
        return []
    order = np.argsort(np.sum(candidates.close**2, axis=1), kind="stable")
    return pick_lines(candidates, order, n_lines)


def line_gains(candidates: LineCandidates, XT: np.ndarray, y: np.ndarray,
               w: np.ndarray | None, row_ll: np.ndarray) -> np.ndarray:
    """The gain in log-likelihood of a new normal component on each candidate line.

    The new component has the line's coefficients, the root mean square of its
    ``size`` rows' residuals as its sigma and ``size / n`` as its weight ``pi``; the
    fitted components keep their densities, their weights scaled by ``1 - pi``. The
    gain is, summed over the rows (times their weights ``w``),
    ``log((1 - pi) f(y_i) + pi phi(y_i)) - log f(y_i)``, where ``log f`` is
    ``row_ll``, the rows' log-likelihood under the fitted mixture: a line through
    rows the mixture fits poorly gains, one through rows it fits well loses.

    Parameters
    ----------
    candidates : LineCandidates
        Lines found on these rows.
    XT : ndarray of shape (p, n)
    y : ndarray of shape (n,)
        Response (less any offset).
    w : ndarray of shape (n,) or None
        Row weights.
    row_ll : ndarray of shape (n,)
        Each row's log-likelihood under the fitted mixture.

    Returns
    -------
    ndarray of shape (lines,)
    """
    n = y.shape[0]
    size = candidates.near.shape[1]
    pi = size / n
    sigma = np.sqrt(np.mean(candidates.close**2, axis=1))
    sigma = np.maximum(sigma, 1e-8 * (np.std(y) + 1e-300))[:, None]
    z = (y - candidates.coef @ XT) / sigma
    log_phi = -0.5 * z**2 - np.log(sigma) - 0.5 * np.log(2.0 * np.pi)
    gain = np.logaddexp(np.log1p(-pi) + row_ll, np.log(pi) + log_phi) - row_ll
    return gain.sum(axis=1) if w is None else gain @ w


def merge_pairs(overlap: np.ndarray) -> list[tuple[int, int]]:
    """Component pairs ordered by how much their memberships overlap, most first.

    ``overlap`` is the (K, K) matrix ``sum_i w_i r_ik r_il``; the criterion is Ueda et
    al.'s cosine of the membership vectors, ``G_kl / sqrt(G_kk G_ll)``.
    """
    K = overlap.shape[0]
    d = np.sqrt(np.maximum(np.diag(overlap), 1e-300))
    cos = overlap / np.outer(d, d)
    pairs = [(i, j) for i in range(K) for j in range(i + 1, K)]
    return sorted(pairs, key=lambda ij: -cos[ij])


def split_merge_moves(n_components: int, pairs: Sequence[tuple[int, int]],
                      rules: Sequence[SplitRule], limit: int,
                      rng: np.random.Generator) -> list[Move]:
    """Split-and-merge moves that keep ``n_components``: each pair of ``pairs`` (in
    their order) merged, then one component of the merged list split by each rule;
    at most ``limit`` moves, the first pairs' moves kept whole and the rest drawn at
    random by ``rng``."""
    K = n_components
    moves = []
    for i, j in pairs:
        for k in range(K - 1):
            for rule in rules:
                moves.append(Move(merges=((i, j),), splits=((k, rule),)))
    if len(moves) <= limit:
        return moves
    # the moves of as many of the first pairs as fit, whole; the rest drawn
    whole = limit // ((K - 1) * len(rules)) * (K - 1) * len(rules)
    rest = whole + rng.choice(len(moves) - whole, size=limit - whole, replace=False)
    return moves[:whole] + [moves[t] for t in np.sort(rest)]
