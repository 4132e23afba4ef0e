"""Time regmix's EM on generated data: per-iteration cost and a default fit.

Usage::

    python benchmarks/bench_em.py [--sizes 100000 1000000] [--repeats 3]

For each n: K = 3 components, five features plus intercept. It reports

* the time of one EM iteration (one data pass plus the M-step), from a fit with a
  fixed start, plain EM and exactly 20 iterations (best of ``--repeats``);
* a default fit (``RegressionMixture(3, random_state=0)``): EM steps, data passes and
  total wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture

COEF = np.array([[1.0, -2.0, 0.5, 0.0, 1.5], [-1.0, 1.0, 2.0, -0.5, 0.0],
                 [0.5, 0.0, -1.5, 2.0, -1.0]])


def per_iteration_seconds(X, y, repeats: int, n_iter: int = 20) -> float:
    rng = np.random.default_rng(1)
    start = {"weights": np.full(3, 1 / 3), "coef": COEF + rng.normal(0, 0.5, size=COEF.shape),
             "intercept": np.zeros(3), "sigma": np.ones(3)}
    best = np.inf
    for _ in range(repeats):
        model = RegressionMixture(3, init=start, max_iter=n_iter, tol=0.0, accelerate=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            model.fit(X, y)
            elapsed = time.perf_counter() - t
        # n_iter M-steps and n_iter + 1 passes; charge the whole fit to the iterations
        best = min(best, elapsed / n_iter)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, numpy {np.__version__}")
    print(f"{'n':>9} {'ms/iter':>9} {'default fit: s':>15} {'EM steps':>9} {'passes':>7} "
          f"{'ms/pass':>8} {'log-likelihood':>16}")
    for n in (int(s) for s in args.sizes):
        X, y, _, _ = make_regression_mixture(n, coef=COEF, intercept=[0.0, 1.0, -1.0],
                                             sigma=[1.0, 0.5, 1.5], random_state=0)
        per_iter = per_iteration_seconds(X, y, args.repeats)
        t = time.perf_counter()
        model = RegressionMixture(3, random_state=0).fit(X, y)
        total = time.perf_counter() - t
        print(f"{n:9d} {per_iter * 1e3:9.1f} {total:15.2f} {model.n_iter_:9d} "
              f"{model.n_passes_:7d} {total / model.n_passes_ * 1e3:8.1f} "
              f"{model.log_likelihood_:16.4f}")


if __name__ == "__main__":
    main()
