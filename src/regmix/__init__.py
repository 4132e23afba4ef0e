"""regmix: finite mixtures of regression models fitted by exact maximum-likelihood EM."""

from regmix import datasets
from regmix.core.errors import (
    BoundaryWarning,
    ConcomitantWarning,
    DegenerateFitError,
    RankDeficiencyWarning,
    ReplicationWarning,
)
from regmix.core.version import __version__ as __version__
from regmix.estimator.mixture import RegressionMixture
from regmix.families.binomial import Binomial
from regmix.families.gamma import GammaFamily
from regmix.families.gaussian import Gaussian
from regmix.families.negative_binomial import NegativeBinomial
from regmix.families.poisson import Poisson
from regmix.families.student_t import StudentT
from regmix.persistence import load
from regmix.selection import bootstrap_lr_test, lmr_test, select_components

Gamma = GammaFamily

__all__ = [
    "Binomial",
    "BoundaryWarning",
    "ConcomitantWarning",
    "DegenerateFitError",
    "Gamma",
    "GammaFamily",
    "Gaussian",
    "NegativeBinomial",
    "Poisson",
    "StudentT",
    "RankDeficiencyWarning",
    "ReplicationWarning",
    "RegressionMixture",
    "bootstrap_lr_test",
    "datasets",
    "load",
    "lmr_test",
    "select_components",
]
