"""Newton steps on the EM map: the rate-matrix estimate and the runs that use it.

The EM map's Jacobian is checked against central differences of a naive EM map written
here, and against the identity ``J = I - I_com^{-1} I_obs`` (its eigenvalues at the
maximum are the fractions of missing information, in [0, 1)). Runs with Newton steps
must end at the optimum plain EM and SQUAREM reach, with a log-likelihood that never
decreases, even when the rate matrix they are handed is wrong.
"""

from unittest import mock

import numpy as np
import pytest
from scipy.special import logsumexp

from regmix import RegressionMixture
from regmix.core.params import GaussianParams, MixtureParams
from regmix.datasets import make_regression_mixture
from regmix.engine.runner import PassRunner
from regmix.families.gaussian import Gaussian
from regmix.fitting.em import run_em
from regmix.fitting.newton import em_map_jacobian, secant_update
from regmix.fitting.steps import param_vector, params_from_vector
from regmix.mixing.constant import ConstantWeights
from regmix.sources.arrays import ArrayData


def _problem(n, seed=0, overlap=False):
    kw = (dict(coef=[[1.0], [2.0]], intercept=[0.0, 0.3], sigma=[1.0, 1.0]) if overlap
          else dict(coef=[[2.0], [-1.0]], intercept=[0.0, 1.0], sigma=[0.7, 1.0]))
    X, y, _, _ = make_regression_mixture(n, random_state=seed, **kw)
    return X, y


def _runner(X, y):
    # user units inside: the naive map below works on the same coordinates
    source = ArrayData(X, y, None, fit_intercept=True, standardize=False)
    return PassRunner(source, Gaussian(var_floor=0.0), ConstantWeights(), chunk_size=4096,
                      n_jobs=1)


def _naive_em_map(X, y, v, K):
    """One EM step written out: v = (centred log weights, coef by component, log sigma)."""
    D = np.column_stack([np.ones(len(y)), X])
    p = D.shape[1]
    logw = v[:K] - logsumexp(v[:K])
    coef = v[K:K + K * p].reshape(K, p)
    sigma = np.exp(v[K + K * p:])
    resid = y[:, None] - D @ coef.T
    logp = logw - np.log(sigma) - 0.5 * np.log(2 * np.pi) - 0.5 * (resid / sigma) ** 2
    R = np.exp(logp - logsumexp(logp, axis=1, keepdims=True))
    new_coef = np.empty((K, p))
    new_sigma = np.empty(K)
    for k in range(K):
        DR = D * R[:, k:k + 1]
        new_coef[k] = np.linalg.solve(DR.T @ D, DR.T @ y)
        e = y - D @ new_coef[k]
        new_sigma[k] = np.sqrt(R[:, k] @ e**2 / R[:, k].sum())
    new_logw = np.log(R.sum(axis=0) / len(y))
    return np.concatenate([new_logw - new_logw.mean(), new_coef.ravel(), np.log(new_sigma)])


def _params(weights, coef, sigma):
    return MixtureParams(np.asarray(weights, float),
                         GaussianParams(np.asarray(coef, float), np.asarray(sigma, float)))


def test_jacobian_matches_central_differences_of_a_naive_em_map():
    X, y = _problem(3000)
    runner = _runner(X, y)
    fam, mix = runner.family, runner.mixing
    params = _params([0.4, 0.6], [[0.2, 1.5], [0.8, -0.5]], [0.9, 1.2])
    J = em_map_jacobian(fam, mix, runner.evaluate, params)
    v0 = param_vector(fam, mix, params)
    ref = np.empty_like(J)
    for i in range(v0.size):
        h = 1e-5 * max(1.0, abs(v0[i]))
        up, down = v0.copy(), v0.copy()
        up[i] += h
        down[i] -= h
        ref[:, i] = (_naive_em_map(X, y, up, 2) - _naive_em_map(X, y, down, 2)) / (2 * h)
    assert J.shape == (v0.size, v0.size)
    np.testing.assert_allclose(J, ref, atol=2e-5 * np.abs(ref).max())
    # the map itself: the coordinates round-trip
    back = params_from_vector(fam, mix, v0, params)
    np.testing.assert_allclose(back.weights, params.weights, rtol=1e-15)
    np.testing.assert_allclose(back.component.sigma, params.component.sigma, rtol=1e-15)


def test_one_component_em_map_is_constant():
    # K = 1: one EM step is the least-squares fit whatever the start, so J = 0
    X, y = _problem(2000)
    runner = _runner(X, y)
    J = em_map_jacobian(runner.family, runner.mixing, runner.evaluate,
                        _params([1.0], [[0.3, -0.2]], [2.0]))
    assert np.abs(J).max() < 1e-6


def test_rate_at_the_maximum_is_the_fraction_of_missing_information():
    # At the maximum J = I - I_com^{-1} I_obs: its eigenvalues lie in [0, 1), and the
    # largest is near one when the components overlap (EM crawls).
    results = {}
    for overlap in (False, True):
        X, y = _problem(4000, seed=1, overlap=overlap)
        model = RegressionMixture(2, random_state=0, tol=1e-14, compute_se=False,
                                  max_iter=100_000).fit(X, y)
        runner = _runner(X, y)
        order = np.argsort(model.intercept_)
        params = _params(model.weights_[order],
                         np.column_stack([model.intercept_, model.coef_])[order],
                         model.sigma_[order])
        J = em_map_jacobian(runner.family, runner.mixing, runner.evaluate, params)
        eig = np.linalg.eigvals(J)
        assert np.abs(eig.imag).max() < 1e-4
        assert eig.real.min() > -1e-4 and eig.real.max() < 1.0
        results[overlap] = eig.real.max()
    assert results[False] < results[True]
    assert results[True] > 0.9


def _run(runner, start, *, rate=None, accelerate=True):
    return run_em(runner.family, runner.mixing, runner.evaluate, start,
                  total_weight=runner.source.total_weight, max_iter=10_000, tol=1e-13,
                  min_weight=0.0, accelerate=accelerate, rate=rate)


@pytest.mark.parametrize("overlap", [False, True])
def test_newton_run_reaches_the_em_optimum_in_fewer_passes(overlap):
    X, y = _problem(20_000, seed=2, overlap=overlap)
    runner = _runner(X, y)
    start = _params([0.5, 0.5], [[0.0, 0.5], [0.5, 1.5]], [1.5, 1.5])
    plain = _run(runner, start, accelerate=False)
    squarem = _run(runner, start)
    rate = mock.Mock(side_effect=lambda p: em_map_jacobian(runner.family, runner.mixing,
                                                           runner.evaluate, p))
    newton = _run(runner, start, rate=rate)
    assert rate.call_count >= 1
    assert newton.converged
    assert np.all(np.diff(newton.history) >= -1e-9)
    best = max(plain.loglik, squarem.loglik)
    assert newton.loglik >= best - 1e-9
    vec = param_vector(runner.family, runner.mixing, newton.params)
    ref = param_vector(runner.family, runner.mixing, squarem.params)
    np.testing.assert_allclose(vec, ref, atol=1e-5 if overlap else 1e-7)
    assert newton.n_passes < squarem.n_passes


def test_secant_update_satisfies_the_secant_condition():
    rng = np.random.default_rng(3)
    B = np.eye(5) + 0.1 * rng.normal(size=(5, 5))
    step, change = rng.normal(size=5), rng.normal(size=5)
    new = secant_update(B, step, change)
    np.testing.assert_allclose(new @ step, -change, rtol=1e-12, atol=1e-12)
    other = rng.normal(size=5)
    other -= (other @ step) / (step @ step) * step  # orthogonal to the step: unchanged
    np.testing.assert_allclose(new @ other, B @ other, rtol=1e-12, atol=1e-12)
    # on a linear map M(v) = v* + J (v - v*), updates along steps that span the space
    # recover I - J exactly
    J = 0.3 * rng.normal(size=(5, 5))
    v_star = rng.normal(size=5)

    def g(v):
        return v_star + J @ (v - v_star) - v

    est, v = np.eye(5), rng.normal(size=5)
    for direction in np.eye(5):
        est = secant_update(est, direction, g(v + direction) - g(v))
    np.testing.assert_allclose(est, np.eye(5) - J, atol=1e-12)
    assert secant_update(B, np.zeros(5), change) is B


def test_a_zero_rate_matrix_still_beats_plain_em():
    # J = 0 makes the first Newton step an EM step; the secant updates and the
    # re-estimations then learn the slow directions, so the run beats plain EM by far
    X, y = _problem(20_000, seed=5, overlap=True)
    runner = _runner(X, y)
    start = _params([0.5, 0.5], [[0.0, 0.5], [0.5, 1.5]], [1.5, 1.5])
    d = param_vector(runner.family, runner.mixing, start).size
    plain = _run(runner, start, accelerate=False)
    run = _run(runner, start, rate=lambda p: np.zeros((d, d)))
    assert run.converged and np.all(np.diff(run.history) >= -1e-9)
    assert run.loglik >= plain.loglik - 1e-9
    assert run.n_passes < plain.n_passes / 3


@pytest.mark.parametrize("wrong", ["negative", "random", "none"])
def test_a_wrong_rate_matrix_cannot_spoil_the_run(wrong):
    X, y = _problem(5000, seed=3, overlap=True)
    runner = _runner(X, y)
    start = _params([0.5, 0.5], [[0.0, 0.5], [0.5, 1.5]], [1.5, 1.5])
    d = param_vector(runner.family, runner.mixing, start).size
    rng = np.random.default_rng(0)
    rates = {"negative": lambda p: -5.0 * np.eye(d),
             "random": lambda p: rng.normal(scale=3.0, size=(d, d)),
             "none": lambda p: None}
    squarem = _run(runner, start)
    run = _run(runner, start, rate=rates[wrong])
    assert run.converged
    assert np.all(np.diff(run.history) >= -1e-9)
    assert run.loglik == pytest.approx(squarem.loglik, abs=1e-6)


def test_estimator_uses_newton_steps_on_large_data_and_ends_at_the_same_fit():
    X, y, _, _ = make_regression_mixture(
        300_000, coef=[[1.0, 0.5], [-1.0, 0.0], [0.0, 2.0]], intercept=[0.0, 1.0, -1.0],
        sigma=[1.0, 1.0, 1.0], random_state=4)
    with mock.patch("regmix.estimator.mixture.em_map_jacobian", wraps=em_map_jacobian) as spy:
        fast = RegressionMixture(3, n_init=1, random_state=0, compute_se=False).fit(X, y)
    assert spy.call_count >= 1
    with mock.patch.object(RegressionMixture, "_newton_rate", lambda *args: None):
        slow = RegressionMixture(3, n_init=1, random_state=0, compute_se=False).fit(X, y)
    assert fast.converged_ and slow.converged_
    assert fast.log_likelihood_ >= slow.log_likelihood_ - 1e-7
    assert fast.log_likelihood_ == pytest.approx(slow.log_likelihood_, abs=1e-6)
    np.testing.assert_allclose(fast.coef_, slow.coef_, atol=1e-5)
    assert fast.n_passes_ < slow.n_passes_
    again = RegressionMixture(3, n_init=1, random_state=0, compute_se=False).fit(X, y)
    assert again.log_likelihood_ == fast.log_likelihood_
    np.testing.assert_array_equal(again.coef_, fast.coef_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_newton_steps_are_not_used_where_they_do_not_pay():
    X, y = _problem(50_000)
    with mock.patch("regmix.estimator.mixture.em_map_jacobian", wraps=em_map_jacobian) as spy:
        RegressionMixture(2, random_state=0, compute_se=False).fit(X, y)
        RegressionMixture(2, random_state=0, compute_se=False,
                          accelerate=False).fit(*_problem(400_000))
        RegressionMixture(2, random_state=0, compute_se=False, family="poisson").fit(
            X, np.random.default_rng(0).poisson(2.0, size=len(X)))
    assert spy.call_count == 0


def test_streamed_fit_with_newton_steps_equals_the_in_memory_fit(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from regmix.sources.parquet import ParquetData

    X, y, _, _ = make_regression_mixture(
        200_000, coef=[[1.0, 0.5], [-1.0, 0.0], [0.0, 2.0]], intercept=[0.0, 1.0, -1.0],
        sigma=[1.0, 1.0, 1.0], random_state=6)
    path = tmp_path / "rows.parquet"
    pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "y": y}).to_parquet(path,
                                                                     row_group_size=30_000)
    with mock.patch("regmix.estimator.mixture.em_map_jacobian", wraps=em_map_jacobian) as spy:
        memory = RegressionMixture(3, random_state=0, compute_se=False).fit(X, y)
        calls = spy.call_count
        streamed = RegressionMixture(3, random_state=0, compute_se=False).fit(
            ParquetData(path, ["x1", "x2"], "y"))
    assert calls >= 1 and spy.call_count >= 2 * calls
    assert streamed.log_likelihood_ == pytest.approx(memory.log_likelihood_, rel=1e-13)
    np.testing.assert_allclose(streamed.coef_, memory.coef_, rtol=1e-9, atol=1e-9)
