"""One EM step, and the map between mixture parameters and one unconstrained vector.

The pieces every EM strategy shares: plain EM, SQUAREM extrapolation and the Newton
phase all take :func:`m_step`, and the accelerators move in the coordinates of
:func:`param_vector`.
"""

from __future__ import annotations

import numpy as np

from regmix.core.params import MixtureParams
from regmix.core.results import PassResult


def m_step(family, mixing, result: PassResult, params: MixtureParams):
    """New parameters from one pass's statistics; also returns the rank-deficiency flags."""
    component, deficient = family.m_step(result.stats, result.resp_sum, params.component)
    weights, gating = mixing.m_step(result.mix_stats, params)
    return MixtureParams(weights, component, gating), deficient


def param_vector(family, mixing, params: MixtureParams) -> np.ndarray:
    """Unconstrained coordinates of ``params``: the mixing model's (centred log weights,
    gating coefficients), then the family's (coefficients, log scales, ...)."""
    return np.concatenate([mixing.to_vector(params), family.to_vector(params.component)])


def params_from_vector(family, mixing, vec: np.ndarray, like: MixtureParams) -> MixtureParams:
    """Inverse of :func:`param_vector` (``like`` gives the shapes)."""
    m = mixing.vector_size(like)
    weights, gating = mixing.from_vector(vec[:m], like)
    return MixtureParams(weights, family.from_vector(vec[m:], like.component), gating)
