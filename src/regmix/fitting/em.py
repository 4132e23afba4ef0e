"""The EM driver: iterations, convergence, degeneracy checks and restarts.

The driver sees statistics, never rows. It is handed two callables:

* ``evaluate(params) -> PassResult``: an E-step pass at ``params`` (log-likelihood,
  summed responsibilities, family statistics);
* an M-step, :func:`m_step`, that turns such a result into new parameters.

Where the rows come from (memory, a file, a cluster) is decided by whoever builds
``evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from regmix.core.params import MixtureParams
from regmix.core.results import PassResult
from regmix.fitting.newton import secant_update
from regmix.fitting.squarem import _extrapolate
from regmix.fitting.steps import m_step, param_vector, params_from_vector


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


_STEP_FACTOR = 4.0


_MAX_HALVINGS = 30


# Newton steps on the EM map: J is estimated again when a step gains more than this
# fraction of the previous step's gain (linear convergence at a rate above about 1/2),
# at most this many times per run.
_RATE_RATIO = 0.25


_MAX_RATE_ESTIMATES = 3


def _slack(loglik: float) -> float:
    """Decrease of the log-likelihood that counts as round-off, not as a loss."""
    return 1e-13 * max(abs(loglik), 1.0)


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

    With ``accelerate``, every two EM steps are followed by a SQUAREM extrapolation
    (:func:`_extrapolate`) and one stabilising EM step from the extrapolated point, as
    in the SQUAREM package; the result is kept only if its log-likelihood is at least
    that of the second plain step, so the log-likelihood never decreases. The maximal
    step length starts at 1 and is multiplied (divided) by 4 after each success
    (failure) at the maximum. ``max_iter`` counts EM steps (M-steps) of this call;
    ``n_passes`` counts every pass, the evaluation of rejected points included.

    With ``rate`` (a function returning the EM map's Jacobian ``J`` at given parameters,
    such as :func:`em_map_jacobian` on a subsample), once an EM step changes the mean
    log-likelihood by less than ``rate_from`` (from the start with ``rate_from=inf``, for
    a start already near the maximum), ``J`` is estimated at the current point and every
    further iteration is a Newton step on the EM map, ``v + (I - J)^{-1} (M(v) - v)``
    (Louis, 1982, J. R. Statist. Soc. B 44, 226-233): one pass each, as an EM step, but
    converging as fast as ``J`` is accurate rather than at EM's rate; every step on all
    rows corrects the estimate by Broyden's secant update (:func:`secant_update`). A
    Newton step that would lower the log-likelihood is replaced by the EM step (one more
    pass); after such a step, or one that gains more than a quarter of the step before
    (``J`` was estimated too far from the maximum), ``J`` is estimated again at the next
    point that qualifies, at most three times in all; then the run goes on with EM. The
    fixed point is EM's, so the optimum is the same. Only for exact M-steps.

    ``start`` is either starting parameters or an earlier run to continue (for example
    the short burst that won the initialisation): its history and counters carry on.
    """
    if isinstance(start, EMRun):
        run = EMRun(start.params, start.loglik, list(start.history), start.n_iter,
                    rank_deficient=start.rank_deficient, n_passes=start.n_passes)
    else:
        run = EMRun(start, float("nan"))
    params = run.params
    if np.any(params.weights < min_weight):
        run.degenerate = True
        return run
    threshold = tol * total_weight

    def accept(new: MixtureParams, res: PassResult) -> None:
        run.params, run.loglik = new, res.loglik
        run.history.append(res.loglik)
        if callback is not None:
            callback(run.n_iter, res.loglik)

    exact = getattr(family, "exact_m_step", True) and getattr(mixing, "exact", True)

    def em_step(params: MixtureParams, res: PassResult):
        """One EM step; None if it made a component degenerate."""
        new, deficient = m_step(family, mixing, res, params)
        run.rank_deficient |= bool(np.any(deficient))
        run.n_iter += 1
        if np.any(new.weights < min_weight):
            return None
        run.n_passes += 1
        new_res = evaluate(new)
        if not exact and not new_res.loglik >= res.loglik - _slack(res.loglik):
            return backtrack(params, new, res)
        return new, new_res

    def backtrack(params: MixtureParams, new: MixtureParams, res: PassResult):
        """Halve a generalized-EM step that lowered the log-likelihood until it does not.

        Constant mixing weights keep their exact update; the component step (and a
        gating step) is an ascent direction of the log-likelihood (the EM gradient), so
        a short enough step gains. If none of 30 halvings gains, the point is stationary
        to working precision: the old parameters are returned, which ends the run as
        converged.
        """
        v0 = family.to_vector(params.component)
        dv = family.to_vector(new.component) - v0
        g0 = params.gating
        dg = None if g0 is None else new.gating - g0
        for j in range(1, _MAX_HALVINGS + 1):
            gating = None if g0 is None else g0 + 0.5**j * dg
            trial = MixtureParams(new.weights,
                                  family.from_vector(v0 + 0.5**j * dv, params.component),
                                  gating)
            run.n_passes += 1
            trial_res = evaluate(trial)
            if trial_res.loglik >= res.loglik - _slack(res.loglik):
                return trial, trial_res
        return params, res

    newton = {"on": rate is not None and exact, "system": None, "estimates": 0,
              "gain": np.inf, "last": None}

    def newton_step(params: MixtureParams, res: PassResult):
        """One Newton step on the EM map, or the EM step where it fails; None if the EM
        step made a component degenerate."""
        new, deficient = m_step(family, mixing, res, params)
        run.rank_deficient |= bool(np.any(deficient))
        run.n_iter += 1
        if np.any(new.weights < min_weight):
            return None
        v = param_vector(family, mixing, params)
        g = param_vector(family, mixing, new) - v
        with np.errstate(all="ignore"):
            if newton["last"] is not None:
                v_old, g_old = newton["last"]
                newton["system"] = secant_update(newton["system"], v - v_old, g - g_old)
            try:
                step = np.linalg.solve(newton["system"], g)
            except np.linalg.LinAlgError:
                step = np.full_like(v, np.nan)
        newton["last"] = (v, g)
        if np.all(np.isfinite(step)):
            trial = params_from_vector(family, mixing, v + step, params)
            if not np.any(trial.weights < min_weight):
                run.n_passes += 1
                trial_res = evaluate(trial)
                gain = trial_res.loglik - res.loglik
                if gain >= -_slack(res.loglik):
                    # slow progress means J was estimated too far from the maximum:
                    # estimate it again here
                    if gain > _RATE_RATIO * newton["gain"]:
                        newton["system"], newton["last"] = None, None
                    newton["gain"] = max(gain, 0.0)
                    return trial, trial_res
        newton["system"], newton["gain"], newton["last"] = None, np.inf, None
        run.n_passes += 1
        return new, evaluate(new)

    def newton_ready() -> bool:
        """Whether to take a Newton step now (estimating J when needed)."""
        if newton["system"] is not None:
            return True
        if not newton["on"]:
            return False
        if rate_from < np.inf and not (len(run.history) >= 2 and abs(
                run.history[-1] - run.history[-2]) < rate_from * total_weight):
            return False
        if newton["estimates"] == _MAX_RATE_ESTIMATES:
            newton["on"] = False
            return False
        newton["estimates"] += 1
        jac = rate(run.params)
        if jac is None:
            newton["on"] = False
            return False
        newton["system"], newton["gain"] = np.eye(jac.shape[0]) - jac, np.inf
        return True

    result = evaluate(params)
    run.n_passes += 1
    if not run.history:
        accept(params, result)
    budget = run.n_iter + max_iter
    step_max = 1.0
    while run.n_iter < budget:
        newton_now = newton_ready()
        take = newton_step if newton_now else em_step
        cycle = [run.params]
        for _ in range(2 if accelerate and not newton_now else 1):
            step = take(run.params, result)
            if step is None:
                run.degenerate = True
                return run
            new, new_res = step
            run.converged = abs(new_res.loglik - result.loglik) < threshold
            accept(new, new_res)
            result = new_res
            cycle.append(new)
            if run.converged or run.n_iter >= budget:
                return run
        if newton_now or not accelerate:
            continue
        alpha, trial = _extrapolate(family, mixing, *cycle, step_max)
        success = False
        if trial is not None and not np.any(trial.weights < min_weight):
            run.n_passes += 1
            trial_res = evaluate(trial)
            if np.isfinite(trial_res.loglik):
                step = em_step(trial, trial_res)
                if step is not None and step[1].loglik >= result.loglik:
                    success = True
                    new, new_res = step
                    run.converged = abs(new_res.loglik - trial_res.loglik) < threshold
                    accept(new, new_res)
                    result = new_res
                    if run.converged:
                        return run
        if alpha == step_max:
            step_max = step_max * _STEP_FACTOR if success or trial is None else max(
                1.0, step_max / _STEP_FACTOR)
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
