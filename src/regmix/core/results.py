"""The additive result of a data pass, the currency between the engine and the EM layers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PassResult:
    """Additive summary of one pass over some rows.

    Attributes
    ----------
    loglik : float
        Weighted observed-data log-likelihood of the rows (NaN for a pass that was given
        responsibilities rather than parameters).
    resp_sum : ndarray of shape (K,)
        Summed weighted responsibilities ``N_k``.
    stats : tuple of ndarray
        The family's statistics.
    mix_stats : tuple of ndarray
        The mixing model's statistics (for constant weights the summed posterior
        probabilities of the rows, or of the groups for grouped data).
    """

    loglik: float
    resp_sum: np.ndarray
    stats: tuple
    mix_stats: tuple = ()

    def __add__(self, other: PassResult) -> PassResult:
        return PassResult(
            self.loglik + other.loglik,
            self.resp_sum + other.resp_sum,
            tuple(a + b for a, b in zip(self.stats, other.stats, strict=True)),
            tuple(a + b for a, b in zip(self.mix_stats, other.mix_stats, strict=True)),
        )
