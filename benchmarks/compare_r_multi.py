"""Compare regmix with R's flexmix on several responses sharing one latent class:
flexmix's intro-vignette model of its NPreg data.

Usage::

    python benchmarks/compare_r_multi.py [--nrep 10] [--repeats 3] [--n N] [--rscript Rscript]

flexmix fits a Gaussian ``yn ~ x + I(x^2)`` and a Poisson ``yp ~ x`` response with one
class, ``model = list(FLXMRglm(family = "gaussian"), FLXMRglm(yp ~ . - I(x^2), family =
"poisson"))``, K = 2, by ``stepFlexmix(nrep = --nrep)`` at ``tolerance = 1e-10``
(``benchmarks/compare_r_multi.R``, which also writes the data). regmix fits
``family=MultiResponse({"yn": "gaussian", "yp": "poisson"}, columns={"yp": ["x"]})``
with ``formula="yn + yp ~ x + I(x**2)"`` and ``n_init=--nrep``. Both are timed as the
fastest of up to ``--repeats`` runs. The script also evaluates regmix's log-likelihood
at flexmix's parameters (``max_iter=0`` from them) and refits regmix from them, to show
where the two differ. It prints one markdown table. With ``--n N`` both fit N rows per
class simulated as NPreg is (x uniform on (0, 10); yn = 5x or 40 - (x - 5)^2 plus
N(0, 3^2); yp Poisson with mean exp(2 - 0.2x) or exp(1 + 0.1x); seed 0) instead of
flexmix's 200 rows. Without Rscript or flexmix it says so and stops.
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

from regmix import MultiResponse, RegressionMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_r import RError, run_r  # noqa: E402  (shared: an R script's RESULT lines)

HERE = Path(__file__).resolve().parent
FORMULA = "yn + yp ~ x + I(x**2)"


def _simulated(n: int) -> pd.DataFrame:
    """NPreg's model, ``n`` rows per class."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 2 * n)
    c = np.repeat([0, 1], n)
    yn = np.where(c == 0, 5 * x, 40 - (x - 5) ** 2) + rng.normal(0, 3, 2 * n)
    yp = rng.poisson(np.exp(np.where(c == 0, 2 - 0.2 * x, 1 + 0.1 * x)))
    return pd.DataFrame({"x": x, "yn": yn, "yp": yp, "class": c + 1})


def _flexmix(rscript: str, csv: Path, nrep: int, repeats: int, simulated: bool) -> list[dict]:
    return run_r(rscript, [csv, nrep, repeats, *(["simulated"] if simulated else [])],
                 script=HERE / "compare_r_multi.R")


def _model(**kw) -> RegressionMixture:
    family = MultiResponse({"yn": "gaussian", "yp": "poisson"}, columns={"yp": ["x"]})
    return RegressionMixture(
        2, family=family, formula=FORMULA, random_state=0, compute_se=False, **kw
    )


def _timed(fit, repeats: int):
    best, model = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = fit()
        best = min(best, time.perf_counter() - t0)
        if best >= 1:
            break
    return model, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nrep", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--rscript", default="Rscript")
    args = parser.parse_args()
    if shutil.which(args.rscript) is None:
        sys.exit(f"{args.rscript} not found: install R and flexmix to compare")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "npreg.csv"
        if args.n is not None:
            _simulated(args.n).to_csv(csv, index=False)
        try:
            results = _flexmix(args.rscript, csv, args.nrep, args.repeats, args.n is not None)
        except RError as err:
            sys.exit(f"the R side failed (is flexmix installed?): {err}")
        data = pd.read_csv(csv)
    versions = next(r for r in results if r["kind"] == "versions")
    fit = next(r for r in results if r["kind"] == "fit")
    model, seconds = _timed(lambda: _model(n_init=args.nrep).fit(data), args.repeats)
    gauss = np.asarray(fit["gauss"]).reshape(2, 3)  # components' rows
    pois = np.asarray(fit["pois"]).reshape(2, 2)
    theirs = {
        "weights": np.asarray(fit["prior"]),
        "intercept": gauss[:, 0],
        "coef": np.column_stack([gauss[:, 1:], pois]),
        "yn:sigma": np.asarray(fit["sigma"]),
    }
    at_theirs = _model(init=theirs, max_iter=0).fit(data)
    from_theirs = _model(init=theirs).fit(data)
    order = np.argsort(theirs["intercept"])
    ours = np.column_stack([model.intercept_, model.coef_])[np.argsort(model.intercept_)]
    diff = np.abs(ours - np.column_stack([theirs["intercept"], theirs["coef"]])[order]).max()
    what = "NPreg" if args.n is None else "simulated as NPreg"
    print(
        f"flexmix {versions['flexmix']} (R {versions['R']}); {what}, {len(data)} rows, "
        f"K = 2, nrep = {args.nrep}\n"
    )
    print("| | log-lik | parameters | weights | seconds |")
    print("|---|---|---|---|---|")
    print(
        f"| flexmix | {fit['loglik']:.6f} | {int(fit['df'])} "
        f"| {np.round(np.sort(theirs['weights']), 5).tolist()} | {fit['seconds']:.3f} |"
    )
    print(
        f"| regmix | {model.log_likelihood_:.6f} | {model.n_parameters_} "
        f"| {np.round(np.sort(model.weights_), 5).tolist()} | {seconds:.3f} |"
    )
    print(f"| regmix at flexmix's parameters | {at_theirs.log_likelihood_:.6f} | | | |")
    print(f"| regmix from flexmix's parameters | {from_theirs.log_likelihood_:.6f} | | | |")
    sigma = model.state_.extra_column("yn:sigma")[np.argsort(model.intercept_)]
    print(
        f"\nlargest coefficient difference (components matched by the Gaussian "
        f"intercept): {diff:.1e}; sigmas flexmix "
        f"{np.round(np.asarray(fit['sigma'])[order], 5).tolist()}, regmix "
        f"{np.round(sigma, 5).tolist()}"
    )


if __name__ == "__main__":
    main()
