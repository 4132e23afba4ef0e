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
full covariance matrices, scipy), the weights, the iterations and the wall time
(``--nrep 0`` leaves flexmix out). A second table does the same for the covariance
structures both packages fit: a random-effect covariance common to the classes
(mixtools' ``arb.R = FALSE``, regmix's ``MixedGaussian("1 + x", cov_classes="common")``),
a common residual standard deviation (``arb.sigma = FALSE``, ``equal_variance=True``),
and both. Without Rscript, mixtools or flexmix it says so and stops.
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
    rows = [_mixtools_row("mixtools regmixEM.mixed", results["mixtools"], data)]
    if "flexmix" in results:
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
    model, row = _regmix_row("regmix MixedGaussian", data)
    rows.append(row)
    _print_table(rows)
    order = np.argsort(model.intercept_)
    print(
        "\nregmix, classes by intercept: intercept, slope",
        np.round(np.column_stack([model.intercept_, model.coef_])[order], 4).tolist(),
        "sigma",
        np.round(model.sigma_[order], 4).tolist(),
        "D",
        np.round(model.random_cov_[order], 4).tolist(),
    )
    print(
        "\nCovariance structures (mixtools from its example's start, regmix's default search):\n"
    )
    rows = []
    for arb_sigma, arb_R, what in _STRUCTURES:
        rows.append(
            _mixtools_row(
                f"mixtools arb.sigma={arb_sigma}, arb.R={arb_R}",
                results[f"mixtools_sigma{arb_sigma.upper()}_R{arb_R.upper()}"],
                data,
            )
        )
        classes = "specific" if arb_R == "True" else "common"
        rows.append(
            _regmix_row(
                f"regmix {what}", data, cov_classes=classes, equal_variance=arb_sigma == "False"
            )[1]
        )
    _print_table(rows)


# (arb.sigma, arb.R, the regmix settings)
_STRUCTURES = [
    ("True", "False", 'cov_classes="common"'),
    ("False", "True", "equal_variance=True"),
    ("False", "False", 'cov_classes="common", equal_variance=True'),
]


def _mixtools_row(name: str, mt: dict, data: pd.DataFrame) -> tuple:
    """A table row of a regmixEM.mixed fit (a common R or sigma given once)."""
    mu = np.asarray(mt["mu"]).reshape(2, 2)  # column-major: one column per class
    R = np.broadcast_to(np.asarray(mt["R"]).reshape(-1, 2, 2), (2, 2, 2))
    sigma = np.broadcast_to(np.asarray(mt["sigma"], dtype=float), (2,))
    exact = dense_loglik(data, mt["lambda"], mu, sigma, R)
    return (name, mt["loglik"], exact, mt["lambda"], f"{int(mt['iterations'])}", mt["seconds"])


def _regmix_row(
    name: str, data: pd.DataFrame, cov_classes: str = "specific", equal_variance: bool = False
) -> tuple:
    """The regmix fit of a structure and its table row."""
    t0 = time.perf_counter()
    model = RegressionMixture(
        2,
        family=MixedGaussian("1 + x", cov_classes=cov_classes),
        equal_variance=equal_variance,
        random_state=0,
    ).fit(data[["x"]], data["y"], groups=data["id"])
    seconds = time.perf_counter() - t0
    exact = dense_loglik(
        data,
        model.weights_,
        np.column_stack([model.intercept_, model.coef_]),
        model.sigma_,
        model.random_cov_,
    )
    iters = f"{model.n_iter_}" + ("" if model.converged_ else " (not converged)")
    return model, (name, model.log_likelihood_, exact, model.weights_.tolist(), iters, seconds)


def _print_table(rows: list[tuple]) -> None:
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


if __name__ == "__main__":
    main()
