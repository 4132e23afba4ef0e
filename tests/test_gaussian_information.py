"""The compiled observed information of a Gaussian mixture against the numpy pass and a
finite-difference Hessian written here."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from regmix import RegressionMixture  # noqa: E402
from regmix.compiled.information_kernel import GaussianInformation  # noqa: E402
from regmix.core.params import (
    GaussianParams,  # noqa: E402
    MixtureParams,  # noqa: E402
)
from regmix.datasets import make_regression_mixture  # noqa: E402
from regmix.families.gaussian import Gaussian  # noqa: E402
from regmix.inference.information import mixture_information  # noqa: E402
from regmix.sources.arrays import ArrayData  # noqa: E402


def _problem(n, d, K, *, intercept, weighted, seed=0):
    X, y, _, _ = make_regression_mixture(n, d, K, random_state=seed)
    rng = np.random.default_rng(seed + 1)
    w = rng.uniform(0.0, 3.0, n) if weighted else None
    p = d + int(intercept)
    coef = rng.normal(size=(K, p))
    sigma = rng.uniform(0.5, 2.0, K)
    weights = rng.dirichlet(np.full(K, 5.0))
    return X, y, w, coef, sigma, weights


def _numpy_information(X, y, w, intercept, coef, sigma, weights):
    source = ArrayData(X, y, w, fit_intercept=intercept, standardize=False)
    params = MixtureParams(weights, GaussianParams(coef, sigma))
    return mixture_information(Gaussian(), params, source, n_jobs=1)


@pytest.mark.parametrize(("K", "d", "intercept", "weighted"), [
    (1, 1, True, False), (2, 1, True, True), (3, 5, True, False), (3, 2, False, True),
    (4, 8, True, True),
])
def test_compiled_information_equals_the_numpy_pass(K, d, intercept, weighted):
    X, y, w, coef, sigma, weights = _problem(12_345, d, K, intercept=intercept,
                                             weighted=weighted, seed=K + d)
    info = GaussianInformation(intercept, coef, sigma, weights)
    info.add(np.ascontiguousarray(X), y, w)
    got = info.result()
    want = _numpy_information(X, y, w, intercept, coef, sigma, weights)
    assert got.shape == want.shape == (K * (d + intercept + 1) + K - 1,) * 2
    np.testing.assert_array_equal(got, got.T)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11 * np.abs(want).max())


def test_compiled_information_equals_a_finite_difference_hessian():
    # an independent reference: central differences of the log-likelihood written here
    X, y, w, coef, sigma, weights = _problem(400, 1, 2, intercept=True, weighted=True,
                                             seed=3)
    D = np.column_stack([np.ones(len(y)), X])

    def loglik(theta):
        b = theta[:6].reshape(2, 3)
        coefs, log_s = b[:, :2], b[:, 2]
        pi = np.exp([0.0, theta[6]])
        pi /= pi.sum()
        s = np.exp(log_s)
        dens = pi * np.exp(-0.5 * ((y[:, None] - D @ coefs.T) / s) ** 2) / (
            s * np.sqrt(2 * np.pi))
        return float(w @ np.log(dens.sum(axis=1)))

    theta = np.concatenate([np.column_stack([coef, np.log(sigma)]).ravel(),
                            [np.log(weights[1] / weights[0])]])
    h = 1e-4
    H = np.empty((7, 7))
    for i in range(7):
        for j in range(7):
            e_i, e_j = np.eye(7)[i] * h, np.eye(7)[j] * h
            H[i, j] = (loglik(theta + e_i + e_j) - loglik(theta + e_i - e_j)
                       - loglik(theta - e_i + e_j) + loglik(theta - e_i - e_j)) / (4 * h * h)
    info = GaussianInformation(True, coef, sigma, weights)
    info.add(np.ascontiguousarray(X), y, w)
    np.testing.assert_allclose(info.result(), -H, rtol=1e-5, atol=1e-5 * np.abs(H).max())


def test_batches_orders_and_threads_give_the_same_bits():
    X, y, w, coef, sigma, weights = _problem(20_003, 3, 3, intercept=True, weighted=True)
    whole = GaussianInformation(True, coef, sigma, weights, n_threads=2)
    whole.add(np.ascontiguousarray(X), y, w)
    reference = whole.result()
    for order, threads, cuts in [("F", 1, [0, 20_003]), ("C", 2, [0, 1, 2049, 7000, 20_003]),
                                 ("F", 2, [0, 4096, 4097, 20_000, 20_003])]:
        info = GaussianInformation(True, coef, sigma, weights, n_threads=threads)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            info.add(np.asarray(X[a:b], order=order), y[a:b], w[a:b])
        np.testing.assert_array_equal(info.result(), reference)


def test_bad_arguments():
    X, y, w, coef, sigma, weights = _problem(100, 2, 2, intercept=True, weighted=False)
    with pytest.raises(ValueError, match="sigma and weights must be positive"):
        GaussianInformation(True, coef, sigma, np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="must have 2 entries"):
        GaussianInformation(True, coef, sigma[:1], weights)
    info = GaussianInformation(True, coef, sigma, weights)
    with pytest.raises(ValueError, match="no given responsibilities"):
        info.add(np.ascontiguousarray(X), y, None, np.ones((100, 2)))
    with pytest.raises(ValueError, match="X must have 2 columns"):
        info.add(np.ones((10, 3)), np.ones(10), None)


def test_engine_numba_gives_the_numpy_standard_errors():
    X, y, _, _ = make_regression_mixture(120_000, 2, 2, random_state=5)
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    numba_fit = RegressionMixture(2, random_state=0, engine="numba").fit(X, y, sample_weight=w)
    numpy_fit = RegressionMixture(2, random_state=0, engine="numpy").fit(X, y, sample_weight=w)
    params = numba_fit._user_params()
    source = ArrayData(X, y, w, fit_intercept=True, standardize=False)
    compiled = mixture_information(Gaussian(), params, source, engine="numba")
    plain = mixture_information(Gaussian(), params, source, engine="numpy")
    np.testing.assert_allclose(compiled, plain, rtol=1e-10, atol=1e-10 * np.abs(plain).max())
    np.testing.assert_allclose(numba_fit.coef_table()["std_err"],
                               numpy_fit.coef_table()["std_err"], rtol=1e-6)


def test_the_numpy_pass_where_the_compiled_one_does_not_apply():
    X, y, w, coef, sigma, _ = _problem(3_000, 2, 2, intercept=True, weighted=False)
    source = ArrayData(X, y, w, fit_intercept=True, standardize=False)
    params = MixtureParams(np.array([1.0, 0.0]), GaussianParams(coef, sigma))
    # a component of weight zero: the numpy pass, not an error
    with np.errstate(divide="ignore"):
        got = mixture_information(Gaussian(), params, source, engine="numba")
        np.testing.assert_array_equal(got, mixture_information(Gaussian(), params, source))
    standardised = ArrayData(X, y, w, fit_intercept=True)  # not user units
    params = MixtureParams(np.array([0.4, 0.6]), GaussianParams(coef, sigma))
    got = mixture_information(Gaussian(), params, standardised, engine="numba")
    np.testing.assert_array_equal(got, mixture_information(Gaussian(), params, standardised))
