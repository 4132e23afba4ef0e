"""Compare regmix with R's flexmix on flexmix's dmft example: zero-inflated Poisson
mixtures, a point mass at zero beside one or two Poisson components.

Usage::

    python benchmarks/compare_r_dmft.py [--nrep 10] [--rscript Rscript]

flexmix's vignette fits ``End ~ log(Begin + 0.5) + Gender + Ethnic + Treatment`` to the
``dmft`` data (797 children's decayed, missing and filled teeth) with
``FLXMRziglm(family = "poisson")``: a component with all its mass at zero beside Poisson
components. ``benchmarks/compare_r_dmft.R`` writes the data and fits K = 2 and 3 with
``stepFlexmix(nrep = --nrep)``, ``minprior = 0.01`` and ``tolerance = 1e-10``; regmix fits
``family=["pointmass", "poisson"(, "poisson")]`` with the same formula, the same factor
levels (R's treatment contrasts) and ``min_weight=0.01`` (its default of 0.05 would refuse
the zero component of K = 2, whose weight is below it), ``n_init=--nrep``. The script
prints one markdown table: the log-likelihoods, free parameters and weights of both, the
largest difference of the Poisson coefficients (components matched by weight) and the
wall time of each fit. Without Rscript or flexmix it says so and stops.
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

from regmix import RegressionMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_r import RError, run_r  # noqa: E402  (shared: an R script's RESULT lines)

HERE = Path(__file__).resolve().parent
FORMULA = "End ~ np.log(Begin + 0.5) + C(Gender) + C(Ethnic) + C(Treatment)"


def _flexmix(rscript: str, csv: Path, nrep: int) -> list[dict]:
    return run_r(rscript, [csv, nrep], script=HERE / "compare_r_dmft.R")


def _levels(data: pd.DataFrame) -> pd.DataFrame:
    """R's factor levels (the first is the reference of treatment contrasts)."""
    data = data.copy()
    data["Ethnic"] = pd.Categorical(data["Ethnic"], ["brown", "white", "black"])
    data["Treatment"] = pd.Categorical(
        data["Treatment"], ["control", "educ", "all", "enrich", "rinse", "hygiene"])
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nrep", type=int, default=10)
    parser.add_argument("--rscript", default="Rscript")
    args = parser.parse_args()
    if shutil.which(args.rscript) is None:
        sys.exit(f"{args.rscript} not found: install R and flexmix to compare")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "dmft.csv"
        try:
            results = _flexmix(args.rscript, csv, args.nrep)
        except RError as err:
            sys.exit(f"the R side failed (is flexmix installed?): {err}")
        data = _levels(pd.read_csv(csv))
    versions = next(r for r in results if r["kind"] == "versions")
    print(f"flexmix {versions['flexmix']} (R {versions['R']}); dmft, {len(data)} rows\n")
    print("| K | flexmix log-lik | regmix log-lik | parameters (flexmix / regmix) "
          "| weights flexmix | weights regmix | max coef diff | flexmix s | regmix s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for fit in (r for r in results if r["kind"] == "fit"):
        K = int(fit["k"])
        t0 = time.perf_counter()
        model = RegressionMixture(K, family=["pointmass"] + ["poisson"] * (K - 1),
                                  formula=FORMULA, min_weight=0.01, n_init=args.nrep,
                                  random_state=0, compute_se=False).fit(data)
        seconds = time.perf_counter() - t0
        prior = np.asarray(fit["prior"])
        theirs = np.asarray(fit["coef"]).reshape(K - 1, -1)  # Poisson components, rows
        theirs = theirs[np.argsort(-prior[1:])]  # flexmix's zero component is first
        ours = np.column_stack([model.intercept_, model.coef_])[1:]
        weights_r = np.concatenate([prior[:1], np.sort(prior[1:])[::-1]])
        print(f"| {K} | {fit['loglik']:.6f} | {model.log_likelihood_:.6f} "
              f"| {int(fit['df'])} / {model.n_parameters_} "
              f"| {np.round(weights_r, 5).tolist()} | {np.round(model.weights_, 5).tolist()} "
              f"| {np.abs(ours - theirs).max():.1e} | {fit['seconds']:.2f} "
              f"| {seconds:.2f} |")


if __name__ == "__main__":
    main()
