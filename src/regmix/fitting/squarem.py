"""SQUAREM: EM accelerated by extrapolating its iterates (Varadhan and Roland 2008).

:func:`extrapolate` computes the extrapolated point from three successive EM iterates;
:class:`Squarem` is the strategy a run follows with ``accelerate=True``: two EM steps,
the extrapolation, one stabilising EM step from the extrapolated point, kept only if it
does not lose.
"""

from __future__ import annotations

import numpy as np

from regmix.core.params import MixtureParams
from regmix.core.results import PassResult
from regmix.fitting.state import EMState
from regmix.fitting.steps import param_vector, params_from_vector

# The maximal step length is multiplied (divided) by this after a success (failure) at
# the maximum.
_STEP_FACTOR = 4.0


def extrapolate(family, mixing, p0: MixtureParams, p1: MixtureParams, p2: MixtureParams,
                 step_max: float):
    """SQUAREM extrapolation (scheme S3) from three successive EM iterates.

    Works in unconstrained coordinates (log weights, log sigmas, coefficients):
    ``r = v1 - v0``, ``v = v2 - 2 v1 + v0``, step ``a = |r| / |v|`` clipped to
    ``[1, step_max]``, point ``v0 + 2 a r + a^2 v`` (``a = 1`` gives ``p2`` back).
    Varadhan and Roland (2008), Scand. J. Statist. 35, 335-353.

    Returns
    -------
    step : float
        The clipped step length (1.0 when no extrapolation is possible).
    params : MixtureParams or None
        The extrapolated point, or None when it would equal ``p2`` or is invalid.
    """
    if min(p0.weights.min(), p1.weights.min(), p2.weights.min()) <= 0:
        return 1.0, None
    v0, v1, v2 = (param_vector(family, mixing, p) for p in (p0, p1, p2))
    r = v1 - v0
    v = v2 - v1 - r
    norm_v = np.linalg.norm(v)
    if not norm_v > 0:
        return 1.0, None
    step = min(max(np.linalg.norm(r) / norm_v, 1.0), step_max)
    if step == 1.0:
        return step, None
    vec = v0 + 2.0 * step * r + step * step * v
    if not np.all(np.isfinite(vec)):
        return step, None
    return step, params_from_vector(family, mixing, vec, p0)


class Squarem:
    """The SQUAREM strategy: an iteration is two EM steps and an extrapolation.

    After two EM steps ``p0 -> p1 -> p2``, the point :func:`extrapolate` gives is
    evaluated and one stabilising EM step is taken from it, as in the SQUAREM package;
    its result is kept only if its log-likelihood is at least that of ``p2``, so the
    log-likelihood never decreases. The maximal step length starts at 1 and is
    multiplied (divided) by 4 after each success (failure) at the maximum.

    Parameters
    ----------
    state : EMState
        The run to move.

    Attributes
    ----------
    step_max : float
        The current maximal step length.
    """

    def __init__(self, state: EMState) -> None:
        self.state = state
        self.step_max = 1.0

    def iterate(self, result: PassResult) -> tuple[PassResult, bool]:
        """One SQUAREM iteration from the run's current iterate, where the pass gave
        ``result``; returns the pass at the new iterate and whether the run ends."""
        state, run = self.state, self.state.run
        p0 = run.params
        result, done = state.advance(state.em_step(p0, result), result)
        if done:
            return result, True
        p1 = run.params
        result, done = state.advance(state.em_step(p1, result), result)
        if done:
            return result, True
        alpha, trial = extrapolate(state.family, state.mixing, p0, p1, run.params,
                                   self.step_max)
        success = False
        if trial is not None and not state.degenerate(trial):
            trial_res = state.evaluate(trial)
            if np.isfinite(trial_res.loglik):
                step = state.em_step(trial, trial_res)
                if step is not None and step[1].loglik >= result.loglik:
                    success = True
                    result, done = state.advance(step, trial_res)
                    if done:
                        return result, True
        if alpha == self.step_max:
            self.step_max = self.step_max * _STEP_FACTOR if success or trial is None else max(
                1.0, self.step_max / _STEP_FACTOR)
        return result, False
