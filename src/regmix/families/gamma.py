"""Gamma regression components for positive responses, with a shape per component."""

from __future__ import annotations

import numpy as np
from scipy import special

from regmix.families.glm import GLMFamily
from regmix.families.negative_binomial import solve_log_minus_digamma


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
    allowed_links = ("log", "inverse", "identity")
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
        nu = extra[:, 0]
        log_mu = eta if self.link_name == "log" else np.log(mu)
        return (nu * np.log(nu) - special.gammaln(nu) + (nu - 1.0) * np.log(y)
                - nu * (y / mu + log_mu))

    def mu_derivatives(self, y, mu, extra, trials):
        nu = extra[:, 0]
        return nu * (y - mu) / (mu * mu), nu * (mu - 2.0 * y) / (mu * mu * mu)

    def fisher(self, mu, extra, trials):
        return extra[:, 0] / (mu * mu)

    def mustart(self, y, trials):
        return y

    def default_extra(self):
        return np.array([1.0 if self.shape is None else self.shape])

    def extra_statistics(self, y, mu, extra, trials, wr):
        t = np.log(y / mu) - y / mu
        return np.einsum("kn,kn->k", wr, t)[:, None]

    def update_extra(self, stats, resp_sum, extra):
        # maximise sum r [nu log nu - lgamma(nu) + nu (log(y/mu) - y/mu)] over nu
        c = -stats[:, 0] / resp_sum - 1.0
        return solve_log_minus_digamma(c, self.extra_bounds[1])[:, None]

    def extra_derivatives(self, y, mu, extra, trials):
        nu = extra[:, 0]
        l1 = np.log(nu) + 1.0 - special.digamma(nu) + np.log(y / mu) - y / mu
        l2 = 1.0 / nu - special.polygamma(1, nu)
        e1 = nu * l1
        e2 = e1 + nu * nu * l2
        cross = nu * (y - mu) / (mu * mu)
        return e1[:, None], e2[:, None, None], cross[:, None]

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")
        bad = ~(y > 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"the Gamma response must be positive; y[{start + i}] = "
                             f"{y[i]:g}")
        if complete and np.ptp(y) == 0:
            raise ValueError(f"y is constant (every value is {y[0]:g}): the Gamma shape is "
                             "unbounded")

    def draw(self, mu, extra, trials, rng):
        nu = extra[:, 0]
        return rng.gamma(nu, mu / nu)
