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
    """

    params: MixtureParams
    loglik: float
    history: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    degenerate: bool = False
    rank_deficient: bool = False


def m_step(family, mixing, result: PassResult, params: MixtureParams):
    """New parameters from one pass's statistics; also returns the rank-deficiency flags."""
    component, deficient = family.m_step(result.stats, result.resp_sum, params.component)
    return MixtureParams(mixing.m_step(result.resp_sum), component), deficient


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
    callback: Callable[[int, float], None] | None = None,
) -> EMRun:
    """Iterate EM from ``params`` until convergence, ``max_iter`` or degeneracy.

    Convergence: ``|l_t - l_{t-1}| / total_weight < tol``, the change in the mean
    log-likelihood per unit of sample weight, as in scikit-learn, so that ``tol`` does not
    depend on the number of rows.
    """
    run = EMRun(params, float("nan"))
    if np.any(params.weights < min_weight):
        run.degenerate = True
        return run
    result = evaluate(params)
    run.loglik = result.loglik
    run.history.append(result.loglik)
    if callback is not None:
        callback(0, result.loglik)
    for it in range(1, max_iter + 1):
        new, deficient = m_step(family, mixing, result, run.params)
        run.rank_deficient |= bool(np.any(deficient))
        run.n_iter = it
        if np.any(new.weights < min_weight):
            run.degenerate = True
            return run
        result = evaluate(new)
        run.params, run.loglik = new, result.loglik
        run.history.append(result.loglik)
        if callback is not None:
            callback(it, result.loglik)
        if abs(run.history[-1] - run.history[-2]) < tol * total_weight:
            run.converged = True
            break
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
