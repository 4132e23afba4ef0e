"""The component families through the estimator's API, checked against values computed
here: scipy densities, inverse links written out, information criteria by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit, logsumexp

import regmix
from regmix import RegressionMixture
from regmix.core.protocols import FAMILY_MEMBERS
from regmix.families.gaussian import Gaussian
from regmix.families.negative_binomial import NegativeBinomial
from regmix.families.registry import get_family
from regmix.families.student_t import StudentT

FAMILIES = ("gaussian", "poisson", "binomial", "gamma", "negative_binomial", "student_t")
K = 2

# true per-component (intercept, coef on x1, coef on x2) of the generated data
_TRUTH = {
    "gaussian": [(1.0, 2.0, -1.0), (-1.0, -1.0, 0.5)],
    "student_t": [(1.0, 2.0, -1.0), (-1.0, -1.0, 0.5)],
    "poisson": [(1.5, 0.8, -0.4), (0.0, -0.6, 0.5)],
    "negative_binomial": [(2.0, 0.6, -0.4), (0.3, -0.6, 0.5)],
    "gamma": [(1.0, 0.8, -0.4), (-0.5, -0.5, 0.5)],
    "binomial": [(1.0, 1.5, -1.0), (-1.0, -1.2, 0.8)],
}


def _design(n, seed):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.normal(size=n), rng.uniform(-1.0, 1.0, size=n)]), rng


def make_data(family, n=500, seed=0, offset=None):
    """``(X, y, trials)`` drawn from a two-component mixture of ``family``."""
    X, rng = _design(n, seed)
    z = rng.random(n) < 0.5
    (a0, b0, c0), (a1, b1, c1) = _TRUTH[family]
    eta = np.where(z, a0 + X @ [b0, c0], a1 + X @ [b1, c1])
    if offset is not None:
        eta = eta + offset
    trials = None
    if family == "gaussian":
        y = eta + np.where(z, 0.4, 0.7) * rng.standard_normal(n)
    elif family == "student_t":
        y = eta + np.where(z, 0.3, 0.5) * rng.standard_t(4.0, size=n)
    elif family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    elif family == "negative_binomial":
        mu = np.exp(eta)
        y = rng.negative_binomial(3.0, 3.0 / (3.0 + mu)).astype(float)
    elif family == "gamma":
        mu = np.exp(eta)
        y = rng.gamma(3.0, mu / 3.0)
    else:
        trials = rng.integers(1, 11, size=n).astype(float)
        y = rng.binomial(trials.astype(int), expit(eta)).astype(float)
    return X, y, trials


def _inverse_link(family_name, eta):
    if family_name in ("poisson", "gamma", "negative_binomial"):
        return np.exp(eta)
    if family_name == "binomial":
        return expit(eta)
    return eta


def _eta(model, X, offset=None):
    eta = model.intercept_ + X @ model.coef_.T
    if offset is not None:
        eta = eta + offset[:, None]
    return eta


def direct_log_density(model, X, y, offset=None, trials=None):
    """(n, K) component log-densities with the fitted parameters, from scipy."""
    name = model.family_.name
    eta = _eta(model, X, offset)
    mu = _inverse_link(name, eta)
    yc = y[:, None]
    if name == "gaussian":
        return stats.norm.logpdf(yc, loc=mu, scale=model.sigma_)
    if name == "student_t":
        return stats.t.logpdf(yc, model.df_, loc=mu, scale=model.sigma_)
    if name == "poisson":
        return stats.poisson.logpmf(yc, mu)
    if name == "negative_binomial":
        size = model.size_
        return stats.nbinom.logpmf(yc, n=size, p=size / (size + mu))
    if name == "gamma":
        return stats.gamma.logpdf(yc, a=model.shape_, scale=mu / model.shape_)
    m = np.ones_like(y) if trials is None else trials
    return stats.binom.logpmf(yc, m[:, None], mu)


def direct_loglik_and_posterior(model, X, y, offset=None, trials=None):
    joint = np.log(model.weights_) + direct_log_density(model, X, y, offset, trials)
    row = logsumexp(joint, axis=1)
    return float(row.sum()), np.exp(joint - row[:, None])


def _fit(family, X, y, trials=None, offset=None, **kwargs):
    kwargs.setdefault("random_state", 0)
    model = RegressionMixture(K, family=family, **kwargs)
    return model.fit(X, y, trials=trials, offset=offset)


_CACHE = {}


def fitted(family):
    """A model of ``family`` fitted once per session to its generated data."""
    if family not in _CACHE:
        X, y, trials = make_data(family)
        _CACHE[family] = (_fit(family, X, y, trials=trials), X, y, trials)
    return _CACHE[family]


# ---------------------------------------------------------------- 1. binomial spellings
def _binomial_spellings_data():
    X, s, m = make_data("binomial", n=500, seed=1)
    return X, s, m, m - s


def _assert_same_fit(a, b):
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-8, abs=1e-8)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-8, atol=1e-8)


def test_binomial_trials_spelling_matches_scipy():
    X, s, m, _ = _binomial_spellings_data()
    with_trials = _fit("binomial", X, s, trials=m)
    # the log-likelihood is the binomial one (with the binomial coefficient)
    ll, _ = direct_loglik_and_posterior(with_trials, X, s, trials=m)
    assert with_trials.log_likelihood_ == pytest.approx(ll, rel=1e-8)


def test_binomial_two_column_array_equals_trials():
    X, s, m, f = _binomial_spellings_data()
    with_trials = _fit("binomial", X, s, trials=m)
    two_columns = _fit("binomial", X, np.column_stack([s, f]))
    _assert_same_fit(two_columns, with_trials)
    np.testing.assert_array_equal(two_columns.posterior(X, np.column_stack([s, f])),
                                  with_trials.posterior(X, s, trials=m))


def test_binomial_formula_successes_plus_failures_equals_trials():
    X, s, m, f = _binomial_spellings_data()
    with_trials = _fit("binomial", X, s, trials=m)
    frame = pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "s": s, "f": f})
    formula = RegressionMixture(K, family="binomial", formula="s + f ~ x1 + x2",
                                random_state=0).fit(frame)
    _assert_same_fit(formula, with_trials)
    assert formula.log_likelihood(frame) == pytest.approx(with_trials.log_likelihood_,
                                                          rel=1e-8)


def test_binomial_zero_one_equals_one_trial():
    X, s, _ = make_data("binomial", n=600, seed=2)
    y01 = (s > 0).astype(float)  # any 0/1 response
    bernoulli = _fit("binomial", X, y01)
    one_trial = _fit("binomial", X, y01, trials=np.ones_like(y01))
    assert bernoulli.log_likelihood_ == pytest.approx(one_trial.log_likelihood_, rel=1e-8)
    np.testing.assert_allclose(bernoulli.coef_, one_trial.coef_, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(bernoulli.intercept_, one_trial.intercept_, rtol=1e-8,
                               atol=1e-8)
    ll, _ = direct_loglik_and_posterior(bernoulli, X, y01)
    assert bernoulli.log_likelihood_ == pytest.approx(ll, rel=1e-8)


def test_binomial_trials_without_binomial_coefficient_differ():
    """The spellings are not trivially equal: counts differ from their 0/1 indicator."""
    X, s, m = make_data("binomial", n=500, seed=1)
    counts = _fit("binomial", X, s, trials=m)
    indicator = _fit("binomial", X, (s > 0).astype(float))
    assert abs(counts.log_likelihood_ - indicator.log_likelihood_) > 1.0


# ---------------------------------------------------------------- 2. offsets
def _exposure_frame(n=600, seed=3):
    X, rng = _design(n, seed)
    t = rng.uniform(0.5, 5.0, size=n)
    z = rng.random(n) < 0.5
    (a0, b0, c0), (a1, b1, c1) = _TRUTH["poisson"]
    eta = np.where(z, a0 + X @ [b0, c0], a1 + X @ [b1, c1]) + np.log(t)
    y = rng.poisson(np.exp(eta)).astype(float)
    return X, y, t


def test_offset_argument_equals_formula_offset():
    X, y, t = _exposure_frame()
    by_argument = _fit("poisson", X, y, offset=np.log(t))
    frame = pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "y": y, "t": t})
    by_formula = RegressionMixture(K, family="poisson", formula="y ~ x1 + x2 + offset(np.log(t))",
                                   random_state=0).fit(frame)
    np.testing.assert_allclose(by_formula.coef_, by_argument.coef_, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(by_formula.intercept_, by_argument.intercept_, rtol=1e-8,
                               atol=1e-8)
    assert by_formula.log_likelihood_ == pytest.approx(by_argument.log_likelihood_, rel=1e-8)
    # the formula computes its offset itself when predicting
    np.testing.assert_allclose(by_formula.predict(frame),
                               by_argument.predict(X, offset=np.log(t)), rtol=1e-8)
    ll, _ = direct_loglik_and_posterior(by_argument, X, y, offset=np.log(t))
    assert by_argument.log_likelihood_ == pytest.approx(ll, rel=1e-8)


def test_offset_changes_the_fit():
    X, y, t = _exposure_frame()
    with_offset = _fit("poisson", X, y, offset=np.log(t))
    without = _fit("poisson", X, y)
    assert with_offset.log_likelihood_ > without.log_likelihood_ + 10


def test_log_exposure_as_free_feature_has_coefficient_one():
    X, y, t = _exposure_frame(n=800, seed=4)
    model = _fit("poisson", np.column_stack([X, np.log(t)]), y)
    np.testing.assert_allclose(model.coef_[:, 2], 1.0, atol=0.15)
    # and the component lines are the generating ones
    got = sorted(map(tuple, np.column_stack([model.intercept_, model.coef_[:, :2]]).round(6)))
    want = sorted(_TRUTH["poisson"])
    np.testing.assert_allclose(got, want, atol=0.3)


def test_predict_without_offset_raises_when_fitted_with_one():
    X, y, t = _exposure_frame()
    model = _fit("poisson", X, y, offset=np.log(t))
    for method in (model.predict, model.predict_components):
        with pytest.raises(ValueError, match="offset"):
            method(X)
    with pytest.raises(ValueError, match="offset"):
        model.log_likelihood(X, y)
    # zeros are accepted and mean "no offset"
    np.testing.assert_allclose(model.predict(X, offset=np.zeros(len(y))),
                               np.exp(_eta(model, X)) @ model.weights_, rtol=1e-12)


# ---------------------------------------------------------------- 3. predictions
@pytest.mark.parametrize("family", FAMILIES)
def test_predict_response_and_link(family):
    model, X, _, _ = fitted(family)
    Xn = _design(50, 99)[0]
    eta = _eta(model, Xn)
    mu = _inverse_link(family, eta)
    np.testing.assert_allclose(model.predict(Xn), mu @ model.weights_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.predict(Xn, kind="response"), mu @ model.weights_,
                               rtol=1e-10, atol=1e-12)
    link = model.predict(Xn, kind="link")
    assert link.shape == (50,)
    np.testing.assert_allclose(link, eta @ model.weights_, rtol=1e-10, atol=1e-12)
    comp_mu = model.predict_components(Xn)
    comp_eta = model.predict_components(Xn, kind="link")
    assert comp_mu.shape == comp_eta.shape == (50, K)
    np.testing.assert_allclose(comp_mu, mu, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(comp_eta, eta, rtol=1e-10, atol=1e-12)
    if family == "binomial":
        assert np.all((comp_mu > 0) & (comp_mu < 1))
    if family in ("poisson", "gamma", "negative_binomial"):
        assert np.all(comp_mu > 0)
    for bad in ("mean", "linear", None):
        with pytest.raises(ValueError, match="kind"):
            model.predict(Xn, kind=bad)
        with pytest.raises(ValueError, match="kind"):
            model.predict_components(Xn, kind=bad)


def test_predict_with_offset_matches_hand_computation():
    X, y, t = _exposure_frame()
    model = _fit("poisson", X, y, offset=np.log(t))
    off = np.log(t)
    mu = np.exp(_eta(model, X, off))
    np.testing.assert_allclose(model.predict(X, offset=off), mu @ model.weights_, rtol=1e-10)
    np.testing.assert_allclose(model.predict(X, offset=off, kind="link"),
                               _eta(model, X, off) @ model.weights_, rtol=1e-10)
    np.testing.assert_allclose(model.predict_components(X, offset=off), mu, rtol=1e-10)


# ---------------------------------------------------------------- 4. likelihood, posterior
@pytest.mark.parametrize("family", FAMILIES)
def test_loglik_and_posterior_match_scipy(family):
    model, X, y, trials = fitted(family)
    post = model.posterior(X, y, trials=trials)
    assert post.shape == (len(y), K)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    ll = model.log_likelihood(X, y, trials=trials)
    assert ll == pytest.approx(model.log_likelihood_, rel=1e-8)
    direct, direct_post = direct_loglik_and_posterior(model, X, y, trials=trials)
    assert ll == pytest.approx(direct, rel=1e-8)
    assert model.log_likelihood_ == pytest.approx(direct, rel=1e-8)
    np.testing.assert_allclose(post, direct_post, rtol=1e-7, atol=1e-10)
    # the history ends at the reported value and never decreases
    hist = model.log_likelihood_history_
    assert hist[-1] == pytest.approx(model.log_likelihood_, rel=1e-10)
    assert np.all(np.diff(hist) >= -1e-8 * abs(hist[-1]))


@pytest.mark.parametrize("family", FAMILIES)
def test_loglik_on_new_rows_and_with_weights(family):
    model, _, _, _ = fitted(family)
    Xn, yn, tn = make_data(family, n=300, seed=7)
    direct, _ = direct_loglik_and_posterior(model, Xn, yn, trials=tn)
    assert model.log_likelihood(Xn, yn, trials=tn) == pytest.approx(direct, rel=1e-8)
    w = np.random.default_rng(8).uniform(0.0, 3.0, size=300)
    joint = np.log(model.weights_) + direct_log_density(model, Xn, yn, trials=tn)
    weighted = float(w @ logsumexp(joint, axis=1))
    assert model.log_likelihood(Xn, yn, sample_weight=w, trials=tn) == pytest.approx(
        weighted, rel=1e-8)


def test_fitted_parameters_recover_truth():
    """The fits are meaningful (else the other comparisons would prove little)."""
    for family in FAMILIES:
        model = fitted(family)[0]
        got = sorted(map(tuple, np.column_stack([model.intercept_, model.coef_])))
        np.testing.assert_allclose(got, sorted(_TRUTH[family]), atol=0.35, err_msg=family)
    gamma = fitted("gamma")[0]
    np.testing.assert_allclose(gamma.shape_, 3.0, rtol=0.35)
    nb = fitted("negative_binomial")[0]
    assert np.all((nb.size_ > 1.0) & (nb.size_ < 10.0))


def _unpack(model, theta):
    """Parameters from an unconstrained vector: (intercept, coef) per component, the log
    extras (sigma, shape, size, df as the family has them) and the weights' logit."""
    p = model.coef_.shape[1]
    names = [n for n in ("sigma", "shape", "size", "df") if hasattr(model, f"{n}_")]
    beta = theta[: K * (p + 1)].reshape(K, p + 1)
    logs = theta[K * (p + 1): K * (p + 1) + K * len(names)].reshape(len(names), K)
    w1 = expit(theta[-1])
    return beta, dict(zip(names, np.exp(logs), strict=True)), np.array([w1, 1 - w1])


def _direct_ll_at(model, theta, X, y, trials):
    beta, extras, weights = _unpack(model, theta)
    fake = type("P", (), {})()
    fake.family_ = model.family_
    fake.intercept_, fake.coef_, fake.weights_ = beta[:, 0], beta[:, 1:], weights
    for name, value in extras.items():
        setattr(fake, f"{name}_", value)
    return direct_loglik_and_posterior(fake, X, y, trials=trials)[0]


@pytest.mark.parametrize("family", FAMILIES)
def test_fit_is_a_stationary_point_of_the_scipy_likelihood(family):
    """The numerical gradient of the scipy log-likelihood vanishes at the fit."""
    model, X, y, trials = fitted(family)
    names = [n for n in ("sigma", "shape", "size", "df") if hasattr(model, f"{n}_")]
    theta = np.concatenate([np.column_stack([model.intercept_, model.coef_]).ravel(),
                            *[np.log(getattr(model, f"{n}_")) for n in names],
                            [np.log(model.weights_[0] / model.weights_[1])]])
    base = _direct_ll_at(model, theta, X, y, trials)
    assert base == pytest.approx(model.log_likelihood_, rel=1e-8)
    h = 1e-5
    grad = np.array([(_direct_ll_at(model, theta + h * e, X, y, trials)
                      - _direct_ll_at(model, theta - h * e, X, y, trials)) / (2 * h)
                     for e in np.eye(theta.size)])
    # a wrong optimum has gradients of order one or more (n = 500 rows)
    assert np.max(np.abs(grad)) < 1e-2, (family, grad)


# ---------------------------------------------------------------- 5. parameter counts
_EXTRA_COUNT = {"gaussian": 1, "poisson": 0, "binomial": 0, "gamma": 1,
                "negative_binomial": 1, "student_t": 2}


@pytest.mark.parametrize("family", FAMILIES)
def test_n_parameters_and_criteria(family):
    model, X, _, _ = fitted(family)
    n, p = X.shape
    d = K * (p + 1) + K * _EXTRA_COUNT[family] + K - 1
    assert model.n_parameters_ == d
    ll = model.log_likelihood_
    assert model.aic_ == pytest.approx(-2 * ll + 2 * d, rel=1e-10)
    assert model.bic_ == pytest.approx(-2 * ll + d * np.log(n), rel=1e-10)


def test_fixed_size_and_df_are_not_counted_and_stay_fixed():
    X, y, _ = make_data("negative_binomial")
    nb = _fit(NegativeBinomial(size=3.0), X, y)
    n, p = X.shape
    d = K * (p + 1) + K - 1
    assert nb.n_parameters_ == d
    np.testing.assert_array_equal(nb.size_, [3.0, 3.0])
    assert nb.aic_ == pytest.approx(-2 * nb.log_likelihood_ + 2 * d, rel=1e-10)
    assert nb.bic_ == pytest.approx(-2 * nb.log_likelihood_ + d * np.log(n), rel=1e-10)
    direct, _ = direct_loglik_and_posterior(nb, X, y)
    assert nb.log_likelihood_ == pytest.approx(direct, rel=1e-8)

    X, y, _ = make_data("student_t")
    t = _fit(StudentT(df=4.0), X, y)
    d = K * (p + 1) + K + K - 1
    assert t.n_parameters_ == d
    np.testing.assert_array_equal(t.df_, [4.0, 4.0])
    assert t.aic_ == pytest.approx(-2 * t.log_likelihood_ + 2 * d, rel=1e-10)
    assert t.bic_ == pytest.approx(-2 * t.log_likelihood_ + d * np.log(n), rel=1e-10)
    direct, _ = direct_loglik_and_posterior(t, X, y)
    assert t.log_likelihood_ == pytest.approx(direct, rel=1e-8)
    # the fixed parameters are not in the coefficient table either
    params = set(t.coef_table().index.get_level_values(-1))
    assert "df" not in params and "sigma" in params
    assert "size" not in set(nb.coef_table().index.get_level_values(-1))


def test_estimating_df_beats_a_wrong_fixed_df():
    X, y, _ = make_data("student_t")
    free = fitted("student_t")[0]
    fixed = _fit(StudentT(df=100.0), X, y)
    assert free.log_likelihood_ >= fixed.log_likelihood_ - 1e-6


# ---------------------------------------------------------------- 6. sample weights
@pytest.mark.parametrize("family", ["poisson", "gamma"])
def test_integer_weights_equal_repeated_rows(family):
    X, y, _ = make_data(family, n=400, seed=5)
    w = np.random.default_rng(6).integers(0, 4, size=400)
    rows = np.repeat(np.arange(400), w)
    truth = np.array(_TRUTH[family])
    init = {"weights": [0.5, 0.5], "intercept": truth[:, 0], "coef": truth[:, 1:]}
    if family == "gamma":
        init["shape"] = [2.0, 2.0]
    kwargs = dict(init=init, n_init=1, compute_se=False)
    weighted = RegressionMixture(K, family=family, **kwargs).fit(X, y, sample_weight=w)
    repeated = RegressionMixture(K, family=family, **kwargs).fit(X[rows], y[rows])
    assert weighted.log_likelihood_ == pytest.approx(repeated.log_likelihood_, rel=1e-6)
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-6, atol=1e-6)
    if family == "gamma":
        np.testing.assert_allclose(weighted.shape_, repeated.shape_, rtol=1e-6)
    # the weighted log-likelihood is the weighted sum of the row log-likelihoods
    joint = np.log(weighted.weights_) + direct_log_density(weighted, X, y)
    assert weighted.log_likelihood_ == pytest.approx(float(w @ logsumexp(joint, axis=1)),
                                                     rel=1e-8)
    assert weighted.n_parameters_ == repeated.n_parameters_
    assert weighted.bic_ == pytest.approx(repeated.bic_, rel=1e-6)


# ---------------------------------------------------------------- 7. simulation
@pytest.mark.parametrize("family", FAMILIES)
def test_sample_support_and_mean(family):
    model = fitted(family)[0]
    n = 20000
    Xs = np.tile([[0.3, -0.2], [-0.5, 0.4]], (n // 2, 1))
    trials = np.full(n, 6.0) if family == "binomial" else None
    Xout, y, labels = model.sample(X=Xs, random_state=0, trials=trials)
    np.testing.assert_array_equal(Xout, Xs)
    assert y.shape == labels.shape == (n,)
    assert set(np.unique(labels)) <= {0, 1}
    assert np.all(np.isfinite(y))
    if family in ("poisson", "negative_binomial"):
        assert np.all(y >= 0) and np.all(y == np.round(y))
    elif family == "binomial":
        assert np.all((y >= 0) & (y <= 6)) and np.all(y == np.round(y))
        assert y.max() > 1  # six trials per row, not one
    elif family == "gamma":
        assert np.all(y > 0)
    # the labels follow the weights
    assert np.mean(labels == 0) == pytest.approx(model.weights_[0], abs=0.02)
    expected = model.predict(Xs) * (6.0 if family == "binomial" else 1.0)
    for rows in (slice(0, None, 2), slice(1, None, 2)):
        got, want = y[rows].mean(), expected[rows].mean()
        se = y[rows].std() / np.sqrt(y[rows].size)
        assert abs(got - want) < 6 * se + 0.02 * abs(want), (family, got, want)


def test_sample_binomial_defaults_to_one_trial():
    model = fitted("binomial")[0]
    _, y, _ = model.sample(5000, random_state=1)
    assert set(np.unique(y)) <= {0.0, 1.0}


def test_sample_is_reproducible():
    model = fitted("negative_binomial")[0]
    a = model.sample(1000, random_state=3)
    b = model.sample(1000, random_state=3)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


# ---------------------------------------------------------------- 8. persistence
def _persisted_models():
    out = []
    for family in FAMILIES:
        model, X, y, trials = fitted(family)
        out.append((family, model, X, y, trials, None))
    X, y, _ = make_data("negative_binomial")
    out.append(("nb-fixed", _fit(NegativeBinomial(size=3.0), X, y), X, y, None, None))
    X, y, _ = make_data("student_t")
    out.append(("t-fixed", _fit(StudentT(df=4.0), X, y), X, y, None, None))
    X, y, t = _exposure_frame()
    out.append(("poisson-offset", _fit("poisson", X, y, offset=np.log(t)), X, y, None,
                np.log(t)))
    return out


def test_save_load_round_trip(tmp_path):
    for label, model, X, y, trials, offset in _persisted_models():
        path = tmp_path / f"{label}.json"
        model.save(path)
        loaded = regmix.load(path)
        assert isinstance(loaded, RegressionMixture)
        # the family and its options
        assert type(loaded.family_) is type(model.family_), label
        assert loaded.family_.name == model.family_.name
        assert loaded.family_.link_name == model.family_.link_name
        for option in ("size", "df"):
            assert getattr(loaded.family_, option, None) == getattr(model.family_, option,
                                                                    None), label
        for attr in ("coef_", "intercept_", "weights_", "sigma_", "shape_", "size_", "df_"):
            assert hasattr(loaded, attr) == hasattr(model, attr), (label, attr)
            if hasattr(model, attr):
                np.testing.assert_array_equal(getattr(loaded, attr), getattr(model, attr),
                                              err_msg=f"{label} {attr}")
        assert loaded.log_likelihood_ == model.log_likelihood_
        assert loaded.n_parameters_ == model.n_parameters_
        assert loaded.aic_ == model.aic_ and loaded.bic_ == model.bic_
        # evaluation is bit-identical
        kw = {} if offset is None else {"offset": offset}
        for kind in ("response", "link"):
            assert np.array_equal(loaded.predict(X, kind=kind, **kw),
                                  model.predict(X, kind=kind, **kw)), label
            assert np.array_equal(loaded.predict_components(X, kind=kind, **kw),
                                  model.predict_components(X, kind=kind, **kw)), label
        assert np.array_equal(loaded.posterior(X, y, trials=trials, **kw),
                              model.posterior(X, y, trials=trials, **kw)), label
        assert loaded.log_likelihood(X, y, trials=trials, **kw) == model.log_likelihood(
            X, y, trials=trials, **kw), label
        # an offset model still demands its offset after loading
        if offset is not None:
            with pytest.raises(ValueError, match="offset"):
                loaded.predict(X)
        # and a loaded fixed-parameter model refits with its parameter fixed
        if label in ("nb-fixed", "t-fixed"):
            refit = regmix.load(path).fit(X, y)
            extra = refit.size_ if label == "nb-fixed" else refit.df_
            fixed_value = getattr(model.family_, "size", None) or model.family_.df
            np.testing.assert_array_equal(extra, [fixed_value] * K)


def test_save_load_formula_binomial_model(tmp_path):
    X, s, m = make_data("binomial", n=400, seed=9)
    frame = pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "s": s, "f": m - s})
    model = RegressionMixture(K, family="binomial", formula="s + f ~ x1 + x2",
                              random_state=0).fit(frame)
    model.save(tmp_path / "m.json")
    loaded = regmix.load(tmp_path / "m.json")
    assert np.array_equal(loaded.predict(frame), model.predict(frame))
    assert np.array_equal(loaded.posterior(frame), model.posterior(frame))
    assert loaded.log_likelihood(frame) == model.log_likelihood(frame)
    assert loaded.log_likelihood(frame) == pytest.approx(
        direct_loglik_and_posterior(model, X, s, trials=m)[0], rel=1e-8)


# ---------------------------------------------------------------- 9. summary
_LABELS = {"gaussian": "Gaussian", "poisson": "Poisson", "binomial": "Binomial",
           "gamma": "Gamma", "negative_binomial": "Negative binomial",
           "student_t": "Student-t"}
_EXTRAS = {"gaussian": ["sigma"], "poisson": [], "binomial": [], "gamma": ["shape"],
           "negative_binomial": ["size"], "student_t": ["sigma", "df"]}


@pytest.mark.parametrize("family", FAMILIES)
def test_summary_names_family_and_extras(family):
    model = fitted(family)[0]
    text = str(model.summary())
    family_line = next(line for line in text.splitlines() if "Family:" in line)
    assert _LABELS[family] in family_line
    table_rows = [line.split()[0] for line in text.splitlines()
                  if line.startswith("  ") and line.split()]
    for name in _EXTRAS[family]:
        assert table_rows.count(name) == K, (family, name, table_rows)
    for name in {"sigma", "shape", "size", "df"} - set(_EXTRAS[family]):
        assert name not in table_rows, (family, name)
    table = model.coef_table()
    params = table.index.get_level_values(-1)
    for name in _EXTRAS[family]:
        assert (params == name).sum() == K
        est = table.loc[params == name, "estimate"].to_numpy()
        np.testing.assert_allclose(np.sort(est), np.sort(getattr(model, f"{name}_")),
                                   rtol=1e-10)
    coefs = table.loc[np.isin(params, ["intercept", "x0", "x1"])]
    assert len(coefs) == K * 3
    se = coefs["std_err"].to_numpy()
    assert np.all(np.isfinite(se)) and np.all(se > 0)
    # the coefficient estimates are the fitted ones
    np.testing.assert_allclose(np.sort(coefs["estimate"].to_numpy()),
                               np.sort(np.concatenate([model.intercept_,
                                                       model.coef_.ravel()])), rtol=1e-10)


def test_summary_names_fixed_families():
    X, y, _ = make_data("negative_binomial")
    assert "Negative binomial" in str(_fit(NegativeBinomial(size=3.0), X, y).summary())
    X, y, _ = make_data("student_t")
    assert "Student-t" in str(_fit(StudentT(df=4.0), X, y).summary())


# ---------------------------------------------------------------- 10. bad input
def test_unknown_family_lists_choices():
    X, y, _ = make_data("gaussian", n=300)
    with pytest.raises(ValueError, match="weibull") as err:
        RegressionMixture(K, family="weibull").fit(X, y)
    for name in FAMILIES:
        assert name in str(err.value)


def test_link_not_allowed_for_family():
    X, y, _ = make_data("poisson", n=300)
    with pytest.raises(ValueError, match="logit"):
        RegressionMixture(K, family="poisson", link="logit").fit(X, y)
    Xb, s, m = make_data("binomial", n=300)
    with pytest.raises(ValueError):
        RegressionMixture(K, family="binomial", link="log").fit(Xb, (s > 0).astype(float))
    with pytest.raises(ValueError):
        RegressionMixture(K, family="gaussian", link="log").fit(X, y)


def test_two_column_response_needs_binomial():
    X, y, _ = make_data("poisson", n=300)
    with pytest.raises(ValueError):
        RegressionMixture(K, family="poisson").fit(X, np.column_stack([y, y]))


def test_trials_need_binomial():
    X, y, _ = make_data("gamma", n=300)
    with pytest.raises(ValueError, match="trials"):
        RegressionMixture(K, family="gamma").fit(X, y, trials=np.full(300, 3.0))


@pytest.mark.parametrize("family", FAMILIES)
def test_nan_response_raises(family):
    X, y, trials = make_data(family, n=300)
    y = y.copy()
    y[17] = np.nan
    with pytest.raises(ValueError):
        RegressionMixture(K, family=family).fit(X, y, trials=trials)


def test_offset_of_wrong_length_raises():
    X, y, t = _exposure_frame()
    with pytest.raises(ValueError, match="offset"):
        RegressionMixture(K, family="poisson").fit(X, y, offset=np.log(t)[:-1])
    model = _fit("poisson", X, y, offset=np.log(t))
    with pytest.raises(ValueError, match="offset"):
        model.predict(X, offset=np.log(t)[:10])


@pytest.mark.parametrize(("family", "bad"), [
    ("poisson", -1.0), ("poisson", 1.5), ("negative_binomial", -2.0),
    ("negative_binomial", 0.5), ("gamma", 0.0), ("gamma", -1.0), ("binomial", 0.5)])
def test_invalid_response_values(family, bad):
    X, y, trials = make_data(family, n=300)
    y = y.copy()
    y[5] = bad
    with pytest.raises(ValueError):
        RegressionMixture(K, family=family).fit(X, y)


def test_binomial_successes_beyond_trials():
    X, s, m = make_data("binomial", n=300)
    s = s.copy()
    s[4] = m[4] + 1
    with pytest.raises(ValueError):
        RegressionMixture(K, family="binomial").fit(X, s, trials=m)
    with pytest.raises(ValueError):
        RegressionMixture(K, family="binomial").fit(X, np.column_stack([s, -np.ones_like(s)]))


# ---------------------------------------------------------------- 11. warm start
def test_warm_start_with_changed_family_raises():
    X, y, _ = make_data("poisson", n=300)
    model = RegressionMixture(K, family="poisson", warm_start=True, random_state=0).fit(X, y)
    model.set_params(family="negative_binomial")
    with pytest.raises(ValueError, match="family"):
        model.fit(X, y)
    model.set_params(family="poisson", link="identity")
    with pytest.raises(ValueError):
        model.fit(X, y)
    # unchanged, warm start continues from the previous fit
    model.set_params(link=None)
    ll = model.log_likelihood_
    model.fit(X, y)
    assert model.log_likelihood_ >= ll - 1e-8 * abs(ll)


# ---------------------------------------------------------------- 12. no mutation
def test_fit_does_not_mutate_inputs():
    X, y, t = _exposure_frame()
    offset = np.log(t)
    copies = [a.copy() for a in (X, y, offset)]
    model = _fit("poisson", X, y, offset=offset)
    model.predict(X, offset=offset)
    model.posterior(X, y, offset=offset)
    model.log_likelihood(X, y, offset=offset)
    model.sample(X=X, offset=offset, random_state=0)
    for a, b in zip((X, y, offset), copies, strict=True):
        np.testing.assert_array_equal(a, b)

    Xb, s, m = make_data("binomial", n=400, seed=11)
    off_b = np.random.default_rng(0).normal(0.0, 0.1, 400)
    copies = [a.copy() for a in (Xb, s, m, off_b)]
    model = _fit("binomial", Xb, s, trials=m, offset=off_b)
    model.posterior(Xb, s, trials=m, offset=off_b)
    model.log_likelihood(Xb, s, trials=m, offset=off_b)
    model.sample(X=Xb, trials=m, offset=off_b, random_state=0)
    for a, b in zip((Xb, s, m, off_b), copies, strict=True):
        np.testing.assert_array_equal(a, b)


def test_fit_does_not_mutate_two_column_response():
    Xb, s, m = make_data("binomial", n=400, seed=11)
    two = np.column_stack([s, m - s])
    before = two.copy()
    _fit("binomial", Xb, two, offset=np.zeros(400))
    np.testing.assert_array_equal(two, before)


def test_gamma_with_a_known_shape_is_an_exponential_mixture(tmp_path):
    from scipy import special, stats

    import regmix
    from regmix.datasets import make_family_mixture

    X, y, _, _ = make_family_mixture(600, "gamma", coef=[[0.8], [-0.6]], intercept=[0.2, 1.5],
                                     extra={"shape": [1.0, 1.0]}, random_state=5)
    fixed = RegressionMixture(2, family=regmix.Gamma(shape=1.0), random_state=0).fit(X, y)
    free = RegressionMixture(2, family="gamma", random_state=0).fit(X, y)
    assert np.all(fixed.shape_ == 1.0)
    assert fixed.n_parameters_ == free.n_parameters_ - 2
    assert fixed.log_likelihood_ <= free.log_likelihood_ + 1e-8
    mu = np.exp(fixed.intercept_ + X @ fixed.coef_.T)  # (n, K)
    direct = special.logsumexp(np.log(fixed.weights_) + stats.expon.logpdf(y[:, None], scale=mu),
                               axis=1).sum()
    assert fixed.log_likelihood_ == pytest.approx(direct, rel=1e-10)
    assert "shape" not in fixed.coef_table().index.get_level_values("parameter")
    path = tmp_path / "exp.json"
    fixed.save(path)
    loaded = regmix.load(path)
    assert loaded.family_.shape == 1.0
    assert np.array_equal(loaded.predict(X), fixed.predict(X))
    refit = loaded.set_params(warm_start=False).fit(X, y)
    assert np.all(refit.shape_ == 1.0)


# ---------------------------------------------------------------------------- user families
# The members every family object needs (regmix.core.protocols.Family), written out.
_FAMILY_CONTRACT = {
    "name", "label", "link_name", "location_scale", "exact_m_step", "init_steps",
    "extra_names", "constraints", "n_parameters", "make_params", "zero_params",
    "with_unit_scale", "check_response", "log_density", "statistics", "m_step",
    "to_vector", "from_vector", "to_user", "to_internal", "free_extra",
    "row_derivatives", "sample",
}


class _Delegating:
    """A user family: every member taken from a Gaussian family but ``leave_out``."""

    def __init__(self, leave_out=()):
        base = Gaussian()
        for name in _FAMILY_CONTRACT - set(leave_out):
            setattr(self, name, getattr(base, name))


class _ThreeMembers:
    def log_density(self, params, chunk, log_weights=0.0):
        raise AssertionError("never called")

    def statistics(self, chunk, wr, params, cache=None):
        raise AssertionError("never called")

    def m_step(self, stats, resp_sum, params):
        raise AssertionError("never called")


def test_protocol_lists_the_family_contract():
    assert set(FAMILY_MEMBERS) == _FAMILY_CONTRACT


def test_get_family_refuses_an_incomplete_family_naming_what_is_missing():
    with pytest.raises(ValueError, match=r"lacks row_derivatives \(") as err:
        get_family(_Delegating(leave_out=["row_derivatives"]))
    assert "log_density" not in str(err.value)
    with pytest.raises(ValueError, match="lacks") as err:
        get_family(_ThreeMembers())
    named = set(str(err.value).split("lacks ")[1].split(" (")[0].split(", "))
    assert named == _FAMILY_CONTRACT - {"log_density", "statistics", "m_step"}
    X, y = make_data("gaussian", n=200)[:2]
    with pytest.raises(ValueError, match="lacks sample, to_user"):
        RegressionMixture(2, family=_Delegating(leave_out=["to_user", "sample"])).fit(X, y)
    with pytest.raises(ValueError, match="family must be a family name or a family object"):
        get_family(5)


def test_a_complete_user_family_is_accepted_and_fits_like_the_builtin():
    X, y = make_data("gaussian", n=300)[:2]
    mine = RegressionMixture(2, family=_Delegating(), random_state=0).fit(X, y)
    builtin = RegressionMixture(2, family="gaussian", random_state=0).fit(X, y)
    np.testing.assert_array_equal(mine.coef_, builtin.coef_)
    assert mine.log_likelihood_ == builtin.log_likelihood_
