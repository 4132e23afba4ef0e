"""regmix: finite mixtures of regression models fitted by exact maximum-likelihood EM."""

from . import datasets
from .em import DegenerateFitError
from .estimator import RankDeficiencyWarning, RegressionMixture
from .persistence import load
from .selection import bootstrap_lr_test, select_components

__all__ = [
    "DegenerateFitError",
    "RankDeficiencyWarning",
    "RegressionMixture",
    "bootstrap_lr_test",
    "datasets",
    "load",
    "select_components",
]
__version__ = "0.1.0"
