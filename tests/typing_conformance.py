"""Static conformance of the concrete seam classes to the protocols of
:mod:`regmix.core.protocols`.

Nothing here runs: a type checker (``mypy``, run by ``make test``) reads each function
and fails when a class does not satisfy the protocol it is returned as (a missing
member, or a member whose signature does not match).
"""

from __future__ import annotations

from regmix.core.params import (
    ComponentParams,
    GaussianParams,
    MultiResponseParams,
    PerComponentParams,
)
from regmix.core.protocols import (
    ArrayMemberships,
    ArraySource,
    BatchSource,
    DistributedSource,
    Family,
    Memberships,
    MixingModel,
    RandomAccessSource,
)
from regmix.engine.runner import MembershipArray
from regmix.families.binomial import Binomial
from regmix.families.censored_gaussian import CensoredGaussian
from regmix.families.composite import ComponentFamilies
from regmix.families.gamma import GammaFamily
from regmix.families.gaussian import Gaussian
from regmix.families.glm import GLMFamily
from regmix.families.multi_response import MultiResponse
from regmix.families.negative_binomial import NegativeBinomial
from regmix.families.pointmass import PointMass
from regmix.families.poisson import Poisson
from regmix.families.student_t import StudentT
from regmix.fitting.initialization import RandomMemberships, RowMemberships, SubsetMemberships
from regmix.mixing.constant import ConstantWeights
from regmix.mixing.gating import MultinomialLogitGating
from regmix.sources.arrays import ArrayData
from regmix.sources.dask import DaskData
from regmix.sources.parquet import ParquetData


# ---------------------------------------------------------------------------- row sources
def array_data(source: ArrayData) -> ArraySource:
    return source


def array_data_subsample(source: ArrayData) -> RandomAccessSource:
    return source.subsample(100, 0)


def parquet_data(source: ParquetData) -> BatchSource:
    return source


def dask_data(source: DaskData) -> DistributedSource:
    return source


# ---------------------------------------------------------------------------- families
def gaussian(family: Gaussian) -> Family[GaussianParams]:
    return family


def student_t(family: StudentT) -> Family[ComponentParams]:
    return family


def censored_gaussian(family: CensoredGaussian) -> Family[GaussianParams]:
    return family


def glm(family: GLMFamily) -> Family[ComponentParams]:
    return family


def poisson(family: Poisson) -> Family[ComponentParams]:
    return family


def binomial(family: Binomial) -> Family[ComponentParams]:
    return family


def gamma(family: GammaFamily) -> Family[ComponentParams]:
    return family


def negative_binomial(family: NegativeBinomial) -> Family[ComponentParams]:
    return family


def point_mass(family: PointMass) -> Family[ComponentParams]:
    return family


def component_families(family: ComponentFamilies) -> Family[PerComponentParams]:
    return family


def multi_response(family: MultiResponse) -> Family[MultiResponseParams]:
    return family


# ---------------------------------------------------------------------------- mixing
def constant_weights(mixing: ConstantWeights) -> MixingModel:
    return mixing


def multinomial_logit(mixing: MultinomialLogitGating) -> MixingModel:
    return mixing


# ---------------------------------------------------------------------------- memberships
def membership_array(memberships: MembershipArray) -> ArrayMemberships:
    return memberships


def row_memberships(memberships: RowMemberships) -> ArrayMemberships:
    return memberships


def random_memberships(memberships: RandomMemberships) -> ArrayMemberships:
    return memberships


def subset_memberships(memberships: SubsetMemberships) -> ArrayMemberships:
    return memberships


def plain_function(memberships: MembershipArray) -> Memberships:
    return memberships.__call__
