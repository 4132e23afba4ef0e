"""Time regmix's EM on generated data: per-iteration cost and a default fit.

Usage::

    python benchmarks/bench_em.py [--sizes 100000 1000000] [--repeats 3]

For each n: K = 3 components, five features plus intercept. It reports

* the time of one EM iteration (one data pass plus the M-step): the difference between
  a fit with a fixed start, plain EM and exactly 20 iterations and the same fit with
  ``max_iter=0`` (which pays the set-up, the start and the final passes), divided by 20
  (best of ``--repeats``);
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


def per_iteration_seconds(X, y, repeats: int, engine: str, n_iter: int = 20) -> float:
    rng = np.random.default_rng(1)
    start = {"weights": np.full(3, 1 / 3), "coef": COEF + rng.normal(0, 0.5, size=COEF.shape),
             "intercept": np.zeros(3), "sigma": np.ones(3)}

    def fit_seconds(max_iter: int) -> float:
        model = RegressionMixture(3, init=start, max_iter=max_iter, tol=0.0, accelerate=False,
                                  compute_se=False, engine=engine)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            model.fit(X, y)
            return time.perf_counter() - t

    fit_seconds(1)  # warm-up: caches, compiled code
    return min((fit_seconds(n_iter) - fit_seconds(0)) / n_iter for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, numpy {np.__version__}")
    print(f"{'n':>9} {'numpy ms/iter':>14} {'numba ms/iter':>14} {'default fit: s':>15} "
          f"{'EM steps':>9} {'passes':>7} {'log-likelihood':>18}")
    for n in (int(s) for s in args.sizes):
        X, y, _, _ = make_regression_mixture(n, coef=COEF, intercept=[0.0, 1.0, -1.0],
                                             sigma=[1.0, 0.5, 1.5], random_state=0)
        numpy_iter = per_iteration_seconds(X, y, args.repeats, "numpy")
        numba_iter = per_iteration_seconds(X, y, args.repeats, "numba")
        t = time.perf_counter()
        model = RegressionMixture(3, random_state=0).fit(X, y)
        total = time.perf_counter() - t
        print(f"{n:9d} {numpy_iter * 1e3:14.1f} {numba_iter * 1e3:14.1f} {total:15.2f} "
              f"{model.n_iter_:9d} {model.n_passes_:7d} {model.log_likelihood_:18.6f}")


if __name__ == "__main__":
    main()
