"""GLM and robust mixture families against a naive dense reference EM written here.

The reference EM below is deliberately simple and independent of regmix: the E-step
evaluates scipy.stats log-densities (the conventions of the families API) and
normalises them with scipy.special.logsumexp; the M-step sets the mixing weights to the
mean responsibilities and maximises each component's responsibility-weighted
log-likelihood with scipy.optimize.minimize (BFGS, analytic gradient), the dispersion
parameters (gamma shape, negative binomial size, Student-t sigma and df) on the log
scale jointly with the coefficients.
"""

import warnings
from functools import cache
from itertools import permutations

import numpy as np
import pytest
from scipy import optimize, special, stats
from sklearn.exceptions import ConvergenceWarning

from regmix import RegressionMixture

# Extra (dispersion) parameters of each family, in the order the reference keeps them.
EXTRAS = {
    "poisson": (),
    "binomial": (),
    "gamma": ("shape",),
    "negative_binomial": ("size",),
    "student_t": ("sigma", "df"),
    "lognormal": ("sigma",),
}
FAMILIES = tuple(EXTRAS)


# ----------------------------------------------------------------------------- reference
def _mean(family, eta):
    """Inverse of each family's default link (log, logit, log, log, identity; for the
    log-normal family exp(eta) is the median, scipy's scale)."""
    if family == "binomial":
        return special.expit(eta)
    if family == "student_t":
        return eta
    return np.exp(eta)


def _logpdf(family, y, trials, eta, extras):
    """Per-row log-density of one component, in the scipy conventions of the spec."""
    mu = _mean(family, eta)
    if family == "poisson":
        return stats.poisson.logpmf(y, mu)
    if family == "binomial":
        return stats.binom.logpmf(y, trials, mu)
    if family == "gamma":
        (shape,) = extras
        return stats.gamma.logpdf(y, a=shape, scale=mu / shape)
    if family == "negative_binomial":
        (size,) = extras
        return stats.nbinom.logpmf(y, n=size, p=size / (size + mu))
    if family == "lognormal":
        (sigma,) = extras
        return stats.lognorm.logpdf(y, sigma, scale=mu)
    sigma, df = extras
    return stats.t.logpdf(y, df, loc=mu, scale=sigma)


def _scores(family, y, trials, eta, extras):
    """Per-row derivatives of the log-density: d/d eta and d/d log(extra) for each extra."""
    mu = _mean(family, eta)
    if family == "poisson":
        return y - mu, []
    if family == "binomial":
        return y - trials * mu, []
    if family == "gamma":
        (a,) = extras
        ratio = y / mu
        d_log_a = a * (np.log(a) + 1.0 - np.log(mu) + np.log(y) - ratio - special.digamma(a))
        return a * (ratio - 1.0), [d_log_a]
    if family == "negative_binomial":
        (r,) = extras
        d_log_r = r * (special.digamma(y + r) - special.digamma(r) + np.log(r)
                       - np.log(r + mu) + (mu - y) / (r + mu))
        return r * (y - mu) / (r + mu), [d_log_r]
    if family == "lognormal":
        (sigma,) = extras
        z = (np.log(y) - eta) / sigma
        return z / sigma, [z**2 - 1.0]
    sigma, nu = extras
    z = (y - mu) / sigma
    q = nu + z**2
    d_log_sigma = -1.0 + (nu + 1.0) * z**2 / q
    d_log_nu = nu * (0.5 * special.digamma((nu + 1.0) / 2.0) - 0.5 * special.digamma(nu / 2.0)
                     - 0.5 / nu - 0.5 * np.log1p(z**2 / nu)
                     + (nu + 1.0) * z**2 / (2.0 * nu * q))
    return (nu + 1.0) * z / (sigma * q), [d_log_sigma, d_log_nu]


def _objective(theta, family, D, y, trials, offset, r):
    """Minus the r-weighted mean log-likelihood of one component and its gradient.

    ``theta`` is the coefficient vector on the design ``D`` followed by the logarithms of
    the family's extra parameters.
    """
    p = D.shape[1]
    with np.errstate(all="ignore"):
        extras = np.exp(theta[p:])
        eta = D @ theta[:p] + offset
        f = -(r @ _logpdf(family, y, trials, eta, extras))
        d_eta, d_extras = _scores(family, y, trials, eta, extras)
        g = -np.concatenate([D.T @ (r * d_eta), [r @ d for d in d_extras]])
    if not (np.isfinite(f) and np.all(np.isfinite(g))):
        return np.inf, np.zeros_like(theta)
    return f, g


def fit_component(family, D, y, trials, offset, r, theta0):
    """Maximise the r-weighted log-likelihood of one component (BFGS from ``theta0``)."""
    r = r / r.sum()
    res = optimize.minimize(_objective, theta0, args=(family, D, y, trials, offset, r),
                            jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 10000})
    return res.x


def _unpack(start, family):
    """Starting dict -> (weights, theta) with theta rows [intercept, coef, log extras]."""
    cols = [np.asarray(start["intercept"], float)[:, None], np.asarray(start["coef"], float)]
    cols += [np.log(np.asarray(start[name], float))[:, None] for name in EXTRAS[family]]
    return np.array(start["weights"], dtype=float), np.hstack(cols)


def _pack(weights, theta, family, n_features):
    out = {"weights": weights, "intercept": theta[:, 0].copy(),
           "coef": theta[:, 1:1 + n_features].copy()}
    for j, name in enumerate(EXTRAS[family]):
        out[name] = np.exp(theta[:, 1 + n_features + j])
    return out


def _log_joint(family, D, y, trials, offset, weights, theta):
    """(n, K) matrix of log(weight_k) + log f_k(y_i)."""
    p = D.shape[1]
    logp = np.empty((len(y), len(weights)))
    for k in range(len(weights)):
        eta = D @ theta[k, :p] + offset
        logp[:, k] = np.log(weights[k]) + _logpdf(family, y, trials, eta, np.exp(theta[k, p:]))
    return logp


def reference_em(family, X, y, start, *, trials=None, offset=None, sample_weight=None,
                 max_iter=5000, rtol=1e-13, xtol=1e-9):
    """Naive dense EM for a mixture of GLM / robust regressions, from ``start``.

    Stops when the change in log-likelihood over one EM step falls below ``rtol``
    relative to its magnitude and no parameter (weights, coefficients, log extras) moved
    by more than ``xtol``, or after ``max_iter`` steps. Returns the parameters (as a
    dict in the layout of regmix's ``init``), the log-likelihood at them, and the
    history of log-likelihoods.
    """
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    y = np.asarray(y, dtype=float)
    n = len(y)
    D = np.column_stack([np.ones(n), X])
    trials = np.ones(n) if trials is None else np.asarray(trials, dtype=float)
    offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    weights, theta = _unpack(start, family)
    history = []
    moved = np.inf
    for _ in range(max_iter + 1):
        logp = _log_joint(family, D, y, trials, offset, weights, theta)
        lse = special.logsumexp(logp, axis=1)
        history.append(float(sw @ lse))
        if len(history) > 1 and abs(history[-1] - history[-2]) < rtol * abs(history[-1]):
            if moved < xtol:
                break
        if len(history) == max_iter + 1:
            break
        R = np.exp(logp - lse[:, None])
        old = np.concatenate([weights, theta.ravel()])
        weights = (sw @ R) / sw.sum()
        for k in range(len(weights)):
            theta[k] = fit_component(family, D, y, trials, offset, sw * R[:, k], theta[k])
        moved = np.max(np.abs(np.concatenate([weights, theta.ravel()]) - old))
    params = _pack(weights, theta, family, X.shape[1])
    return params, history[-1], history


def mixture_loglik(family, X, y, params, *, trials=None, offset=None, sample_weight=None):
    """Log-likelihood of a mixture given as a dict in the layout of regmix's ``init``."""
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    n = len(y)
    D = np.column_stack([np.ones(n), X])
    trials = np.ones(n) if trials is None else np.asarray(trials, dtype=float)
    offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    weights, theta = _unpack(params, family)
    return float(sw @ special.logsumexp(
        _log_joint(family, D, np.asarray(y, float), trials, offset, weights, theta), axis=1))


def glm_mle(family, X, y, *, trials=None, offset=None, theta0=None):
    """Plain (single-component) maximum-likelihood fit; returns (params dict, loglik)."""
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    start = {"weights": [1.0], "intercept": [0.0], "coef": np.zeros((1, X.shape[1]))}
    for name in EXTRAS[family]:
        start[name] = [1.0]
    if theta0 is not None:
        start.update(theta0)
    params, ll, _ = reference_em(family, X, y, start, trials=trials, offset=offset, max_iter=1)
    return params, ll


def match_components(ref_coef, est_coef):
    """Permutation ``perm`` such that ``est_coef[perm]`` best matches ``ref_coef``."""
    K = len(ref_coef)
    best = min(permutations(range(K)),
               key=lambda perm: np.sum((np.asarray(est_coef)[list(perm)] - ref_coef) ** 2))
    return np.array(best)


def fitted_params(model, family):
    """regmix's fitted parameters as a dict in the layout of ``init``."""
    out = {"weights": model.weights_, "intercept": model.intercept_, "coef": model.coef_}
    for name in EXTRAS[family]:
        out[name] = getattr(model, name + "_")
    return out


# ----------------------------------------------------------------------------- data
# True two-component mixtures, one per family (components listed by decreasing weight).
TRUTH = {
    "poisson": {"weights": [0.6, 0.4], "intercept": [0.5, 2.0],
                "coef": [[1.0, -0.5], [-0.8, 0.4]]},
    "binomial": {"weights": [0.55, 0.45], "intercept": [-1.0, 1.5],
                 "coef": [[2.0], [-1.5]]},
    "gamma": {"weights": [0.6, 0.4], "intercept": [0.0, 1.5], "coef": [[1.0], [-1.0]],
              "shape": [5.0, 10.0]},
    "negative_binomial": {"weights": [0.6, 0.4], "intercept": [1.0, 2.5],
                          "coef": [[0.8], [-0.6]], "size": [3.0, 8.0]},
    "student_t": {"weights": [0.6, 0.4], "intercept": [0.0, 3.0], "coef": [[2.0], [-1.0]],
                  "sigma": [0.5, 1.0], "df": [3.0, 5.0]},
    "lognormal": {"weights": [0.6, 0.4], "intercept": [0.0, 1.5], "coef": [[1.0], [-1.0]],
                  "sigma": [0.3, 0.5]},
}


def simulate(family, n, seed, truth=None, *, trials=None, offset=None):
    """Rows from a two-component mixture; returns X, y and the true labels."""
    truth = TRUTH[family] if truth is None else truth
    rng = np.random.default_rng(seed)
    coef = np.asarray(truth["coef"], dtype=float)
    X = rng.uniform(-1.0, 1.0, size=(n, coef.shape[1]))
    z = rng.choice(len(truth["weights"]), size=n, p=truth["weights"])
    eta = np.asarray(truth["intercept"])[z] + np.sum(X * coef[z], axis=1)
    if offset is not None:
        eta = eta + offset
    mu = _mean(family, eta)
    if family == "poisson":
        y = rng.poisson(mu).astype(float)
    elif family == "binomial":
        y = rng.binomial(np.ones(n, int) if trials is None else trials, mu).astype(float)
    elif family == "gamma":
        shape = np.asarray(truth["shape"])[z]
        y = rng.gamma(shape, mu / shape)
    elif family == "negative_binomial":
        size = np.asarray(truth["size"])[z]
        y = rng.negative_binomial(size, size / (size + mu)).astype(float)
    elif family == "lognormal":
        y = mu * np.exp(np.asarray(truth["sigma"])[z] * rng.standard_normal(n))
    else:
        y = mu + np.asarray(truth["sigma"])[z] * rng.standard_t(np.asarray(truth["df"])[z])
    return X, y, z


def perturbed(truth, seed, scale=0.15):
    """A start near (not at) the truth: coefficients shifted, extras scaled."""
    rng = np.random.default_rng(seed)
    start = {"weights": np.array([0.5, 0.5])}
    for name in ("intercept", "coef"):
        v = np.asarray(truth[name], dtype=float)
        start[name] = v + rng.uniform(-scale, scale, size=v.shape)
    for name in ("shape", "size", "sigma", "df"):
        if name in truth:
            start[name] = np.asarray(truth[name], float) * rng.uniform(0.7, 1.3, size=2)
    return start


def _one_component(family):
    truth = {k: np.asarray(v, dtype=float)[:1] for k, v in TRUTH[family].items()}
    truth["weights"] = np.array([1.0])
    return truth


def _with_trials(family, n, seed):
    """Binomial trials per row (None for other families)."""
    if family != "binomial":
        return None
    return np.random.default_rng(seed + 1000).integers(5, 16, size=n)


# ------------------------------------------------------------- the reference, checked
@pytest.mark.parametrize("family", FAMILIES)
def test_reference_gradient_matches_finite_differences(family):
    n = 300
    trials = _with_trials(family, n, 0)
    X, y, _ = simulate(family, n, 0, trials=trials)
    D = np.column_stack([np.ones(n), X])
    r = np.random.default_rng(1).uniform(size=n)
    r /= r.sum()
    _, theta = _unpack(perturbed(TRUTH[family], 3, scale=0.5), family)
    args = (family, D, y, np.ones(n) if trials is None else trials, np.zeros(n), r)
    _, g = _objective(theta[0], *args)
    numeric = optimize.approx_fprime(theta[0], lambda t: _objective(t, *args)[0], 1e-7)
    np.testing.assert_allclose(g, numeric, atol=1e-5)


@pytest.mark.parametrize("family", ["poisson", "binomial", "gamma", "negative_binomial"])
def test_reference_glm_with_a_binary_feature_fits_the_group_means(family):
    # log / logit link with one binary feature: the ML means are the group means
    n = 600
    rng = np.random.default_rng(4)
    x = (rng.uniform(size=n) < 0.4).astype(float)
    truth = _one_component(family)
    truth["coef"] = np.array([[0.7]])
    trials = _with_trials(family, n, 4)
    _, y, _ = simulate(family, n, 5, truth, trials=trials)
    params, _ = glm_mle(family, x[:, None], y, trials=trials)
    m = np.ones(n) if trials is None else trials

    def link(g):
        ratio = y[g].sum() / m[g].sum()
        return special.logit(ratio) if family == "binomial" else np.log(ratio)

    g0, g1 = x == 0, x == 1
    assert params["intercept"][0] == pytest.approx(link(g0), abs=1e-8)
    assert params["coef"][0, 0] == pytest.approx(link(g1) - link(g0), abs=1e-8)


def test_reference_poisson_offset_intercept_only_is_the_log_rate():
    rng = np.random.default_rng(6)
    exposure = rng.uniform(0.5, 5.0, size=400)
    y = rng.poisson(1.7 * exposure).astype(float)
    params, _ = glm_mle("poisson", np.zeros((400, 0)), y, offset=np.log(exposure))
    assert params["intercept"][0] == pytest.approx(np.log(y.sum() / exposure.sum()), abs=1e-9)


def test_reference_gamma_shape_equals_scipy_fit():
    y = np.random.default_rng(7).gamma(3.5, 2.0, size=500)
    params, ll = glm_mle("gamma", np.zeros((500, 0)), y)
    shape, _, scale = stats.gamma.fit(y, floc=0)
    assert params["intercept"][0] == pytest.approx(np.log(shape * scale), abs=1e-8)
    assert params["shape"][0] == pytest.approx(shape, rel=1e-7)
    assert ll == pytest.approx(stats.gamma.logpdf(y, shape, scale=scale).sum(), rel=1e-12)


def test_reference_negative_binomial_size_maximises_the_profile_likelihood():
    rng = np.random.default_rng(8)
    y = rng.negative_binomial(2.5, 2.5 / (2.5 + 4.0), size=800).astype(float)
    params, ll = glm_mle("negative_binomial", np.zeros((800, 0)), y)
    mu = y.mean()

    def minus_profile(log_size):
        size = np.exp(log_size)
        return -stats.nbinom.logpmf(y, size, size / (size + mu)).sum()

    best = optimize.minimize_scalar(minus_profile, bounds=(-3, 5), method="bounded",
                                    options={"xatol": 1e-12})
    assert params["intercept"][0] == pytest.approx(np.log(mu), abs=1e-8)
    assert params["size"][0] == pytest.approx(np.exp(best.x), rel=1e-6)
    assert ll == pytest.approx(-best.fun, rel=1e-12)


def test_reference_student_t_location_scale_matches_scipy_fit():
    y = 1.5 + 0.7 * np.random.default_rng(9).standard_t(4.0, size=800)
    params, ll = glm_mle("student_t", np.zeros((800, 0)), y,
                         theta0={"intercept": [np.median(y)]})
    df, loc, scale = stats.t.fit(y)
    # scipy's Nelder-Mead stops earlier; the reference is at least as good and close by
    assert ll >= stats.t.logpdf(y, df, loc, scale).sum() - 1e-9
    np.testing.assert_allclose([params["df"][0], params["intercept"][0], params["sigma"][0]],
                               [df, loc, scale], rtol=1e-3)


def test_reference_lognormal_is_least_squares_on_log_y():
    rng = np.random.default_rng(10)
    x = rng.normal(size=500)
    y = np.exp(0.5 + 0.8 * x + 0.4 * rng.standard_normal(500))
    params, ll = glm_mle("lognormal", x[:, None], y)
    D = np.column_stack([np.ones(500), x])
    beta = np.linalg.lstsq(D, np.log(y), rcond=None)[0]
    sigma = np.sqrt(np.mean((np.log(y) - D @ beta) ** 2))
    np.testing.assert_allclose([params["intercept"][0], params["coef"][0, 0]], beta,
                               atol=1e-8)
    assert params["sigma"][0] == pytest.approx(sigma, rel=1e-7)
    assert ll == pytest.approx(stats.lognorm.logpdf(y, sigma, scale=np.exp(D @ beta)).sum(),
                               rel=1e-12)


def test_reference_integer_weights_equal_repeated_rows():
    X, y, _ = simulate("negative_binomial", 300, 11)
    counts = np.random.default_rng(12).integers(0, 4, size=300)
    start = perturbed(TRUTH["negative_binomial"], 12)
    a, ll_a, _ = reference_em("negative_binomial", X, y, start, sample_weight=counts)
    b, ll_b, _ = reference_em("negative_binomial", np.repeat(X, counts, axis=0),
                              np.repeat(y, counts), start)
    assert ll_a == pytest.approx(ll_b, rel=1e-11)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------- regmix against the reference
BERNOULLI_TRUTH = {"weights": [0.55, 0.45], "intercept": [-3.0, 3.0],
                   "coef": [[6.0, 0.0], [0.0, -6.0]]}
CASES = ("poisson", "poisson_offset", "poisson_weighted", "binomial_trials",
         "binomial_successes_failures", "binomial_01", "gamma", "negative_binomial",
         "student_t", "lognormal")


@cache
def _case(name):
    """(family, X, y, regmix fit kwargs, reference kwargs, start) of one named problem."""
    family = name.split("_")[0] if name.startswith(("poisson", "binomial")) else name
    n, seed = 800, CASES.index(name) + 1
    fit_kw, ref_kw, truth = {}, {}, TRUTH[family]
    if name == "poisson_offset":
        exposure = np.random.default_rng(seed + 500).uniform(0.5, 3.0, size=n)
        ref_kw["offset"] = fit_kw["offset"] = np.log(exposure)
    if name == "poisson_weighted":
        w = np.random.default_rng(seed + 500).uniform(0.3, 2.5, size=n)
        ref_kw["sample_weight"] = fit_kw["sample_weight"] = w
    if name == "binomial_01":
        n, seed, truth = 1200, 4, BERNOULLI_TRUTH
    elif family == "binomial":
        ref_kw["trials"] = _with_trials(family, n, 3)
        seed = 3
    X, y, _ = simulate(family, n, seed, truth, trials=ref_kw.get("trials"),
                       offset=ref_kw.get("offset"))
    start = perturbed(truth, seed + 50)
    y_fit = y
    if name == "binomial_trials":
        fit_kw["trials"] = ref_kw["trials"]
    if name == "binomial_successes_failures":
        y_fit = np.column_stack([y, ref_kw["trials"] - y])
    return family, X, y, y_fit, fit_kw, ref_kw, start


@cache
def _reference_fit(name):
    if name == "binomial_successes_failures":  # same data and start, another spelling
        name = "binomial_trials"
    family, X, y, _, _, ref_kw, start = _case(name)
    return reference_em(family, X, y, start, **ref_kw)


def _full(params):
    return np.column_stack([params["intercept"], params["coef"]])


def _assert_same_mixture(family, model_params, ref_params, atol=1e-5):
    perm = match_components(_full(ref_params), _full(model_params))
    for name, value in model_params.items():
        value = np.asarray(value)[perm]
        if name in ("shape", "size", "sigma", "df"):
            np.testing.assert_allclose(value, ref_params[name], rtol=atol, err_msg=name)
        else:
            np.testing.assert_allclose(value, ref_params[name], rtol=0, atol=atol,
                                       err_msg=name)


@pytest.mark.parametrize("name", CASES)
def test_two_component_fit_equals_reference_em(name):
    family, X, y, y_fit, fit_kw, ref_kw, start = _case(name)
    model = RegressionMixture(2, family=family, init=start, n_init=1, tol=1e-14,
                              max_iter=5000, min_weight=0.0).fit(X, y_fit, **fit_kw)
    assert model.converged_
    ref, ref_ll, _ = _reference_fit(name)
    # regmix's reported log-likelihood is the one of its parameters under the spec's
    # scipy densities
    ll_of_model = mixture_loglik(family, X, y, fitted_params(model, family), **ref_kw)
    assert model.log_likelihood_ == pytest.approx(ll_of_model, rel=1e-11, abs=1e-9)
    assert model.log_likelihood_ == pytest.approx(ref_ll, rel=1e-10, abs=1e-8)
    _assert_same_mixture(family, fitted_params(model, family), ref)
    assert np.all(np.diff(model.weights_) <= 0)  # ordered by decreasing weight


# ------------------------------------------------------------------ one component = GLM
SINGLE = ("poisson", "binomial", "binomial_01", "gamma", "negative_binomial", "student_t",
          "lognormal")


@pytest.mark.parametrize("name", SINGLE)
def test_one_component_equals_the_maximum_likelihood_glm(name):
    family = name.split("_")[0] if name.startswith("binomial") else name
    n = 600
    truth = _one_component(family)
    trials = None if name == "binomial_01" else _with_trials(family, n, 20)
    X, y, _ = simulate(family, n, 21, truth, trials=trials)
    theta0 = {"intercept": [np.median(y)]} if family == "student_t" else None
    ref, ref_ll = glm_mle(family, X, y, trials=trials, theta0=theta0)
    model = RegressionMixture(1, family=family)
    model.fit(X, y, **({} if trials is None else {"trials": trials}))
    assert model.log_likelihood_ == pytest.approx(ref_ll, rel=1e-10, abs=1e-8)
    np.testing.assert_allclose(model.weights_, [1.0])
    np.testing.assert_allclose(model.intercept_, ref["intercept"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.coef_, ref["coef"], rtol=0, atol=1e-6)
    for extra in EXTRAS[family]:
        np.testing.assert_allclose(getattr(model, extra + "_"), ref[extra], rtol=1e-5)


# ------------------------------------------------------------------ recovery of the truth
@pytest.mark.parametrize("name", SINGLE)
def test_default_fit_recovers_the_true_coefficients(name):
    family = name.split("_")[0] if name.startswith("binomial") else name
    n = 4000
    truth = BERNOULLI_TRUTH if name == "binomial_01" else TRUTH[family]
    trials = None if name == "binomial_01" else _with_trials(family, n, 30)
    X, y, _ = simulate(family, n, 31, truth, trials=trials)
    model = RegressionMixture(2, family=family, random_state=0)
    model.fit(X, y, **({} if trials is None else {"trials": trials}))
    est = fitted_params(model, family)
    perm = match_components(_full(truth), _full(est))
    # one 0/1 response per row says little about a mixture of steep logistic curves
    # (standard errors of several tenths at this n): more slack there
    rtol, atol = (0.15, 0.5) if name == "binomial_01" else (0.0, 0.15)
    np.testing.assert_allclose(_full(est)[perm], _full(truth), rtol=rtol, atol=atol)
    np.testing.assert_allclose(model.weights_[perm], truth["weights"], atol=0.05)
    for extra in EXTRAS[family]:
        # df is weakly identified: only its order of magnitude is checked
        tol = 0.6 if extra == "df" else 0.25
        np.testing.assert_allclose(est[extra][perm], truth[extra], rtol=tol, err_msg=extra)


# ------------------------------------------------------------------ monotone EM
@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("name", SINGLE)
def test_log_likelihood_never_decreases(name, accelerate):
    family = name.split("_")[0] if name.startswith("binomial") else name
    n = 600
    truth = BERNOULLI_TRUTH if name == "binomial_01" else TRUTH[family]
    trials = None if name == "binomial_01" else _with_trials(family, n, 40)
    X, y, _ = simulate(family, n, 41, truth, trials=trials)
    model = RegressionMixture(2, family=family, random_state=1, n_init=1, max_iter=300,
                              accelerate=accelerate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 300 steps may not suffice
        model.fit(X, y, **({} if trials is None else {"trials": trials}))
    h = np.asarray(model.log_likelihood_history_)
    assert len(h) > 2
    assert np.all(np.diff(h) >= -1e-9 * np.abs(model.log_likelihood_))
    assert h[-1] == pytest.approx(model.log_likelihood_, rel=1e-12)


# ------------------------------------------------------------------ invalid responses
def _bad(family, y, **fit_kw):
    X = np.linspace(-1, 1, len(y))[:, None]
    return RegressionMixture(2, family=family, random_state=0), X, np.asarray(y, float), fit_kw


_COUNTS = np.array([0, 1, 3, 2, 5, 0, 4, 1, 2, 7, 3, 1], dtype=float)
_TRIALS = np.full(12, 8)


@pytest.mark.parametrize(
    ("family", "y", "fit_kw", "message"),
    [
        ("poisson", np.r_[-1.0, _COUNTS[1:]], {}, r"(?i)negative"),
        ("poisson", np.r_[1.5, _COUNTS[1:]], {}, r"(?i)integer"),
        ("negative_binomial", np.r_[-2.0, _COUNTS[1:]], {}, r"(?i)negative"),
        ("negative_binomial", np.r_[0.25, _COUNTS[1:]], {}, r"(?i)integer"),
        ("binomial", np.r_[9.0, _COUNTS[1:]], {"trials": _TRIALS},
         r"(?i)exceed|greater|more than|larger"),
        ("binomial", np.r_[-1.0, _COUNTS[1:]], {"trials": _TRIALS}, r"(?i)negative"),
        ("binomial", np.column_stack([np.r_[-1.0, _COUNTS[1:]], _TRIALS - _COUNTS]), {},
         r"(?i)negative"),
        ("binomial", np.column_stack([_COUNTS, np.r_[-3.0, _TRIALS[1:] - _COUNTS[1:]]]), {},
         r"(?i)negative"),
        ("binomial", np.r_[2.0, np.zeros(11)], {}, r"(?i)0 or 1|0 and 1|\{0, ?1\}|binary"),
        ("binomial", np.r_[0.5, np.ones(11)], {}, r"(?i)0 or 1|0 and 1|\{0, ?1\}|binary"),
        ("gamma", np.r_[0.0, _COUNTS[1:] + 1.0], {}, r"(?i)positive|> ?0"),
        ("gamma", np.r_[-2.0, _COUNTS[1:] + 1.0], {}, r"(?i)positive|> ?0"),
        ("lognormal", np.r_[0.0, _COUNTS[1:] + 1.0], {}, r"log-normal response must be "
         r"positive; y\[0\] = 0"),
        ("lognormal", np.r_[_COUNTS[:3] + 1.0, -2.0, _COUNTS[4:] + 1.0], {},
         r"log-normal response must be positive; y\[3\] = -2"),
    ],
    ids=["poisson-negative", "poisson-non-integer", "negbin-negative", "negbin-non-integer",
         "binomial-successes-above-trials", "binomial-negative-successes",
         "binomial-two-columns-negative-successes", "binomial-two-columns-negative-failures",
         "binomial-01-with-a-2", "binomial-01-with-a-half", "gamma-zero", "gamma-negative",
         "lognormal-zero", "lognormal-negative"],
)
def test_invalid_response_raises_a_value_error_naming_the_problem(family, y, fit_kw, message):
    model, X, y, fit_kw = _bad(family, y, **fit_kw)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, **fit_kw)


# ------------------------------------------------------------------ robustness
def _two_lines_with_outliers(seed, n=600):
    """Two lines (slopes 2 and -1, t(5) noise) and 5% gross outliers (+50) at high x."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 4.0, size=n)
    z = rng.uniform(size=n) < 0.5
    y = np.where(z, 1.0 + 2.0 * x, 6.0 - x) + 0.5 * rng.standard_t(5.0, size=n)
    outliers = rng.choice(np.flatnonzero(x > 3.0), size=n // 20, replace=False)
    y[outliers] += 50.0
    return x[:, None], y


@pytest.mark.parametrize("start", ["near_truth", "default"])
def test_student_t_slopes_resist_gross_outliers_where_gaussian_ones_do_not(start):
    X, y = _two_lines_with_outliers(1)
    true_slopes = np.array([2.0, -1.0])
    errors = {}
    for family in ("student_t", "gaussian"):
        if start == "near_truth":
            init = {"weights": [0.5, 0.5], "intercept": [1.2, 5.8], "coef": [[1.9], [-0.9]],
                    "sigma": [1.0, 1.0]}
            if family == "student_t":
                init["df"] = [4.0, 4.0]
            model = RegressionMixture(2, family=family, init=init, n_init=1)
        else:
            model = RegressionMixture(2, family=family, random_state=0)
        model.fit(X, y)
        slopes = model.coef_[:, 0]
        errors[family] = min(np.max(np.abs(slopes - true_slopes)),
                             np.max(np.abs(slopes[::-1] - true_slopes)))
    assert errors["student_t"] < 0.1
    assert errors["gaussian"] > 0.5
    assert errors["gaussian"] > 5 * errors["student_t"]


def test_log_minus_digamma_root_matches_an_independent_root_finder():
    """The Newton solver of log x - digamma(x) = c (Gamma shape, Student-t df) equals
    scipy's bracketing root finder across twelve orders of magnitude of c, and stops
    on its own where round-off, not the root, limits the steps."""
    from scipy import optimize, special

    from regmix.families.negative_binomial import solve_log_minus_digamma

    c = np.array([1e-4, 1e-3, 0.01, 0.05, 0.1, 0.5, 1.0, 3.0, 10.0, 1e3, 1e6])
    got = solve_log_minus_digamma(c, 1e8)
    for ci, xi in zip(c, got, strict=True):
        root = optimize.brentq(lambda t, ci=ci: np.log(t) - special.digamma(t) - ci,
                               1e-12, 1e10, xtol=1e-300, rtol=1e-15)
        # log x - digamma(x) ~ 1 / (2x) cancels for large x: the function is known to
        # about 1e-16 log x absolute, so the root to that over its slope
        assert abs(xi - root) <= 1e-13 * root + 4e-16 * np.log(root) * 2 * root**2
    assert solve_log_minus_digamma(np.array([1e-12]), 1e8)[0] == 1e8  # capped
