"""flexmix's restricted regression model ``NregFix`` side by side with regmix.

Usage::

    python benchmarks/compare_r_nested.py [--starts 20] [--rscript Rscript]

``benchmarks/compare_r_nested.R`` writes flexmix's data set ``NregFix`` to a CSV file and
fits flexmix's vignette model ``FLXMRglmfix(fixed = ~ x2, nested = list(k = c(1, 2),
formula = c(~0, ~x1)), varFix = TRUE)`` with ``concomitant = FLXPmultinom(~ w)``,
``k = 3``, ``y ~ 1`` from ``--starts`` random starts, keeping the best log-likelihood,
once with flexmix's default control and once with ``tolerance = 1e-10, iter.max =
100000``. regmix fits the same model (its components numbered as flexmix's):
``formula="y ~ x1 + x2 | w", common_coef={"x2": "all", "x1": [2, 3]},
fixed_coef={"x1": [0, None, None]}, equal_variance=True`` with its default search. The
script prints both log-likelihoods and free-parameter counts (regmix's is the higher:
flexmix's sigma carries a degrees-of-freedom correction, so it is not the
maximum-likelihood estimate; see docs/benchmarks.md). It needs R with flexmix.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from regmix import RegressionMixture

NESTED = dict(common_coef={"x2": "all", "x1": [2, 3]}, fixed_coef={"x1": [0, None, None]},
              equal_variance=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--rscript", default="Rscript")
    args = parser.parse_args()
    script = Path(__file__).resolve().parent / "compare_r_nested.R"
    with tempfile.TemporaryDirectory() as tmp:
        data, result = Path(tmp) / "NregFix.csv", Path(tmp) / "flexmix.json"
        subprocess.run([args.rscript, str(script), str(data), str(result),
                        str(args.starts)], check=True)
        flexmix = json.loads(result.read_text())
        frame = pd.read_csv(data)
    model = RegressionMixture(3, formula="y ~ x1 + x2 | w", random_state=0, **NESTED)
    model.fit(frame)
    print("| program | log-likelihood | free parameters | runs at the best |")
    print("|---|---|---|---|")
    for name, fit in flexmix.items():
        print(f"| flexmix, {name} tolerance | {fit['loglik']:.6f} | {fit['df']} | "
              f"{fit['n_at_best']} of {fit['n_fits']} |")
    print(f"| regmix (default search) | {model.log_likelihood_:.6f} | "
          f"{model.state_.n_parameters} | {model.state_.n_at_best} of "
          f"{model.state_.n_runs} |")
    print()
    print(model.coef_table()[["estimate", "std_err"]].round(4).to_string())
    best = max(fit["loglik"] for fit in flexmix.values())
    return 0 if model.log_likelihood_ >= best - 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
