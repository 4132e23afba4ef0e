"""Newton steps on the EM map: EM's rate matrix estimated by forward differences and
corrected by Broyden's secant update (Louis 1982).

:func:`em_map_jacobian` estimates the rate matrix, :func:`secant_update` corrects it,
and :class:`NewtonPhase` is the strategy that takes the Newton steps once a run is close
enough to the maximum.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from regmix.core.params import MixtureParams
from regmix.core.results import PassResult
from regmix.fitting.state import EMState, Step, slack
from regmix.fitting.steps import m_step, param_vector, params_from_vector

# J is estimated again when a Newton step gains more than this fraction of the previous
# step's gain (linear convergence at a rate above about 1/2), at most this many times
# per run.
_RATE_RATIO = 0.25

_MAX_RATE_ESTIMATES = 3


def em_map_jacobian(family, mixing, evaluate: Callable[[MixtureParams], PassResult],
                    params: MixtureParams, *, rel_step: float = 1e-6) -> np.ndarray | None:
    """Jacobian of the EM map at ``params`` on the rows that ``evaluate`` reads.

    The EM map takes the coordinates ``v`` of :func:`param_vector` to those of the
    parameters after one E-step and M-step, ``M(v)``. Its Jacobian ``J`` is the matrix
    rate of convergence of EM (Dempster, Laird and Rubin, 1977): near the maximum,
    ``M(v) - v* = J (v - v*)``, so ``v* = v + (I - J)^{-1} (M(v) - v)``. ``J`` is a
    property of the model and of the distribution of the rows rather than of their number,
    so a subsample estimates it: forward differences, one pass per coordinate plus one.

    Returns
    -------
    ndarray of shape (d, d) or None
        ``J``, or None when a perturbed point could not be evaluated (a component lost
        all its weight, a non-finite statistic).
    """
    v0 = param_vector(family, mixing, params)

    def em_map(v: np.ndarray) -> np.ndarray:
        point = params_from_vector(family, mixing, v, params)
        new, _ = m_step(family, mixing, evaluate(point), point)
        return param_vector(family, mixing, new)

    with np.errstate(all="ignore"):
        f0 = em_map(v0)
        jac = np.empty((v0.size, v0.size))
        for i in range(v0.size):
            h = rel_step * max(1.0, abs(v0[i]))
            v = v0.copy()
            v[i] += h
            jac[:, i] = (em_map(v) - f0) / h
    return jac if np.all(np.isfinite(jac)) else None


def secant_update(system: np.ndarray, step: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Broyden's update of ``system``, an estimate of ``I - J``, from one step on all rows.

    ``step`` is ``v1 - v0`` and ``change`` the change of ``M(v) - v`` it caused; near the
    maximum ``M(v1) - v1 - (M(v0) - v0) = (J - I) step``, so the updated matrix ``B``
    satisfies ``B step = -change`` and differs from ``system`` by a rank-one term in the
    direction of ``step`` only (Broyden, 1965, Math. Comp. 19, 577-593). ``system`` is
    returned unchanged when the step is zero or the update is not finite.
    """
    ss = float(step @ step)
    if not ss > 0:
        return system
    with np.errstate(all="ignore"):
        correction = np.outer(-change - system @ step, step) / ss
    return system + correction if np.all(np.isfinite(correction)) else system


class NewtonPhase:
    """The Newton strategy: steps ``v + (I - J)^{-1} (M(v) - v)`` on the EM map.

    Once an EM step changes the mean log-likelihood by less than ``rate_from`` (from the
    start with ``rate_from=inf``), ``J`` is estimated by ``rate`` at the current point
    and every further iteration is a Newton step: one pass, as an EM step, corrected
    after each by :func:`secant_update`. A step that would lower the log-likelihood is
    replaced by the EM step (one more pass); after such a step, or one that gains more
    than a quarter of the step before (``J`` was estimated too far from the maximum),
    ``J`` is estimated again at the next point that qualifies, at most three times in
    all; then the phase is over and the run goes on with its other strategy. Only for
    exact M-steps.

    Parameters
    ----------
    state : EMState
        The run to move.
    rate : callable
        ``rate(params)``: the EM map's Jacobian ``J`` at ``params``, or None if it
        cannot be estimated (which ends the phase).
    rate_from : float
        Change in the mean log-likelihood per unit of sample weight below which ``J``
        is estimated.
    total_weight : float
        Total sample weight of the rows.

    Attributes
    ----------
    on : bool
        Whether ``J`` may still be estimated.
    system : ndarray of shape (d, d) or None
        The current estimate of ``I - J``; None when it must be estimated first.
    estimates : int
        Estimates of ``J`` made so far.
    gain : float
        Gain in log-likelihood of the last Newton step (inf after a fresh estimate).
    last : tuple of ndarray or None
        The last point ``v`` and EM step ``M(v) - v``, for the secant update.
    """

    def __init__(self, state: EMState, rate: Callable[[MixtureParams], np.ndarray | None],
                 *, rate_from: float, total_weight: float) -> None:
        self.state, self.rate = state, rate
        self.rate_from, self.total_weight = rate_from, total_weight
        self.on = True
        self.system: np.ndarray | None = None
        self.estimates = 0
        self.gain = np.inf
        self.last: tuple[np.ndarray, np.ndarray] | None = None

    def ready(self) -> bool:
        """Whether to take a Newton step now (estimating ``J`` when needed)."""
        if self.system is not None:
            return True
        if not self.on:
            return False
        history = self.state.run.history
        if self.rate_from < np.inf and not (len(history) >= 2 and abs(
                history[-1] - history[-2]) < self.rate_from * self.total_weight):
            return False
        if self.estimates == _MAX_RATE_ESTIMATES:
            self.on = False
            return False
        self.estimates += 1
        jac = self.rate(self.state.run.params)
        if jac is None:
            self.on = False
            return False
        self.system, self.gain = np.eye(jac.shape[0]) - jac, np.inf
        return True

    def step(self, params: MixtureParams, result: PassResult) -> Step:
        """One Newton step from ``params`` (where the pass gave ``result``), or the EM
        step where it fails; None if the EM step made a component degenerate."""
        state = self.state
        family, mixing = state.family, state.mixing
        new = state.m_step(params, result)
        if new is None:
            return None
        v = param_vector(family, mixing, params)
        g = param_vector(family, mixing, new) - v
        with np.errstate(all="ignore"):
            if self.last is not None:
                v_old, g_old = self.last
                self.system = secant_update(self.system, v - v_old, g - g_old)
            try:
                step = np.linalg.solve(self.system, g)
            except np.linalg.LinAlgError:
                step = np.full_like(v, np.nan)
        self.last = (v, g)
        if np.all(np.isfinite(step)):
            trial = params_from_vector(family, mixing, v + step, params)
            if not state.degenerate(trial):
                trial_res = state.evaluate(trial)
                gain = trial_res.loglik - result.loglik
                if gain >= -slack(result.loglik):
                    # slow progress means J was estimated too far from the maximum:
                    # estimate it again here
                    if gain > _RATE_RATIO * self.gain:
                        self.system, self.last = None, None
                    self.gain = max(gain, 0.0)
                    return trial, trial_res
        self.system, self.gain, self.last = None, np.inf, None
        return new, state.evaluate(new)

    def iterate(self, result: PassResult) -> tuple[PassResult, bool]:
        """One Newton step from the run's current iterate, where the pass gave
        ``result``; returns the pass at the new iterate and whether the run ends."""
        return self.state.advance(self.step(self.state.run.params, result), result)
