"""EM on a real Dask cluster (two worker processes on 127.0.0.1) equals the in-memory fit."""

import numpy as np
import pandas as pd
import pytest

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("dask.distributed")
import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    X, y, _, _ = make_regression_mixture(20000, 2, 3, sigma=[1.0, 0.6, 1.4], random_state=3)
    return X, y


def test_dask_array_fit_equals_in_memory_fit_from_the_same_start(client, data):
    X, y = data
    rng = np.random.default_rng(0)
    start = {"weights": [0.3, 0.3, 0.4], "coef": rng.normal(0, 2, (3, 2)),
             "intercept": [0.0, 1.0, -1.0], "sigma": [1.0, 1.0, 1.0]}
    kw = dict(init=start, tol=1e-12, chunk_size=3000)
    Xd = da.from_array(X, chunks=(4000, 2))
    yd = da.from_array(y, chunks=4000)
    on_cluster = RegressionMixture(3, **kw).fit(Xd, yd)
    in_memory = RegressionMixture(3, **kw).fit(X, y)
    assert on_cluster.log_likelihood_ == pytest.approx(in_memory.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(on_cluster.coef_, in_memory.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(on_cluster.sigma_, in_memory.sigma_, rtol=1e-10)
    np.testing.assert_allclose(on_cluster.weights_, in_memory.weights_, rtol=1e-10)
    np.testing.assert_allclose(on_cluster.information_, in_memory.information_, rtol=1e-9)


def test_dask_dataframe_with_weights_and_default_starts(client, data):
    X, y = data
    w = np.random.default_rng(1).integers(1, 3, len(y)).astype(float)
    frame = pd.DataFrame(X, columns=["a", "b"]).assign(y=y, w=w)
    ddf = dd.from_pandas(frame, npartitions=5)
    kw = dict(random_state=0, init_sample_size=3000)
    on_cluster = RegressionMixture(3, **kw).fit(ddf[["a", "b"]], ddf["y"], sample_weight=ddf["w"])
    in_memory = RegressionMixture(3, **kw).fit(frame[["a", "b"]], y, sample_weight=w)
    assert on_cluster.log_likelihood_ == pytest.approx(in_memory.log_likelihood_, rel=1e-10)
    assert list(on_cluster.feature_names_in_) == ["a", "b"]
    np.testing.assert_allclose(on_cluster.coef_, in_memory.coef_, rtol=1e-8)
    # sample() draws new features around the same moments
    np.testing.assert_allclose(on_cluster.state_.x_mean, in_memory.state_.x_mean, rtol=1e-10)
    np.testing.assert_allclose(on_cluster.state_.x_std, in_memory.state_.x_std, rtol=1e-10)


def test_worker_processes_run_the_compiled_partition_pass(client):
    """engine="numba" on the cluster: the parameters pickle with the pass, the workers
    build the kernel, and the fit is the in-memory compiled fit."""
    pytest.importorskip("numba")

    def kernel_loaded():
        from regmix.compiled import gaussian_kernel

        return gaussian_kernel._compiled.loaded

    X, y, _, _ = make_regression_mixture(6000, 2, 2, sigma=[1.0, 0.6], random_state=4)
    start = {"weights": [0.5, 0.5], "coef": [[1.0, 0.0], [0.0, -1.0]],
             "intercept": [0.0, 1.0], "sigma": [1.0, 1.0]}
    kw = dict(init=start, tol=0.0, max_iter=4, accelerate=False, compute_se=False,
              engine="numba")
    with pytest.warns(Warning, match="did not converge"):
        on_cluster = RegressionMixture(2, **kw).fit(da.from_array(X, chunks=(2000, 2)),
                                                    da.from_array(y, chunks=2000))
    assert any(client.run(kernel_loaded).values())
    with pytest.warns(Warning, match="did not converge"):
        in_memory = RegressionMixture(2, **kw).fit(X, y)
    assert on_cluster.log_likelihood_ == pytest.approx(in_memory.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(on_cluster.coef_, in_memory.coef_, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_fit_survives_losing_a_worker(data):
    """A worker process is killed in the middle of a fit; the scheduler recomputes its
    blocks elsewhere and the fit ends exactly where an undisturbed fit ends."""
    import os
    import signal
    import threading
    import time

    X, y = data
    X = np.tile(X, (5, 1))
    y = np.tile(y, 5)
    rng = np.random.default_rng(0)
    start = {"weights": [0.3, 0.3, 0.4], "coef": rng.normal(0, 2, (3, 2)),
             "intercept": [0.0, 1.0, -1.0], "sigma": [1.0, 1.0, 1.0]}
    kw = dict(init=start, tol=0.0, max_iter=40, accelerate=False, chunk_size=5000,
              compute_se=False)
    undisturbed = RegressionMixture(3, **kw)
    with pytest.warns(Warning):
        undisturbed.fit(X, y)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        Xd = da.from_array(X, chunks=(10000, 2))
        yd = da.from_array(y, chunks=10000)
        killed = threading.Event()
        pids = client.run(os.getpid)  # worker address -> process id

        def kill_one_worker():
            time.sleep(1.5)
            os.kill(next(iter(pids.values())), signal.SIGKILL)  # dies at once, no goodbye
            killed.set()

        threading.Thread(target=kill_one_worker, daemon=True).start()
        disturbed = RegressionMixture(3, **kw)
        with pytest.warns(Warning):
            disturbed.fit(Xd, yd)
        assert killed.is_set(), "the fit ended before the worker was killed"
    finally:
        client.close()
        cluster.close()
    assert disturbed.log_likelihood_ == pytest.approx(undisturbed.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(disturbed.coef_, undisturbed.coef_, rtol=1e-10, atol=1e-12)
