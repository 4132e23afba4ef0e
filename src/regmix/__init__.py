"""regmix: finite mixtures of regression models fitted by exact maximum-likelihood EM."""

from . import datasets
from .em import DegenerateFitError
from .estimator import RankDeficiencyWarning, RegressionMixture
from .families import Gaussian
from .glm import Binomial, GammaFamily, NegativeBinomial, Poisson
from .persistence import load
from .selection import bootstrap_lr_test, select_components
from .student_t import StudentT

Gamma = GammaFamily

__all__ = [
    "Binomial",
    "DegenerateFitError",
    "Gamma",
    "GammaFamily",
    "Gaussian",
    "NegativeBinomial",
    "Poisson",
    "StudentT",
    "RankDeficiencyWarning",
    "RegressionMixture",
    "bootstrap_lr_test",
    "datasets",
    "load",
    "select_components",
]
__version__ = "0.1.0"
