"""The family registry: names to family classes, and families to and from JSON."""

from __future__ import annotations

from typing import Any

import numpy as np

from regmix.core.choices import COMPONENT_TYPE_NAMES, FAMILY_LINKS
from regmix.core.protocols import FAMILY_MEMBERS
from regmix.families.binomial import Binomial
from regmix.families.censored_gaussian import CensoredGaussian
from regmix.families.composite import ComponentFamilies
from regmix.families.constraints import VarianceFloor
from regmix.families.gamma import GammaFamily
from regmix.families.gaussian import Gaussian
from regmix.families.lognormal import LogNormal
from regmix.families.mixed_gaussian import MixedGaussian
from regmix.families.multi_response import MultiResponse
from regmix.families.negative_binomial import NegativeBinomial
from regmix.families.pointmass import PointMass
from regmix.families.poisson import Poisson
from regmix.families.student_t import StudentT

_CLASSES = {cls.name: cls for cls in (Gaussian, Poisson, Binomial, GammaFamily,
                                       NegativeBinomial, StudentT, CensoredGaussian,
                                       LogNormal)}

# The families known by name, in the order of the table of their names and links
# (regmix.core.choices.FAMILY_LINKS, which the command line reads without importing them).
FAMILIES: dict[str, type[Any]] = {name: _CLASSES[name] for name in FAMILY_LINKS}


# Component types that are not families on their own, in the order of their names'
# table (regmix.core.choices.COMPONENT_TYPE_NAMES): only an entry of a list of
# families, one per component (``["pointmass", "poisson"]``).
_COMPONENT_CLASSES = {cls.name: cls for cls in (PointMass,)}
COMPONENT_TYPES: dict[str, type[Any]] = {name: _COMPONENT_CLASSES[name]
                                         for name in COMPONENT_TYPE_NAMES}


def family_links(name: str) -> tuple[str, ...]:
    """The links a named family takes, its default first.

    Raises
    ------
    ValueError
        When ``name`` is not a key of :data:`FAMILIES`.
    """
    if name not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}; got {name!r}")
    return FAMILY_LINKS[name]


def get_family(family, *, link: str | None = None, var_floor: float = 1e-8):
    """The family object for a name (or the object itself), with the given link.

    Names: ``"gaussian"``, ``"poisson"``, ``"binomial"``, ``"gamma"``,
    ``"negative_binomial"``, ``"student_t"``, ``"censored_gaussian"`` and
    ``"lognormal"``; a list or
    tuple of names and objects, one per component (``"pointmass"`` among them), is a
    :class:`~regmix.families.composite.ComponentFamilies`; a mapping of response names
    to families (``{"yn": "gaussian", "yp": "poisson"}``), several responses sharing
    the class, is a :class:`~regmix.families.multi_response.MultiResponse`. A family
    object must have every member of :class:`regmix.core.protocols.Family`; one that
    lacks any is refused with a ValueError naming the missing members.
    """

    if isinstance(family, (dict, MultiResponse)):
        return _multi_response(family, link, var_floor)
    if isinstance(family, (list, tuple)):
        if link is not None:
            raise ValueError("link= applies to a single family; with a family per component "
                             "pass family objects with their links (regmix.Poisson(link="
                             "'identity')) in the list")
        return ComponentFamilies([_component_family(f, i, var_floor)
                                  for i, f in enumerate(family)])
    if not isinstance(family, str):
        missing = sorted(m for m in FAMILY_MEMBERS if not hasattr(family, m))
        if len(missing) == len(FAMILY_MEMBERS):
            raise ValueError(f"family must be a family name or a family object; got {family!r}")
        if missing:
            raise ValueError(
                f"family {family!r} is not a complete family object: it lacks "
                f"{', '.join(missing)} (the members of regmix.core.protocols.Family)")
        if link is not None and link != getattr(family, "link_name", None):
            raise ValueError("pass the link to the family object, not to link=")
        return family
    if family in COMPONENT_TYPES:
        raise ValueError(f"family={family!r} is a component beside others, not a family of "
                         f"its own: give one family per component, such as family=["
                         f"{family!r}, 'poisson']")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)} or a family object; got "
                         f"{family!r}")
    cls = FAMILIES[family]
    # Gaussian, Student-t and log-normal: one link and a var_floor
    fixed_link = issubclass(cls, VarianceFloor)
    kwargs: dict[str, Any] = {}
    if link is not None:
        if fixed_link:
            if link != cls.link_name:
                raise ValueError(f"the {family} family has the {cls.link_name} link only; "
                                 f"got link={link!r}")
        else:
            kwargs["link"] = link
    if fixed_link:
        kwargs["var_floor"] = var_floor
    return cls(**kwargs)


def _component_family(family, i: int, var_floor: float):
    """Entry ``i`` of a list of families, one per component, as a family object."""
    if isinstance(family, str):
        if family in COMPONENT_TYPES:
            return COMPONENT_TYPES[family]()
        if family not in FAMILIES:
            raise ValueError(f"family[{i}] must be one of "
                             f"{sorted(FAMILIES) + sorted(COMPONENT_TYPES)} or a family "
                             f"object; got {family!r}")
    elif isinstance(family, (list, tuple)):
        raise ValueError(f"family[{i}] must be a family name or object, not a list")
    try:
        return get_family(family, var_floor=var_floor)
    except ValueError as err:
        raise ValueError(f"family[{i}]: {err}") from None


def _multi_response(family, link: str | None, var_floor: float) -> MultiResponse:
    """Several responses (a mapping of response names to families, or a
    :class:`~regmix.families.multi_response.MultiResponse`) with family objects."""
    if link is not None:
        raise ValueError("link= applies to a single family; with several responses pass "
                         "family objects with their links (regmix.Poisson(link='identity'))")
    if isinstance(family, dict):
        family = MultiResponse(family)

    def member(f, response: str):
        if isinstance(f, (list, tuple, dict)):
            raise ValueError(f"family[{response!r}] must be a family name or object")
        try:
            return get_family(f, var_floor=var_floor)
        except ValueError as err:
            raise ValueError(f"family[{response!r}]: {err}") from None

    return family.resolved(member)


def family_to_dict(family) -> dict:
    """A JSON-safe description of a family object (see :func:`family_from_dict`)."""
    if isinstance(family, MultiResponse):
        return family.to_dict(family_to_dict)
    d = {"name": family.name, "link": family.link_name}
    if isinstance(family, ComponentFamilies):
        d["families"] = [family_to_dict(f) for f in family.families]
        return d
    for option in ("df", "size", "shape", "var_floor", "value", "lower", "upper"):
        if hasattr(family, option):
            d[option] = getattr(family, option)
    if isinstance(family, MixedGaussian):
        d["z_rows"], d["names"] = list(family.z_rows), family.names
        d["cov"], d["cov_classes"] = family.cov, family.cov_classes
    if getattr(family, "truncation", None) is not None:  # open ends as null
        d["truncation"] = [float(t) if np.isfinite(t) else None for t in family.truncation]
    return d


def family_from_dict(d) -> object:
    """Rebuild a family object from :func:`family_to_dict` output."""

    name, link = d["name"], d.get("link")
    if name == MultiResponse.name:
        return MultiResponse.from_dict(d, family_from_dict)
    if name == ComponentFamilies.name:
        return ComponentFamilies([family_from_dict(f) for f in d["families"]])
    if name == PointMass.name:
        return PointMass(value=d.get("value", 0.0))
    if name == MixedGaussian.name:
        return MixedGaussian(d["z_rows"], names=d.get("names"), cov=d.get("cov", "full"),
                             cov_classes=d.get("cov_classes", "specific"))
    if name == "gaussian":
        return Gaussian(var_floor=d.get("var_floor", 1e-8))
    if name == LogNormal.name:
        return LogNormal(var_floor=d.get("var_floor", 1e-8))
    if name == CensoredGaussian.name:
        truncation = d.get("truncation")
        if truncation is not None:
            t_lo, t_hi = truncation
            truncation = (-np.inf if t_lo is None else t_lo, np.inf if t_hi is None else t_hi)
        return CensoredGaussian(lower=d.get("lower"), upper=d.get("upper"),
                                truncation=truncation, var_floor=d.get("var_floor", 1e-8))
    if name == "student_t":
        return StudentT(df=d.get("df"), var_floor=d.get("var_floor", 1e-8))
    if name == "negative_binomial":
        return NegativeBinomial(size=d.get("size"), link=link)
    if name == "gamma":
        return GammaFamily(link=link, shape=d.get("shape"))
    if name not in ("poisson", "binomial"):
        raise ValueError(f"unknown family {name!r}")
    return FAMILIES[name](link=link)
