"""Default fits on small data, once warm, for every family.

Usage::

    python benchmarks/bench_small.py [--sizes 100 500 1000] [--seeds 9]
                                     [--families gaussian poisson ...]

Gaussian (the first table): for each n and seed r, ``make_regression_mixture(n, 2, 3,
random_state=r)`` (K = 3, two features) fitted by the default
``RegressionMixture(3, random_state=r)`` (the search and standard errors).

Every family (the second table): for each n and seed r, ``make_family_mixture`` with two
components of two features (the coefficients in :data:`FAMILY_PROBLEMS`; binomial
responses of :data:`TRIALS` trials) fitted by the default ``RegressionMixture(2,
family=..., random_state=r)``.

Each fit is run once to warm up and then three times, the best wall time kept, with the
CPU time of that best run (the figure to compare on a shared machine); the table gives
the median and the largest over the seeds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from regmix import RegressionMixture
from regmix.datasets import make_family_mixture, make_regression_mixture

# (family, extra parameters per component) of the per-family table: two components,
# two features, coefficients COEF and intercepts INTERCEPT on the link scale.
COEF = [[0.8, -0.4], [-0.6, 0.5]]
INTERCEPT = [0.5, 1.5]
FAMILY_PROBLEMS = {
    "gaussian": {"sigma": [0.5, 0.7]},
    "poisson": {},
    "binomial": {},  # with TRIALS trials per row
    "gamma": {"shape": [4.0, 6.0]},
    "negative_binomial": {"size": [5.0, 8.0]},
    "student_t": {"sigma": [0.5, 0.7], "df": [5.0, 5.0]},
    "lognormal": {"sigma": [0.4, 0.6]},
}


TRIALS = 10


def best_time(make, X, y, repeats: int = 3, **fit) -> tuple[float, float]:
    """(wall, cpu) seconds of the fastest of ``repeats`` fits after one to warm up."""
    make().fit(X, y, **fit)
    best = (np.inf, np.inf)
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        make().fit(X, y, **fit)
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    return best


def family_data(family: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(X, y, fit arguments)`` of the per-family problem."""
    binomial = family == "binomial"
    X, y, _, _ = make_family_mixture(n, family, coef=COEF,
                                     intercept=[-0.5, 0.8] if binomial else INTERCEPT,
                                     extra=FAMILY_PROBLEMS[family],
                                     trials=TRIALS if binomial else None,
                                     random_state=seed)
    return X, y, {"trials": np.full(n, TRIALS)} if binomial else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--seeds", type=int, default=9)
    parser.add_argument("--families", nargs="*", default=list(FAMILY_PROBLEMS))
    args = parser.parse_args()
    print("Gaussian, K = 3")
    print(f"{'n':>6s} {'median ms':>10s} {'max ms':>8s} {'median cpu ms':>14s}")
    for n in args.sizes:
        times = [best_time(lambda r=r: RegressionMixture(3, random_state=r),
                           *make_regression_mixture(n, 2, 3, random_state=r)[:2])
                 for r in range(args.seeds)]
        wall, cpu = np.array(times).T
        print(f"{n:6d} {np.median(wall) * 1e3:10.1f} {wall.max() * 1e3:8.1f} "
              f"{np.median(cpu) * 1e3:14.1f}")
    print("\nEvery family, K = 2")
    print(f"{'family':>18s} {'n':>6s} {'median ms':>10s} {'max ms':>8s} {'median cpu ms':>14s}")
    for family in args.families:
        for n in args.sizes:
            times = []
            for r in range(args.seeds):
                X, y, fit = family_data(family, n, r)
                times.append(best_time(
                    lambda r=r, f=family: RegressionMixture(2, family=f, random_state=r), X, y,
                    **fit))
            wall, cpu = np.array(times).T
            print(f"{family:>18s} {n:6d} {np.median(wall) * 1e3:10.1f} "
                  f"{wall.max() * 1e3:8.1f} {np.median(cpu) * 1e3:14.1f}", flush=True)


if __name__ == "__main__":
    main()
