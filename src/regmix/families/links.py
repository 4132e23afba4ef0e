"""Link functions of generalized linear components: ``eta = g(mu)``.

A link maps the mean ``mu`` of a component to its linear predictor ``eta = x' beta +
offset``. The IRLS M-step and the observed information need the inverse link and its
first two derivatives with respect to ``eta``; starting values need ``g`` itself.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["LINKS", "Link", "get_link"]


# A linear predictor beyond this is a diverging fit; capping it keeps mu, mu^2 and mu^3
# finite (exp(300) ~ 1e130), so a wild trial step is rejected instead of overflowing.
_ETA_MAX = 300.0


class Link:
    """Base class: subclasses define :meth:`link`, :meth:`inverse` and :meth:`derivatives`."""

    name = "link"

    # Whether the linear predictor is in the response's units or their inverse
    # (identity, inverse): then a Fisher-scoring step is bounded relative to the
    # coefficients, so that a fit of c * y is the fit of y in other units.
    response_units = False

    def link(self, mu: np.ndarray) -> np.ndarray:
        """``eta = g(mu)``."""
        raise NotImplementedError

    def inverse(self, eta: np.ndarray) -> np.ndarray:
        """``mu = g^-1(eta)``."""
        raise NotImplementedError

    def derivatives(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``mu``, ``d mu / d eta`` and ``d^2 mu / d eta^2`` at ``eta``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Identity(Link):
    name = "identity"
    response_units = True

    def link(self, mu):
        return np.asarray(mu, dtype=np.float64).copy()

    def inverse(self, eta):
        return np.asarray(eta, dtype=np.float64).copy()

    def derivatives(self, eta):
        mu = np.asarray(eta, dtype=np.float64)
        return mu.copy(), np.ones_like(mu), np.zeros_like(mu)


class Log(Link):
    name = "log"

    def link(self, mu):
        return np.log(mu)

    def inverse(self, eta):
        return np.exp(np.minimum(eta, _ETA_MAX))

    def derivatives(self, eta):
        mu = self.inverse(eta)
        return mu, mu, mu


class Logit(Link):
    name = "logit"

    def link(self, mu):
        return special.logit(mu)

    def inverse(self, eta):
        return special.expit(eta)

    def derivatives(self, eta):
        # p and 1 - p from one exp(-|eta|): each without cancellation, never overflowing
        e = np.exp(-np.abs(eta))
        r = 1.0 / (1.0 + e)  # the larger of p and 1 - p
        er = e * r  # the smaller
        mu = np.where(np.asarray(eta) >= 0, r, er)
        d1 = r * er
        return mu, d1, d1 * (1.0 - 2.0 * mu)


class Probit(Link):
    name = "probit"

    def link(self, mu):
        return special.ndtri(mu)

    def inverse(self, eta):
        return special.ndtr(eta)

    def derivatives(self, eta):
        eta = np.asarray(eta, dtype=np.float64)
        d1 = np.exp(-0.5 * eta * eta) / np.sqrt(2.0 * np.pi)
        return special.ndtr(eta), d1, -eta * d1


class CLogLog(Link):
    name = "cloglog"

    def link(self, mu):
        return np.log(-np.log1p(-np.asarray(mu)))

    def inverse(self, eta):
        return -np.expm1(-np.exp(np.minimum(eta, _ETA_MAX)))

    def derivatives(self, eta):
        e = np.exp(np.minimum(eta, _ETA_MAX))
        d1 = e * np.exp(-e)
        return -np.expm1(-e), d1, d1 * (1.0 - e)


class Inverse(Link):
    name = "inverse"
    response_units = True

    def link(self, mu):
        return 1.0 / np.asarray(mu, dtype=np.float64)

    def inverse(self, eta):
        with np.errstate(divide="ignore"):  # eta = 0: an infinite mean, out of range
            return 1.0 / np.asarray(eta, dtype=np.float64)

    def derivatives(self, eta):
        eta = np.asarray(eta, dtype=np.float64)
        with np.errstate(divide="ignore", over="ignore"):
            mu = 1.0 / eta
            return mu, -mu * mu, 2.0 * mu * mu * mu


LINKS: dict[str, type[Link]] = {
    cls.name: cls for cls in (Identity, Log, Logit, Probit, CLogLog, Inverse)
}


def get_link(link: str | Link, allowed: tuple[str, ...], family: str) -> Link:
    """The link object for a name (or a link object), checked against ``allowed``."""
    if isinstance(link, Link):
        name = link.name
    elif isinstance(link, str):
        name = link
    else:
        raise ValueError(f"link must be a string; got {link!r}")
    if name not in allowed:
        raise ValueError(
            f"link {name!r} is not available for the {family} family; choose one of "
            f"{list(allowed)}"
        )
    return link if isinstance(link, Link) else LINKS[name]()
