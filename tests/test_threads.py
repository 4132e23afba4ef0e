"""BLAS is pinned to one thread during a fit and restored afterwards, also when fits
run concurrently in several threads and finish in any order."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.linalg  # noqa: F401  (loads the second BLAS that threadpoolctl sees)
from threadpoolctl import ThreadpoolController, threadpool_info

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture
from regmix.engine.threads import _release_blas_control, single_threaded_blas


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads():
    """BLAS on two threads for the test, set without holding threadpoolctl's control of
    OpenBLAS (which would make every other thread's limit a no-op), restored after."""
    if not _blas_threads():
        pytest.skip("threadpoolctl sees no BLAS library")
    limiter = ThreadpoolController().limit(limits=2, user_api="blas")
    _release_blas_control()
    assert set(_blas_threads()) == {2}
    yield
    limiter.restore_original_limits()
    _release_blas_control()


@pytest.fixture(scope="module")
def rows():
    X, y, _, _ = make_regression_mixture(400, coef=[[1.0], [-1.0]], intercept=[0.0, 2.0],
                                         sigma=[0.3, 0.3], random_state=1)
    return X, y


def test_four_concurrent_fits_restore_the_blas_threads(two_blas_threads, rows):
    X, y = rows

    def fit(seed: int) -> float:
        model = RegressionMixture(2, random_state=seed, n_jobs=2, chunk_size=100).fit(X, y)
        return model.log_likelihood_

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(fit, range(8)))
    assert np.all(np.isfinite(results))
    assert set(_blas_threads()) == {2}


def test_fits_that_end_in_the_order_they_began_restore_the_blas_threads(
        two_blas_threads, rows, monkeypatch):
    """The first fit starts, the second starts, the first ends, the second ends: the
    order in which a limit saved and restored by each fit leaves BLAS pinned."""
    X, y = rows
    first_in, second_in, first_done = threading.Event(), threading.Event(), threading.Event()
    real_fit = RegressionMixture._fit

    def ordered_fit(self, *args, **kwargs):
        if self.random_state == 0:
            first_in.set()
            assert second_in.wait(60)
        else:
            second_in.set()
            assert first_done.wait(60)
        assert set(_blas_threads()) == {1}  # pinned during a fit
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(RegressionMixture, "_fit", ordered_fit)

    def first():
        RegressionMixture(2, random_state=0).fit(X, y)
        first_done.set()

    def second():
        assert first_in.wait(60)
        RegressionMixture(2, random_state=1).fit(X, y)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(first), pool.submit(second)]:
            future.result()
    assert set(_blas_threads()) == {2}


def test_overlapping_contexts_pin_until_the_last_one_leaves(two_blas_threads):
    first, second = single_threaded_blas(), single_threaded_blas()
    first.__enter__()
    assert set(_blas_threads()) == {1}
    second.__enter__()
    first.__exit__(None, None, None)
    assert set(_blas_threads()) == {1}
    second.__exit__(None, None, None)
    assert set(_blas_threads()) == {2}


# ------------------------------------------------- threads of the compiled passes
def test_compiled_passes_take_one_thread_per_min_rows_and_restore_the_setting():
    numba = pytest.importorskip("numba")
    from regmix.compiled import helpers

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two numba threads")
    seen = []

    def record(a, threads):
        seen.append((a, threads, numba.get_num_threads()))
        return a

    previous = numba.get_num_threads()
    rows = helpers.MIN_ROWS_PER_THREAD
    for n_rows in (0, rows - 1, 2 * rows - 1, 2 * rows, 100 * rows):
        assert helpers.on_threads(2, n_rows, record, n_rows) == n_rows
        assert numba.get_num_threads() == previous
    assert seen == [(0, 1, 1), (rows - 1, 1, 1), (2 * rows - 1, 1, 1), (2 * rows, 2, 2),
                    (100 * rows, 2, 2)]


def test_serial_kernels_on_small_passes_leave_the_thread_setting_alone(monkeypatch):
    # a kernel that runs on the calling thread for one worker is called directly below
    # two threads' worth of rows: numba's thread count is neither read nor set
    numba = pytest.importorskip("numba")
    from regmix.compiled import helpers

    def refuse(*_):
        raise AssertionError("the thread setting was touched")

    seen = []
    rows = helpers.MIN_ROWS_PER_THREAD
    with monkeypatch.context() as m:
        m.setattr(numba, "set_num_threads", refuse)
        m.setattr(numba, "get_num_threads", refuse)
        for n_rows in (0, 5, 2 * rows - 1):
            helpers.on_threads(2, n_rows, lambda a, t: seen.append((a, t)), n_rows,
                               serial=True)
    assert seen == [(0, 1), (5, 1), (2 * rows - 1, 1)]
    if numba.config.NUMBA_NUM_THREADS >= 2:  # more rows: the threads as before
        helpers.on_threads(2, 2 * rows, lambda a, t: seen.append((a, t)), 0, serial=True)
        assert seen[-1] == (0, 2)


def test_compiled_threads_wait_passively_unless_told_otherwise(tmp_path):
    # the variable is set before numba's OpenMP threads start, a value of the user's kept
    pytest.importorskip("numba")
    import subprocess
    import sys

    code = (
        "import os, numpy as np\n"
        "from regmix.compiled import glm_kernel\n"
        "y = np.arange(5.0)\n"
        "glm_kernel.glm_log_constant(y, None, None, 'poisson')\n"
        "print(os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    for given, want in ((None, "PASSIVE"), ("active", "active")):
        env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        if given is not None:
            env["OMP_WAIT_POLICY"] = given
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=300, check=True)
        assert done.stdout.split()[-1] == want
