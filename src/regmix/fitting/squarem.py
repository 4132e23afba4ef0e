"""SQUAREM extrapolation of EM iterates (Varadhan and Roland 2008)."""

from __future__ import annotations

import numpy as np

from regmix.core.params import MixtureParams
from regmix.fitting.steps import param_vector, params_from_vector


def _extrapolate(family, mixing, p0: MixtureParams, p1: MixtureParams, p2: MixtureParams,
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
