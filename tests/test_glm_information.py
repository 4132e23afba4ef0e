"""The compiled observed information of Poisson, binomial, Gamma and negative-binomial
mixtures against the numpy pass, a finite-difference Hessian written here, and where it
applies; the compiled robust meat of these and of Gaussian mixtures against the numpy
pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

pytest.importorskip("numba")

from regmix import RegressionMixture  # noqa: E402
from regmix.compiled.information_kernel import GaussianInformation, GLMInformation  # noqa: E402
from regmix.core.params import ComponentParams, GaussianParams, MixtureParams  # noqa: E402
from regmix.engine import kernel  # noqa: E402
from regmix.families.binomial import Binomial  # noqa: E402
from regmix.families.gamma import GammaFamily  # noqa: E402
from regmix.families.gaussian import Gaussian  # noqa: E402
from regmix.families.negative_binomial import NegativeBinomial  # noqa: E402
from regmix.families.poisson import Poisson  # noqa: E402
from regmix.inference import information, robust  # noqa: E402
from regmix.inference.information import _Layout, mixture_information  # noqa: E402
from regmix.inference.robust import score_meat  # noqa: E402
from regmix.mixing.constant import ConstantWeights  # noqa: E402
from regmix.sources.arrays import ArrayData  # noqa: E402
from tests import test_glm_kernel as glm_cases  # noqa: E402
from tests.reference import numerical_hessian  # noqa: E402

# Agreement with the numpy pass: every entry within RTOL of itself or of the largest
# entry (the entries are sums of terms of both signs, each row's terms the same to a few
# units in the last place).
RTOL = 1e-12


def _problem(name, link, **kwargs):
    """The rows of the GLM kernel's tests (columns of different locations and scales,
    offsets, weights, some zero, trials for the binomial), their coefficients taken in
    user units, and the family's extras."""
    X, y, w, offset, trials, _, coef, mix = glm_cases._problem(name, link, **kwargs)
    return X, y, w, offset, trials, coef, mix, glm_cases._extra(name, len(mix))


def _numpy_information(family, X, y, w, offset, trials, coef, mix, extra, intercept=True):
    source = ArrayData(X, y, w, fit_intercept=intercept, offset=offset, trials=trials,
                       standardize=False, scale_response=False)
    K = len(mix)
    params = MixtureParams(mix, ComponentParams(
        coef, np.zeros((K, 0)) if extra is None else extra[:, None]))
    return mixture_information(family, params, source, n_jobs=1, engine="numpy")


def _assert_close(got, want):
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, got.T)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.abs(want).max())


@pytest.mark.parametrize(("name", "link"), glm_cases.CASES)
@pytest.mark.parametrize(("weighted", "with_offset"), [(True, True), (False, False)])
def test_compiled_information_equals_the_numpy_pass(name, link, weighted, with_offset):
    X, y, w, offset, trials, coef, mix, extra = _problem(
        name, link, weighted=weighted, with_offset=with_offset)
    info = GLMInformation(name, link, True, coef, mix, extra)
    info.add(X, y, w, offset=offset, trials=trials)
    family = glm_cases._family(name, link)
    want = _numpy_information(family, X, y, w, offset, trials, coef, mix, extra)
    K, p = coef.shape
    assert want.shape == ((K * (p + (extra is not None)) + K - 1),) * 2
    _assert_close(info.result(), want)


@pytest.mark.parametrize(("name", "link"), [("poisson", "log"), ("binomial", "probit"),
                                            ("gamma", "inverse"), ("negative_binomial", "log")])
def test_without_intercept_fortran_order_and_two_components(name, link):
    X, y, w, offset, trials, coef, mix, extra = _problem(name, link, d=2, K=2,
                                                         fit_intercept=False, seed=4)
    info = GLMInformation(name, link, False, coef, mix, extra)
    info.add(np.asfortranarray(X), y, w, offset=offset, trials=trials)
    got = info.result()
    family = glm_cases._family(name, link)
    want = _numpy_information(family, X, y, w, offset, trials, coef, mix, extra,
                              intercept=False)
    _assert_close(got, want)
    c_order = GLMInformation(name, link, False, coef, mix, extra)
    c_order.add(X, y, w, offset=offset, trials=trials)
    np.testing.assert_array_equal(c_order.result(), got)


@pytest.mark.parametrize("name", ["gamma", "negative_binomial"])
def test_a_known_extra_is_not_a_parameter(name):
    X, y, w, offset, trials, coef, mix, extra = _problem(name, "log", K=2, seed=2)
    known = np.full(2, 2.5)
    source = ArrayData(X, y, w, offset=offset, fit_intercept=True, standardize=False,
                       scale_response=False)
    params = MixtureParams(mix, ComponentParams(coef, known[:, None]))
    family = (GammaFamily(shape=2.5) if name == "gamma" else NegativeBinomial(size=2.5))
    got = mixture_information(family, params, source, engine="numba")
    want = mixture_information(family, params, source, engine="numpy")
    assert got.shape == (2 * 4 + 1,) * 2
    _assert_close(got, want)


def test_batches_orders_and_threads_give_the_same_bits():
    X, y, w, offset, trials, coef, mix, extra = _problem("binomial", "logit", n=20_003)
    whole = GLMInformation("binomial", "logit", True, coef, mix, n_threads=2)
    whole.add(X, y, w, offset=offset, trials=trials)
    reference = whole.result()
    for order, threads, cuts in [("F", 1, [0, 20_003]), ("C", 2, [0, 1, 2049, 7000, 20_003]),
                                 ("F", 2, [0, 4096, 4097, 20_000, 20_003])]:
        info = GLMInformation("binomial", "logit", True, coef, mix, n_threads=threads)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            info.add(np.asarray(X[a:b], order=order), y[a:b], w[a:b], offset=offset[a:b],
                     trials=trials[a:b])
        np.testing.assert_array_equal(info.result(), reference)


def test_equals_a_finite_difference_hessian():
    # an independent reference: central differences of the log-likelihood of a
    # negative-binomial mixture with offsets and weights, written with scipy.stats
    X, y, w, offset, _, coef, mix, extra = _problem("negative_binomial", "log", n=400, d=1,
                                                    K=2, seed=3)
    D = np.column_stack([np.ones(len(y)), X])

    def loglik(theta):
        b = theta[:6].reshape(2, 3)
        size = np.exp(b[:, 2])
        mu = np.exp(D @ b[:, :2].T + offset[:, None])
        pi = special.softmax([0.0, theta[6]])
        dens = pi * stats.nbinom.pmf(y[:, None], size, size / (size + mu))
        return float(w @ np.log(dens.sum(axis=1)))

    theta = np.concatenate([np.column_stack([coef, np.log(extra)]).ravel(),
                            [np.log(mix[1] / mix[0])]])
    H = numerical_hessian(loglik, theta)
    info = GLMInformation("negative_binomial", "log", True, coef, mix, extra)
    info.add(X, y, w, offset=offset)
    np.testing.assert_allclose(info.result(), -H, rtol=1e-5, atol=1e-5 * np.abs(H).max())


def test_mixture_information_takes_the_compiled_pass(monkeypatch):
    X, y, w, offset, trials, coef, mix, extra = _problem("binomial", "cloglog", seed=5)
    source = ArrayData(X, y, w, offset=offset, trials=trials, fit_intercept=True,
                       standardize=False, scale_response=False)
    params = MixtureParams(mix, ComponentParams(coef, np.zeros((3, 0))))
    family = Binomial("cloglog")
    want = mixture_information(family, params, source, engine="numpy")

    def refuse(*args, **kwargs):
        raise AssertionError("the numpy pass ran")

    monkeypatch.setattr(information, "score_information", refuse)
    _assert_close(mixture_information(family, params, source, engine="numba", n_jobs=2), want)
    # known labels, standardised rows and a weight of zero take the numpy pass
    standardised = ArrayData(X, y, w, offset=offset, trials=trials, fit_intercept=True,
                             scale_response=False)
    with pytest.raises(AssertionError, match="numpy pass ran"):
        mixture_information(family, params, standardised, engine="numba")
    zero = MixtureParams(np.array([0.5, 0.5, 0.0]), params.component)
    with pytest.raises(AssertionError, match="numpy pass ran"):
        mixture_information(family, zero, source, engine="numba")


def test_where_the_compiled_information_applies():
    X, y, w, offset, trials, coef, mix, extra = _problem("poisson", "log", n=300)
    user = ArrayData(X, y, w, offset=offset, fit_intercept=True, standardize=False,
                     scale_response=False)
    mixing = ConstantWeights()
    for family in (Poisson(), Poisson("identity"), GammaFamily("inverse", shape=2.0),
                   NegativeBinomial(), Binomial("probit")):
        assert kernel.compiled_pass_applies(user, family, mixing, user_units=True,
                                            information=True)
    assert not kernel.compiled_pass_applies(user, GammaFamily("identity"), mixing,
                                            user_units=True, information=True)
    groups = np.repeat(np.arange(150), 2)
    grouped = ArrayData(X, y, w, offset=offset, groups=groups, fit_intercept=True,
                        standardize=False, scale_response=False)
    assert not kernel.compiled_pass_applies(grouped, Poisson(), mixing, user_units=True,
                                            information=True)


def test_streamed_rows_give_the_bits_of_the_rows_in_memory(tmp_path):
    pytest.importorskip("pyarrow")
    from regmix.sources.parquet import ParquetData

    X, y, w, _, _, coef, mix, extra = _problem("gamma", "log", n=30_011, seed=6)
    path = tmp_path / "rows.parquet"
    pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y, w=w).to_parquet(
        path, row_group_size=7_001)
    streamed = ParquetData(path, ["a", "b", "c"], "y", weights="w", standardize=False)
    params = MixtureParams(mix, ComponentParams(coef, extra[:, None]))
    family = GammaFamily("log")
    assert kernel.compiled_pass_applies(streamed, family, user_units=True, information=True)
    got = mixture_information(family, params, streamed, engine="numba")
    in_memory = GLMInformation("gamma", "log", True, coef, mix, extra)
    in_memory.add(X, y, w)
    np.testing.assert_array_equal(got, in_memory.result())
    _assert_close(got, _numpy_information(family, X, y, w, None, None, coef, mix, extra))


def test_bad_arguments():
    X, y, w, offset, trials, coef, mix, extra = _problem("negative_binomial", "log", n=100)
    with pytest.raises(ValueError, match="no compiled information for the gamma family "
                                         "with the identity link"):
        GLMInformation("gamma", "identity", True, coef, mix, extra)
    with pytest.raises(ValueError, match="needs its extra parameter"):
        GLMInformation("negative_binomial", "log", True, coef, mix)
    with pytest.raises(ValueError, match="weights must be positive"):
        GLMInformation("poisson", "log", True, coef, np.array([0.5, 0.5, 0.0]))
    info = GLMInformation("negative_binomial", "log", True, coef, mix, extra)
    with pytest.raises(ValueError, match=r"offset must have shape \(100,\)"):
        info.add(X, y, w, offset=offset[:50])
    info.add(X[:50], y[:50], w[:50], offset=offset[:50])
    with pytest.raises(ValueError, match="offsets, trials"):
        info.add(X[50:], y[50:], w[50:])
    gaussian = GaussianInformation(True, coef, np.ones(3), mix)
    with pytest.raises(ValueError, match="these sums take no offset"):
        gaussian.add(X, y, w, offset=offset)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_engine_numba_gives_the_numpy_standard_errors(family):
    rng = np.random.default_rng(8)
    n = 120_000
    X = rng.normal(size=(n, 2))
    offset = rng.uniform(-0.3, 0.3, n)
    w = rng.uniform(0.5, 2.0, n)
    labels = rng.random(n) < 0.4
    eta = np.where(labels, 1.0 + X @ [0.5, -0.3], -0.5 + X @ [-0.4, 0.8]) + offset
    kw: dict = {"sample_weight": w, "offset": offset}
    if family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        trials = rng.integers(1, 10, n).astype(float)
        y = rng.binomial(trials.astype(int), special.expit(eta)).astype(float)
        kw["trials"] = trials
    fits = {engine: RegressionMixture(2, family=family, random_state=0, n_init=1,
                                      engine=engine).fit(X, y, **kw)
            for engine in ("numba", "numpy")}
    compiled = fits["numba"].coef_table()["std_err"]
    fits["numba"].engine = "numpy"  # the same fit, the numpy information
    np.testing.assert_allclose(compiled, fits["numba"].coef_table()["std_err"], rtol=1e-10)
    np.testing.assert_allclose(compiled, fits["numpy"].coef_table()["std_err"], rtol=1e-6)


# ---------------------------------------------------------------------- the robust meat
def _meats(family, params, source, monkeypatch):
    """The meat on the compiled pass (the numpy pass refused meanwhile) and on numpy."""
    K, p = params.component.coef.shape
    layout = _Layout(K, p, int(family.free_extra().sum()))
    numpy_meat = score_meat(family, params, source, layout, n_jobs=2, engine="numpy")

    def refuse(*args, **kwargs):
        raise AssertionError("the numpy pass ran")

    with monkeypatch.context() as patch:
        patch.setattr(robust, "run_pass", refuse)
        compiled = score_meat(family, params, source, layout, n_jobs=2, engine="numba")
    return compiled, numpy_meat


def _assert_same_meat(compiled, numpy_meat):
    assert (compiled.n_units, compiled.cov_type) == (numpy_meat.n_units, "robust")
    np.testing.assert_allclose(compiled.loglik, numpy_meat.loglik, rtol=RTOL)
    _assert_close(compiled.meat, numpy_meat.meat)
    assert np.all(np.linalg.eigvalsh(compiled.meat) > -1e-9 * np.abs(compiled.meat).max())


@pytest.mark.parametrize(("name", "link"), glm_cases.CASES)
@pytest.mark.parametrize("weighted", [True, False])
def test_compiled_meat_equals_the_numpy_pass(name, link, weighted, monkeypatch):
    X, y, w, offset, trials, coef, mix, extra = _problem(name, link, weighted=weighted)
    source = ArrayData(X, y, w, fit_intercept=True, offset=offset, trials=trials,
                       standardize=False, scale_response=False)
    params = MixtureParams(mix, ComponentParams(
        coef, np.zeros((3, 0)) if extra is None else extra[:, None]))
    compiled, numpy_meat = _meats(glm_cases._family(name, link), params, source,
                                  monkeypatch)
    assert numpy_meat.n_units == (len(y) if w is None else np.count_nonzero(w > 0))
    _assert_same_meat(compiled, numpy_meat)


@pytest.mark.parametrize("weighted", [True, False])
def test_compiled_gaussian_meat_equals_the_numpy_pass(weighted, monkeypatch):
    rng = np.random.default_rng(9)
    n = 7001
    X = rng.normal(size=(n, 2)) * [1.0, 3.0] + [0.5, -2.0]
    y = X @ [1.0, -0.5] + rng.normal(size=n)
    w = rng.uniform(0.0, 2.0, n) if weighted else None
    source = ArrayData(X, y, w, fit_intercept=True, standardize=False)
    params = MixtureParams(np.array([0.3, 0.7]),
                           GaussianParams(rng.normal(size=(2, 3)), np.array([0.8, 1.5])))
    _assert_same_meat(*_meats(Gaussian(), params, source, monkeypatch))


@pytest.mark.slow
def test_engine_numba_gives_the_numpy_robust_standard_errors():
    rng = np.random.default_rng(10)
    n = 120_000
    X = rng.normal(size=(n, 2))
    eta = np.where(rng.random(n) < 0.4, 1.0 + X @ [0.5, -0.3], -0.5 + X @ [-0.4, 0.8])
    y = rng.negative_binomial(3.0, 3.0 / (3.0 + np.exp(eta))).astype(float)
    fit = RegressionMixture(2, family="negative_binomial", random_state=0, n_init=1,
                            engine="numba").fit(X, y)
    compiled = fit.covariance_matrix("robust", X=X, y=y)
    fit.engine = "numpy"  # the same fit, the numpy meat
    plain = fit.covariance_matrix("robust", X=X, y=y)
    assert compiled.attrs["se_method"] == plain.attrs["se_method"]
    compiled, plain = compiled.to_numpy(), plain.to_numpy()
    np.testing.assert_allclose(compiled, plain, rtol=1e-9, atol=1e-9 * np.abs(plain).max())
