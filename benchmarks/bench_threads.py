"""Time the compiled passes on one and two threads, with the machine as it is and with a
busy loop holding one core.

Usage::

    python benchmarks/bench_threads.py [--sizes 2e4 1e6] [--repeats 200 15]
        [--families gaussian poisson]

For each family (a compiled kernel: Gaussian, or a GLM one such as Poisson with the log
link and an exposure offset), each n, and 1 and 2 threads, it times the E-step pass at
fixed parameters (:meth:`regmix.engine.runner.PassRunner.evaluate`, K = 3, two
features plus intercept, the rows of ``bench_glm_kernel.make_problem``) and prints the
median over ``--repeats`` passes, first as the machine is ("idle", with the load
average printed: other processes may hold cores), then with a busy loop started by this
script and pinned to the last core this process may use ("busy"), side by side in one
run. The ratios within a row (two threads against one) are what to read.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

from bench_glm_kernel import make_problem
from regmix.core.params import ComponentParams, GaussianParams, MixtureParams
from regmix.engine.runner import PassRunner
from regmix.families.binomial import Binomial
from regmix.families.gaussian import Gaussian
from regmix.families.poisson import Poisson
from regmix.mixing.constant import ConstantWeights
from regmix.sources.arrays import ArrayData

FAMILIES = {"gaussian": Gaussian, "poisson": Poisson, "binomial": Binomial}


def runners(family: str, n: int, K: int = 3, d: int = 2) -> tuple[dict, MixtureParams]:
    """Pass runners on 1 and 2 threads over one problem, and parameters near the truth."""
    X, y, offset, trials, _, coef, _ = make_problem(family, n, K, d)
    gaussian = family == "gaussian"
    source = ArrayData(
        X, y, None, fit_intercept=True, offset=offset, trials=trials, scale_response=gaussian
    )
    internal = source.standardization.to_internal(coef)
    component = (
        GaussianParams(internal, np.ones(K))
        if gaussian
        else ComponentParams(internal, np.zeros((K, 0)))
    )
    params = MixtureParams(np.full(K, 1.0 / K), component)
    out = {}
    for threads in (1, 2):
        runner = PassRunner(
            source,
            FAMILIES[family](),
            ConstantWeights(),
            chunk_size=65536,
            n_jobs=threads,
            engine="numba",
        )
        assert runner.kernel is not None, family
        runner.evaluate(params)  # warm-up: compiled code, the rows' constant
        out[threads] = runner
    return out, params


def median_ms(runner: PassRunner, params: MixtureParams, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        runner.evaluate(params)
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def busy_loop() -> subprocess.Popen:
    """A process that spins on the last core this process may use, until killed."""
    core = max(os.sched_getaffinity(0))
    code = f"import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True:\n    pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[2e4, 1e6])
    parser.add_argument(
        "--repeats",
        type=int,
        nargs="+",
        default=[200, 15],
        help="passes timed per size (one number per size)",
    )
    parser.add_argument(
        "--families", nargs="+", default=["gaussian", "poisson"], choices=sorted(FAMILIES)
    )
    args = parser.parse_args()
    import numba

    sizes = [int(s) for s in args.sizes]
    repeats = dict(zip(sizes, args.repeats, strict=True))
    problems = {(f, n): runners(f, n) for f in args.families for n in sizes}
    print(
        f"{os.cpu_count()} cores, numba {numba.__version__}, threading layer "
        f"{numba.threading_layer()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}"
    )
    print()
    print("| load | load average | family | n | 1 thread (ms) | 2 threads (ms) | 2 / 1 |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for load in ("idle", "busy"):
        spinner = busy_loop() if load == "busy" else None
        try:
            if spinner is not None:
                time.sleep(1.0)
            for (family, n), (by_threads, params) in problems.items():
                ms = {th: median_ms(r, params, repeats[n]) for th, r in by_threads.items()}
                average = os.getloadavg()[0]
                print(
                    f"| {load} | {average:.2f} | {family} | {n:,} | {ms[1]:.2f} | "
                    f"{ms[2]:.2f} | {ms[2] / ms[1]:.2f} |",
                    flush=True,
                )
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()


if __name__ == "__main__":
    main()
