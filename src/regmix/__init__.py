"""regmix: finite mixtures of regression models fitted by exact maximum-likelihood EM.

The public names are loaded on first use (PEP 562), so that ``import regmix`` costs
nothing until one of them is needed: the command line installs its Ctrl-C handling
before numpy, pandas and scikit-learn are imported (see :mod:`regmix.__main__`).
"""

import importlib

from regmix.core.version import __version__ as __version__

# typing is not imported (it costs more than the rest of this module); mypy reads a
# constant named TYPE_CHECKING as typing's
TYPE_CHECKING = False
if TYPE_CHECKING:
    from regmix import datasets
    from regmix.core.errors import (
        BoundaryWarning,
        ConcomitantWarning,
        DegenerateFitError,
        RankDeficiencyWarning,
        ReplicationWarning,
    )
    from regmix.core.limits import censored_limits
    from regmix.estimator.mixture import RegressionMixture
    from regmix.families.binomial import Binomial
    from regmix.families.censored_gaussian import CensoredGaussian
    from regmix.families.gamma import GammaFamily
    from regmix.families.gamma import GammaFamily as Gamma
    from regmix.families.gaussian import Gaussian
    from regmix.families.lognormal import LogNormal
    from regmix.families.multi_response import MultiResponse
    from regmix.families.negative_binomial import NegativeBinomial
    from regmix.families.pointmass import PointMass
    from regmix.families.poisson import Poisson
    from regmix.families.student_t import StudentT
    from regmix.persistence import load
    from regmix.selection import bootstrap_lr_test, lmr_test, select_components

# Each public name: the module it lives in and its name there.
_PUBLIC: dict[str, tuple[str, str | None]] = {
    "Binomial": ("regmix.families.binomial", "Binomial"),
    "CensoredGaussian": ("regmix.families.censored_gaussian", "CensoredGaussian"),
    "BoundaryWarning": ("regmix.core.errors", "BoundaryWarning"),
    "ConcomitantWarning": ("regmix.core.errors", "ConcomitantWarning"),
    "DegenerateFitError": ("regmix.core.errors", "DegenerateFitError"),
    "Gamma": ("regmix.families.gamma", "GammaFamily"),
    "GammaFamily": ("regmix.families.gamma", "GammaFamily"),
    "Gaussian": ("regmix.families.gaussian", "Gaussian"),
    "LogNormal": ("regmix.families.lognormal", "LogNormal"),
    "MultiResponse": ("regmix.families.multi_response", "MultiResponse"),
    "NegativeBinomial": ("regmix.families.negative_binomial", "NegativeBinomial"),
    "PointMass": ("regmix.families.pointmass", "PointMass"),
    "Poisson": ("regmix.families.poisson", "Poisson"),
    "StudentT": ("regmix.families.student_t", "StudentT"),
    "RankDeficiencyWarning": ("regmix.core.errors", "RankDeficiencyWarning"),
    "ReplicationWarning": ("regmix.core.errors", "ReplicationWarning"),
    "RegressionMixture": ("regmix.estimator.mixture", "RegressionMixture"),
    "bootstrap_lr_test": ("regmix.selection", "bootstrap_lr_test"),
    "censored_limits": ("regmix.core.limits", "censored_limits"),
    "datasets": ("regmix.datasets", None),
    "lmr_test": ("regmix.selection", "lmr_test"),
    "load": ("regmix.persistence", "load"),
    "select_components": ("regmix.selection", "select_components"),
}

__all__ = [
    "Binomial",
    "BoundaryWarning",
    "CensoredGaussian",
    "ConcomitantWarning",
    "DegenerateFitError",
    "Gamma",
    "GammaFamily",
    "Gaussian",
    "LogNormal",
    "MultiResponse",
    "NegativeBinomial",
    "PointMass",
    "Poisson",
    "StudentT",
    "RankDeficiencyWarning",
    "ReplicationWarning",
    "RegressionMixture",
    "bootstrap_lr_test",
    "censored_limits",
    "datasets",
    "load",
    "lmr_test",
    "select_components",
]


def __getattr__(name: str) -> object:
    """Load a public name on first use and keep it in the package's namespace."""
    try:
        module_name, attribute = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'regmix' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
