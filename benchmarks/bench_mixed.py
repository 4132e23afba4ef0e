"""A latent-class linear mixed model streamed from Parquet.

Usage::

    python benchmarks/bench_mixed.py --subjects 1000000 --dir /tmp/regmix-mixed

Writes (once; reused when present) a Parquet file of ``--subjects`` subjects with 5 to
10 rows each, sorted by subject: three classes with their own intercept and slope in
``time``, a random intercept and slope per subject with a class's covariance, and noise
with a class's standard deviation. Then fits ``RegressionMixture(3,
family=MixedGaussian("1 + time"))`` to it through :class:`regmix.parquet.ParquetData`
(groups = the subject column), standard errors included, and reports the source's
set-up, the fit's wall time, EM steps and passes, one more E-step pass over all rows,
the log-likelihood, the estimates against the truth, and the peak resident memory of
the process (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from regmix import RegressionMixture
from regmix.engine.runner import PassRunner
from regmix.families.mixed_gaussian import MixedGaussian
from regmix.mixing.constant import ConstantWeights
from regmix.sources.parquet import ParquetData

WEIGHTS = np.array([0.5, 0.3, 0.2])
BETA = np.array([[0.0, 1.0], [3.0, -0.5], [-2.0, 0.2]])  # intercept, slope in time
COV = np.array(
    [[[0.6, 0.05], [0.05, 0.10]], [[0.3, -0.02], [-0.02, 0.05]], [[1.0, 0.10], [0.10, 0.20]]]
)
SIGMA = np.array([0.5, 0.4, 0.7])
PART = 100_000  # subjects generated and written at a time


def write_dataset(path: Path, subjects: int, seed: int = 0) -> None:
    """Write ``subjects`` subjects (5 to 10 rows each), sorted by subject."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer = None
    rng = np.random.default_rng(seed)
    for first in range(0, subjects, PART):
        g = min(PART, subjects - first)
        sizes = rng.integers(5, 11, g)
        subject = np.repeat(np.arange(first, first + g), sizes)
        cls = rng.choice(3, g, p=WEIGHTS)
        L = np.linalg.cholesky(COV)[cls]
        b = np.einsum("gab,gb->ga", L, rng.standard_normal((g, 2)))
        rows = np.repeat(np.arange(g), sizes)
        time_ = rng.uniform(0.0, 4.0, rows.size)
        k = cls[rows]
        y = (
            BETA[k, 0]
            + b[rows, 0]
            + (BETA[k, 1] + b[rows, 1]) * time_
            + SIGMA[k] * rng.standard_normal(rows.size)
        )
        table = pa.table({"subject": subject, "time": time_, "y": y})
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, use_dictionary=False)
        writer.write_table(table, row_group_size=1 << 18)
    assert writer is not None
    writer.close()
    tmp.rename(path)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=float, default=1e6)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/regmix-mixed"))
    parser.add_argument("--chunk-size", type=int, default=65536)
    parser.add_argument("--max-iter", type=int, default=1000)
    args = parser.parse_args()
    subjects = int(args.subjects)
    path = args.dir / f"mixed-{subjects}.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        write_dataset(path, subjects)
        print(f"wrote {path} in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    source = ParquetData(path, x=["time"], y="y", groups="subject")
    t_source = time.perf_counter() - t0
    print(f"source: {source.n_rows:,} rows, {source.n_groups:,} subjects, {t_source:.1f} s")
    model = RegressionMixture(
        3,
        family=MixedGaussian("1 + time"),
        random_state=0,
        chunk_size=args.chunk_size,
        max_iter=args.max_iter,
    )
    t0 = time.perf_counter()
    model.fit(source)
    t_fit = time.perf_counter() - t0
    runner = PassRunner(
        source, model.family_, ConstantWeights(), chunk_size=args.chunk_size, n_jobs=1
    )
    t0 = time.perf_counter()
    runner.evaluate(
        model._internal_params(model._user_params(), model.family_, source.standardization)
    )
    t_pass = time.perf_counter() - t0
    order = np.argsort(model.intercept_)
    truth = np.argsort(BETA[:, 0])
    print(
        f"fit: {t_fit:.1f} s, {model.n_iter_} EM steps, {model.n_passes_} passes, "
        f"converged {model.converged_}"
    )
    print(f"one E-step pass: {t_pass:.2f} s ({1e9 * t_pass / source.n_rows:.0f} ns/row)")
    print(f"log-likelihood: {model.log_likelihood_:.4f}")
    print("weights", np.round(model.weights_[order], 4), "truth", WEIGHTS[truth])
    print(
        "intercept, slope",
        np.round(np.column_stack([model.intercept_, model.coef_])[order], 4).tolist(),
        "truth",
        BETA[truth].tolist(),
    )
    print("sigma", np.round(model.sigma_[order], 4), "truth", SIGMA[truth])
    print("random cov", np.round(model.random_cov_[order], 4).tolist())
    print(
        "std errors of the class 1 row:", np.round(model.coef_table()["std_err"].to_numpy()[:7], 5)
    )
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
