"""Dask fits on a local cluster with and without the compiled partition pass.

Usage::

    python benchmarks/bench_dask.py --rows 1e6 --partitions 8

Starts a ``LocalCluster`` of two worker processes (one thread each) on 127.0.0.1, puts
``--rows`` rows on it as a dask array of ``--partitions`` partitions (persisted on the
workers once, before the fits), and for Gaussian components (the benchmark data set
of ``bench_em.py``: K = 3, five features plus intercept), Poisson components (K = 2,
two features plus intercept, log link) and the same Poisson components as a mixture of
experts (the second component's weight logistic in a concomitant variable ``z``) fits
``RegressionMixture`` from the same start
with ``engine="numpy"`` (the numpy pass on every partition) and ``engine="numba"`` (the
compiled pass on every partition), without standard errors. It reports one E-step pass
at the start (best of three, after a pass that loads the compiled code on the workers;
on the cluster and, for reference, in memory on the client by the compiled kernel on
two threads) and the time to make the source (its checks and standardisation, which
every fit's set-up repeats), each fit's wall time, EM steps and passes, and how far the two fits'
log-likelihoods and coefficients are apart.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from regmix import RegressionMixture
from regmix.core.params import ComponentParams, GaussianParams, MixtureParams
from regmix.datasets import make_regression_mixture
from regmix.engine.runner import PassRunner
from regmix.estimator.inputs import response_units
from regmix.families.gaussian import Gaussian
from regmix.families.poisson import Poisson
from regmix.mixing.constant import ConstantWeights
from regmix.mixing.gating import MultinomialLogitGating
from regmix.sources.arrays import ArrayData
from regmix.sources.dask import DaskData

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_glm_kernel import best_pass  # noqa: E402  (the shared timing of a pass)

COEF = np.array(
    [[1.0, -2.0, 0.5, 0.0, 1.5], [-1.0, 1.0, 2.0, -0.5, 0.0], [0.5, 0.0, -1.5, 2.0, -1.0]]
)


def gaussian_case(n: int):
    X, y, _, _ = make_regression_mixture(
        n, coef=COEF, intercept=[0.0, 1.0, -1.0], sigma=[1.0, 0.5, 1.5], random_state=0
    )
    start = {
        "weights": [0.3, 0.3, 0.4],
        "coef": COEF * 0.8,
        "intercept": [0.2, 0.8, -0.8],
        "sigma": [1.2, 1.0, 1.2],
    }
    return "gaussian", X, y, start


def poisson_case(n: int):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    first = rng.random(n) < 0.4
    eta = np.where(first, 0.5 + 0.8 * X[:, 0], 2.0 - 0.5 * X[:, 1])
    y = rng.poisson(np.exp(eta)).astype(float)
    start = {"weights": [0.5, 0.5], "coef": [[0.5, 0.0], [0.0, -0.3]], "intercept": [0.3, 1.5]}
    return "poisson", X, y, start


def experts_case(n: int):
    """Poisson components whose second weight is ``1 / (1 + exp(0.4 - 1.5 z))``."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(n, 2))
    z = rng.normal(size=(n, 1))
    second = rng.random(n) < 1.0 / (1.0 + np.exp(0.4 - 1.5 * z[:, 0]))
    eta = np.where(second, 2.0 - 0.5 * X[:, 1], 0.5 + 0.8 * X[:, 0])
    y = rng.poisson(np.exp(eta)).astype(float)
    start = {"weights": [0.5, 0.5], "coef": [[0.5, 0.0], [0.0, -0.3]],
             "intercept": [0.3, 1.5], "gating": [[0.0, 0.0], [0.0, 1.0]]}
    return "poisson", X, y, start, z


def start_params(start: dict, source, family: str) -> MixtureParams:
    """The start ``start`` (user units) in the internal units of ``source``."""
    st = source.standardization
    coef = st.to_internal(np.column_stack([start["intercept"], start["coef"]]))
    weights = np.asarray(start["weights"], dtype=float)
    gating = (None if "gating" not in start
              else st.gating_to_internal(np.asarray(start["gating"], dtype=float)))
    if family == "gaussian":
        return MixtureParams(
            weights, GaussianParams(coef, np.asarray(start["sigma"]) / st.y_scale), gating
        )
    return MixtureParams(weights, ComponentParams(coef, np.zeros((len(coef), 0))), gating)


def run_case(case, partitions: int) -> None:
    import dask
    import dask.array as da

    name, X, y, start, *rest = case
    Z = rest[0] if rest else None
    n = X.shape[0]
    rows = -(-n // partitions)
    # on the workers once, so that no fit ships the rows again
    Xd, yd = dask.persist(
        da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(y, chunks=rows)
    )
    Zd = None if Z is None else dask.persist(da.from_array(Z, chunks=(rows, Z.shape[1])))[0]
    K = len(start["weights"])
    family = Gaussian() if name == "gaussian" else Poisson()
    mixing = ConstantWeights() if Z is None else MultinomialLogitGating()
    # one E-step pass at the start, which also loads the compiled code on the workers
    t = time.perf_counter()
    source = response_units(DaskData(Xd, yd, concomitant=Zd), family)  # (counts as given)
    made = time.perf_counter() - t
    params = start_params(start, source, name)
    times = {}
    for engine in ("numpy", "numba"):
        runner = PassRunner(source, family, mixing, chunk_size=65536, n_jobs=2, engine=engine)
        assert runner.engine == engine
        times[engine] = best_pass(runner, params)[0]
    memory = ArrayData(X, y, None, fit_intercept=True, standardization=source.standardization,
                       Z=Z)
    times["memory"] = best_pass(
        PassRunner(memory, family, mixing, chunk_size=65536, n_jobs=2, engine="numba"), params
    )[0]
    if Z is not None:
        name = "poisson, gated"
    print(
        f"{name}, {n} rows in {partitions} partitions; the source's checks and "
        f"standardisation {made * 1e3:.0f} ms; one E-step pass: on the cluster "
        f"numpy {times['numpy'] * 1e3:.0f} ms, compiled {times['numba'] * 1e3:.0f} ms "
        f"(numpy / compiled {times['numpy'] / times['numba']:.2f}); in memory compiled, "
        f"two threads {times['memory'] * 1e3:.0f} ms"
    )
    fits = {}
    for engine in ("numpy", "numba"):
        model = RegressionMixture(K, family=family.name, init=start, engine=engine,
                                  compute_se=False)
        t = time.perf_counter()
        model.fit(Xd, yd, concomitant=Zd)
        elapsed = time.perf_counter() - t
        fits[engine] = (model, elapsed)
        print(
            f"  fit, {engine} pass: {elapsed:.2f} s, {model.n_iter_} EM steps, "
            f"{model.n_passes_} passes ({elapsed / model.n_passes_ * 1e3:.0f} ms per pass "
            f"with the M-steps), log-likelihood {model.log_likelihood_:.6f}, converged "
            f"{model.converged_}"
        )
    (a, ta), (b, tb) = fits["numpy"], fits["numba"]
    print(
        f"  fit numpy / compiled: {ta / tb:.2f}; numba - numpy: log-likelihood "
        f"{b.log_likelihood_ - a.log_likelihood_:.3g}, largest coefficient difference "
        f"{np.abs(b.coef_ - a.coef_).max():.3g}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e6)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = Client(cluster)
    try:
        for make in (gaussian_case, poisson_case, experts_case):
            run_case(make(int(args.rows)), args.partitions)
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
