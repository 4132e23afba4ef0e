"""The exceptions and warnings regmix raises."""

from __future__ import annotations


class DegenerateFitError(ValueError):
    """Every start produced a component whose weight fell below ``min_weight``."""


class InformationWarning(UserWarning):
    """The observed information is singular or not positive definite."""


class RankDeficiencyWarning(UserWarning):
    """A weighted design was rank deficient and a minimum-norm solution was used."""
