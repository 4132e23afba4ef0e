"""The state of one EM run, and the plain EM step every strategy builds on.

:class:`EMRun` is the record a run leaves behind (and that a later run can continue);
:func:`admissible` says whether it ended with every weight at least ``min_weight``.
:class:`EMState` holds that record while the run goes on, with what every step needs:
the family, the mixing model, the pass ``evaluate`` (each call counted), the
degeneracy bound, the convergence threshold, the iteration budget and the callback.
Its :meth:`EMState.em_step` is one plain EM step (with step halving for a
generalized-EM step that lost), and :meth:`EMState.advance` the bookkeeping after any
step: convergence, history, callback, degeneracy, budget. The strategies that drive
the run (plain EM in :mod:`regmix.fitting.em`, SQUAREM in :mod:`regmix.fitting.squarem`,
Newton steps in :mod:`regmix.fitting.newton`) are written on these two methods and
follow the :class:`EMStrategy` protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from regmix.core.params import MixtureParams
from regmix.core.results import PassResult
from regmix.fitting.steps import m_step

# A generalized-EM step that lowers the log-likelihood is halved at most this often.
_MAX_HALVINGS = 30

# What a step returns: the new parameters and the pass at them; None when the step made
# a component degenerate.
Step = tuple[MixtureParams, PassResult] | None


@dataclass
class EMRun:
    """The outcome of EM from one start.

    Attributes
    ----------
    params : MixtureParams
        Parameters at the last evaluated iterate.
    loglik : float
        Log-likelihood at ``params`` (exact: it was evaluated there).
    history : list of float
        Log-likelihood of every evaluated iterate, the start included.
    n_iter : int
        M-steps performed.
    converged : bool
        Whether the per-weight change in log-likelihood fell below ``tol``.
    degenerate : bool
        Whether a component's weight fell below ``min_weight`` (the run stopped there).
    rank_deficient : bool
        Whether any M-step needed the minimum-norm fallback.
    n_passes : int
        Passes over the data (E-steps), extrapolations included.
    """

    params: MixtureParams
    loglik: float
    history: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    degenerate: bool = False
    rank_deficient: bool = False
    n_passes: int = 0


def slack(loglik: float) -> float:
    """Decrease of the log-likelihood that counts as round-off, not as a loss."""
    return 1e-13 * max(abs(loglik), 1.0)


def admissible(run: EMRun | None, min_weight: float) -> bool:
    """Whether ``run`` ended at a finite log-likelihood with every weight at least
    ``min_weight``."""
    return (run is not None and not run.degenerate and bool(np.isfinite(run.loglik))
            and float(np.min(run.params.weights)) >= min_weight)


def best_admissible(runs: list[EMRun], min_weight: float) -> EMRun | None:
    """The admissible run with the highest log-likelihood (the first on ties)."""
    best = None
    for run in runs:
        if admissible(run, min_weight) and (best is None or run.loglik > best.loglik):
            best = run
    return best


class EMState:
    """A run in progress: its :class:`EMRun` and the shared steps and bookkeeping.

    Parameters
    ----------
    family, mixing
        The component family and the mixing model.
    evaluate : callable
        ``evaluate(params) -> PassResult``, one E-step pass over the rows.
    run : EMRun
        The record to update in place.
    min_weight : float
        A component whose weight falls below this makes the run degenerate.
    threshold : float
        The run has converged when one step changes the log-likelihood by less.
    budget : int
        The value of ``run.n_iter`` at which the run stops.
    callback : callable, optional
        Called as ``callback(n_iter, loglik)`` for every accepted iterate.

    Attributes
    ----------
    exact : bool
        Whether both the family's and the mixing model's M-steps are exact maximizers
        (else an EM step is a generalized-EM step and may need halving).
    """

    def __init__(self, family, mixing, evaluate: Callable[[MixtureParams], PassResult],
                 run: EMRun, *, min_weight: float, threshold: float, budget: int,
                 callback: Callable[[int, float], None] | None = None) -> None:
        self.family, self.mixing = family, mixing
        self._evaluate = evaluate
        self.run = run
        self.min_weight, self.threshold, self.budget = min_weight, threshold, budget
        self.callback = callback
        self.exact = getattr(family, "exact_m_step", True) and getattr(mixing, "exact", True)

    def degenerate(self, params: MixtureParams) -> bool:
        """Whether a component's weight in ``params`` is below ``min_weight``."""
        return bool(np.any(params.weights < self.min_weight))

    def evaluate(self, params: MixtureParams) -> PassResult:
        """One pass at ``params``, counted in ``run.n_passes``."""
        self.run.n_passes += 1
        return self._evaluate(params)

    def m_step(self, params: MixtureParams, result: PassResult) -> MixtureParams | None:
        """The M-step from ``result`` (the pass at ``params``), counted in ``run.n_iter``.

        Returns
        -------
        MixtureParams or None
            The new parameters, or None when they make a component degenerate.
        """
        new, deficient = m_step(self.family, self.mixing, result, params)
        self.run.rank_deficient |= bool(np.any(deficient))
        self.run.n_iter += 1
        return None if self.degenerate(new) else new

    def em_step(self, params: MixtureParams, result: PassResult) -> Step:
        """One EM step from ``params``, where the pass gave ``result``.

        Returns
        -------
        tuple of (MixtureParams, PassResult) or None
            The new parameters and the pass at them, or None when the step made a
            component degenerate.
        """
        new = self.m_step(params, result)
        if new is None:
            return None
        new_res = self.evaluate(new)
        if not self.exact and not new_res.loglik >= result.loglik - slack(result.loglik):
            return self._backtrack(params, new, result)
        return new, new_res

    def _backtrack(self, params: MixtureParams, new: MixtureParams,
                   result: PassResult) -> tuple[MixtureParams, PassResult]:
        """Halve a generalized-EM step that lowered the log-likelihood until it does not.

        Constant mixing weights keep their exact update; the component step (and a
        gating step) is an ascent direction of the log-likelihood (the EM gradient), so
        a short enough step gains. If none of 30 halvings gains, the point is stationary
        to working precision: the old parameters are returned, which ends the run as
        converged.
        """
        family = self.family
        v0 = family.to_vector(params.component)
        dv = family.to_vector(new.component) - v0
        g0 = params.gating
        dg = None if g0 is None else new.gating - g0
        for j in range(1, _MAX_HALVINGS + 1):
            gating = None if g0 is None else g0 + 0.5**j * dg
            trial = MixtureParams(new.weights,
                                  family.from_vector(v0 + 0.5**j * dv, params.component),
                                  gating)
            trial_res = self.evaluate(trial)
            if trial_res.loglik >= result.loglik - slack(result.loglik):
                return trial, trial_res
        return params, result

    def record(self, params: MixtureParams, result: PassResult) -> None:
        """Make ``params`` (with the pass ``result`` at them) the run's current iterate."""
        run = self.run
        run.params, run.loglik = params, result.loglik
        run.history.append(result.loglik)
        if self.callback is not None:
            self.callback(run.n_iter, result.loglik)

    def advance(self, step: Step, before: PassResult) -> tuple[PassResult, bool]:
        """Accept the outcome of a step taken from the point where the pass was ``before``.

        Returns
        -------
        result : PassResult
            The pass at the run's current iterate (``before`` if the step failed).
        done : bool
            Whether the run ends here: the step made a component degenerate (the run is
            marked so), the run converged, or the budget of M-steps is spent.
        """
        if step is None:
            self.run.degenerate = True
            return before, True
        new, new_res = step
        self.run.converged = abs(new_res.loglik - before.loglik) < self.threshold
        self.record(new, new_res)
        return new_res, self.run.converged or self.run.n_iter >= self.budget


class EMStrategy(Protocol):
    """How a run moves: one iteration from the current iterate, its pass ``result``."""

    def iterate(self, result: PassResult) -> tuple[PassResult, bool]:
        """Take one iteration; return the pass at the new iterate and whether to stop."""
        ...
