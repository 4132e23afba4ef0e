"""The parametric bootstrap likelihood-ratio test on tonedata, timed.

Usage::

    python benchmarks/bench_lrtest.py [--data tonedata.csv] [--n-boot 99] [--seed 0]
                                      [--n-jobs 1]

Tests one against two components for ``tuned ~ stretchratio`` on mixtools' ``tonedata``
(150 rows; export it from R with ``write.csv(mixtools::tonedata, "tonedata.csv",
row.names = FALSE)``) by ``regmix.bootstrap_lr_test(X, y, n_components=1,
n_boot=99, random_state=0)``, and prints the observed statistic, the p-value, the
replicates, those equal to 0, those that could not be fitted, and the wall-clock and
CPU seconds of the call (the CPU time of this process: worker processes of ``--n-jobs``
are not counted). Options the installed
regmix does not know (``n_jobs`` of an older version) are left out, so the script also
times older checkouts.
"""

from __future__ import annotations

import argparse
import inspect
import time

import numpy as np
import pandas as pd

from regmix import bootstrap_lr_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/rdata/tonedata.csv")
    parser.add_argument("--n-boot", type=int, default=99)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()
    frame = pd.read_csv(args.data)
    X = frame[["stretchratio"]].to_numpy(dtype=np.float64)
    y = frame["tuned"].to_numpy(dtype=np.float64)
    kwargs = dict(n_components=1, n_boot=args.n_boot, random_state=args.seed)
    if "n_jobs" in inspect.signature(bootstrap_lr_test).parameters:
        kwargs["n_jobs"] = args.n_jobs
    start, cpu = time.perf_counter(), time.process_time()
    res = bootstrap_lr_test(X, y, **kwargs)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    n_failed = getattr(res, "n_failed", 0)
    print(f"statistic {res.statistic:.6f}  p-value {res.p_value:.4f}  "
          f"replicates {len(res.replicates)}  zeros {int(np.sum(res.replicates == 0))}  "
          f"n_failed {n_failed}  seconds {seconds:.2f}  cpu {cpu:.2f}")
    print(f"null log-likelihood {res.null_model.log_likelihood_:.6f}  alternative "
          f"{res.alternative_model.log_likelihood_:.6f}")


if __name__ == "__main__":
    main()
