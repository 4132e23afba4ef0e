"""Compare regmix with R's mixtools and flexmix on latent-class linear mixed models.

Usage::

    python benchmarks/compare_r_mixed.py [--nrep 1] [--iter-max 2000] [--rscript Rscript]

mixtools' ``RanEffdata`` holds 200 subjects of 25 rows (``y``, ``x``).
``benchmarks/compare_r_mixed.R`` writes it in long form and fits two classes with a
random intercept and slope on ``x``, a covariance of the random effects and a residual
standard deviation per class: ``regmixEM.mixed`` (from its example's start, ``arb.sigma
= TRUE``, ``arb.R = TRUE``) and ``flexmix(y ~ x | id, model = FLXMRlmm(random = ~ x))``
(``stepFlexmix(nrep = --nrep)``, at most ``--iter-max`` iterations). regmix fits
``RegressionMixture(2, family=MixedGaussian("1 + x"))`` with ``groups=id`` and its
default search. The script prints one markdown table: each package's reported
log-likelihood, the exact marginal log-likelihood at its parameters (computed here with
full covariance matrices, scipy), the weights, the iterations and the wall time. Without
Rscript, mixtools or flexmix it says so and stops.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from regmix import RegressionMixture
from regmix.families.mixed_gaussian import MixedGaussian

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_r import RError, run_r  # noqa: E402  (shared: an R script's RESULT lines)

HERE = Path(__file__).resolve().parent


def _r_side(rscript: str, csv: Path, nrep: int, iter_max: int) -> list[dict]:
    return run_r(rscript, [csv, nrep, iter_max], script=HERE / "compare_r_mixed.R")


def dense_loglik(data: pd.DataFrame, weights, coef, sigma, cov) -> float:
    """``sum_i log sum_k pi_k N(y_i; X_i beta_k, X_i D_k X_i' + sigma_k^2 I)``."""
    total = 0.0
    for _, rows in data.groupby("id", sort=True):
        X = np.column_stack([np.ones(len(rows)), rows["x"].to_numpy()])
        y = rows["y"].to_numpy()
        terms = [
            np.log(weights[k])
            + multivariate_normal.logpdf(
                y, X @ coef[k], X @ cov[k] @ X.T + sigma[k] ** 2 * np.eye(len(y))
            )
            for k in range(len(weights))
        ]
        total += float(logsumexp(terms))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nrep", type=int, default=1)
    parser.add_argument("--iter-max", type=int, default=2000)
    parser.add_argument("--rscript", default="Rscript")
    args = parser.parse_args()
    if shutil.which(args.rscript) is None:
        sys.exit(f"{args.rscript} not found: install R, mixtools and flexmix to compare")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "raneff.csv"
        try:
            results = {r["kind"]: r for r in _r_side(args.rscript, csv, args.nrep, args.iter_max)}
        except RError as err:
            sys.exit(f"the R side failed (are mixtools and flexmix installed?): {err}")
        data = pd.read_csv(csv)
    v = results["versions"]
    print(
        f"mixtools {v['mixtools']}, flexmix {v['flexmix']} (R {v['R']}); RanEffdata, "
        f"{data['id'].nunique()} subjects, {len(data)} rows\n"
    )
    rows = []
    mt = results["mixtools"]
    mu = np.asarray(mt["mu"]).reshape(2, 2)  # column-major: one column per class
    R = np.asarray(mt["R"]).reshape(2, 2, 2)
    rows.append(
        (
            "mixtools regmixEM.mixed",
            mt["loglik"],
            dense_loglik(data, mt["lambda"], mu, mt["sigma"], R),
            mt["lambda"],
            f"{int(mt['iterations'])}",
            mt["seconds"],
        )
    )
    fx = results["flexmix"]
    coef = np.asarray(fx["coef"]).reshape(2, 2)
    psi = np.asarray(fx["psi"]).reshape(2, 2, 2)
    rows.append(
        (
            "flexmix FLXMRlmm",
            fx["loglik"],
            dense_loglik(data, fx["prior"], coef, np.sqrt(fx["sigma2"]), psi),
            fx["prior"],
            f"{int(fx['iterations'])}" + ("" if fx["converged"] else " (not converged)"),
            fx["seconds"],
        )
    )
    t0 = time.perf_counter()
    model = RegressionMixture(2, family=MixedGaussian("1 + x"), random_state=0).fit(
        data[["x"]], data["y"], groups=data["id"]
    )
    seconds = time.perf_counter() - t0
    rows.append(
        (
            "regmix MixedGaussian",
            model.log_likelihood_,
            dense_loglik(
                data,
                model.weights_,
                np.column_stack([model.intercept_, model.coef_]),
                model.sigma_,
                model.random_cov_,
            ),
            model.weights_.tolist(),
            f"{model.n_iter_}" + ("" if model.converged_ else " (not converged)"),
            seconds,
        )
    )
    print(
        "| fit | reported log-lik | exact log-lik at its parameters | weights "
        "| iterations | seconds |"
    )
    print("|---|---:|---:|---|---:|---:|")
    for name, reported, exact, weights, iters, secs in rows:
        print(
            f"| {name} | {reported:.9f} | {exact:.9f} | "
            f"{np.round(np.sort(weights), 4).tolist()} | {iters} | {secs:.2f} |"
        )
    order = np.argsort(model.intercept_)
    print(
        "\nregmix, classes by intercept: intercept, slope",
        np.round(np.column_stack([model.intercept_, model.coef_])[order], 4).tolist(),
        "sigma",
        np.round(model.sigma_[order], 4).tolist(),
        "D",
        np.round(model.random_cov_[order], 4).tolist(),
    )


if __name__ == "__main__":
    main()
