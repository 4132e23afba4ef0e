"""The names a user chooses among, and the estimator's default settings.

Standard library only: the command line builds its options (choices, defaults, help
texts) from these tables without importing numpy, the estimator or the families, and
the modules that act on the names read them from here too.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["COMPONENT_TYPE_NAMES", "COV_TYPES", "CRITERIA", "ESTIMATOR_DEFAULTS",
           "FAMILY_LINKS", "LINK_NAMES", "RANDOM_COVS", "RANDOM_COV_CLASSES",
           "EstimatorDefaults"]


# The families known by name, in the order they are listed to users, with the links
# each takes, its default first.
FAMILY_LINKS: dict[str, tuple[str, ...]] = {
    "gaussian": ("identity",),
    "poisson": ("log", "identity"),
    "binomial": ("logit", "probit", "cloglog"),
    "gamma": ("log", "inverse", "identity"),
    "negative_binomial": ("log",),
    "student_t": ("identity",),
    "censored_gaussian": ("identity",),
    "lognormal": ("log",),
}


# Component types that are not families on their own: only an entry of a list of
# families, one per component (``["pointmass", "poisson"]``).
COMPONENT_TYPE_NAMES = ("pointmass",)


# Every link some named family takes, each once, in the order of FAMILY_LINKS.
LINK_NAMES = tuple(dict.fromkeys(link for links in FAMILY_LINKS.values() for link in links))


# The information criteria that choose the number of components.
CRITERIA = ("bic", "aic", "icl", "sabic", "caic", "awe")


# Standard errors: observed information, robust sandwich, cluster-robust sandwich.
COV_TYPES = ("oim", "robust", "cluster")


# The random-effect covariance of a latent-class linear mixed model: any, or diagonal;
# and across the classes: one per class, one for all, or proportional (D_k = w_k^2 D).
RANDOM_COVS = ("full", "diagonal")
RANDOM_COV_CLASSES = ("specific", "common", "proportional")


class EstimatorDefaults(TypedDict):
    """Defaults of :class:`regmix.RegressionMixture`'s parameters that the command line
    shows as its own."""

    max_iter: int
    tol: float
    min_weight: float


ESTIMATOR_DEFAULTS: EstimatorDefaults = {
    "max_iter": 1000,
    "tol": 1e-12,
    "min_weight": 0.05,
}
