"""Fit from a Parquet data set larger than memory would comfortably hold.

Usage::

    python benchmarks/bench_stream.py --rows 100000000 --dir /tmp/regmix-stream

Writes (once; reused when present) a directory of Parquet files with ``--rows`` rows of
the benchmark shape (K = 3, five features plus intercept, as ``bench_em.py``), in parts
of one million rows so that the generator itself never holds the data (written without
dictionary encoding, which only costs decoding time on continuous values), then fits
``RegressionMixture(3)`` to it through :class:`regmix.parquet.ParquetData` and reports
the time to build the source (one read for its statistics), the fit's wall time and
passes, the log-likelihood, the time of one more E-step pass over all rows, and the peak
resident memory of the process (``ru_maxrss``). With ``--compare N`` it also times one
E-step pass over the first N rows streamed and in memory, by the numpy pass and by the
compiled kernel (throughput ratios).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from regmix import RegressionMixture
from regmix.core.params import GaussianParams, MixtureParams
from regmix.datasets import make_regression_mixture
from regmix.engine.runner import PassRunner
from regmix.families.gaussian import Gaussian
from regmix.mixing.constant import ConstantWeights
from regmix.sources.arrays import ArrayData
from regmix.sources.parquet import ParquetData

COEF = np.array([[1.0, -2.0, 0.5, 0.0, 1.5], [-1.0, 1.0, 2.0, -0.5, 0.0],
                 [0.5, 0.0, -1.5, 2.0, -1.0]])
COLUMNS = [f"x{j}" for j in range(1, 6)]
PART = 1_000_000


def write_dataset(directory: Path, rows: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, rows, PART)):
        path = directory / f"part-{i:05d}.parquet"
        if path.exists():
            continue
        n = min(PART, rows - start)
        X, y, _, _ = make_regression_mixture(n, coef=COEF, intercept=[0.0, 1.0, -1.0],
                                             sigma=[1.0, 0.5, 1.5], random_state=i)
        frame = pd.DataFrame(X, columns=COLUMNS).assign(y=y)
        # continuous values: dictionary encoding only costs decoding time
        frame.to_parquet(path, row_group_size=PART // 4, use_dictionary=False)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compare_throughput(directory: Path, rows: int, chunk_size: int, repeats: int = 3) -> None:
    """Time one E-step pass over the same first ``rows`` rows, streamed and in memory,
    by the numpy data pass and by the compiled kernel (best of ``repeats``)."""
    first = sorted(directory.glob("*.parquet"))[: max(1, rows // PART)]
    subset = directory.parent / f"{directory.name}-first-{len(first)}"
    subset.mkdir(exist_ok=True)
    for p in first:
        link = subset / p.name
        if not link.exists():
            link.symlink_to(p)
    streamed = ParquetData(subset, x=COLUMNS, y="y")
    frame = pd.concat(pd.read_parquet(p) for p in first)
    memory = ArrayData(frame[COLUMNS].to_numpy(), frame["y"].to_numpy(), None,
                       fit_intercept=True, standardization=streamed.standardization)
    coef = np.column_stack([np.zeros(3), COEF]) * 0.9
    params = MixtureParams(np.full(3, 1 / 3), GaussianParams(coef, np.ones(3)))
    times = {}
    for engine in ("numpy", "numba"):
        for name, source in (("in memory", memory), ("streamed", streamed)):
            runner = PassRunner(source, Gaussian(), ConstantWeights(), chunk_size=chunk_size,
                                n_jobs=2, engine=engine)
            assert runner.engine == engine
            runner.evaluate(params)  # warm: compiled code loaded, files in the page cache
            best = np.inf
            for _ in range(repeats):
                t = time.perf_counter()
                runner.evaluate(params)
                best = min(best, time.perf_counter() - t)
            times[engine, name] = best
            print(f"one pass over {source.n_rows} rows {name}, {engine} pass: {best:.2f} s "
                  f"({best / source.n_rows * 1e9:.0f} ns per row)")
    for engine in ("numpy", "numba"):
        ratio = times[engine, "streamed"] / times[engine, "in memory"]
        print(f"streamed / in memory, {engine} pass: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e8)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/regmix-stream"))
    parser.add_argument("--chunk-size", type=int, default=65536)
    parser.add_argument("--compare", type=float, default=0)
    args = parser.parse_args()
    rows = int(args.rows)
    t = time.perf_counter()
    write_dataset(args.dir, rows)
    print(f"data set: {rows} rows in {args.dir} ({time.perf_counter() - t:.1f} s to write), "
          f"{sum(p.stat().st_size for p in args.dir.glob('*.parquet')) / 2**30:.2f} GiB")
    if args.compare:
        compare_throughput(args.dir, int(args.compare), args.chunk_size)
    t = time.perf_counter()
    source = ParquetData(args.dir, x=COLUMNS, y="y")
    built = time.perf_counter() - t
    print(f"source: {source.n_rows} rows, its statistics in one read: {built:.1f} s")
    t = time.perf_counter()
    model = RegressionMixture(3, random_state=0, chunk_size=args.chunk_size).fit(source)
    elapsed = time.perf_counter() - t
    print(f"fit: {elapsed:.1f} s wall ({built + elapsed:.1f} s with the source), "
          f"{model.n_iter_} EM steps, {model.n_passes_} passes over all rows, plus "
          f"one read for the subsample and one pass for the standard errors; "
          f"log-likelihood {model.log_likelihood_:.4f}, converged {model.converged_}")
    runner = PassRunner(source, Gaussian(), ConstantWeights(), chunk_size=args.chunk_size,
                        n_jobs=2, engine="numba")
    fitted = MixtureParams(model.weights_, GaussianParams(
        source.standardization.to_internal(np.column_stack([model.intercept_, model.coef_])),
        model.sigma_ / source.standardization.y_scale))
    t = time.perf_counter()
    runner.evaluate(fitted)
    one = time.perf_counter() - t
    print(f"one E-step pass over all rows ({runner.engine} kernel, streamed): {one:.1f} s "
          f"({one / source.n_rows * 1e9:.0f} ns per row)")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    print(model.coef_table().round(4).to_string())


if __name__ == "__main__":
    main()
