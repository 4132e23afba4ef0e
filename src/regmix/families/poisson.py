"""Poisson regression components (counts), with offsets for exposure."""

from __future__ import annotations

import numpy as np
from scipy import special

from regmix.core.choices import FAMILY_LINKS
from regmix.families.glm import GLMFamily, _check_counts, zero_counts_at_bound


class Poisson(GLMFamily):
    """Poisson components, ``y | x, k ~ Poisson(mu_k)``, ``g(mu_k) = x' beta_k + offset``.

    Parameters
    ----------
    link : {"log", "identity"}, default="log"
        The canonical log link (flexmix's and glm's default).
    """

    name = "poisson"
    label = "Poisson"
    discrete = True
    allowed_links = FAMILY_LINKS["poisson"]

    def loglik(self, y, eta, mu, extra, trials):
        if self.link_name == "log":
            return y * eta - mu - special.gammaln(y + 1.0)
        return special.xlogy(y, mu) - mu - special.gammaln(y + 1.0)

    def mu_derivatives(self, y, mu, extra, trials):
        # the floor keeps m * m a normal number (an identity link's mean near zero)
        m = np.maximum(mu, 1e-150)
        return y / m - 1.0, -y / (m * m)

    def fisher(self, mu, extra, trials):
        return 1.0 / np.maximum(mu, 1e-300)

    def mustart(self, y, trials):
        return y + 0.1

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")
        _check_counts(y, "Poisson", start, complete)

    def saturated(self, y, mu, trials):
        """See :func:`regmix.families.glm.zero_counts_at_bound`."""
        return zero_counts_at_bound(self.link_name, y, mu)

    def draw(self, mu, extra, trials, rng):
        return rng.poisson(mu).astype(np.float64)
