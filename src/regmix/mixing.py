"""Mixing weights: how the prior probability of each component is modelled.

Only constant weights exist for now; a covariate-dependent gating model plugs in here by
offering the same three methods.
"""

from __future__ import annotations

import numpy as np


class ConstantWeights:
    """Mixing proportions ``pi_k`` that are the same for every row."""

    name = "constant"

    def n_parameters(self, n_components: int) -> int:
        """``K - 1`` free proportions (they sum to one)."""
        return n_components - 1

    def log_weights(self, weights: np.ndarray) -> np.ndarray:
        """Log proportions, broadcastable against an (n, K) block; ``log 0 = -inf``."""
        with np.errstate(divide="ignore"):
            return np.log(weights)

    def m_step(self, resp_sum: np.ndarray) -> np.ndarray:
        """Maximum-likelihood proportions from the summed (weighted) responsibilities."""
        return resp_sum / resp_sum.sum()
