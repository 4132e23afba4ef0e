"""Cost of censored and truncated Gaussian components against plain Gaussian ones.

One pass (the log-likelihood of the fitted model on its rows, the family's E-step) and a
default fit, on two crossing lines with a response censored at 0 and 6 (tobit), and with
truncation at -1 in addition, best of ``--repeats`` runs.

    python benchmarks/bench_censored.py [--rows 200000] [--fit-rows 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from regmix import CensoredGaussian, RegressionMixture


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    z = rng.random(n) < 0.4
    ystar = np.where(z, 3.0 + 1.5 * x, 1.0 - 1.0 * x) + rng.normal(size=n) * np.where(z, 0.6, 1.0)
    keep = ystar > -1.0  # the truncated case observes these rows only
    return x[:, None], ystar, keep


def best(fn, fn_args: tuple, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(*fn_args)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--fit-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "gaussian (latent y)": ("gaussian", False, False),
        "tobit, censored at 0 and 6": (CensoredGaussian(lower=0.0, upper=6.0), True, False),
        "tobit and truncated at -1": (
            CensoredGaussian(lower=0.0, upper=6.0, truncation=(-1.0, np.inf)),
            True,
            True,
        ),
    }
    print(f"{'case':30s} {'censored':>8s} {'loglik (ms)':>11s} {'fit (s)':>8s} {'iter':>5s}")
    for name, (family, censor, truncate) in cases.items():
        X, ystar, keep = data(args.rows + args.fit_rows)
        if truncate:
            X, ystar = X[keep], ystar[keep]
        y = np.clip(ystar, 0.0, 6.0) if censor else ystar
        fit_X, fit_y = X[: args.fit_rows], y[: args.fit_rows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = RegressionMixture(2, family=family, random_state=0, compute_se=False)
            fit_time = best(model.fit, (fit_X, fit_y), 1)
        pass_X, pass_y = X[args.fit_rows :], y[args.fit_rows :]
        pass_time = best(model.log_likelihood, (pass_X, pass_y), args.repeats)
        share = np.mean((y == 0.0) | (y == 6.0)) if censor else 0.0
        print(
            f"{name:30s} {share:8.2f} {1e3 * pass_time:11.1f} {fit_time:8.2f} {model.n_iter_:5d}"
        )


if __name__ == "__main__":
    main()
