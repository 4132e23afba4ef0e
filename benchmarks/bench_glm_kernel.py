"""Time the data pass of GLM mixtures: numpy against the compiled kernel.

Usage::

    python benchmarks/bench_glm_kernel.py [--sizes 1e5 1e6] [--components 2 3]
        [--features 2 5] [--repeats 3] [--threads 2]
        [--families poisson binomial gamma negative_binomial] [--no-fits]
        [--information [--meat]] [--group-size 10]

For each n, K and number of features d (the design has d + 1 columns with the
intercept), on rows ``x ~ N(0, 1)`` with a response drawn from the mixture
(``numpy.random.default_rng(0)``), it times one E-step pass at fixed parameters
(:meth:`regmix.engine.runner.PassRunner.evaluate`, best of ``--repeats``; one EM
iteration is this pass plus an M-step of K small solves, microseconds) for

* Poisson (log link) with an exposure offset ``log t``, ``t ~ U(0.5, 5)``;
* binomial (logit link) with ``m ~ U{1, ..., 20}`` trials;
* Gamma (log link, shapes 2) and negative binomial (log link, sizes 3), both with the
  Poisson's exposure offset;
* Gaussian components at the same shape, whose compiled kernel is the reference,

each on the numpy pass and on the compiled kernel, side by side in one run, and prints
the ratios numpy / compiled and compiled GLM / compiled Gaussian. A single-start fit at
the largest n (from the true labels with 20% of the rows relabelled, as
``compare_r_glm.py`` starts, ``compute_se=False``) is timed on both engines at the end.

With ``--information`` it times the observed-information pass instead
(:func:`regmix.inference.information.mixture_information` at the true parameters in
user units, best of ``--repeats`` after one warm-up call, wall and CPU time of the
process), numpy against the compiled pass, side by side for each family; with
``--meat`` too it times the middle of the robust sandwich instead
(:func:`regmix.inference.robust.score_meat`, ``cov_type="robust"``).

With ``--group-size G`` the rows come in consecutive groups of 1 to 2G - 1 rows (G on
average), each group drawn from one component, and the passes and fits are grouped
(``groups=``: the rows of a group share one membership); the times are then given as
wall time and, in parentheses, CPU time of the process.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
import warnings

import numpy as np

from regmix import RegressionMixture
from regmix.core.params import ComponentParams, GaussianParams, MixtureParams
from regmix.engine.runner import PassRunner
from regmix.families.binomial import Binomial
from regmix.families.gamma import GammaFamily
from regmix.families.gaussian import Gaussian
from regmix.families.negative_binomial import NegativeBinomial
from regmix.families.poisson import Poisson
from regmix.inference.information import _Layout, mixture_information
from regmix.inference.robust import score_meat
from regmix.mixing.constant import ConstantWeights
from regmix.sources.arrays import ArrayData

# The Gamma shape and negative-binomial size of every component.
SHAPE, SIZE = 2.0, 3.0


FAMILIES = {"poisson": Poisson, "binomial": Binomial, "gamma": GammaFamily,
            "negative_binomial": NegativeBinomial, "gaussian": Gaussian}


def make_groups(n: int, group_size: int | None, seed: int = 2) -> np.ndarray | None:
    """Sorted group codes of ``n`` rows in groups of 1 to 2 ``group_size`` - 1 rows, or
    None."""
    if group_size is None:
        return None
    sizes = np.random.default_rng(seed).integers(1, 2 * group_size, n // group_size + 1)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n)) + 1]
    sizes[-1] += max(0, n - int(sizes.sum()))  # (rows the draws fall short of)
    return np.repeat(np.arange(sizes.size), sizes)[:n]


def make_problem(family: str, n: int, K: int, d: int, seed: int = 0,
                 group_size: int | None = None):
    """Rows, offset or trials, the true labels (of whole groups with ``group_size``),
    internal-unit parameters near the truth for one family, and the group codes."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    coef = rng.uniform(-0.6, 0.6, (K, d + 1))
    coef[:, 0] = np.linspace(-0.5, 1.0, K)
    labels = rng.integers(0, K, n)
    groups = make_groups(n, group_size)
    if groups is not None:
        labels = labels[groups]  # a group's rows take its first code's label
    eta = np.einsum("ij,ij->i", X, coef[labels, 1:]) + coef[labels, 0]
    offset = trials = None
    if family in ("poisson", "gamma", "negative_binomial"):
        offset = np.log(rng.uniform(0.5, 5.0, n))
        mu = np.exp(eta + offset)
        if family == "poisson":
            y = rng.poisson(mu).astype(float)
        elif family == "gamma":
            y = rng.gamma(SHAPE, mu / SHAPE)
        else:
            y = rng.negative_binomial(SIZE, SIZE / (SIZE + mu)).astype(float)
    elif family == "binomial":
        trials = rng.integers(1, 21, n).astype(float)
        y = rng.binomial(trials.astype(int), 1.0 / (1.0 + np.exp(-eta))).astype(float)
    else:
        y = eta + rng.standard_normal(n)
    return X, y, offset, trials, labels, coef, groups


def pass_seconds(family: str, n: int, K: int, d: int, engine: str, repeats: int,
                 threads: int, group_size: int | None = None) -> tuple[float, float]:
    X, y, offset, trials, _, coef, groups = make_problem(family, n, K, d,
                                                         group_size=group_size)
    gaussian = family == "gaussian"
    source = ArrayData(X, y, None, fit_intercept=True, offset=offset, trials=trials,
                       scale_response=gaussian, groups=groups)
    fam = FAMILIES[family]()
    st = source.standardization
    internal = st.to_internal(coef)
    extra = {"gamma": [SHAPE], "negative_binomial": [SIZE]}.get(family, [])
    component = (GaussianParams(internal, np.ones(K)) if gaussian
                 else ComponentParams(internal, np.tile(extra, (K, 1))))
    params = MixtureParams(np.full(K, 1.0 / K), component)
    runner = PassRunner(source, fam, ConstantWeights(), chunk_size=65536, n_jobs=threads,
                        engine=engine)
    assert (runner.kernel is not None) == (engine == "numba"), (family, engine)
    return best_pass(runner, params, repeats)


def best_pass(runner, params, repeats: int = 3) -> tuple[float, float]:
    """The best wall time of ``repeats`` E-step passes of ``runner`` at ``params``, and
    that pass's CPU time, after one pass that warms caches and loads the compiled code
    (on every worker)."""
    runner.evaluate(params)
    best = (np.inf, np.inf)
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        runner.evaluate(params)
        best = min(best, (time.perf_counter() - t, time.process_time() - c))
    return best


def information_seconds(family: str, n: int, K: int, d: int, engine: str, repeats: int,
                        threads: int, meat: bool = False) -> tuple[float, float]:
    """The best wall and CPU seconds of ``repeats`` observed-information passes (or
    robust meats) at the true parameters (user units), after one that warms caches and
    loads the compiled code."""
    X, y, offset, trials, _, coef, _ = make_problem(family, n, K, d)
    source = ArrayData(X, y, None, fit_intercept=True, offset=offset, trials=trials,
                       standardize=False, scale_response=False)
    extra = {"gamma": [SHAPE], "negative_binomial": [SIZE]}.get(family, [])
    component = (GaussianParams(coef, np.ones(K)) if family == "gaussian"
                 else ComponentParams(coef, np.tile(extra, (K, 1))))
    params = MixtureParams(np.full(K, 1.0 / K), component)
    fam = FAMILIES[family]()
    layout = _Layout(K, d + 1, len(extra) if family != "gaussian" else 1)
    best = (np.inf, np.inf)
    for _ in range(repeats + 1):
        t, c = time.perf_counter(), time.process_time()
        if meat:
            score_meat(fam, params, source, layout, chunk_size=65536, n_jobs=threads,
                       engine=engine)
        else:
            mixture_information(fam, params, source, chunk_size=65536, n_jobs=threads,
                                engine=engine)
        best = min(best, (time.perf_counter() - t, time.process_time() - c))
    return best


def information_table(args, families) -> None:
    print("| n | K | d | family | numpy ms (CPU ms) | compiled ms (CPU ms) "
          "| numpy / compiled (CPU) |")
    print("|---:|---:|---:|---|---:|---:|---:|")
    shapes = itertools.product((int(s) for s in args.sizes), args.components, args.features)
    for (n, K, d), f in itertools.product(shapes, families):
        slow, fast = (information_seconds(f, n, K, d, e, args.repeats, args.threads,
                                          args.meat) for e in ("numpy", "numba"))
        print(f"| {n:,} | {K} | {d} | {f} | {1e3 * slow[0]:.0f} ({1e3 * slow[1]:.0f}) "
              f"| {1e3 * fast[0]:.0f} ({1e3 * fast[1]:.0f}) "
              f"| {slow[0] / fast[0]:.1f} ({slow[1] / fast[1]:.1f}) |", flush=True)


def single_start_fit(family: str, n: int, engine: str,
                     group_size: int | None = None) -> tuple[float, float, int, float]:
    X, y, offset, trials, labels, _, groups = make_problem(family, n, 2, 2,
                                                           group_size=group_size)
    rng = np.random.default_rng(1)
    start = labels.copy()
    moved = rng.choice(n, size=n // 5, replace=False)
    start[moved] = rng.integers(0, 2, moved.size)
    resp = np.zeros((n, 2))
    resp[np.arange(n), start] = 1.0
    model = RegressionMixture(2, family=family, init=resp, n_init=1, compute_se=False,
                              engine=engine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, c = time.perf_counter(), time.process_time()
        model.fit(X, y, offset=offset, trials=trials, groups=groups)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    return elapsed, cpu, model.n_iter_, float(model.log_likelihood_)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--components", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--features", type=int, nargs="+", default=[2, 5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--families", nargs="+", default=["poisson", "binomial"],
                        choices=[f for f in FAMILIES if f != "gaussian"])
    parser.add_argument("--no-fits", action="store_true",
                        help="skip the single-start fits at the end")
    parser.add_argument("--information", action="store_true",
                        help="time the observed-information pass instead of the E-step")
    parser.add_argument("--meat", action="store_true",
                        help="with --information: the robust sandwich's meat instead")
    parser.add_argument("--group-size", type=int, default=None,
                        help="grouped rows: groups of this many rows on average")
    args = parser.parse_args()
    families = ("gaussian", *args.families)
    grouped = args.group_size
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, numpy {np.__version__}; {args.threads} threads"
          + (f"; groups of {grouped} rows on average (CPU time in parentheses)"
             if grouped else ""))
    print()
    if args.information:
        information_table(args, families)
        return

    def shown(seconds: tuple[float, float], scale: float = 1e3) -> str:
        wall = f"{scale * seconds[0]:.{1 if scale > 1 else 3}f}"
        return wall + (f" ({scale * seconds[1]:.{1 if scale > 1 else 3}f})" if grouped
                       else "")

    print("| n | K | d | family | numpy ms/pass | compiled ms/pass | numpy / compiled "
          "| compiled / compiled Gaussian |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes):
        for K in args.components:
            for d in args.features:
                times = {(f, e): pass_seconds(f, n, K, d, e, args.repeats, args.threads,
                                              grouped)
                         for f in families for e in ("numpy", "numba")}
                for f in families:
                    slow, fast = times[(f, "numpy")], times[(f, "numba")]
                    print(f"| {n:,} | {K} | {d} | {f} | {shown(slow)} | {shown(fast)} "
                          f"| {slow[0] / fast[0]:.1f} "
                          f"| {fast[0] / times[('gaussian', 'numba')][0]:.2f} |", flush=True)
    if args.no_fits:
        return
    n = int(max(args.sizes))
    print()
    print(f"Single-start fits at n = {n:,}, K = 2, d = 2 (start: true labels, 20% redrawn):")
    print()
    print("| family | engine | wall time (s) | iterations | log-likelihood |")
    print("|---|---|---:|---:|---:|")
    for f in args.families:
        single_start_fit(f, 20_000, "numba", grouped)  # warm-up
        for e in ("numpy", "numba"):
            elapsed, cpu, iters, ll = single_start_fit(f, n, e, grouped)
            print(f"| {f} | {e} | {shown((elapsed, cpu), 1.0)} | {iters} | {ll:.4f} |",
                  flush=True)


if __name__ == "__main__":
    main()
