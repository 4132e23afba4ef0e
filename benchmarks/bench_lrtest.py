"""The parametric bootstrap likelihood-ratio test on tonedata, timed and checked.

Usage::

    python benchmarks/bench_lrtest.py [--data tonedata.csv] [--n-boot 99] [--seed 0]
                                      [--n-jobs 1] [--check 30] [--starts 30]

Tests one against two components for ``tuned ~ stretchratio`` on mixtools' ``tonedata``
(150 rows; export it from R with ``write.csv(mixtools::tonedata, "tonedata.csv",
row.names = FALSE)``) by ``regmix.bootstrap_lr_test(X, y, n_components=1,
n_boot=99, random_state=0)``, and prints the observed statistic, the p-value, the
replicates, those equal to 0, those that could not be fitted, and the wall-clock and
CPU seconds of the call (the CPU time of this process: worker processes of ``--n-jobs``
are not counted). Options the installed
regmix does not know (``n_jobs`` of an older version) are left out, so the script also
times older checkouts.

``--check R`` then checks the first ``R`` replicates of that test (the same seeds and
simulated responses): each replicate's statistic, as the test computes it, against a
reference on the same responses, ``2 (log L_2 - log L_1)`` with ``log L_1`` the
least-squares fit in closed form and ``log L_2`` the best admissible maximum (every
weight at least 0.05) of ``--starts`` independent single starts to convergence
(``n_init=1`` and no split-and-merge moves; the ``init`` strategies "random",
"subsets" and "short_em" in turn, each with a seed of its own). A replicate reaches
the reference when its statistic is at least the reference less ``1e-6 (1 + |ref|)``;
the script prints the share that do, the share above the reference by more than that
(the test's search found a higher maximum than the independent starts), and the CPU
seconds of the replicates' fits.
"""

from __future__ import annotations

import argparse
import inspect
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from regmix import DegenerateFitError, RegressionMixture, bootstrap_lr_test
from regmix.selection import _replicate, _replicate_task, _simulate_null

INITS = ("random", "subsets", "short_em")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/rdata/tonedata.csv")
    parser.add_argument("--n-boot", type=int, default=99)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument(
        "--check",
        type=int,
        default=0,
        help="replicates to check against many-start fits (0: none)",
    )
    parser.add_argument(
        "--starts", type=int, default=30, help="independent single starts of the reference fits"
    )
    parser.add_argument(
        "--searches",
        type=int,
        default=10,
        help="default-search fits (one seed each) of the reference",
    )
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
    print(
        f"statistic {res.statistic:.6f}  p-value {res.p_value:.4f}  "
        f"replicates {len(res.replicates)}  zeros {int(np.sum(res.replicates == 0))}  "
        f"n_failed {n_failed}  seconds {seconds:.2f}  cpu {cpu:.2f}"
    )
    print(
        f"null log-likelihood {res.null_model.log_likelihood_:.6f}  alternative "
        f"{res.alternative_model.log_likelihood_:.6f}"
    )
    if args.check:
        check(res, X, y, args.seed, args.check, args.starts, args.searches)


def replicate_seeds(random_state: int, n: int) -> list[int]:
    """The seeds of the test's first ``n`` replicates, drawn as the test draws them
    (one seed for the fits on the data, then one per replicate)."""
    rng = check_random_state(random_state)
    rng.randint(2**31 - 1)
    return [int(s) for s in rng.randint(2**31 - 1, size=n)]


def reference_statistic(X: np.ndarray, y: np.ndarray, n_starts: int, n_searches: int) -> float:
    """``2 (log L_2 - log L_1)``: least squares in closed form against the best
    admissible maximum of ``n_starts`` independent single starts and ``n_searches``
    default fits (-inf without one)."""
    n = len(y)
    D = np.column_stack([np.ones(n), X])
    rss = float(np.sum((y - D @ np.linalg.lstsq(D, y, rcond=None)[0]) ** 2))
    ll_1 = -0.5 * n * (np.log(2 * np.pi * rss / n) + 1)
    best = -np.inf
    fits = [
        RegressionMixture(
            2,
            n_init=1,
            init=INITS[s % len(INITS)],
            split_merge=False,
            compute_se=False,
            random_state=10_000 + s,
        )
        for s in range(n_starts)
    ]
    fits += [
        RegressionMixture(2, compute_se=False, random_state=20_000 + s) for s in range(n_searches)
    ]
    for model in fits:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, y)
        except DegenerateFitError:
            continue
        best = max(best, model.log_likelihood_)
    return 2.0 * (best - ll_1)


def check(
    res, X: np.ndarray, y: np.ndarray, random_state: int, n: int, n_starts: int, n_searches: int
) -> None:
    """Each of the first ``n`` replicates against the many-start reference."""
    none = dict(offset=None, trials=None, concomitant=None, groups=None)
    task = _replicate_task(
        RegressionMixture(), res.null_model, res.alternative_model, X, y, none, 0, {}, False
    )
    reached = above = failed = 0
    cpu = 0.0
    for seed in replicate_seeds(random_state, n):
        start = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = _replicate(task, seed)
        cpu += time.process_time() - start
        y_sim = _simulate_null(task.null, task.rows, np.random.default_rng(seed))
        ref = reference_statistic(X, y_sim, n_starts, n_searches)
        tol = 1e-6 * (1.0 + abs(ref))
        if value is None:
            failed += 1
            reached += not np.isfinite(ref)
        else:
            reached += value >= ref - tol
            above += value > ref + tol
        print(f"replicate seed {seed}: statistic {value}  reference {ref:.6f}", flush=True)
    print(
        f"checked {n} replicates against the best of {n_starts} starts and "
        f"{n_searches} default fits: reached "
        f"{reached} ({reached / n:.0%}), above it {above}, failed {failed}; "
        f"replicates' CPU {cpu:.2f} s"
    )


if __name__ == "__main__":
    main()
