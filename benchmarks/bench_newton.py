"""The Newton phase on random problems: same optimum, fewer passes.

Usage::

    python benchmarks/bench_newton.py [--n 300000] [--problems 12]

Draws random mixtures of linear regressions (K = 2 to 4 components, 1 to 3 features,
unequal weights, overlapping lines) and fits each with the default
``RegressionMixture(K, random_state=i, compute_se=False)`` twice: as shipped, and with
the Newton phase switched off (SQUAREM alone). Prints, per problem, the difference of
the final log-likelihoods (Newton minus SQUAREM; negative would mean the Newton phase
ended lower), the passes over all rows and the wall times, then the extremes.
"""

from __future__ import annotations

import argparse
import time
import warnings
from unittest import mock

import numpy as np

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture


def fit(K: int, X, y, seed: int, newton: bool) -> tuple[RegressionMixture, float]:
    rate = RegressionMixture._newton_rate if newton else (lambda *args: None)
    with warnings.catch_warnings(), mock.patch.object(RegressionMixture, "_newton_rate",
                                                      rate):
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model = RegressionMixture(K, random_state=seed, compute_se=False).fit(X, y)
        return model, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=300_000)
    parser.add_argument("--problems", type=int, default=12)
    args = parser.parse_args()
    n = int(args.n)
    rng = np.random.default_rng(0)
    fit(2, *make_regression_mixture(200_000, random_state=0)[:2], 0, True)  # load the kernel
    print(f"n = {n}, default fits with and without the Newton phase")
    print(f"{'i':>3s} {'K':>2s} {'d':>2s} {'dlogL':>10s} {'passes':>13s} {'seconds':>13s}")
    gaps, ratios = [], []
    for i in range(args.problems):
        K, d = int(rng.integers(2, 5)), int(rng.integers(1, 4))
        weights = np.maximum(rng.dirichlet(np.full(K, 2.0)), 0.08)
        X, y, _, _ = make_regression_mixture(
            n, d, K, weights=weights / weights.sum(), coef=rng.normal(scale=1.5, size=(K, d)),
            intercept=rng.normal(size=K), sigma=rng.uniform(0.5, 1.5, K), random_state=i)
        fast, t_fast = fit(K, X, y, i, True)
        slow, t_slow = fit(K, X, y, i, False)
        gap = fast.log_likelihood_ - slow.log_likelihood_
        gaps.append(gap)
        ratios.append(slow.n_passes_ / fast.n_passes_)
        print(f"{i:3d} {K:2d} {d:2d} {gap:10.2e} {fast.n_passes_:6d} {slow.n_passes_:6d} "
              f"{t_fast:6.2f} {t_slow:6.2f}")
    print(f"log-likelihood difference from {min(gaps):.2e} to {max(gaps):.2e}; "
          f"passes {min(ratios):.1f} to {max(ratios):.1f} times fewer")


if __name__ == "__main__":
    main()
