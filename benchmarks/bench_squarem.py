"""EM steps and data passes to convergence, with and without SQUAREM acceleration.

Usage::

    python benchmarks/bench_squarem.py [--n 5000] [--seeds 5]

For a well-separated and an overlapping two-component problem and a three-component
problem, each fit starts from the same random memberships (``init="random"``,
``n_init=1``) and runs to ``tol=1e-12`` with ``accelerate=False`` and ``True``. Reported:
median EM steps (M-steps), median passes over the data (E-steps, the cost), median wall
time, and the largest difference in the final log-likelihood between the two.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture

PROBLEMS = {
    "well separated": dict(coef=[[3.0], [-3.0]], intercept=[0.0, 0.0], sigma=[0.5, 0.5]),
    "overlapping": dict(coef=[[1.0], [2.0]], intercept=[0.0, 0.3], sigma=[1.0, 1.0]),
    "three components": dict(coef=[[1, 0.5], [-1, 0], [0, 2]], intercept=[0.0, 1.0, -1.0],
                             sigma=[1.0, 1.0, 1.0]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(f"n = {args.n}, {args.seeds} seeds, tol = 1e-12, same random start for both")
    print(f"{'problem':18s} {'accelerate':>10s} {'EM steps':>9s} {'passes':>7s} "
          f"{'seconds':>8s} {'max |dlogL|':>12s}")
    for name, kw in PROBLEMS.items():
        K = len(kw["coef"])
        rows = {False: [], True: []}
        lls = {False: [], True: []}
        for seed in range(args.seeds):
            X, y, _, _ = make_regression_mixture(args.n, random_state=seed, **kw)
            for acc in (False, True):
                model = RegressionMixture(K, init="random", n_init=1, tol=1e-12,
                                          max_iter=100_000, accelerate=acc, min_weight=0.0,
                                          compute_se=False, random_state=seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t = time.perf_counter()
                    model.fit(X, y)
                    elapsed = time.perf_counter() - t
                rows[acc].append((model.n_iter_, model.n_passes_, elapsed))
                lls[acc].append(model.log_likelihood_)
        gap = np.max(np.abs(np.subtract(lls[True], lls[False])))
        for acc in (False, True):
            steps, passes, secs = np.median(np.array(rows[acc]), axis=0)
            print(f"{name:18s} {acc!s:>10s} {steps:9.0f} {passes:7.0f} {secs:8.3f} "
                  f"{gap if acc else float('nan'):12.2e}")


if __name__ == "__main__":
    main()
