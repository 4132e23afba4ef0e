"""The search for the global maximum: starts, admissibility, split-and-merge, replication.

EM climbs to the nearest maximum of the likelihood; a mixture's likelihood has many.
:class:`StartSearch` is the default strategy that looks for the highest admissible one:

1. **Starts.** The given starts (for the default ``"short_em"`` each is the best of
   several short EM bursts, the emEM strategy of Biernacki, Celeux and Govaert, 2003,
   Comput. Statist. Data Anal. 41, 561-575) are run to convergence. A component's weight
   may dip below ``min_weight`` on the way: only a collapse below a tenth of it (where
   the component has lost its rows) ends a run. Admissibility, every weight at least
   ``min_weight``, is judged at convergence.
2. **Split and merge.** From the best solution (or, when none is admissible, the best
   inadmissible one), split-and-merge moves (:mod:`regmix.fitting.moves`; Ueda et al.,
   2000) merge two components whose memberships overlap and split one that may cover
   two regressions; with a family per component, swap moves exchange the rows of two
   components of different families (which family takes which rows is settled early in
   a run and not revisited by EM); and (in the first round from a solution) seed moves
   merge the most
   alike pair and add a component on a line that runs tightly through a few rows
   (:func:`regmix.fitting.moves.seed_lines`), or on one of the lines a new component
   would add most to the solution's log-likelihood on
   (:func:`regmix.fitting.moves.line_gains`): the small components that spread-out
   starts rarely reach, and where the highest admissible maximum often is. Seed moves
   are tried again in the first round from an admissible solution reached from an
   inadmissible one. Every move
   is run for a few EM steps; the most promising are run to convergence, and the best
   becomes the new solution if it is admissible and higher. For a family with shape
   parameters (Student-t degrees of freedom, Gamma shapes, negative-binomial sizes)
   the first round also runs to convergence from the solution's lines with the shapes
   back at their starting values, and with the heaviest tail's shapes exchanged with
   each other component's: which component's heavy tail takes the outlying rows is
   settled early in a run, and is settled anew from there, or handed to another
   component. Rounds go on until no move gains.
3. **Replication.** The runs taken to convergence from independent starting points,
   the starts and the moves from solutions other than the final one, are compared
   with the best: the number that reached it (to ``1e-5`` of the log-likelihood per
   unit of sample weight) is reported, as Mplus users check that "the best
   log-likelihood value has been replicated". When it is one, a further batch of
   starts is run (and moved from, if one of them is higher still, or if nothing
   admissible was found), and if the best is still found once, a wide round of moves
   from it continues ``wide`` times as many, before the count is final.

Extra starts (a K - 1 solution split, or given a component on each seed line; a K + 1
solution merged, as the component-number path of
:func:`regmix.selection.select_components` and the bootstrap test give) join the
starts of step 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from regmix.core.params import ComponentParams, MixtureParams
from regmix.engine.passes import chunk_posteriors
from regmix.fitting.em import fit_restarts, run_em
from regmix.fitting.initialization import Initializer, tail_columns
from regmix.fitting.moves import (
    SEED_SUBSETS,
    LineCandidates,
    Move,
    MoveMemberships,
    SeedLine,
    line_candidates,
    line_gains,
    merge_pairs,
    pick_lines,
    seed_lines,
    split_merge_moves,
    split_rules,
)
from regmix.fitting.state import EMRun, admissible, best_admissible

# The runs from moves stop when a step changes the mean log-likelihood by less than
# this (or the fit's tol, if larger); only a winning one is refined to the fit's tol.
SEARCH_TOL = 1e-8

# Two runs reached the same maximum when their log-likelihoods differ by less than this
# per unit of sample weight.
REPLICATION_TOL = 1e-5

# A move's short run whose sorted weights are this close to those of the solution it
# started from is taken to be on its way back there.
_RETURN_DISTANCE = 0.02

# A run ends as collapsed when a weight falls below this share of min_weight.
COLLAPSE_SHARE = 0.1

# Seed lines (see regmix.fitting.moves.seed_lines): how many, the share of the rows
# each takes (this many times min_weight, and at least SEED_SHARE_MIN), and the rows
# they are looked for in (a subsample of larger data).
SEED_LINES = 6
SEED_SHARE = 1.25
SEED_SHARE_MIN = 0.05
SEED_ROWS = 2000

# The seed lines of a bootstrap replicate's search (StartSearch.run_replicate), and the
# elemental subsets they are found among: more than the fit's, since no rounds of moves
# follow.
REPLICATE_SEED_LINES = 12
REPLICATE_SEED_SUBSETS = 500

# Seed lines ranked by their gain to a fitted mixture (StartSearch.gain_seeds): how
# many, the elemental subsets drawn within each component's rows, and the rows of the
# seed rows they are looked for and judged on.
GAIN_LINES = 3
GAIN_SUBSETS = 100
GAIN_ROWS = 400


def collapse_floor(min_weight: float) -> float:
    """The weight below which a run is ended as collapsed (see the module docstring)."""
    return COLLAPSE_SHARE * min_weight


@dataclass
class SearchOutcome:
    """What :class:`StartSearch` found.

    Attributes
    ----------
    best : EMRun or None
        The admissible run with the highest log-likelihood; None when there is none.
    runs : list of EMRun
        Every run taken to convergence, starts and moves.
    n_at_best : int
        Runs from independent starting points that reached ``best``'s log-likelihood.
    n_runs : int
        Runs from independent starting points (what ``n_at_best`` is out of).
    n_moves : int
        Split-and-merge moves tried.
    """

    best: EMRun | None
    runs: list[EMRun] = field(default_factory=list)
    n_at_best: int = 0
    n_runs: int = 0
    n_moves: int = 0


class StartSearch:
    """The default search of a fit (see the module docstring).

    Parameters
    ----------
    runner : regmix.engine.runner.PassRunner
        The rows, family and mixing model.
    n_components : int
        K.
    min_weight : float
        The smallest admissible weight.
    settings : dict
        ``max_iter``, ``tol``, ``accelerate``, ``verbose``, ``progress`` of the runs.
    split_merge : bool
        Whether to try split-and-merge moves after the starts.
    seed : int
        Seed of the moves' choice (when there are more than ``move_limit``).
    rate, rate_from
        Passed to :func:`regmix.fitting.em.run_em` for the runs to convergence.
    """

    # EM steps of a move before the most promising are continued
    move_iter = 5
    # admissible moves continued to convergence per round, out of at most move_tries
    # times as many
    move_continue = 2
    move_tries = 3
    # rounds of moves at most, in each of at most `chains` chains of rounds, from the
    # best distinct solutions of the starts
    max_rounds = 12
    chains = 2
    # how many times as many moves the round from a best found once continues
    wide = 4

    def __init__(self, runner, *, n_components: int, min_weight: float, settings: dict,
                 split_merge: bool = True, seed: int = 0,
                 rate: Callable | None = None, rate_from: float = 1e-2) -> None:
        self.runner = runner
        self.K = n_components
        self.min_weight = min_weight
        self.floor = collapse_floor(min_weight)
        self.settings = dict(settings)
        self.split_merge = split_merge and n_components >= 2
        self.rng = np.random.default_rng(seed)
        self.rate, self.rate_from = rate, rate_from
        self.initializer = Initializer(runner, n_components=n_components,
                                       min_weight=self.floor)
        source = runner.source
        scale = hasattr(runner.family.zero_params(n_components, source.n_design), "sigma")
        self.rules = split_rules(source.n_design, source.fit_intercept, scale,
                                 mean=hasattr(runner.family, "mean"))
        self.tol = REPLICATION_TOL * runner.total_weight
        # pairs of components of different families (a family per component), whose
        # rows a swap move exchanges
        members = [repr(f) for f in getattr(runner.family, "families", ())]
        self.swap_pairs = [(i, j) for i in range(len(members))
                           for j in range(i + 1, len(members)) if members[i] != members[j]]
        self._seed_lines: dict[tuple[int, int], list[SeedLine]] = {}
        self._seed_chunk: list = []  # the rows seeds are found on, once drawn
        self._gain_rows: np.ndarray | None = None

    # moves tried per round at most: move_limit_base + move_limit_per_k * K
    move_limit_base = 12
    move_limit_per_k = 6

    @property
    def move_limit(self) -> int:
        """Moves tried per round at most (drawn at random when there are more)."""
        return self.move_limit_base + self.move_limit_per_k * self.K

    def converge(self, starts: list[Callable[[], MixtureParams | EMRun]],
                 label: str = "start", tol: float | None = None,
                 max_iter: int | None = None) -> list[EMRun]:
        """Run EM from every start to convergence at ``tol`` (by default the fit's) in
        at most ``max_iter`` EM steps (by default the fit's)."""
        s = self.settings
        tol = s["tol"] if tol is None else tol
        max_iter = s["max_iter"] if max_iter is None else max_iter
        _, runs = fit_restarts(self.runner, starts, max_iter=max_iter, tol=tol,
                               min_weight=self.floor, accelerate=s["accelerate"],
                               verbose=s.get("verbose", 0), label=label,
                               progress=s.get("progress", False), rate=self.rate,
                               rate_from=self.rate_from)
        return runs

    def run(self, starts: list[Callable[[], MixtureParams | EMRun]],
            origins: list[MixtureParams] = (),
            more: Callable[[], list[Callable[[], MixtureParams | EMRun]]] | None = None
            ) -> SearchOutcome:
        """Search from ``starts``; see the module docstring.

        ``origins`` are fitted mixtures of the same rows with K - 1, K or K + 1
        components: each gives more starts, its components split one by one by every
        rule, taken as it is, or its pairs merged; like the moves, they are run for a
        few EM steps and the most promising continued. ``more()`` gives a further batch
        of starts, run when the best was reached from one starting point only (and
        moved from, when one of them is higher still).
        """
        self._loose: set[int] = set()
        self._n_moves = 0
        independent = self.converge(starts)
        for origin in origins:
            independent.extend(self._from_origin(origin))
        rounds: list[tuple[EMRun, list[EMRun]]] = []
        self._chains(independent, rounds)
        best = self._settle(independent, rounds)
        if more is not None and (best is None or self._count(
                independent, rounds, best)[0] == 1):
            extra = self.converge(more(), label="further start")
            independent.extend(extra)
            higher = best_admissible(extra, self.min_weight)
            if best is None:
                self._chains(extra, rounds)
            elif higher is not None and higher.loglik > best.loglik + self.tol:
                self._chains([higher], rounds)
            best = self._settle(independent, rounds)
            if (best is not None and self.split_merge and self.settings["max_iter"] > 0
                    and self._count(independent, rounds, best)[0] == 1):
                # still found once: a round from it that continues `wide` times as
                # many moves, and rounds from what it finds
                moved = self._move_round(best, width=self.wide)
                rounds.append((best, moved))
                better = best_admissible(moved, self.min_weight)
                if better is not None and better.loglik > best.loglik + self.tol:
                    self._chains([better], rounds)
                best = self._settle(independent, rounds)
        runs = independent + [r for _, moved in rounds for r in moved]
        if best is None:
            return SearchOutcome(None, runs, 0, len(independent), self._n_moves)
        n_at_best, n_runs = self._count(independent, rounds, best)
        return SearchOutcome(best, runs, n_at_best, n_runs, self._n_moves)

    def _settle(self, independent: list[EMRun], rounds: list[tuple[EMRun, list[EMRun]]]
                ) -> EMRun | None:
        """The best admissible run, refined at the fit's tol when it is a move's (in
        ``independent`` and ``rounds``, in place); refined, a move may go on to an
        inadmissible point, and then the next best is taken."""
        best = self._best(independent, rounds)
        while best is not None and id(best) in self._loose:
            refined = self._refine(best)
            for runs in [independent] + [moved for _, moved in rounds]:
                runs[:] = [refined if r is best else r for r in runs]
            best = refined if admissible(refined, self.min_weight) else self._best(
                independent, rounds)
        return best

    def _same(self, a: EMRun, b: EMRun) -> bool:
        """Whether two runs ended at the same maximum (to the replication tolerance)."""
        return abs(a.loglik - b.loglik) <= self.tol

    def _best(self, independent: list[EMRun], rounds: list[tuple[EMRun, list[EMRun]]]
              ) -> EMRun | None:
        return best_admissible(independent + [r for _, moved in rounds for r in moved],
                               self.min_weight)

    def _count(self, independent: list[EMRun], rounds: list[tuple[EMRun, list[EMRun]]],
               best: EMRun) -> tuple[int, int]:
        """``(n_at_best, n_runs)``: the runs from independent starting points (the
        starts, and the moves from solutions other than ``best``'s) and how many of
        them reached ``best``."""
        pool = independent + [r for origin, moved in rounds if not self._same(origin, best)
                              for r in moved]
        hits = sum(admissible(r, self.min_weight) and self._same(r, best) for r in pool)
        return max(hits, 1), len(pool)

    def _chains(self, candidates: list[EMRun], rounds: list[tuple[EMRun, list[EMRun]]]
                ) -> None:
        """Rounds of moves from the best distinct admissible ``candidates`` (at most
        ``chains`` of them; the best inadmissible one when none is admissible), each
        while a round gains; every round is appended to ``rounds``."""
        if not self.split_merge or self.settings["max_iter"] == 0:
            return
        ranked = sorted((r for r in candidates if admissible(r, self.min_weight)),
                        key=lambda r: r.loglik, reverse=True)
        chains = _distinct(ranked, self.tol)[: self.chains]
        if not chains:
            chains = [r for r in [self._best_inadmissible(candidates)] if r is not None]
        for current in chains:
            if any(self._same(current, origin) for origin, _ in rounds):
                continue  # a solution moved from already
            seeds = True
            for _ in range(self.max_rounds):
                moved = self._move_round(current, seeds=seeds)
                rounds.append((current, moved))
                better = best_admissible(moved, self.min_weight)
                if better is None or (admissible(current, self.min_weight)
                                      and better.loglik <= current.loglik + self.tol):
                    break
                # seed moves in the first round, and again in the first from an
                # admissible solution reached from an inadmissible one
                seeds = not admissible(current, self.min_weight)
                current = better

    def _best_inadmissible(self, runs: list[EMRun]) -> EMRun | None:
        """The highest finite run, the starting point of moves when none is admissible."""
        finite = [r for r in runs if np.isfinite(r.loglik)]
        return max(finite, key=lambda r: r.loglik) if finite else None

    def _refine(self, run: EMRun) -> EMRun:
        """A winning move, converged at SEARCH_TOL, continued at the fit's tol within
        what is left of its max_iter (counted from the move's start)."""
        self._loose.discard(id(run))
        left = self.settings["max_iter"] - run.n_iter
        if not run.converged or left <= 0:
            return run
        return self.converge([lambda: run], label="refined move", max_iter=left)[0]

    def run_replicate(self, starts: list[Callable[[], MixtureParams | EMRun]],
                      origins: list[MixtureParams] = ()) -> SearchOutcome:
        """The search of a bootstrap replicate, warm-started from fitted models.

        The candidates are the starts and every move from ``origins`` as in
        :meth:`run` (a K - 1 fit split by every rule and given a component on each of
        :data:`REPLICATE_SEED_LINES` seed lines, a K fit as it is, a K + 1 fit's
        pairs merged). Each is run for :attr:`move_iter` EM steps; the most promising
        (admissible first, then by log-likelihood, distinct ones only) are continued
        to convergence one after the other until two of them end at the best
        admissible maximum found, or :attr:`replicate_tries` have been and one of
        them is admissible; the best is refined at the fit's tol. No split-and-merge
        rounds follow: on data simulated from a fitted model, the starts from that
        model and from the fit of the alternative to the data, and the seed lines,
        are where the maxima are (a small component on a few rows that line up, as a
        rule), and the many seed lines make up for what the rounds would find.
        """
        self._loose = set()
        self._n_moves = 0
        short = [self._short_run(make()) for make in starts]
        for origin in origins:
            moves, centre = self._origin_moves(
                origin, (REPLICATE_SEED_LINES, REPLICATE_SEED_SUBSETS))
            self._n_moves += len(moves)
            short.extend(self._short_runs(origin, moves, centre))
        ranked = sorted((r for r in short if np.isfinite(r.loglik) and not r.degenerate),
                        key=lambda r: (admissible(r, self.min_weight), r.loglik),
                        reverse=True)
        runs: list[EMRun] = []
        for r in _distinct(ranked, self.tol):
            top = best_admissible(runs, self.min_weight)
            if top is not None and len(runs) >= self.replicate_tries:
                break  # (without an admissible run yet, the next candidates are tried)
            run = self.converge([lambda r=r: r], label="start",
                                tol=max(self.settings["tol"], SEARCH_TOL),
                                max_iter=max(self.settings["max_iter"] - r.n_iter, 0))[0]
            self._loose.add(id(run))
            runs.append(run)
            top = best_admissible(runs, self.min_weight)
            if top is not None and sum(admissible(m, self.min_weight) and self._same(m, top)
                                       for m in runs) >= 2:
                break  # the best reached from two starting points
        best = self._settle(runs, [])
        if best is None:
            return SearchOutcome(None, runs, 0, len(runs), self._n_moves)
        n_at_best, n_runs = self._count(runs, [], best)
        return SearchOutcome(best, runs, n_at_best, n_runs, self._n_moves)

    # candidates continued to convergence at most, by run_replicate
    replicate_tries = 4

    def _short_run(self, start: MixtureParams | EMRun) -> EMRun:
        """:attr:`move_iter` EM steps from a start (continuing it, when it is a run)."""
        runner = self.runner
        return run_em(runner.family, runner.mixing, runner.evaluate, start,
                      total_weight=runner.total_weight,
                      max_iter=min(self.move_iter, self.settings["max_iter"]),
                      tol=0.0, min_weight=self.floor, accelerate=self.settings["accelerate"])

    def _origin_moves(self, origin: MixtureParams,
                      lines: tuple[int, int] = (SEED_LINES, SEED_SUBSETS)
                      ) -> tuple[list[Move], np.ndarray]:
        """The moves that turn ``origin`` into K components (from a K - 1 fit, with
        the seed lines of :meth:`seeds` for ``lines``), and the design's centre."""
        k_from = origin.n_components
        overlap, centre = self.runner.overlap(origin)
        if k_from == self.K - 1:
            moves = [Move(splits=((k, rule),)) for k in range(k_from) for rule in self.rules]
            tight = self.seeds(*lines)
            moves += [Move(seeds=(line,))
                      for line in tight + self.gain_seeds(origin, taken=tight)]
        elif k_from == self.K + 1:
            moves = [Move(merges=(ij,)) for ij in merge_pairs(overlap)]
        elif k_from == self.K:
            moves = [Move()]
        else:
            raise ValueError(f"a start from {k_from} components cannot give {self.K}")
        return moves, centre

    def _from_origin(self, origin: MixtureParams) -> list[EMRun]:
        """Runs to convergence from the moves that turn ``origin`` into K components."""
        moves, centre = self._origin_moves(origin)
        return self._continue_best(self._short_runs(origin, moves, centre), None)

    def seeds(self, n_lines: int = SEED_LINES, n_subsets: int = SEED_SUBSETS
              ) -> list[SeedLine]:
        """The seed lines of these rows, at most ``n_lines`` of them found among
        ``n_subsets`` elemental subsets (see :func:`~regmix.fitting.moves.seed_lines`;
        computed once for each setting): for families whose mean is the linear
        predictor, on rows in memory without groups (at most :data:`SEED_ROWS` of
        them, a subsample of more); otherwise none."""
        key = (n_lines, n_subsets)
        if key not in self._seed_lines:
            self._seed_lines[key] = self._find_seed_lines(n_lines, n_subsets)
        return self._seed_lines[key]

    def _seed_rows(self):
        """``(chunk, keep)``: the rows seed lines are looked for in (at most
        :data:`SEED_ROWS` of them, a subsample of more, drawn once) and the indices of
        those of positive weight; None for a family whose mean is not the linear
        predictor of a location-scale density, for groups, or for rows not in
        memory."""
        if self._seed_chunk:
            return self._seed_chunk[0]
        family, source = self.runner.family, self.runner.source
        found = None
        if (getattr(family, "location_scale", False)
                and getattr(family, "link_name", None) == "identity"
                and getattr(source, "groups", None) is None
                and hasattr(source, "chunk") and source.n_rows > 0
                and (source.n_rows <= SEED_ROWS or hasattr(source, "subsample"))):
            if source.n_rows > SEED_ROWS:
                source = source.subsample(SEED_ROWS, int(self.rng.integers(2**31 - 1)))
            chunk = source.chunk(0, source.n_rows)
            keep = (np.arange(chunk.y.shape[0]) if chunk.w is None
                    else np.flatnonzero(chunk.w > 0))
            found = (chunk, keep)
        self._seed_chunk.append(found)
        return found

    def _seed_size(self, n_rows: int, n_design: int) -> int:
        """Rows per seed line, of ``n_rows``: a share :data:`SEED_SHARE` times
        ``min_weight`` (at least :data:`SEED_SHARE_MIN`), and more than the design's
        columns."""
        share = max(SEED_SHARE * self.min_weight, SEED_SHARE_MIN)
        return max(int(np.ceil(share * n_rows)), n_design + 1)

    def _find_seed_lines(self, n_lines: int, n_subsets: int) -> list[SeedLine]:
        found = self._seed_rows()
        if found is None:
            return []
        chunk, keep = found
        y = chunk.y if chunk.offset is None else chunk.y - chunk.offset
        XT, y = chunk.XT[:, keep], y[keep]
        size = self._seed_size(y.shape[0], XT.shape[0])
        return seed_lines(XT, y, size, n_lines, self.rng, n_subsets)

    def gain_seeds(self, params: MixtureParams, n_lines: int = GAIN_LINES,
                   taken: list[SeedLine] | None = None) -> list[SeedLine]:
        """Seed lines for moves from ``params``: those that would add most to its
        log-likelihood as a new component (see
        :func:`~regmix.fitting.moves.line_gains`), at most ``n_lines`` of them.

        The candidates are :data:`GAIN_SUBSETS` elemental subsets drawn within the
        rows each component holds most (on at most :data:`GAIN_ROWS` of the seed
        rows, drawn once), concentrated on all of them; lines whose rows overlap those
        of a line of ``taken`` (by default :meth:`seeds`) by more than half are left
        out, so that these are seeds :meth:`seeds` does not give: a tight line inside a
        wide component, say, where tighter lines run elsewhere.
        """
        found = self._seed_rows()
        if found is None or n_lines < 1:
            return []
        chunk, keep = found
        if self._gain_rows is None:
            self._gain_rows = (keep if keep.shape[0] <= GAIN_ROWS else np.sort(
                self.rng.choice(keep, size=GAIN_ROWS, replace=False)))
        rows = self._gain_rows
        runner = self.runner
        resp, row_ll = chunk_posteriors(chunk, runner.family, runner.mixing, params)[:2]
        y = chunk.y if chunk.offset is None else chunk.y - chunk.offset
        XT, y = chunk.XT[:, rows], y[rows]
        w = None if chunk.w is None else chunk.w[rows]
        size = self._seed_size(y.shape[0], XT.shape[0])
        label = np.argmax(resp[:, rows], axis=0)
        parts = [c for k in range(resp.shape[0]) if (c := line_candidates(
            XT, y, size, self.rng, GAIN_SUBSETS, rows=np.flatnonzero(label == k)))
            is not None]
        if not parts:
            return []
        candidates = LineCandidates.join(parts)
        gains = line_gains(candidates, XT, y, w, row_ll[rows])
        order = np.argsort(-gains, kind="stable")
        used = self.seeds() if taken is None else taken
        sets = [set(np.flatnonzero(line.near(XT, y)).tolist()) for line in used]
        return pick_lines(candidates, order, n_lines, sets)

    def _short_runs(self, params: MixtureParams, moves: list[Move],
                    centre: np.ndarray) -> list[EMRun]:
        """A few EM steps from each move of ``params``."""
        runner = self.runner
        short = []
        for move in moves:
            resp = MoveMemberships(runner.family, runner.mixing, params, move, centre)
            short.append(self._short_run(self.initializer.from_memberships(resp)))
        return short

    def _continue_best(self, short: list[EMRun], origin: MixtureParams | None,
                       width: int = 1) -> list[EMRun]:
        """Continue the most promising short runs until ``move_continue`` of them end
        admissible (a run still admissible after a few steps may be heading for a
        collapse), out of at most ``move_tries`` times as many, or (``width`` 1) until
        one ends at an admissible maximum another has reached; ``width`` times as many
        in a wide round."""
        # the weights compared in their order where components of different families
        # keep their places (a swap returns to the same weights, sorted)
        order = (lambda w: w) if self.swap_pairs else np.sort
        here = None if origin is None else order(origin.weights)

        def promise(r: EMRun) -> tuple[bool, bool, float]:
            # admissible first, then those not on their way back to where they started
            back = here is not None and bool(
                np.max(np.abs(order(r.params.weights) - here)) < _RETURN_DISTANCE)
            return admissible(r, self.min_weight), not back, r.loglik

        ranked = sorted((r for r in short if np.isfinite(r.loglik) and not r.degenerate),
                        key=promise, reverse=True)
        moved: list[EMRun] = []
        wanted = width * self.move_continue
        for r in _distinct(ranked, self.tol)[: self.move_tries * wanted]:
            # a move is a start: its EM steps, the short ones included, within max_iter
            run = self.converge([lambda r=r: r], label="move",
                                tol=max(self.settings["tol"], SEARCH_TOL),
                                max_iter=max(self.settings["max_iter"] - r.n_iter, 0))[0]
            self._loose.add(id(run))
            if width == 1 and admissible(run, self.min_weight) and any(
                    self._same(run, m) for m in moved):
                moved.append(run)
                break  # an admissible maximum reached again: the rest likely go there too
            moved.append(run)
            if sum(admissible(m, self.min_weight) for m in moved) >= wanted:
                break
        return moved

    def _move_round(self, current: EMRun, width: int = 1, seeds: bool = True
                    ) -> list[EMRun]:
        """One round of split-and-merge moves from ``current``: the runs taken to
        convergence (``width`` times as many as usual); with ``seeds``, also the moves
        that merge the most alike pair and add a component on a seed line."""
        runner, K = self.runner, self.K
        params = current.params
        overlap, centre = runner.overlap(params)
        pairs = merge_pairs(overlap)
        small = np.flatnonzero(params.weights < self.min_weight)
        if small.size:  # an inadmissible solution: move its small components first
            pairs = sorted(pairs, key=lambda ij: not (ij[0] in small or ij[1] in small))
        moves = split_merge_moves(K, pairs, self.rules, self.move_limit, self.rng)
        moves += [Move(swaps=(ij,)) for ij in self.swap_pairs]
        if seeds:
            lines = self.seeds() + self.gain_seeds(params)
            moves += [Move(merges=(pairs[0],), seeds=(line,)) for line in lines]
        self._n_moves += len(moves)
        moved = self._continue_best(self._short_runs(params, moves, centre), params, width)
        for start in (self._tail_starts(params) if seeds else []):
            self._n_moves += 1
            run = self.converge([lambda start=start: start], label="move",
                                tol=max(self.settings["tol"], SEARCH_TOL))[0]
            self._loose.add(id(run))
            moved.append(run)
        return moved

    def _tail_starts(self, params: MixtureParams) -> list[MixtureParams]:
        """Starts at the same lines, scales and weights with other tail parameters
        (Student-t degrees of freedom, :func:`~regmix.fitting.initialization.tail_columns`),
        none for a family without any: the tails back at their starting values, and for
        each other component, the tail parameters of the component with the heaviest
        tail (the smallest first one) exchanged with its own. Which component's heavy tail
        takes the outlying rows (the one whose df falls first) is settled early in a
        run; from here it is settled anew, with the lines already found, or handed to
        each other component."""
        family, comp = self.runner.family, params.component
        shapes = tail_columns(family)
        if not shapes or not isinstance(comp, ComponentParams) or comp.coef is None:
            return []
        start = family.zero_params(self.K, comp.coef.shape[1]).extra
        reset = comp.extra.copy()
        reset[:, shapes] = start[:, shapes]
        extras = [reset]
        heaviest = int(np.argmin(comp.extra[:, shapes[0]]))
        for k in range(self.K):
            if k != heaviest:
                swapped = comp.extra.copy()
                swapped[np.ix_([k, heaviest], shapes)] = comp.extra[np.ix_([heaviest, k],
                                                                           shapes)]
                extras.append(swapped)
        return [MixtureParams(params.weights, family.make_params(comp.coef, extra),
                              params.gating) for extra in extras]


def _distinct(runs: list[EMRun], tol: float) -> list[EMRun]:
    """``runs`` without those whose log-likelihood is within ``tol`` of an earlier one."""
    out: list[EMRun] = []
    for r in runs:
        if all(abs(r.loglik - o.loglik) > tol for o in out):
            out.append(r)
    return out
