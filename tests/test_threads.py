"""BLAS is pinned to one thread during a fit and restored afterwards, also when fits
run concurrently in several threads and finish in any order."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.linalg  # noqa: F401  (loads the second BLAS that threadpoolctl sees)
from threadpoolctl import threadpool_info, threadpool_limits

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture
from regmix.engine.threads import single_threaded_blas


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads():
    """BLAS on two threads for the test (the original counts restored after it)."""
    if not _blas_threads():
        pytest.skip("threadpoolctl sees no BLAS library")
    with threadpool_limits(limits=2, user_api="blas"):
        assert set(_blas_threads()) == {2}
        yield


def test_concurrent_fits_restore_the_blas_threads(two_blas_threads):
    X, y, _, _ = make_regression_mixture(400, coef=[[1.0], [-1.0]], intercept=[0.0, 2.0],
                                         sigma=[0.3, 0.3], random_state=1)

    def fit(seed: int) -> float:
        model = RegressionMixture(2, random_state=seed, n_jobs=2, chunk_size=100).fit(X, y)
        return model.log_likelihood_

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(fit, range(8)))
    assert np.all(np.isfinite(results))
    assert set(_blas_threads()) == {2}


def test_overlapping_contexts_pin_until_the_last_one_leaves(two_blas_threads):
    """Entered in one order and left in another (as concurrent fits do): BLAS stays on
    one thread while any context is open, and gets its two threads back after the last."""
    first, second = single_threaded_blas(), single_threaded_blas()
    first.__enter__()
    assert set(_blas_threads()) == {1}
    second.__enter__()
    first.__exit__(None, None, None)
    assert set(_blas_threads()) == {1}
    second.__exit__(None, None, None)
    assert set(_blas_threads()) == {2}
