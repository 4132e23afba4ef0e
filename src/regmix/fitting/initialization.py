"""Starting points for EM.

Each strategy turns a seed into starting parameters using only passes over the rows:

* ``"random"``: random soft memberships (a Dirichlet(1) draw per row) and one M-step,
  as scikit-learn's ``init_params="random"``;
* ``"subsets"``: each component is fitted to its own small random subset of rows (about
  ``2 * p + 2`` rows), a RANSAC-like start that places lines through the data;
* ``"short_em"``: several ``"subsets"`` and ``"random"`` candidates, each run for a few
  EM iterations (twice as many for a family with shape parameters); the best
  candidate's run is returned, to be continued to convergence (flexmix's
  ``initFlexmix`` idea).

Random draws come from :func:`regmix.core.rowhash.row_uniforms`, so a start does not depend
on the chunk size or on the order in which chunks are read.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from regmix.compiled.helpers import row_uniforms
from regmix.core.params import MixtureParams
from regmix.fitting.em import run_em
from regmix.fitting.state import EMRun, admissible
from regmix.fitting.steps import m_step

STRATEGIES = ("short_em", "subsets", "random")


# The extra parameters of regmix's families that set how heavy a component's tails
# are, so that the component can take outlying rows: the Student-t degrees of freedom.
# (Gamma shapes and negative-binomial sizes are shapes too, but their starts gained
# nothing from the longer short runs and the exchange of tails that these get, at a
# third more time: docs/benchmarks.md, "Newer component types".)
TAIL_NAMES = ("df",)


def tail_columns(family) -> list[int]:
    """The columns of ``family``'s extra parameters that set its tails (named in
    :data:`TAIL_NAMES`; ``"yt:df"`` among several responses' extras)."""
    return [j for j, name in enumerate(family.extra_names)
            if name.rpartition(":")[2] in TAIL_NAMES]


class RowMemberships:
    """Memberships drawn row by row from :func:`regmix.core.rowhash.row_uniforms`.

    ``rows(start, stop)`` gives the (K, stop - start) memberships of those rows, the same
    however the rows are split; called with a chunk it gives the chunk's, and
    :meth:`as_array` gives all rows at once (for the compiled data pass).
    """

    def __init__(self, seed: int, n_components: int) -> None:
        self.seed, self.n_components = seed, n_components

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.memberships(row_uniforms(self.seed, start, stop, self.n_components).T)

    def memberships(self, u: np.ndarray) -> np.ndarray:
        """The (K, rows) memberships from the (K, rows) draws ``u``."""
        raise NotImplementedError

    def __call__(self, chunk) -> np.ndarray:
        return self.rows(chunk.start, chunk.stop)

    def as_array(self, n_rows: int) -> np.ndarray:
        """The (n_rows, K) memberships of all rows, for the compiled data pass (whose
        numba functions also draw them, bit for bit the same)."""
        u = row_uniforms(self.seed, 0, n_rows, self.n_components, compiled=True)
        return self.memberships(u.T).T


class RandomMemberships(RowMemberships):
    """Dirichlet(1) memberships per row."""

    def memberships(self, u: np.ndarray) -> np.ndarray:
        g = -np.log(u)
        return g / g.sum(axis=0)


class SubsetMemberships(RowMemberships):
    """Each row joins each component's subset with probability ``fraction``.

    Rows outside a subset keep a small weight (together 1% of the subset's expected
    weight), so that a subset that happens to be empty or too small still gives a
    well-defined fit: the overall least-squares line.
    """

    def __init__(self, seed: int, n_components: int, fraction: float) -> None:
        super().__init__(seed, n_components)
        self.fraction = fraction

    def memberships(self, u: np.ndarray) -> np.ndarray:
        return np.where(u < self.fraction, 1.0, 0.01 * self.fraction)


class Initializer:
    """Builds starting points from passes over the rows of a :class:`PassRunner`.

    Parameters
    ----------
    runner : regmix.engine.runner.PassRunner
        The rows, family and mixing model.
    n_components : int
        K.
    min_weight : float
        The smallest admissible weight: a short run whose weights are all at least this
        is preferred to a higher one that is not; a run ends only when a weight
        collapses below ``floor``.
    floor : float, optional
        Where a short run is ended as collapsed (by default ``min_weight``).
    """

    short_candidates = 6
    short_iter = 8
    # the short runs' EM steps for a family with tail parameters (tail_columns): what
    # a component's heavy tail adds to the log-likelihood grows over more steps than
    # what its line adds, so that after short_iter steps the candidates are ranked
    # mostly by their lines (a run whose heavy tail goes on to take the outlying rows
    # can be the lowest then and the highest at convergence)
    tail_short_iter = 16

    def __init__(self, runner, *, n_components: int, min_weight: float,
                 floor: float | None = None) -> None:
        self.runner = runner
        self.family, self.mixing = runner.family, runner.mixing
        self.K, self.p = n_components, runner.source.n_design
        self.n_rows = runner.source.n_rows
        self.min_weight = min_weight
        self.floor = min_weight if floor is None else floor
        self.n_short = self.tail_short_iter if tail_columns(self.family) else self.short_iter

    def from_memberships(self, resp_fn: Callable) -> MixtureParams:
        """An M-step from the responsibilities ``resp_fn(chunk)``.

        Families whose M-step is one IRLS step, or an ECM step that depends on the
        parameters it starts from (``family.init_steps > 0``: the GLM families, the
        mixed model), take that many more steps with the same responsibilities, so that
        a start is a fitted model rather than the first step from the data.
        """
        params = self.runner.start_params(self.K)
        for _ in range(1 + getattr(self.family, "init_steps", 0)):
            stats = self.runner.given(resp_fn, self.K, params)
            params, _ = m_step(self.family, self.mixing, stats, params)
        return params

    def random(self, seed: int) -> MixtureParams:
        return self.from_memberships(RandomMemberships(seed, self.K))

    def subsets(self, seed: int) -> MixtureParams:
        size = 2 * self.p + 2
        fraction = min(1.0, size / self.n_rows)
        params = self.from_memberships(SubsetMemberships(seed, self.K, fraction))
        # Subset fits say little about the noise or the proportions.
        start = self.runner.start_params(self.K)
        return MixtureParams(start.weights, self.family.with_unit_scale(params.component),
                             start.gating)

    def short_em(self, seed: int) -> EMRun:
        rng = np.random.default_rng(seed)
        runs = []
        for j in range(self.short_candidates):
            s = int(rng.integers(2**63))
            start = self.subsets(s) if j % 3 != 2 else self.random(s)
            runs.append(
                run_em(
                    self.family,
                    self.mixing,
                    self.runner.evaluate,
                    start,
                    total_weight=self.runner.total_weight,
                    max_iter=self.n_short,
                    tol=0.0,
                    min_weight=self.floor,
                    accelerate=True,
                )
            )
        live = [r for r in runs if not r.degenerate and np.isfinite(r.loglik)]
        if not live:
            return EMRun(self.random(seed), float("nan"))
        # the first of the highest, admissible ones ahead
        return max(live, key=lambda r: (admissible(r, self.min_weight), r.loglik))

    def __call__(self, strategy: str, seed: int) -> MixtureParams | EMRun:
        """Starting parameters, or for ``"short_em"`` the winning short run to continue."""
        return getattr(self, strategy)(seed)
