"""Default fits on small data, once warm.

Usage::

    python benchmarks/bench_small.py [--sizes 100 500 1000] [--seeds 9]

For each n and seed r: ``make_regression_mixture(n, 2, 3, random_state=r)`` (K = 3, two
features) fitted by the default ``RegressionMixture(3, random_state=r)`` (two starts,
standard errors), once to warm up and then three times, the best time kept. Prints the
median and the largest of those times over the seeds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture


def best_time(X, y, seed: int, repeats: int = 3) -> float:
    RegressionMixture(3, random_state=seed).fit(X, y)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        RegressionMixture(3, random_state=seed).fit(X, y)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--seeds", type=int, default=9)
    args = parser.parse_args()
    print(f"{'n':>6s} {'median ms':>10s} {'max ms':>8s}")
    for n in args.sizes:
        times = [best_time(*make_regression_mixture(n, 2, 3, random_state=r)[:2], r)
                 for r in range(args.seeds)]
        print(f"{n:6d} {np.median(times) * 1e3:10.1f} {max(times) * 1e3:8.1f}")


if __name__ == "__main__":
    main()
