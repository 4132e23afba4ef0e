"""The exceptions and warnings regmix raises."""

from __future__ import annotations


class DegenerateFitError(ValueError):
    """No run of the fit ended with every component's weight at least ``min_weight``."""


class InformationWarning(UserWarning):
    """The observed information is singular or not positive definite."""


class RankDeficiencyWarning(UserWarning):
    """A weighted design was rank deficient and a minimum-norm solution was used."""


class ReplicationWarning(UserWarning):
    """The best log-likelihood of a fit was reached from one starting point only."""
