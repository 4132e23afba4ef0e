"""The EM driver: iterations, convergence, degeneracy checks and restarts.

The driver sees statistics, never rows. It is handed two callables:

* ``evaluate(params) -> PassResult``: an E-step pass at ``params`` (log-likelihood,
  summed responsibilities, family statistics);
* an M-step, :func:`regmix.fitting.steps.m_step`, that turns such a result into new parameters.

Where the rows come from (memory, a file, a cluster) is decided by whoever builds
``evaluate``.

:func:`run_em` is the loop: it owns the budget of M-steps and asks a strategy for each
iteration, :class:`PlainEM` or SQUAREM (:class:`regmix.fitting.squarem.Squarem`), and
the Newton phase (:class:`regmix.fitting.newton.NewtonPhase`) once it is ready. The run's
counters, history, convergence and degeneracy are kept by
:class:`regmix.fitting.state.EMState`. :func:`fit_restarts` runs it from several starts
and :func:`best_of` picks the winner.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from regmix.core.params import MixtureParams
from regmix.core.results import PassResult
from regmix.fitting.newton import NewtonPhase
from regmix.fitting.squarem import Squarem
from regmix.fitting.state import EMRun, EMState, EMStrategy


class PlainEM:
    """The plain EM strategy: an iteration is one EM step.

    Parameters
    ----------
    state : EMState
        The run to move.
    """

    def __init__(self, state: EMState) -> None:
        self.state = state

    def iterate(self, result: PassResult) -> tuple[PassResult, bool]:
        """One EM step from the run's current iterate, where the pass gave ``result``;
        returns the pass at the new iterate and whether the run ends."""
        state = self.state
        return state.advance(state.em_step(state.run.params, result), result)


def run_em(
    family,
    mixing,
    evaluate: Callable[[MixtureParams], PassResult],
    start: MixtureParams | EMRun,
    *,
    total_weight: float,
    max_iter: int,
    tol: float,
    min_weight: float,
    accelerate: bool = False,
    callback: Callable[[int, float], None] | None = None,
    rate: Callable[[MixtureParams], np.ndarray | None] | None = None,
    rate_from: float = 1e-2,
) -> EMRun:
    """Iterate EM from ``params`` until convergence, ``max_iter`` or degeneracy.

    Convergence: ``|l_t - l_{t-1}| / total_weight < tol`` across one EM step, the
    change in the mean log-likelihood per unit of sample weight, as in scikit-learn, so
    that ``tol`` does not depend on the number of rows.

    Each iteration is taken by a strategy (:class:`regmix.fitting.state.EMStrategy`):
    :class:`PlainEM`, or with ``accelerate`` :class:`regmix.fitting.squarem.Squarem`:
    every two EM steps are followed by a SQUAREM extrapolation and one stabilising EM
    step from the extrapolated point, kept only if it does not lose, so the
    log-likelihood never decreases. ``max_iter`` counts EM steps (M-steps) of this call;
    ``n_passes`` counts every pass, the evaluation of rejected points included.

    With ``rate`` (a function returning the EM map's Jacobian ``J`` at given parameters,
    such as :func:`regmix.fitting.newton.em_map_jacobian` on a subsample), once an EM
    step changes the mean log-likelihood by less than ``rate_from`` (from the start
    with ``rate_from=inf``, for a start already near the maximum), iterations are Newton
    steps on the EM map, ``v + (I - J)^{-1} (M(v) - v)`` (Louis, 1982, J. R. Statist.
    Soc. B 44, 226-233), taken by :class:`regmix.fitting.newton.NewtonPhase`: one pass
    each, as an EM step, but converging as fast as ``J`` is accurate rather than at
    EM's rate. Where they fail, ``J`` is estimated again, at most three times in all;
    then the run goes on with the strategy above. The fixed point is EM's, so the
    optimum is the same. Only for exact M-steps.

    ``start`` is either starting parameters or an earlier run to continue (for example
    the short burst that won the initialisation): its history and counters carry on.
    """
    if isinstance(start, EMRun):
        run = EMRun(start.params, start.loglik, list(start.history), start.n_iter,
                    rank_deficient=start.rank_deficient, n_passes=start.n_passes)
    else:
        run = EMRun(start, float("nan"))
    if np.any(run.params.weights < min_weight):
        run.degenerate = True
        return run
    state = EMState(family, mixing, evaluate, run, min_weight=min_weight,
                    threshold=tol * total_weight, budget=run.n_iter + max_iter,
                    callback=callback)
    em: EMStrategy = Squarem(state) if accelerate else PlainEM(state)
    newton = (NewtonPhase(state, rate, rate_from=rate_from, total_weight=total_weight)
              if rate is not None and state.exact else None)
    result = state.evaluate(run.params)
    if not run.history:
        state.record(run.params, result)
    if not np.isfinite(result.loglik):
        # a start outside the family's range (an identity link with a negative mean at
        # some row): no step from it is defined
        run.degenerate = True
        return run
    while run.n_iter < state.budget:
        strategy = newton if newton is not None and newton.ready() else em
        result, done = strategy.iterate(result)
        if done:
            break
    return run


def fit_restarts(
    runner,
    starts: list[Callable[[], MixtureParams | EMRun]],
    *,
    max_iter: int,
    tol: float,
    min_weight: float,
    accelerate: bool,
    verbose: int = 0,
    label: str = "start",
    progress: bool = False,
    rate: Callable[[MixtureParams], np.ndarray | None] | None = None,
    rate_from: float = 1e-2,
) -> tuple[EMRun | None, list[EMRun]]:
    """Run EM from every start on ``runner``'s rows; return the best run and all runs.

    Each start is a zero-argument callable producing parameters or a run to continue,
    so that a start is only built when its turn comes. With ``progress`` a tqdm bar
    counts the starts and shows the current iteration and the best log-likelihood; it
    appears only for fits that last more than half a second, and never when standard
    error is not a terminal. ``rate`` and ``rate_from`` are passed on to :func:`run_em`.
    """
    runs: list[EMRun] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(starts), desc=f"{label}s", unit=label, delay=0.5, disable=None,
                   leave=False)
    best_ll = -np.inf
    for i, make_start in enumerate(starts):

        def callback(it, ll, i=i, best_ll=best_ll):
            if verbose >= 2:
                print(f"{label} {i + 1}: iteration {it}, log-likelihood {ll:.10g}")
            if bar is not None and it % 5 == 0:
                bar.set_postfix(iteration=it, loglik=f"{max(ll, best_ll):.6g}", refresh=False)
                bar.update(0)

        run = run_em(
            runner.family,
            runner.mixing,
            runner.evaluate,
            make_start(),
            total_weight=runner.total_weight,
            max_iter=max_iter,
            tol=tol,
            min_weight=min_weight,
            accelerate=accelerate,
            callback=callback if (verbose >= 2 or bar is not None) else None,
            rate=rate,
            rate_from=rate_from,
        )
        if verbose >= 1:
            state = "degenerate" if run.degenerate else (
                "converged" if run.converged else "not converged")
            print(f"{label} {i + 1}/{len(starts)}: log-likelihood {run.loglik:.10g} after "
                  f"{run.n_iter} EM steps ({state})")
        runs.append(run)
        if not run.degenerate and np.isfinite(run.loglik):
            best_ll = max(best_ll, run.loglik)
        if bar is not None:
            bar.set_postfix(loglik=f"{best_ll:.6g}", refresh=False)
            bar.update(1)
    if bar is not None:
        bar.close()
    return best_of(runs), runs


def best_of(runs: list[EMRun]) -> EMRun | None:
    """The non-degenerate run with the highest log-likelihood (first one on ties)."""
    best = None
    for run in runs:
        if run.degenerate or not np.isfinite(run.loglik):
            continue
        if best is None or run.loglik > best.loglik:
            best = run
    return best
