"""Gamma regression components for positive responses, with a shape per component."""

from __future__ import annotations

import numpy as np
from scipy import special

from regmix.core.choices import FAMILY_LINKS
from regmix.core.linalg import roundoff_spread
from regmix.families.glm import GLMFamily
from regmix.families.negative_binomial import solve_log_minus_digamma
from regmix.families.response_checks import check_positive

# The range of a Gamma response: its means, their squares (the Fisher weights) and a
# wild trial step's must stay normal float64 numbers for every link.
GAMMA_RANGE = (1e-100, 1e100)


# A mean of an identity or inverse link's trial step is kept above this in the
# derivatives (whose rows then have no weight: their density is zero).
_MEAN_FLOOR = 1e-150


def _positive(mu):
    return np.maximum(mu, _MEAN_FLOOR)


def _in_range(mu):
    """Rows whose mean is a positive number (elsewhere the density is zero)."""
    return (mu > 0) & np.isfinite(mu)


class GammaFamily(GLMFamily):
    """Gamma components with mean ``mu_k`` and shape ``nu_k`` (``Var = mu^2 / nu``).

    Parameters
    ----------
    link : {"log", "inverse", "identity"}, default="log"
        The log link keeps every mean positive; it is what flexmix's users of Gamma
        mixtures usually choose (R's canonical link for the Gamma is the inverse).
    shape : float, optional
        A known shape, the same for every component (``shape=1``: exponential
        components); None (default) estimates one shape per component by maximum
        likelihood.
    """

    name = "gamma"
    label = "Gamma"
    discrete = False
    allowed_links = FAMILY_LINKS["gamma"]
    extra_names = ("shape",)

    def __init__(self, link: str | None = None, shape: float | None = None) -> None:
        super().__init__(link)
        if shape is not None and not (np.isfinite(shape) and shape > 0):
            raise ValueError(f"shape must be a positive number or None; got {shape!r}")
        self.shape = None if shape is None else float(shape)

    def __repr__(self) -> str:
        return f"GammaFamily(link={self.link_name!r}, shape={self.shape!r})"

    def free_extra(self) -> np.ndarray:
        return np.array([self.shape is None])

    def loglik(self, y, eta, mu, extra, trials):
        # in the ratio y / mu, which does not depend on the response's units; a mean
        # that is not positive (an identity or inverse link's trial step) has density 0
        nu = extra[:, 0]
        pos = mu > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.link_name == "log":
                log_r = np.log(y) - eta
                r = np.exp(log_r)
            else:
                r = y / np.where(pos, mu, 1.0)
                log_r = np.log(r)
            out = nu * (np.log(nu) + log_r - r) - special.gammaln(nu) - np.log(y)
        return np.where(pos, out, -np.inf)

    def mu_derivatives(self, y, mu, extra, trials):
        # zero at rows whose mean is not a positive number or so far from the response
        # that the derivatives overflow (the density there is zero to working precision)
        nu = extra[:, 0]
        m = _positive(mu)
        with np.errstate(over="ignore", invalid="ignore"):
            r = y / m
            l1 = nu * (r - 1.0) / m
            l2 = nu * (1.0 - 2.0 * r) / m / m
        ok = np.isfinite(l1) & np.isfinite(l2) & _in_range(mu)
        return np.where(ok, l1, 0.0), np.where(ok, l2, 0.0)

    def fisher(self, mu, extra, trials):
        m = _positive(mu)
        return extra[:, 0] / (m * m)

    def working(self, y, mu, dmu, extra, trials):
        # in dmu / mu and y / mu: W = nu (dmu / mu)^2, u = nu (y / mu - 1) dmu / mu,
        # free of the response's units; rows whose mean is not a positive number (an
        # identity or inverse link's trial step; their density is zero) get neither
        nu = extra[:, 0]
        ok = _in_range(mu)
        if self.link_name == "log":  # dmu / mu = 1: W = nu, u = nu (y / mu - 1), the same bits
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                score = nu * (y / mu - 1.0)
            ok &= np.isfinite(score)
            return np.where(ok, nu, 0.0), np.where(ok, score, 0.0)
        m = np.where(ok, mu, 1.0)
        q = np.where(ok, dmu, 0.0) / m
        with np.errstate(over="ignore", invalid="ignore"):
            W = nu * q * q
            score = nu * (y / m - 1.0) * q
        ok = np.isfinite(W) & np.isfinite(score)
        return np.where(ok, W, 0.0), np.where(ok, score, 0.0)

    def mustart(self, y, trials):
        return y

    def default_extra(self):
        return np.array([1.0 if self.shape is None else self.shape])

    def extra_statistics(self, y, mu, extra, trials, wr):
        # rows whose mean is not a positive number have no weight (density zero)
        ok = _in_range(mu)
        r = y / np.where(ok, mu, y)
        t = np.where(ok, np.log(r) - r, 0.0)
        return np.einsum("kn,kn->k", wr, t)[:, None]

    def update_extra(self, stats, resp_sum, extra):
        # maximise sum r [nu log nu - lgamma(nu) + nu (log(y/mu) - y/mu)] over nu
        c = -stats[:, 0] / resp_sum - 1.0
        # warm-started from the current shapes (the root does not depend on the start)
        return solve_log_minus_digamma(c, self.extra_bounds[1], extra[:, 0])[:, None]

    def extra_derivatives(self, y, mu, extra, trials):
        nu = extra[:, 0]
        m = _positive(mu)
        r = y / m
        l1 = np.log(nu) + 1.0 - special.digamma(nu) + np.log(r) - r
        l2 = 1.0 / nu - special.polygamma(1, nu)
        e1 = nu * l1
        e2 = e1 + nu * nu * l2
        cross = nu * (r - 1.0) / m
        return e1[:, None], e2[:, None, None], cross[:, None]

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")
        check_positive(y, "Gamma", GAMMA_RANGE, start,
                       ": rescale y (a Gamma fit of c * y has the same shapes, and its "
                       "means are c times as large)")
        ulps = roundoff_spread(y) if complete else None
        if ulps == 0:
            raise ValueError(f"y is constant (every value is {y[0]:g}): the Gamma shape is "
                             "unbounded")
        if ulps is not None:
            raise ValueError(f"y is constant up to round-off (its values span {ulps:.3g} "
                             "units in the last place of their magnitude): the Gamma shape "
                             "is unbounded")

    def draw(self, mu, extra, trials, rng):
        nu = extra[:, 0]
        return rng.gamma(nu, mu / nu)
