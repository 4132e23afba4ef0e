"""Binomial regression components: 0/1 responses, or successes out of given trials."""

from __future__ import annotations

import numpy as np
from scipy import special

from regmix.core.choices import FAMILY_LINKS
from regmix.families.glm import _EPS, MEAN_BOUND_TOL, GLMFamily, log_factorials
from regmix.families.links import _ETA_MAX


class Binomial(GLMFamily):
    """Binomial components: ``y`` successes out of ``m`` trials with probability
    ``p_k``, ``g(p_k) = x' beta_k + offset``.

    The response is either 0/1 (one trial per row) or successes together with the
    number of trials per row (``fit(X, y, trials=m)``, or ``y`` with two columns
    ``[successes, failures]`` as R's ``cbind(s, f)``).

    Parameters
    ----------
    link : {"logit", "probit", "cloglog"}, default="logit"
    """

    name = "binomial"
    label = "Binomial"
    discrete = True
    allowed_links = FAMILY_LINKS["binomial"]

    @staticmethod
    def _m(trials):
        return 1.0 if trials is None else trials

    def loglik(self, y, eta, mu, extra, trials):
        m = self._m(trials)
        lf_m, lf_y, lf_rest = log_factorials(m, y, m - y)
        const = lf_m - lf_y - lf_rest
        # log p and log(1 - p) from the linear predictor, exact where p rounds to 0 or 1
        if self.link_name == "logit":
            # -log(1 + e^-eta) and -log(1 + e^eta) from one log1p(e^-|eta|)
            soft = np.log1p(np.exp(-np.abs(eta)))
            log_p = np.minimum(eta, 0.0)
            log_p -= soft
            log_q = np.minimum(-eta, 0.0)
            log_q -= soft
        elif self.link_name == "probit":
            log_p, log_q = special.log_ndtr(eta), special.log_ndtr(-eta)
        else:  # cloglog: 1 - p = exp(-e^eta)
            e = np.exp(np.minimum(eta, _ETA_MAX))
            log_q = -e
            small = e < 1e-8  # log(1 - exp(-e)) = log e - e / 2 + O(e^2)
            es = np.where(small, 1.0, e)
            log_p = np.where(es > np.log(2.0), np.log1p(-np.exp(-es)),
                             np.log(-np.expm1(-es)))
            log_p = np.where(small, eta - 0.5 * e, log_p)
        return const + y * log_p + (m - y) * log_q

    def mu_derivatives(self, y, mu, extra, trials):
        m = self._m(trials)
        p = np.clip(mu, _EPS, 1.0 - _EPS)
        q = 1.0 - p
        return (y - m * p) / (p * q), -y / (p * p) - (m - y) / (q * q)

    def fisher(self, mu, extra, trials):
        p = np.clip(mu, _EPS, 1.0 - _EPS)
        return self._m(trials) / (p * (1.0 - p))

    def working(self, y, mu, dmu, extra, trials):
        # W = dmu^2 m / (p q) and u = dmu (y - m p) / (p q), from one dmu / (p q)
        m = self._m(trials)
        p = np.clip(mu, _EPS, 1.0 - _EPS)
        v = dmu / (p * (1.0 - p))
        return (dmu * v) * m, v * (y - m * p)

    def mustart(self, y, trials):
        m = self._m(trials)
        return (y + 0.5) / (m + 1.0)

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        if trials is None:
            bad = (y != 0) & (y != 1)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(
                    f"a binomial response without trials must be 0 or 1; y[{start + i}] = "
                    f"{y[i]:g} (pass trials= or two columns [successes, failures] for counts)")
            m = np.ones_like(y)
        else:
            m = trials
            bad = ~(m > 0) | ~np.isfinite(m)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"binomial trials must be positive; trials[{start + i}] = "
                                 f"{m[i]:g}")
            bad = m != np.round(m)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"binomial trials must be whole numbers; trials[{start + i}]"
                                 f" = {float(m[i])!r}")
            bad = y != np.round(y)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"binomial successes (with trials) must be whole numbers; "
                                 f"y[{start + i}] = {float(y[i])!r}")
            bad = y < 0
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"binomial successes must be non-negative; y[{start + i}] = "
                                 f"{y[i]:g}")
            bad = y > m
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"binomial successes exceed the trials in row {start + i}: "
                                 f"{y[i]:g} > {m[i]:g}")
        if complete and (not np.any(y > 0) or not np.any(y < m)):
            which = "successes" if not np.any(y > 0) else "failures"
            raise ValueError(f"the binomial response has no {which}: the probabilities go to "
                             "the boundary and the coefficients to infinity")

    def saturated(self, y, mu, trials):
        """Rows whose probability is within ``MEAN_BOUND_TOL`` of 0 with no successes, or
        of 1 with no failures (every link here reaches 0 and 1 only at infinity)."""
        m = self._m(trials)
        return (((mu < MEAN_BOUND_TOL) & (y == 0))
                | ((mu > 1.0 - MEAN_BOUND_TOL) & (y == m)))

    def draw(self, mu, extra, trials, rng):
        m = np.ones(mu.shape[0], dtype=np.int64) if trials is None else np.asarray(
            trials).astype(np.int64)
        return rng.binomial(m, np.clip(mu, 0.0, 1.0)).astype(np.float64)
