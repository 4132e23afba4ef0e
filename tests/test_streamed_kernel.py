"""The compiled E-step on rows streamed from Parquet, batch by batch."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("numba")
pytest.importorskip("pyarrow")

from regmix import RegressionMixture  # noqa: E402
from regmix.compiled import gaussian_kernel as gk  # noqa: E402
from regmix.core.chunk import REDUCTION_BLOCK
from regmix.core.params import (
    GaussianParams,  # noqa: E402
    MixtureParams,  # noqa: E402
)
from regmix.datasets import make_regression_mixture  # noqa: E402
from regmix.engine.kernel import compiled_pass_applies
from regmix.engine.runner import PassRunner
from regmix.engine.threads import read_ahead  # noqa: E402
from regmix.families.gaussian import Gaussian  # noqa: E402
from regmix.mixing.constant import ConstantWeights  # noqa: E402
from regmix.mixing.gating import MultinomialLogitGating  # noqa: E402
from regmix.sources.arrays import ArrayData  # noqa: E402
from regmix.sources.parquet import ParquetData  # noqa: E402

N_ROWS = 50_003  # six reduction blocks and a ragged end


@pytest.fixture(scope="module")
def frame():
    X, y, _, _ = make_regression_mixture(N_ROWS, 3, 3, random_state=11)
    out = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y)
    out["w"] = np.random.default_rng(2).uniform(0.0, 3.0, N_ROWS)
    out["k"] = np.arange(N_ROWS) % 7  # an integer column
    out["g"] = np.arange(N_ROWS) // 10  # sorted group labels
    return out


@pytest.fixture(scope="module")
def parquet_path(frame, tmp_path_factory):
    # row groups that do not line up with the reduction blocks
    path = tmp_path_factory.mktemp("streamed") / "data.parquet"
    frame.to_parquet(path, row_group_size=7_001)
    return path


def _params(source, K=3, seed=0):
    rng = np.random.default_rng(seed)
    coef = rng.normal(size=(K, source.n_design))
    return MixtureParams(np.array([0.5, 0.3, 0.2])[:K],
                         GaussianParams(coef, rng.uniform(0.5, 1.5, K)))


def _sums(st, fit_intercept, params, **kw):
    return gk.GaussianSums(st.x_loc, 1.0 / st.x_scale, st.y_loc, 1.0 / st.y_scale,
                           fit_intercept, params.component.coef, params.component.sigma,
                           np.log(params.weights), **kw)


def _assert_same_bits(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


# ---------------------------------------------------------------------- GaussianSums
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("weighted", [False, True])
def test_batches_of_any_size_give_the_bits_of_one_call(frame, order, weighted):
    X = np.asarray(frame[["a", "b", "c"]].to_numpy(), order=order)
    y = frame["y"].to_numpy()
    w = frame["w"].to_numpy() if weighted else None
    source = ArrayData(X, y, w, fit_intercept=True)
    params = _params(source)
    st = source.standardization
    whole = gk.gaussian_e_step(X, y, w, st.x_loc, 1.0 / st.x_scale, st.y_loc,
                               1.0 / st.y_scale, True, params.component.coef,
                               params.component.sigma, np.log(params.weights))
    for cuts in ([0, 2048, 6144, 30720, N_ROWS], [0, 0, N_ROWS], [0, 1, 2, 3, 2050, N_ROWS],
                 [0, 1000, 1500, 1700, 9000, 9001, 20_003, N_ROWS - 1, N_ROWS]):
        sums = _sums(st, True, params, n_threads=2)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            sums.add(np.asarray(X[a:b], order=order), y[a:b], None if w is None else w[a:b])
        assert sums.n_rows == N_ROWS
        _assert_same_bits(sums.result(), whole)


def test_given_memberships_in_batches(frame):
    X = np.ascontiguousarray(frame[["a", "b", "c"]].to_numpy())
    y = frame["y"].to_numpy()
    source = ArrayData(X, y, None, fit_intercept=False)
    params = _params(source)
    st = source.standardization
    R = np.random.default_rng(5).uniform(0.1, 1.0, (N_ROWS, 3))
    whole = gk.gaussian_e_step(X, y, None, st.x_loc, 1.0 / st.x_scale, st.y_loc,
                               1.0 / st.y_scale, False, params.component.coef,
                               params.component.sigma, np.log(params.weights),
                               responsibilities=R)
    sums = _sums(st, False, params)
    sums.add(X[:4096], y[:4096], None, R[:4096])
    sums.add(X[4096:], y[4096:], None, R[4096:])
    got = sums.result()
    assert np.isnan(got[0]) and np.isnan(whole[0])
    _assert_same_bits(got[1:], whole[1:])


def test_no_rows_after_the_sums_over_an_unfinished_block(frame):
    X = np.ascontiguousarray(frame[["a", "b", "c"]].to_numpy())
    y = frame["y"].to_numpy()
    w = frame["w"].to_numpy()
    source = ArrayData(X, y, None, fit_intercept=True)
    sums = _sums(source.standardization, True, _params(source))
    sums.add(X[:3000], y[:3000], None)
    sums.result()
    with pytest.raises(ValueError, match="no rows can be added after"):
        sums.add(X[3000:6000], y[3000:6000], None)
    sums = _sums(source.standardization, True, _params(source))
    sums.add(X[:4096], y[:4096], None)
    sums.result()  # whole blocks only: more rows may follow
    sums.add(X[4096:6000], y[4096:6000], None)
    with pytest.raises(ValueError, match="weights"):
        sums.add(X[6000:7000], y[6000:7000], w[6000:7000])


def test_batch_arguments_are_checked(frame):
    X = np.ascontiguousarray(frame[["a", "b", "c"]].to_numpy())
    y = frame["y"].to_numpy()
    source = ArrayData(X, y, None, fit_intercept=True)
    sums = _sums(source.standardization, True, _params(source))
    with pytest.raises(ValueError, match="X must have 3 columns"):
        sums.add(X[:, :2].copy(), y, None)
    with pytest.raises(ValueError, match="y must have shape"):
        sums.add(X, y[:10], None)
    with pytest.raises(ValueError, match="w must have shape"):
        sums.add(X, y, np.ones(3))
    with pytest.raises(ValueError, match="C- or F-contiguous"):
        sums.add(X[::2], y[::2], None)
    with pytest.raises(ValueError, match="responsibilities must have shape"):
        sums.add(X, y, None, np.ones((N_ROWS, 2)))
    assert sums.n_rows == 0


# ---------------------------------------------------------------------- row batches
def test_row_batches_hold_the_file_rows_in_order(frame, parquet_path):
    source = ParquetData(parquet_path, ["a", "b", "c"], "y", weights="w")
    assert source.plain_rows
    starts, Xs, ys, ws = [], [], [], []
    for start, X, y, w, _ in source.row_batches(3 * REDUCTION_BLOCK + 5):
        assert X.flags.f_contiguous and X.dtype == np.float64 and X.shape[1] == 3
        assert y.flags.c_contiguous and w.flags.c_contiguous
        starts.append(start)
        Xs.append(X)
        ys.append(y)
        ws.append(w)
    sizes = [X.shape[0] for X in Xs]
    assert max(sizes) <= 3 * REDUCTION_BLOCK + 5 and sum(sizes) == N_ROWS
    assert starts == list(np.cumsum([0, *sizes[:-1]]))
    np.testing.assert_array_equal(np.vstack(Xs), frame[["a", "b", "c"]].to_numpy())
    np.testing.assert_array_equal(np.concatenate(ys), frame["y"].to_numpy())
    np.testing.assert_array_equal(np.concatenate(ws), frame["w"].to_numpy())


def test_row_batches_name_a_missing_value(frame, tmp_path):
    bad = frame.copy()
    bad["k"] = bad["k"].astype("Int64")
    bad.loc[12_345, "k"] = pd.NA
    bad["flag"] = bad["k"].isna()
    path = tmp_path / "missing.parquet"
    bad.to_parquet(path, row_group_size=5_000)
    source = ParquetData(path, ["a", "flag"], "y")  # a boolean column reads as 0 / 1
    X = np.vstack([b[1] for b in source.row_batches(REDUCTION_BLOCK)])
    np.testing.assert_array_equal(X[:, 1], bad["flag"].to_numpy(dtype=float))
    with pytest.raises(ValueError, match="column 'k' has a missing or non-finite value at "
                                         "row 12345"):
        ParquetData(path, ["a", "k"], "y")


def test_row_batches_convert_integer_columns(frame, parquet_path):
    source = ParquetData(parquet_path, ["a", "k"], "y")
    X = np.vstack([b[1] for b in source.row_batches(REDUCTION_BLOCK)])
    np.testing.assert_array_equal(X[:, 1], frame["k"].to_numpy(dtype=float))


def test_plain_rows_only_without_groups_or_concomitant(parquet_path):
    fam = Gaussian()
    plain = ParquetData(parquet_path, ["a", "b"], "y")
    grouped = ParquetData(parquet_path, ["a", "b"], "y", groups="g")
    gated = ParquetData(parquet_path, ["a"], "y", concomitant=["b"])
    assert compiled_pass_applies(plain, fam, ConstantWeights())
    assert not grouped.plain_rows and not compiled_pass_applies(grouped, fam)
    assert not gated.plain_rows and not compiled_pass_applies(gated, fam)
    assert not compiled_pass_applies(plain, Gaussian(), object())
    # concomitant columns come with the batches: the kernel takes them for gated weights
    assert gated.batch_rows and compiled_pass_applies(gated, fam, MultinomialLogitGating())
    assert not compiled_pass_applies(plain, fam, MultinomialLogitGating())


def test_row_batches_bring_the_concomitant_columns(frame, parquet_path):
    source = ParquetData(parquet_path, ["a"], "y", concomitant=["b", "c"])
    Xs, Zs = [], []
    for _, X, _, _, Z in source.row_batches(2 * REDUCTION_BLOCK):
        assert X.flags.f_contiguous and Z.flags.f_contiguous and Z.shape[1] == 2
        Xs.append(X)
        Zs.append(Z)
    np.testing.assert_array_equal(np.vstack(Xs), frame[["a"]].to_numpy())
    np.testing.assert_array_equal(np.vstack(Zs), frame[["b", "c"]].to_numpy())


@pytest.mark.parametrize("weighted", [False, True])
def test_streamed_gated_pass_has_the_bits_of_the_in_memory_one(frame, parquet_path, weighted):
    streamed = ParquetData(parquet_path, ["a", "b"], "y", weights="w" if weighted else None,
                           concomitant=["c"])
    memory = ArrayData(frame[["a", "b"]].to_numpy(), frame["y"].to_numpy(),
                       frame["w"].to_numpy() if weighted else None, fit_intercept=True,
                       Z=frame[["c"]].to_numpy(), standardization=streamed.standardization)
    base = _params(memory, seed=5)
    gating = np.array([[0.0, 0.0], [0.4, -0.8], [-0.3, 0.5]])
    params = MixtureParams(base.weights, base.component, gating)
    mixing = MultinomialLogitGating()
    runs = {}
    for name, source in (("streamed", streamed), ("memory", memory)):
        for engine in ("numba", "numpy"):
            runner = PassRunner(source, Gaussian(), mixing, chunk_size=8192, n_jobs=2,
                                engine=engine)
            assert runner.engine == engine
            runs[name, engine] = runner.evaluate(params)
    a, b = runs["streamed", "numba"], runs["memory", "numba"]
    assert a.loglik == b.loglik
    _assert_same_bits([a.resp_sum, *a.stats, *a.mix_stats], [b.resp_sum, *b.stats,
                                                              *b.mix_stats])
    c = runs["streamed", "numpy"]  # the numpy pass, to round-off
    assert a.loglik == pytest.approx(c.loglik, rel=1e-12)
    for u, v in zip([a.resp_sum, *a.stats, *a.mix_stats], [c.resp_sum, *c.stats,
                                                           *c.mix_stats], strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-8)


@pytest.mark.filterwarnings("ignore::regmix.ReplicationWarning")  # (a misspecified model)
def test_streamed_gated_fit_equals_the_in_memory_fit(frame, parquet_path, monkeypatch):
    source = ParquetData(parquet_path, ["a", "b"], "y", concomitant=["c"])
    kw = dict(random_state=0, engine="numba", compute_se=False, init_sample_size=5000)
    batches = []  # the streamed fit's passes read the file's batches for the kernel
    original = source.row_batches
    monkeypatch.setattr(source, "row_batches",
                        lambda *a, **k: (batches.append(1), original(*a, **k))[1])
    streamed = RegressionMixture(2, **kw).fit(source)
    memory = RegressionMixture(2, **kw).fit(frame[["a", "b"]], frame["y"],
                                            concomitant=frame[["c"]])
    assert streamed.log_likelihood_ == pytest.approx(memory.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(streamed.coef_, memory.coef_, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(streamed.gating_coef_, memory.gating_coef_, rtol=1e-7,
                               atol=1e-8)
    assert len(batches) > 5


# ---------------------------------------------------------------------- the streamed pass
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("chunk_size", [8192, 300_000])
def test_streamed_compiled_pass_has_the_bits_of_the_in_memory_one(frame, parquet_path,
                                                                   weighted, chunk_size):
    streamed = ParquetData(parquet_path, ["a", "b", "c"], "y",
                           weights="w" if weighted else None)
    memory = ArrayData(frame[["a", "b", "c"]].to_numpy(), frame["y"].to_numpy(),
                       frame["w"].to_numpy() if weighted else None,
                       fit_intercept=True, standardization=streamed.standardization)
    params = _params(memory, seed=3)
    runs = {}
    for name, source in (("streamed", streamed), ("memory", memory)):
        for engine in ("numba", "numpy"):
            runner = PassRunner(source, Gaussian(), ConstantWeights(), chunk_size=chunk_size,
                                n_jobs=2, engine=engine)
            assert runner.engine == engine
            runs[name, engine] = runner.evaluate(params)
    a, b = runs["streamed", "numba"], runs["memory", "numba"]
    assert a.loglik == b.loglik
    _assert_same_bits([a.resp_sum, *a.stats], [b.resp_sum, *b.stats])
    # and the numpy pass, an independent implementation, to round-off
    c = runs["streamed", "numpy"]
    assert a.loglik == pytest.approx(c.loglik, rel=1e-12)
    for u, v in zip([a.resp_sum, *a.stats], [c.resp_sum, *c.stats], strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-11, atol=1e-9)


def test_streamed_fit_runs_the_kernel_and_equals_the_in_memory_fit(frame, parquet_path):
    source = ParquetData(parquet_path, ["a", "b", "c"], "y")
    kw = dict(random_state=0, engine="numba", compute_se=False, init_sample_size=5000)
    streamed = RegressionMixture(3, **kw).fit(source)
    memory = RegressionMixture(3, **kw).fit(frame[["a", "b", "c"]], frame["y"])
    assert streamed.log_likelihood_ == pytest.approx(memory.log_likelihood_, rel=1e-13)
    np.testing.assert_allclose(streamed.coef_, memory.coef_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(streamed.sigma_, memory.sigma_, rtol=1e-9)


def test_rows_that_changed_after_the_source_was_made_are_caught(parquet_path, monkeypatch):
    source = ParquetData(parquet_path, ["a", "b"], "y")
    params = _params(source, seed=1)
    runner = PassRunner(source, Gaussian(), ConstantWeights(), chunk_size=8192, n_jobs=2,
                        engine="numba")
    reference = runner.evaluate(params)
    original = source.row_batches

    def with_nan(batch_size, *, validate=True):  # the file's rows, one value gone
        for start, X, y, w, Z in original(batch_size, validate=False):
            if start <= 20_000 < start + X.shape[0]:
                X = X.copy(order="F")
                X[20_000 - start, 1] = np.nan
            if validate:
                source._check_block(start, X, y, w)
            yield start, X, y, w, Z

    monkeypatch.setattr(source, "row_batches", with_nan)
    with pytest.raises(ValueError, match="column 'b' has a missing or non-finite value at "
                                         "row 20000"):
        runner.evaluate(params)

    def shorter(batch_size, *, validate=True):
        for start, X, y, w, Z in original(batch_size, validate=validate):
            yield start, np.asfortranarray(X[:100]), y[:100], w, Z
            return

    monkeypatch.setattr(source, "row_batches", shorter)
    with pytest.raises(ValueError, match="100 rows read, 50003 expected"):
        runner.evaluate(params)
    monkeypatch.setattr(source, "row_batches", original)
    assert runner.evaluate(params).loglik == reference.loglik


def test_a_rewritten_file_gives_a_clear_error(frame, tmp_path):
    path = tmp_path / "d.parquet"
    frame.to_parquet(path, row_group_size=10_000)
    source = ParquetData(path, ["a", "b"], "y")
    frame.iloc[:30_000].to_parquet(path, row_group_size=3_000)
    runner = PassRunner(source, Gaussian(), ConstantWeights(), chunk_size=8192, n_jobs=2,
                        engine="numba")
    with pytest.raises(ValueError, match=r"d\.parquet. has changed since its ParquetData .*size"):
        runner.evaluate(_params(source))


# ---------------------------------------------------------------------- read_ahead
def test_read_ahead_keeps_order_and_raises_the_producers_error():
    assert list(read_ahead(iter(range(100)), depth=3)) == list(range(100))

    def failing():
        yield 1
        yield 2
        raise ValueError("column 'x' is bad at row 7")

    got = []
    with pytest.raises(ValueError, match="row 7"):
        for item in read_ahead(failing()):
            got.append(item)
    assert got == [1, 2]


def test_read_ahead_stops_the_producer_when_the_consumer_stops():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    before = threading.active_count()
    items = read_ahead(endless(), depth=2)
    assert next(items) == 0
    items.close()
    assert threading.active_count() == before
    assert len(produced) <= 5  # at most the slots ahead, never the whole stream


def test_whole_blocks_recut_batches_of_any_size():
    from regmix.sources.parquet import _whole_blocks

    rng = np.random.default_rng(4)
    rows = rng.normal(size=(1000, 2))
    y = rng.normal(size=1000)
    for sizes in ([1000], [1] * 1000, [7, 300, 1, 64, 628], [64, 64, 872]):
        cuts = np.cumsum([0, *sizes])
        batches = ((int(a), rows[a:b], y[a:b], None)
                   for a, b in zip(cuts[:-1], cuts[1:], strict=True))
        blocks = list(_whole_blocks(batches, 64))
        assert [b[0] for b in blocks] == list(range(0, 1000, 64))
        for start, X, yy, w in blocks:
            np.testing.assert_array_equal(X, rows[start : start + 64])
            np.testing.assert_array_equal(yy, y[start : start + 64])
            assert w is None


def test_given_memberships_need_the_rows_in_memory(parquet_path):
    from regmix.engine.kernel import add_kernel_rows

    source = ParquetData(parquet_path, ["a", "b", "c"], "y")
    sums = _sums(source.standardization, True, _params(source))
    with pytest.raises(ValueError, match="need the rows in memory"):
        add_kernel_rows(source, sums, chunk_size=8192, memberships=np.ones((N_ROWS, 3)))


def test_streamed_student_t_pass_has_the_bits_of_the_in_memory_one(frame, parquet_path):
    # Student-t components on the Gaussian kernel: the same blocks, streamed or in memory
    from regmix.core.params import ComponentParams
    from regmix.families.student_t import StudentT

    streamed = ParquetData(parquet_path, ["a", "b", "c"], "y", weights="w")
    memory = ArrayData(frame[["a", "b", "c"]].to_numpy(), frame["y"].to_numpy(),
                       frame["w"].to_numpy(), fit_intercept=True,
                       standardization=streamed.standardization)
    gauss = _params(memory, seed=3)
    sigma = gauss.component.sigma
    params = MixtureParams(gauss.weights, ComponentParams(
        gauss.component.coef, np.column_stack([sigma, [2.0, 7.0, 30.0][: sigma.size]])))
    runs = {}
    for name, source in (("streamed", streamed), ("memory", memory)):
        runner = PassRunner(source, StudentT(), ConstantWeights(), chunk_size=8192,
                            n_jobs=2, engine="numba")
        assert runner.kernel == "student_t"
        runs[name] = runner.evaluate(params)
    a, b = runs["streamed"], runs["memory"]
    assert a.loglik == b.loglik
    _assert_same_bits([a.resp_sum, *a.stats], [b.resp_sum, *b.stats])
