"""The compiled passes on the partitions of a Dask source (local schedulers), and the
numpy pass on a worker where numba does not import."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")
dask = pytest.importorskip("dask")
import dask.array as da  # noqa: E402

from regmix import RegressionMixture  # noqa: E402
from regmix.core.params import ComponentParams, GaussianParams, MixtureParams  # noqa: E402
from regmix.datasets import make_regression_mixture  # noqa: E402
from regmix.engine import runner as runner_module  # noqa: E402
from regmix.engine.runner import PassRunner  # noqa: E402
from regmix.estimator.inputs import response_units  # noqa: E402
from regmix.families.gaussian import Gaussian  # noqa: E402
from regmix.families.negative_binomial import NegativeBinomial  # noqa: E402
from regmix.families.poisson import Poisson  # noqa: E402
from regmix.families.student_t import StudentT  # noqa: E402
from regmix.mixing.constant import ConstantWeights  # noqa: E402
from regmix.sources import dask as dask_source  # noqa: E402
from regmix.sources.arrays import ArrayData  # noqa: E402
from regmix.sources.dask import DaskData  # noqa: E402

N_ROWS = 6_001  # three partitions, the last ragged


def _gaussian_rows():
    X, y, _, _ = make_regression_mixture(N_ROWS, 2, 2, sigma=[1.0, 0.6], random_state=3)
    return X, y


def _poisson_rows():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(N_ROWS, 2))
    eta = np.where(rng.random(N_ROWS) < 0.4, 0.5 + 0.8 * X[:, 0], 2.0 - 0.5 * X[:, 1])
    return X, rng.poisson(np.exp(eta)).astype(float)


CASES = {
    "gaussian": (
        _gaussian_rows,
        {
            "weights": [0.5, 0.5],
            "coef": [[1.0, 0.0], [0.0, -1.0]],
            "intercept": [0.0, 1.0],
            "sigma": [1.0, 1.0],
        },
    ),
    "poisson": (
        _poisson_rows,
        {"weights": [0.5, 0.5], "coef": [[0.5, 0.0], [0.0, -0.5]], "intercept": [0.5, 1.5]},
    ),
}


@pytest.fixture
def block_calls(monkeypatch):
    """How often each compiled partition pass ran."""
    calls = {"gaussian": 0, "poisson": 0}
    for name, cls in (
        ("gaussian", runner_module.GaussianBlockPass),
        ("poisson", runner_module.GLMBlockPass),
    ):
        original = cls.__call__

        def counted(self, *args, _name=name, _original=original, **kw):
            calls[_name] += 1
            return _original(self, *args, **kw)

        monkeypatch.setattr(cls, "__call__", counted)
    return calls


def _fit(family, X, y, engine, **kw):
    rows, start = CASES[family]
    model = RegressionMixture(
        2, family=family, init=start, tol=1e-10, compute_se=False, engine=engine
    )
    return model.fit(X, y, **kw)


def _dask(X, y, rows_per_partition=2_500):
    return (
        da.from_array(X, chunks=(rows_per_partition, X.shape[1])),
        da.from_array(y, chunks=rows_per_partition),
    )


@pytest.mark.parametrize("scheduler", ["synchronous", "threads"])
@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_dask_fit_runs_the_compiled_pass_and_equals_the_in_memory_compiled_fit(
    family, scheduler, block_calls
):
    X, y = CASES[family][0]()
    in_memory = _fit(family, X, y, "numba")
    block_calls[family] = 0
    with dask.config.set(scheduler=scheduler):
        on_dask = _fit(family, *_dask(X, y), "numba")
    assert block_calls[family] >= 3 * on_dask.n_iter_  # every partition, every pass
    assert on_dask.n_iter_ == in_memory.n_iter_
    # the partitions' sums are added in a tree, the in-memory blocks' one after the
    # other: the same to round-off
    assert on_dask.log_likelihood_ == pytest.approx(in_memory.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(on_dask.coef_, in_memory.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(on_dask.weights_, in_memory.weights_, rtol=1e-10)


def _pass_params(name):
    coef = np.array([[0.5, 0.8, -0.3], [1.5, -0.5, 0.4]])
    if name == "gaussian":
        return Gaussian(), MixtureParams(
            np.array([0.4, 0.6]), GaussianParams(coef, np.array([0.7, 1.2]))
        )
    if name == "student_t":  # (sigma, df) per component, the df estimated
        extra = np.array([[0.7, 4.0], [1.2, 12.0]])
        return StudentT(), MixtureParams(np.array([0.4, 0.6]), ComponentParams(coef, extra))
    family = Poisson() if name == "poisson" else NegativeBinomial()
    extra = np.zeros((2, 0)) if name == "poisson" else np.array([[2.0], [9.0]])
    return family, MixtureParams(np.array([0.4, 0.6]), ComponentParams(coef, extra))


@pytest.mark.parametrize("name", ["gaussian", "student_t", "poisson", "negative_binomial"])
def test_compiled_partition_pass_against_the_in_memory_compiled_pass(name, block_calls):
    """With the same standardisation, one partition has the bits of the in-memory
    compiled pass; several agree to round-off (their sums are added in a tree)."""
    gaussian_kernel = name in ("gaussian", "student_t")
    X, y = (_gaussian_rows if gaussian_kernel else _poisson_rows)()
    family, params = _pass_params(name)
    settings = dict(chunk_size=4096, n_jobs=1, engine="numba")
    with dask.config.set(scheduler="synchronous"):
        for rows_per_partition in (N_ROWS, 2_500):
            source = response_units(DaskData(*_dask(X, y, rows_per_partition)), family)
            on_dask = PassRunner(source, family, ConstantWeights(), **settings)
            kind = "gaussian" if gaussian_kernel else "poisson"
            before = block_calls[kind]
            result = on_dask.evaluate(params)
            assert block_calls[kind] - before == len(source._starts)  # each partition
            in_memory = PassRunner(
                ArrayData(X, y, None, fit_intercept=True, standardization=source.standardization),
                family,
                ConstantWeights(),
                **settings,
            ).evaluate(params)
            parts = [result.loglik, result.resp_sum, *result.stats]
            whole = [in_memory.loglik, in_memory.resp_sum, *in_memory.stats]
            for a, b in zip(parts, whole, strict=True):
                if rows_per_partition == N_ROWS:
                    np.testing.assert_array_equal(a, b)
                else:
                    np.testing.assert_allclose(
                        a, b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b), initial=1.0)
                    )


@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_a_worker_without_numba_takes_the_numpy_pass(family, block_calls, monkeypatch):
    X, y = CASES[family][0]()
    with dask.config.set(scheduler="synchronous"):
        numpy_pass = _fit(family, *_dask(X, y), "numpy")
        # numba does not import on the workers: neither the passes nor the GLM kernel's
        # log-gamma terms run compiled there
        monkeypatch.setattr(dask_source, "available", lambda: False)
        monkeypatch.setattr(runner_module, "available", lambda: False)
        fallback = _fit(family, *_dask(X, y), "numba")
    assert block_calls[family] == 0
    assert fallback.log_likelihood_ == numpy_pass.log_likelihood_
    np.testing.assert_array_equal(fallback.coef_, numpy_pass.coef_)
    in_memory = _fit(family, X, y, "numpy")
    assert fallback.log_likelihood_ == pytest.approx(in_memory.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(fallback.coef_, in_memory.coef_, rtol=1e-10, atol=1e-12)


def test_only_whole_blocks_take_the_compiled_partition_pass():
    X, y = _gaussian_rows()
    with dask.config.set(scheduler="synchronous"):
        assert DaskData(*_dask(X, y)).plain_rows
        g = da.from_array(np.arange(N_ROWS) // 10, chunks=2_500)
        assert not DaskData(*_dask(X, y), groups=g).block_rows
        gated = DaskData(*_dask(X, y), concomitant=_dask(X, y)[0])
        assert gated.block_rows and not gated.plain_rows


def _gated_rows(family):
    """Rows whose second component's weight is logistic in a concomitant variable."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N_ROWS, 2))
    z = rng.normal(size=(N_ROWS, 1))
    second = rng.random(N_ROWS) < 1.0 / (1.0 + np.exp(-(-0.3 + 1.2 * z[:, 0])))
    if family == "gaussian":
        y = np.where(second, 1.0 - X[:, 0], 0.5 * X[:, 1]) + 0.6 * rng.normal(size=N_ROWS)
    else:
        y = rng.poisson(np.exp(np.where(second, 0.5 + 0.8 * X[:, 0], 2.0 - 0.5 * X[:, 1])))
        y = y.astype(float)
    return X, y, z


@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_gated_dask_fit_runs_the_compiled_pass_and_equals_the_in_memory_one(family,
                                                                             block_calls):
    X, y, z = _gated_rows(family)
    in_memory = _fit(family, X, y, "numba", concomitant=z)
    numpy_fit = _fit(family, X, y, "numpy", concomitant=z)
    block_calls[family] = 0
    with dask.config.set(scheduler="synchronous"):
        on_dask = _fit(family, *_dask(X, y), "numba",
                       concomitant=da.from_array(z, chunks=(2_500, 1)))
    assert block_calls[family] >= 3 * on_dask.n_iter_  # every partition, every pass
    assert on_dask.log_likelihood_ == pytest.approx(in_memory.log_likelihood_, rel=1e-12)
    assert on_dask.log_likelihood_ == pytest.approx(numpy_fit.log_likelihood_, rel=1e-10)
    for a, b in ((on_dask, in_memory), (on_dask, numpy_fit)):
        np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(a.gating_coef_, b.gating_coef_, rtol=1e-7, atol=1e-9)


def test_partitions_without_their_log_gamma_terms_compute_them_in_the_pass(
    block_calls, monkeypatch
):
    """A partition whose log-gamma sum was not taken (numba did not import where it was
    asked for) takes it in its compiled pass: the same fit."""
    X, y = _poisson_rows()
    with dask.config.set(scheduler="synchronous"):
        kept = _fit("poisson", *_dask(X, y), "numba")
        monkeypatch.setattr(runner_module, "available", lambda: False)
        each_pass = _fit("poisson", *_dask(X, y), "numba")
    assert block_calls["poisson"] > 0
    assert each_pass.log_likelihood_ == kept.log_likelihood_
    np.testing.assert_array_equal(each_pass.coef_, kept.coef_)


def test_compiled_passes_take_turns_unless_the_threading_layer_is_thread_safe(monkeypatch):
    import contextlib

    import numba

    from regmix.compiled import helpers

    for layer, lock in (("omp", False), ("tbb", False), ("workqueue", True)):
        monkeypatch.setattr(numba, "threading_layer", lambda _layer=layer: _layer)
        guard = helpers.taking_turns()
        assert (guard is helpers._TURNS) == lock
        assert lock or isinstance(guard, contextlib.nullcontext)

    def not_yet():
        raise ValueError("Threading layer is not initialized.")

    monkeypatch.setattr(numba, "threading_layer", not_yet)
    assert helpers.taking_turns() is helpers._TURNS
    # partitions on several threads that take turns: the same fit
    X, y = _poisson_rows()
    monkeypatch.setattr(numba, "threading_layer", lambda: "workqueue")
    with dask.config.set(scheduler="threads"):
        in_turns = _fit("poisson", *_dask(X, y), "numba")
    monkeypatch.undo()
    with dask.config.set(scheduler="threads"):
        side_by_side = _fit("poisson", *_dask(X, y), "numba")
    assert in_turns.log_likelihood_ == side_by_side.log_likelihood_
    np.testing.assert_array_equal(in_turns.coef_, side_by_side.coef_)
