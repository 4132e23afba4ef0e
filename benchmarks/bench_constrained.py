"""Constrained fits on the compiled kernels against the numpy pass, side by side.

Usage::

    python benchmarks/bench_constrained.py [--n 1000000] [--repeats 2]

For each problem (a two-component Gaussian mixture with a common intercept, one with a
fixed slope in component 2, a Poisson mixture with a common slope; two features,
``--n`` rows drawn here from fixed seeds), a single start
``RegressionMixture(2, n_init=1, split_merge=False, compute_se=False, engine=...)`` is
fitted with ``engine="numba"`` and ``engine="numpy"`` in turn, ``--repeats`` times each
after one warm-up fit; the table gives the best wall time of each, their ratio, the EM
steps, and the difference of the log-likelihoods.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from regmix import RegressionMixture


def problems(n: int):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    second = rng.random(n) < 0.4
    gauss = np.where(second, 1.0 + X @ [-1.0, 0.5], 1.0 + X @ [1.0, 0.5]) + rng.normal(size=n)
    counts = rng.poisson(np.exp(np.where(second, 1.5 + X @ [-0.4, 0.3],
                                         0.5 + X @ [0.5, 0.3]))).astype(float)
    return [
        ("gaussian, common intercept", "gaussian", X, gauss,
         {"common_coef": {"intercept": "all"}}),
        ("gaussian, fixed slope", "gaussian", X, gauss, {"fixed_coef": {"x0": [None, -1.0]}}),
        ("poisson, common slope", "poisson", X, counts, {"common_coef": ["x1"]}),
    ]


def best_time(model, X, y, repeats: int):
    model.fit(X, y)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(X, y)
        best = min(best, time.perf_counter() - start)
    return best, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print("| problem | n | numba s | numpy s | ratio | EM steps (numba, numpy) | "
          "loglik difference |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for name, family, X, y, constraints in problems(args.n):
        out = {}
        for engine in ("numba", "numpy"):
            model = RegressionMixture(2, family=family, engine=engine, n_init=1,
                                      split_merge=False, compute_se=False, random_state=0,
                                      **constraints)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[engine] = best_time(model, X, y, args.repeats)
        (t_c, m_c), (t_n, m_n) = out["numba"], out["numpy"]
        print(f"| {name} | {args.n:,} | {t_c:.2f} | {t_n:.2f} | {t_n / t_c:.1f} | "
              f"{m_c.n_iter_}, {m_n.n_iter_} | "
              f"{m_c.log_likelihood_ - m_n.log_likelihood_:.2e} |")


if __name__ == "__main__":
    main()
