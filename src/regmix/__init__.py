"""regmix: finite mixtures of regression models fitted by exact maximum-likelihood EM."""

from . import datasets
from .em import DegenerateFitError
from .estimator import RankDeficiencyWarning, RegressionMixture

__all__ = ["DegenerateFitError", "RankDeficiencyWarning", "RegressionMixture", "datasets"]
__version__ = "0.1.0"
