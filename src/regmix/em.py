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
from typing import Any

import numpy as np

from .passes import PassResult


class DegenerateFitError(ValueError):
    """Every start produced a component whose weight fell below ``min_weight``."""


@dataclass(frozen=True)
class MixtureParams:
    """Mixing weights and component parameters (internal units)."""

    weights: np.ndarray
    component: Any

    @property
    def n_components(self) -> int:
        return self.weights.shape[0]

    def take(self, order: np.ndarray) -> MixtureParams:
        return MixtureParams(self.weights[order].copy(), self.component.take(order))


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


def m_step(family, mixing, result: PassResult, params: MixtureParams):
    """New parameters from one pass's statistics; also returns the rank-deficiency flags."""
    component, deficient = family.m_step(result.stats, result.resp_sum, params.component)
    return MixtureParams(mixing.m_step(result.resp_sum), component), deficient


def _extrapolate(family, mixing, p0: MixtureParams, p1: MixtureParams, p2: MixtureParams):
    """SQUAREM's S3 extrapolation from three successive EM iterates, or None.

    Works in unconstrained coordinates (log weights, log sigmas, coefficients); the step
    length ``alpha = -|r| / |v|`` is clipped to ``[-_MAX_STEP, -1]`` (``-1`` would give
    ``p2`` back). Varadhan and Roland (2008), Scand. J. Statist. 35, 335-353.
    """
    if min(p0.weights.min(), p1.weights.min(), p2.weights.min()) <= 0:
        return None
    v0, v1, v2 = (
        np.concatenate([mixing.to_vector(p.weights), family.to_vector(p.component)])
        for p in (p0, p1, p2)
    )
    r = v1 - v0
    v = v2 - v1 - r
    norm_v = np.linalg.norm(v)
    if not norm_v > 0:
        return None
    alpha = -np.linalg.norm(r) / norm_v
    if alpha > -1.0:
        return None
    alpha = max(alpha, -_MAX_STEP)
    vec = v0 - 2.0 * alpha * r + alpha * alpha * v
    if not np.all(np.isfinite(vec)):
        return None
    K = p0.n_components
    return MixtureParams(mixing.from_vector(vec[:K]), family.from_vector(vec[K:], p0.component))


_MAX_STEP = 1e3


def run_em(
    family,
    mixing,
    evaluate: Callable[[MixtureParams], PassResult],
    params: MixtureParams,
    *,
    total_weight: float,
    max_iter: int,
    tol: float,
    min_weight: float,
    accelerate: bool = False,
    callback: Callable[[int, float], None] | None = None,
) -> EMRun:
    """Iterate EM from ``params`` until convergence, ``max_iter`` or degeneracy.

    Convergence: ``|l_t - l_{t-1}| / total_weight < tol`` between two successive EM
    iterates, the change in the mean log-likelihood per unit of sample weight, as in
    scikit-learn, so that ``tol`` does not depend on the number of rows.

    With ``accelerate``, every two EM steps are followed by a SQUAREM extrapolation
    (:func:`_extrapolate`); the extrapolated point is kept only if its log-likelihood is
    at least that of the second EM step, so the log-likelihood still never decreases.
    ``max_iter`` counts EM steps (M-steps); extrapolations are extra passes.
    """
    run = EMRun(params, float("nan"))
    if np.any(params.weights < min_weight):
        run.degenerate = True
        return run
    threshold = tol * total_weight

    def accept(new: MixtureParams, res: PassResult) -> None:
        run.params, run.loglik = new, res.loglik
        run.history.append(res.loglik)
        if callback is not None:
            callback(run.n_iter, res.loglik)

    def em_step(res: PassResult) -> tuple[PassResult, bool] | None:
        new, deficient = m_step(family, mixing, res, run.params)
        run.rank_deficient |= bool(np.any(deficient))
        run.n_iter += 1
        if np.any(new.weights < min_weight):
            run.degenerate = True
            return None
        new_res = evaluate(new)
        run.n_passes += 1
        accept(new, new_res)
        return new_res, abs(new_res.loglik - res.loglik) < threshold

    result = evaluate(params)
    run.n_passes = 1
    accept(params, result)
    while run.n_iter < max_iter:
        cycle = [run.params]
        for _ in range(2 if accelerate else 1):
            step = em_step(result)
            if step is None:
                return run
            result, run.converged = step
            cycle.append(run.params)
            if run.converged or run.n_iter >= max_iter:
                return run
        if not accelerate:
            continue
        trial = _extrapolate(family, mixing, *cycle)
        if trial is None or np.any(trial.weights < min_weight):
            continue
        trial_res = evaluate(trial)
        run.n_passes += 1
        if np.isfinite(trial_res.loglik) and trial_res.loglik >= result.loglik:
            accept(trial, trial_res)
            result = trial_res
    return run


def best_of(runs: list[EMRun]) -> EMRun | None:
    """The non-degenerate run with the highest log-likelihood (first one on ties)."""
    best = None
    for run in runs:
        if run.degenerate or not np.isfinite(run.loglik):
            continue
        if best is None or run.loglik > best.loglik:
            best = run
    return best
