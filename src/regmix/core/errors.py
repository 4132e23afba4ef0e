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


class BoundaryWarning(InformationWarning):
    """A fitted parameter sits on the boundary of the parameter space: a component's
    coefficients diverge (separation: its fitted probabilities or means reach 0 or 1),
    the gating coefficients diverge (the concomitant variables separate the components),
    or its sigma sits at the variance floor (the likelihood is unbounded). These parameters
    have no maximum-likelihood estimate and no standard errors; the observed information
    gives none for them (hence a kind of :class:`InformationWarning`)."""


class ConcomitantWarning(UserWarning):
    """The concomitant variables look like a grouping: a variable that looks like a
    group identifier (integer codes or strings with many levels of few rows each), or,
    from a formula's part after ``|``, variables that separate the components. In
    flexmix ``y ~ x | g`` groups the rows by ``g``; in regmix the variables after ``|``
    are concomitant variables of the mixing weights, and ``groups=`` is the grouping."""
