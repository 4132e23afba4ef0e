"""Grouped data and parameter constraints against naive dense reference EMs written here.

The reference EMs below are deliberately simple and independent of regmix. They work
in the user's units on the full design ``D = [1, X]`` with scipy's log-densities and
``logsumexp``:

* Grouped data: every row of a group shares the group's membership. The group's
  log-likelihood in component ``k`` is ``log pi_k + sum_{i in g} w_i log f_k(y_i)``;
  the group posteriors ``r_gk`` follow by normalisation, the mixing weights are the
  mean group posterior (every group counts once), and the component M-steps use the
  row weights ``w_i r_{g(i)k}``.
* Constraints (Gaussian): an ECM step. The coefficients are found with the sigmas held
  fixed by one stacked weighted least-squares problem over all components (rows
  repeated once per component with weights ``w_i r_ik / sigma_k^2``; unknowns: the
  free coefficients of each component and the common coefficients once; fixed
  coefficients moved to the response), then the sigmas from the residuals (pooled
  over the components, ``sum_k sum_i w_i r_ik e_ik^2 / sum_i w_i``, for equal
  variances, as mixtools' ``arbvar = FALSE``).
* Poisson: the component M-step maximises the weighted Poisson log-likelihood with
  scipy.optimize (BFGS, analytic gradient).
"""

from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats

import regmix
from regmix import RegressionMixture
from tests.reference import numerical_hessian

K = 2
FIT = dict(n_init=1, tol=1e-15, max_iter=5000)


# ----------------------------------------------------------------------------- reference
def _codes(groups, n):
    """Group index of every row (0..G-1) or None for ungrouped rows."""
    if groups is None:
        return None
    return np.unique(np.asarray(groups), return_inverse=True)[1].reshape(n)


def _observation_logs(logf, pi, w, codes):
    """(obs, K) log(pi_k) + log f_k of each observation, and the observations' weights.

    Observations are the rows (weight ``w_i``) or the groups (weight one, the rows'
    log-densities multiplied by ``w_i`` and summed over the group).
    """
    if codes is None:
        return logf + np.log(pi), w
    L = np.zeros((codes.max() + 1, logf.shape[1]))
    np.add.at(L, codes, w[:, None] * logf)
    return L + np.log(pi), np.ones(L.shape[0])


def _e_step(logf, pi, w, codes):
    """(loglik, R_obs, R_rows): posteriors of the observations and of the rows."""
    L, ow = _observation_logs(logf, pi, w, codes)
    lse = special.logsumexp(L, axis=1)
    R = np.exp(L - lse[:, None])
    return float(ow @ lse), R, (R if codes is None else R[codes]), ow


def gaussian_logf(D, y, B, sigma):
    """(n, K) Gaussian log-densities of the rows under each component."""
    return stats.norm.logpdf(y[:, None], loc=D @ B.T, scale=sigma[None, :])


def stacked_wls(D, y, WR, sigma, B, common, fixed):
    """Coefficients (K, p) maximising the expected complete log-likelihood with the
    sigmas held fixed: one least-squares problem stacking the K components."""
    n, p = D.shape
    Kc = WR.shape[1]
    free = [j for j in range(p) if j not in common and j not in fixed]
    common = list(common)
    fixed_cols = list(fixed)
    nf = len(free)
    big = np.zeros((Kc * n, Kc * nf + len(common)))
    rhs = np.zeros(Kc * n)
    wt = np.zeros(Kc * n)
    for k in range(Kc):
        rows = slice(k * n, (k + 1) * n)
        big[rows, k * nf:(k + 1) * nf] = D[:, free]
        big[rows, Kc * nf:] = D[:, common]
        rhs[rows] = y - D[:, fixed_cols] @ B[k, fixed_cols]
        wt[rows] = WR[:, k] / sigma[k] ** 2
    sw = np.sqrt(wt)
    sol = np.linalg.lstsq(big * sw[:, None], rhs * sw, rcond=None)[0]
    out = B.copy()
    for k in range(Kc):
        out[k, free] = sol[k * nf:(k + 1) * nf]
        out[k, common] = sol[Kc * nf:]
    return out


def _full(start):
    return np.column_stack([np.asarray(start["intercept"], float),
                            np.asarray(start["coef"], float).reshape(len(start["weights"]), -1)])


def gaussian_reference_em(X, y, start, *, groups=None, sample_weight=None, common=(),
                          fixed=None, equal_variance=False, max_iter=20000):
    """Naive dense (EC)M for a Gaussian mixture of regressions from ``start``.

    ``common``: design columns (0 = intercept) shared by the components; ``fixed``:
    {design column: K values} of known coefficients. Returns (params dict, loglik,
    row posteriors, history).
    """
    y = np.asarray(y, float)
    n = len(y)
    D = np.column_stack([np.ones(n), np.asarray(X, float).reshape(n, -1)])
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    codes = _codes(groups, n)
    fixed = dict(fixed or {})
    B = _full(start)
    for j, v in fixed.items():
        B[:, j] = v
    pi = np.array(start["weights"], float)
    sigma = np.array(start["sigma"], float)
    history = []
    old = None
    for _ in range(max_iter):
        ll, R_obs, R, ow = _e_step(gaussian_logf(D, y, B, sigma), pi, w, codes)
        history.append(ll)
        now = np.concatenate([pi, B.ravel(), sigma])
        if (old is not None and abs(history[-1] - history[-2]) <= 1e-14 * abs(ll)
                and np.max(np.abs(now - old)) < 1e-11):
            break
        if len(history) == max_iter:
            raise RuntimeError("the reference EM did not converge")
        old = now
        pi = (ow @ R_obs) / ow.sum()
        WR = w[:, None] * R
        B = stacked_wls(D, y, WR, sigma, B, common, fixed)
        e2 = (y[:, None] - D @ B.T) ** 2
        if equal_variance:
            sigma = np.full(len(pi), np.sqrt(np.sum(WR * e2) / np.sum(WR)))
        else:
            sigma = np.sqrt(np.sum(WR * e2, axis=0) / np.sum(WR, axis=0))
    params = {"weights": pi, "intercept": B[:, 0], "coef": B[:, 1:], "sigma": sigma}
    return params, history[-1], R, history


def gaussian_loglik(X, y, params, *, groups=None, sample_weight=None):
    y = np.asarray(y, float)
    n = len(y)
    D = np.column_stack([np.ones(n), np.asarray(X, float).reshape(n, -1)])
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    logf = gaussian_logf(D, y, _full(params), np.asarray(params["sigma"], float))
    return _e_step(logf, np.asarray(params["weights"], float), w, _codes(groups, n))[0]


def _poisson_component(D, y, r, beta0):
    """Maximise sum_i r_i (y_i eta_i - exp(eta_i)) over beta (BFGS, analytic gradient)."""
    scale = r.sum()

    def f(beta):
        eta = D @ beta
        mu = np.exp(eta)
        return -(r @ (y * eta - mu)) / scale, -(D.T @ (r * (y - mu))) / scale

    res = optimize.minimize(f, beta0, jac=True, method="BFGS",
                            options={"gtol": 1e-12, "maxiter": 10000})
    return res.x


def poisson_reference_em(X, y, start, *, groups=None, max_iter=3000):
    y = np.asarray(y, float)
    n = len(y)
    D = np.column_stack([np.ones(n), np.asarray(X, float).reshape(n, -1)])
    w = np.ones(n)
    codes = _codes(groups, n)
    B = _full(start)
    pi = np.array(start["weights"], float)
    history = []
    old = None
    for _ in range(max_iter):
        logf = stats.poisson.logpmf(y[:, None], np.exp(D @ B.T))
        ll, R_obs, R, ow = _e_step(logf, pi, w, codes)
        history.append(ll)
        now = np.concatenate([pi, B.ravel()])
        if (old is not None and abs(history[-1] - history[-2]) <= 1e-14 * abs(ll)
                and np.max(np.abs(now - old)) < 1e-9):
            break
        if len(history) == max_iter:
            raise RuntimeError("the reference EM did not converge")
        old = now
        pi = (ow @ R_obs) / ow.sum()
        B = np.array([_poisson_component(D, y, R[:, k], B[k]) for k in range(len(pi))])
    return {"weights": pi, "intercept": B[:, 0], "coef": B[:, 1:]}, history[-1], history


def match(ref, model):
    """Permutation of the model's components that best matches the reference's
    coefficients (intercept and slopes)."""
    ref_full = _full(ref)
    est_full = np.column_stack([model.intercept_, model.coef_])
    return np.array(min(permutations(range(len(ref_full))),
                        key=lambda s: np.sum((est_full[list(s)] - ref_full) ** 2)))


def assert_params_close(ref, model, atol, names=("weights", "intercept", "coef", "sigma")):
    perm = match(ref, model)
    for name in names:
        np.testing.assert_allclose(np.asarray(getattr(model, name + "_"))[perm],
                                   np.asarray(ref[name]), rtol=0, atol=atol, err_msg=name)


# ----------------------------------------------------------------------------- data
TRUTH = {"weights": [0.55, 0.45], "intercept": [0.0, 2.0], "coef": [[1.5], [-1.0]],
         "sigma": [0.5, 0.8]}


def grouped_data(seed, n_groups=60, sizes=(1, 8), truth=TRUTH, shuffle=True):
    """Rows of groups of unequal sizes, each group drawn from one component; the rows
    are shuffled so that groups are not contiguous. Returns X, y, labels, truth labels."""
    rng = np.random.default_rng(seed)
    size = rng.integers(sizes[0], sizes[1] + 1, size=n_groups)
    size[:2] = sizes  # both extremes occur
    labels = np.repeat(np.arange(n_groups), size)
    zg = rng.choice(len(truth["weights"]), size=n_groups, p=truth["weights"])
    z = zg[labels]
    n = labels.size
    coef = np.asarray(truth["coef"], float)
    X = rng.uniform(-2.0, 2.0, size=(n, coef.shape[1]))
    mu = np.asarray(truth["intercept"])[z] + np.sum(X * coef[z], axis=1)
    y = mu + np.asarray(truth["sigma"])[z] * rng.standard_normal(n)
    if shuffle:
        order = rng.permutation(n)
        X, y, labels, z = X[order], y[order], labels[order], z[order]
    # labels that are not 0..G-1 and not in order of appearance
    labels = np.array([f"g{7 * v + 3:04d}" for v in labels])
    return X, y, labels, z


def perturbed(truth, seed, scale=0.2):
    """A start near (not at) the truth: coefficients shifted, sigmas scaled."""
    rng = np.random.default_rng(seed)
    return {"weights": np.array([0.5, 0.5]),
             "intercept": np.asarray(truth["intercept"], float) + rng.uniform(-scale, scale, 2),
             "coef": np.asarray(truth["coef"], float)
             + rng.uniform(-scale, scale, np.shape(truth["coef"])),
             "sigma": np.asarray(truth["sigma"], float) * rng.uniform(0.8, 1.25, 2)}


def fit(start, X, y, **kw):
    """regmix from the dict ``start`` (one start, tight tolerance); fit() keywords
    ``groups`` and ``sample_weight``, the rest to the estimator."""
    fit_kw = {k: kw.pop(k) for k in ("groups", "sample_weight") if k in kw}
    return RegressionMixture(K, init=start, **FIT, **kw).fit(X, y, **fit_kw)


def mixture_rows(seed, n, truth):
    """Ungrouped rows of a Gaussian mixture of regressions (x uniform on [-2, 2])."""
    rng = np.random.default_rng(seed)
    coef = np.asarray(truth["coef"], float)
    z = rng.choice(len(truth["weights"]), size=n, p=truth["weights"])
    X = rng.uniform(-2.0, 2.0, size=(n, coef.shape[1]))
    y = (np.asarray(truth["intercept"])[z] + np.sum(X * coef[z], axis=1)
         + np.asarray(truth["sigma"])[z] * rng.standard_normal(n))
    return X, y, z


# Overlapping components: group posteriors are not all 0 or 1.
SOFT = {"weights": [0.55, 0.45], "intercept": [0.0, 1.0], "coef": [[1.0], [-0.5]],
        "sigma": [0.8, 1.0]}


# ------------------------------------------------------------- the reference, checked
def test_reference_stacked_wls_without_constraints_is_per_component_wls():
    rng = np.random.default_rng(0)
    n = 50
    D = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = rng.normal(size=n)
    WR = rng.uniform(size=(n, 2))
    B = stacked_wls(D, y, WR, np.array([0.5, 2.0]), np.zeros((2, 3)), (), {})
    for k in range(2):
        W = np.diag(WR[:, k])
        np.testing.assert_allclose(B[k], np.linalg.solve(D.T @ W @ D, D.T @ W @ y),
                                   rtol=1e-10)


def test_reference_stacked_wls_common_slope_solves_the_score_equations():
    # with sigmas fixed, the common slope zeroes the summed score; each intercept its own
    rng = np.random.default_rng(1)
    n = 60
    D = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = rng.normal(size=n)
    WR = rng.uniform(size=(n, 2))
    sigma = np.array([0.7, 1.9])
    B = stacked_wls(D, y, WR, sigma, np.zeros((2, 2)), [1], {})
    assert B[0, 1] == B[1, 1]
    e = y[:, None] - D @ B.T
    score = (WR * e / sigma**2)
    np.testing.assert_allclose(score.sum(axis=0), 0.0, atol=1e-10)  # intercepts
    assert abs(np.sum(score * D[:, [1]])) < 1e-10  # the common slope


def test_reference_grouped_em_with_singleton_groups_is_the_plain_em():
    X, y, _ = mixture_rows(2, 200, SOFT)
    start = perturbed(SOFT, 3)
    a, ll_a, _, hist = gaussian_reference_em(X, y, start)
    b, ll_b, _, _ = gaussian_reference_em(X, y, start, groups=np.arange(200)[::-1])
    assert ll_a == pytest.approx(ll_b, rel=1e-12)
    assert np.all(np.diff(hist) >= -1e-9)  # EM never decreases the likelihood
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-8)


def test_reference_grouped_loglik_is_a_sum_over_groups():
    X, y, g, _ = grouped_data(4, n_groups=12, truth=SOFT)
    params = perturbed(SOFT, 5)
    D = np.column_stack([np.ones(len(y)), X])
    total = 0.0
    for label in np.unique(g):
        rows = g == label
        comp = [np.log(params["weights"][k])
                + stats.norm.logpdf(y[rows], D[rows] @ _full(params)[k],
                                    params["sigma"][k]).sum() for k in range(K)]
        total += np.logaddexp(*comp)
    assert gaussian_loglik(X, y, params, groups=g) == pytest.approx(total, rel=1e-13)


# ----------------------------------------------------------------------------- groups
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_grouped_fit_matches_reference_em(weighted):
    X, y, g, _ = grouped_data(1, truth=SOFT)
    sizes = pd.Series(g).value_counts()
    assert sizes.min() == 1 and sizes.max() == 8
    spans = [np.ptp(np.flatnonzero(g == label)) + 1 for label in sizes.index]
    assert np.sum(np.array(spans) > sizes.to_numpy()) > 10  # groups are not contiguous
    sw = np.random.default_rng(5).uniform(0.3, 2.5, len(y)) if weighted else None
    start = perturbed(SOFT, 2)
    ref, ll, _, _ = gaussian_reference_em(X, y, start, groups=g, sample_weight=sw)
    model = fit(start, X, y, groups=g, sample_weight=sw)
    assert model.converged_
    assert model.n_groups_ == len(sizes)
    assert model.log_likelihood_ == pytest.approx(ll, abs=1e-8)
    assert_params_close(ref, model, atol=1e-5)
    # the likelihood is the grouped one: the ungrouped likelihood at these parameters
    # is a different number
    assert abs(gaussian_loglik(X, y, ref, sample_weight=sw) - ll) > 1.0


def test_singleton_groups_equal_the_ungrouped_fit():
    X, y, _ = mixture_rows(6, 300, SOFT)
    plain = RegressionMixture(K, random_state=0).fit(X, y)
    grouped = RegressionMixture(K, random_state=0).fit(X, y, groups=np.arange(300))
    assert grouped.n_groups_ == 300 and plain.n_groups_ is None
    assert grouped.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-10)
    for name in ("weights_", "intercept_", "coef_", "sigma_"):
        np.testing.assert_allclose(getattr(grouped, name), getattr(plain, name),
                                   rtol=1e-10, atol=1e-10)
    assert grouped.bic_ == pytest.approx(plain.bic_, rel=1e-10)


def _model_params(model):
    return {"weights": model.weights_, "intercept": model.intercept_, "coef": model.coef_,
            "sigma": model.sigma_}


def test_grouped_posterior_loglik_and_bic():
    X, y, g, _ = grouped_data(7, truth=SOFT)
    model = fit(perturbed(SOFT, 8), X, y, groups=g)
    P = model.posterior(X, y, groups=g)
    assert P.shape == (len(y), K)
    for label in np.unique(g):
        rows = P[g == label]
        assert np.all(rows == rows[0])
    # the reference posterior at the fitted parameters, rows in the caller's order
    params = _model_params(model)
    D = np.column_stack([np.ones(len(y)), X])
    logf = gaussian_logf(D, y, _full(params), model.sigma_)
    ll_ref, _, R, _ = _e_step(logf, model.weights_, np.ones(len(y)), _codes(g, len(y)))
    assert np.mean((R[:, 0] > 0.01) & (R[:, 0] < 0.99)) > 0.03  # some are soft
    np.testing.assert_allclose(P, R, atol=1e-10)
    assert model.log_likelihood(X, y, groups=g) == pytest.approx(model.log_likelihood_,
                                                                 rel=1e-12)
    assert model.log_likelihood_ == pytest.approx(ll_ref, rel=1e-12)
    n_groups = len(np.unique(g))
    d = K * 3 + K - 1
    assert model.n_parameters_ == d
    assert model.bic_ == pytest.approx(-2 * ll_ref + d * np.log(n_groups), rel=1e-12)
    assert model.aic_ == pytest.approx(-2 * ll_ref + 2 * d, rel=1e-12)
    assert model.bic(X, y, groups=g) == pytest.approx(model.bic_, rel=1e-12)
    # ungrouped evaluation of the same rows is the row-wise mixture likelihood
    assert model.log_likelihood(X, y) == pytest.approx(gaussian_loglik(X, y, params),
                                                       rel=1e-12)


def test_groups_as_a_column_of_a_formula_data_frame():
    X, y, g, _ = grouped_data(9, truth=SOFT)
    start = perturbed(SOFT, 10)
    frame = pd.DataFrame({"resp": y, "x": X[:, 0], "g": g})
    by_name = RegressionMixture(K, formula="resp ~ x", init=start, **FIT).fit(frame,
                                                                               groups="g")
    array = fit(start, X, y, groups=g)
    assert by_name.n_groups_ == array.n_groups_
    assert by_name.log_likelihood_ == pytest.approx(array.log_likelihood_, rel=1e-12)
    for name in ("weights_", "intercept_", "coef_", "sigma_"):
        np.testing.assert_allclose(getattr(by_name, name), getattr(array, name),
                                   rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(np.asarray(by_name.posterior(frame, groups="g")),
                               array.posterior(X, y, groups=g), atol=1e-10)
    assert by_name.log_likelihood(frame, groups="g") == pytest.approx(
        array.log_likelihood_, rel=1e-12)


def test_grouped_fit_recovers_group_level_memberships():
    truth_b0, truth_b1 = np.array([0.0, 1.0]), np.array([1.0, 0.5])
    rng = np.random.default_rng(7)
    n_groups, size = 300, 5
    zg = rng.choice(2, size=n_groups)
    z = np.repeat(zg, size)
    g = np.repeat(np.arange(n_groups), size)
    X = rng.uniform(-1.0, 1.0, size=(n_groups * size, 1))
    y = truth_b0[z] + truth_b1[z] * X[:, 0] + rng.standard_normal(len(z))
    order = rng.permutation(len(z))
    X, y, g, z = X[order], y[order], g[order], z[order]

    def error(model):
        perm = np.argsort(model.intercept_)
        return max(np.max(np.abs(model.intercept_[perm] - truth_b0)),
                   np.max(np.abs(model.coef_[perm, 0] - truth_b1)))

    grouped = RegressionMixture(K, random_state=0).fit(X, y, groups=g)
    plain = RegressionMixture(K, random_state=0).fit(X, y)
    assert error(grouped) < 0.12
    assert error(plain) > 0.3
    perm = np.argsort(grouped.intercept_)
    np.testing.assert_allclose(grouped.sigma_, 1.0, atol=0.08)
    np.testing.assert_allclose(grouped.weights_[perm], np.bincount(zg) / n_groups, atol=0.1)
    # group memberships are recovered: the posterior classifies almost every group
    labels = grouped.posterior(X, y, groups=g).argmax(axis=1)
    assert np.mean(labels == perm[z]) > 0.8


def test_grouped_poisson_matches_reference_em():
    truth = {"weights": [0.6, 0.4], "intercept": [0.5, 1.5], "coef": [[0.8], [-0.5]]}
    rng = np.random.default_rng(11)
    n_groups = 70
    size = rng.integers(1, 9, size=n_groups)
    labels = np.repeat(np.arange(n_groups), size)
    z = rng.choice(2, size=n_groups, p=truth["weights"])[labels]
    X = rng.uniform(-1.0, 1.0, size=(labels.size, 1))
    y = rng.poisson(np.exp(np.asarray(truth["intercept"])[z]
                           + np.asarray(truth["coef"])[z, 0] * X[:, 0])).astype(float)
    order = rng.permutation(labels.size)
    X, y, labels = X[order], y[order], labels[order] * 3 + 100
    start = {"weights": np.array([0.5, 0.5]), "intercept": np.array([0.3, 1.7]),
             "coef": np.array([[0.6], [-0.2]])}
    ref, ll, _ = poisson_reference_em(X, y, start, groups=labels)
    model = RegressionMixture(K, family="poisson", init=start, **FIT).fit(X, y, groups=labels)
    assert model.log_likelihood_ == pytest.approx(ll, abs=1e-8)
    assert_params_close(ref, model, atol=1e-5, names=("weights", "intercept", "coef"))


# ----------------------------------------------------------------------------- constraints
COMMON = {"weights": [0.55, 0.45], "intercept": [0.0, 2.0], "coef": [[1.0], [1.0]],
          "sigma": [0.6, 1.0]}
CROSSING = {"weights": [0.55, 0.45], "intercept": [0.0, 2.0], "coef": [[1.0], [-1.0]],
            "sigma": [0.6, 1.0]}
COMMON_INTERCEPT = {"weights": [0.55, 0.45], "intercept": [0.5, 0.5],
                    "coef": [[1.5], [-1.0]], "sigma": [0.5, 0.8]}


def _problem(truth, grouped, seed):
    if grouped:
        X, y, g, _ = grouped_data(seed, n_groups=80, truth=truth)
        return X, y, g
    X, y, _ = mixture_rows(seed, 400, truth)
    return X, y, None


def _project(start, column, values=None):
    """The start with design column ``column`` made common (the mean) or fixed."""
    out = {k: np.array(v, dtype=float) for k, v in start.items()}
    B = _full(out)
    B[:, column] = B[:, column].mean() if values is None else values
    out["intercept"], out["coef"] = B[:, 0], B[:, 1:]
    return out


@pytest.mark.parametrize("grouped", [False, True], ids=["rows", "groups"])
def test_common_slope_matches_reference_ecm(grouped):
    X, y, g = _problem(COMMON, grouped, 21)
    start = _project(perturbed(COMMON, 22), 1)
    ref, ll, _, _ = gaussian_reference_em(X, y, start, groups=g, common=[1])
    model = fit(start, X, y, groups=g, common_coef=["x0"])
    assert model.converged_
    assert model.log_likelihood_ == pytest.approx(ll, abs=1e-8)
    assert model.coef_[0, 0] == model.coef_[1, 0]
    assert_params_close(ref, model, atol=1e-5)
    p = 2  # design columns: intercept and x0
    assert model.n_parameters_ == K * (p + 1) + K - 1 - (K - 1)
    # the constrained maximum is below the unconstrained one from the same start
    free = fit(start, X, y, groups=g)
    assert free.log_likelihood_ >= model.log_likelihood_ - 1e-8
    assert free.coef_[0, 0] != free.coef_[1, 0]


def test_common_slope_from_a_start_with_different_slopes():
    # The start violates the constraint; the fit must still have one common slope and
    # reach the constrained maximum (the data have a single, well-separated one).
    X, y, _ = mixture_rows(21, 400, COMMON)
    start = perturbed(COMMON, 4, scale=0.3)
    assert start["coef"][0, 0] != start["coef"][1, 0]
    _, ll, _, _ = gaussian_reference_em(X, y, _project(start, 1), common=[1])
    model = fit(start, X, y, common_coef=["x0"])
    assert model.coef_[0, 0] == pytest.approx(model.coef_[1, 0], abs=1e-12)
    assert model.log_likelihood_ == pytest.approx(ll, abs=1e-6)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_equal_variance_matches_reference_with_pooled_variance(weighted):
    X, y, _ = mixture_rows(31, 400, CROSSING)
    sw = np.random.default_rng(32).uniform(0.2, 3.0, len(y)) if weighted else None
    start = perturbed(CROSSING, 33)
    start["sigma"] = np.full(2, start["sigma"].mean())
    ref, ll, _, _ = gaussian_reference_em(X, y, start, sample_weight=sw, equal_variance=True)
    model = fit(start, X, y, sample_weight=sw, equal_variance=True)
    assert model.log_likelihood_ == pytest.approx(ll, abs=1e-8)
    assert model.sigma_[0] == model.sigma_[1]
    assert_params_close(ref, model, atol=1e-5)
    assert model.n_parameters_ == K * 2 + 1 + K - 1
    free, ll_free, _, _ = gaussian_reference_em(X, y, start, sample_weight=sw)
    assert abs(free["sigma"][0] - free["sigma"][1]) > 0.1  # the constraint binds
    assert ll_free > ll + 1.0


@pytest.mark.parametrize("value", [1.0, [1.0, -1.0]], ids=["one_value", "per_component"])
def test_fixed_slope_stays_at_its_value_and_matches_reference(value):
    truth = COMMON if np.ndim(value) == 0 else CROSSING
    X, y, _ = mixture_rows(41, 400, truth)
    values = np.broadcast_to(np.asarray(value, float), (K,))
    start = _project(perturbed(truth, 42), 1, values)
    ref, ll, _, _ = gaussian_reference_em(X, y, start, fixed={1: values})
    model = fit(start, X, y, fixed_coef={"x0": value})
    assert model.log_likelihood_ == pytest.approx(ll, abs=1e-8)
    perm = match(ref, model)
    np.testing.assert_array_equal(model.coef_[perm, 0], values)
    assert_params_close(ref, model, atol=1e-5)
    assert model.n_parameters_ == K * 2 + K - 1  # intercepts, sigmas, weight
    table = model.coef_table()
    for k in (1, 2):
        assert table.loc[(k, "x0"), "std_err"] == 0.0
        assert table.loc[(k, "x0"), "estimate"] == model.coef_[k - 1, 0]
        assert table.loc[(k, "intercept"), "std_err"] > 0.0


@pytest.mark.parametrize("value", [1.0, [1.0, -1.0]], ids=["one_value", "per_component"])
def test_fixed_slope_from_a_start_with_other_values(value):
    # The start gives x0 other values than the fixed ones: fixed coefficients are known,
    # so the fit must use (and report) the fixed values.
    truth = COMMON if np.ndim(value) == 0 else CROSSING
    X, y, _ = mixture_rows(41, 400, truth)
    values = np.broadcast_to(np.asarray(value, float), (K,))
    start = perturbed(truth, 42, scale=0.3)
    _, ll, _, _ = gaussian_reference_em(X, y, _project(start, 1, values), fixed={1: values})
    model = fit(start, X, y, fixed_coef={"x0": value})
    assert sorted(model.coef_[:, 0]) == sorted(values)
    assert model.log_likelihood_ == pytest.approx(ll, abs=1e-6)


def test_common_intercept_matches_reference():
    X, y, _ = mixture_rows(51, 400, COMMON_INTERCEPT)
    start = _project(perturbed(COMMON_INTERCEPT, 52), 0)
    ref, ll, _, _ = gaussian_reference_em(X, y, start, common=[0])
    model = fit(start, X, y, common_coef=["intercept"])
    assert model.log_likelihood_ == pytest.approx(ll, abs=1e-8)
    assert model.intercept_[0] == model.intercept_[1]
    assert_params_close(ref, model, atol=1e-5)
    np.testing.assert_allclose(model.intercept_, 0.5, atol=0.1)
    assert model.n_parameters_ == 6


def test_likelihood_ratio_of_a_common_slope():
    # different true slopes: forcing one slope costs a lot of likelihood
    X, y, _ = mixture_rows(61, 3000, CROSSING)
    free = RegressionMixture(K, random_state=0).fit(X, y)
    common = RegressionMixture(K, common_coef=["x0"], random_state=0).fit(X, y)
    assert free.log_likelihood_ - common.log_likelihood_ > 200
    # a common true slope: recovered, and the likelihood-ratio statistic is small
    X, y, _ = mixture_rows(62, 5000, COMMON)
    free = RegressionMixture(K, random_state=0).fit(X, y)
    common = RegressionMixture(K, common_coef=["x0"], random_state=0).fit(X, y)
    perm = np.argsort(common.intercept_)
    np.testing.assert_allclose(common.coef_[:, 0], 1.0, atol=0.03)
    np.testing.assert_allclose(common.intercept_[perm], COMMON["intercept"], atol=0.06)
    np.testing.assert_allclose(common.sigma_[perm], COMMON["sigma"], atol=0.05)
    lr = 2 * (free.log_likelihood_ - common.log_likelihood_)
    assert -1e-6 <= lr < 15


def _observed_loglik(phi, D, y, codes):
    """Observed log-likelihood of a common-slope two-component Gaussian mixture in the
    free parameters phi = (a_1, a_2, b, log sigma_1, log sigma_2, logit pi_2)."""
    a1, a2, b, ls1, ls2, eta = phi
    B = np.array([[a1, b], [a2, b]])
    pi2 = special.expit(eta)
    logf = gaussian_logf(D, y, B, np.exp([ls1, ls2]))
    return _e_step(logf, np.array([1.0 - pi2, pi2]), np.ones(len(y)), codes)[0]


@pytest.mark.parametrize("grouped", [False, True], ids=["rows", "groups"])
def test_common_slope_standard_errors_match_numerical_hessian(grouped):
    X, y, g = _problem(COMMON, grouped, 71)
    model = RegressionMixture(K, common_coef=["x0"], random_state=0).fit(X, y, groups=g)
    D = np.column_stack([np.ones(len(y)), X])
    codes = _codes(g, len(y))
    phi = np.array([model.intercept_[0], model.intercept_[1], model.coef_[0, 0],
                    np.log(model.sigma_[0]), np.log(model.sigma_[1]),
                    special.logit(model.weights_[1])])
    # the fit is a stationary point of the reference likelihood
    grad = optimize.approx_fprime(phi, _observed_loglik, 1e-7, D, y, codes)
    assert np.max(np.abs(grad)) < 1e-3
    H = numerical_hessian(lambda t: _observed_loglik(t, D, y, codes), phi)
    se = np.sqrt(np.diag(np.linalg.inv(-H)))
    w1w2 = model.weights_[0] * model.weights_[1]
    expected = {(1, "intercept"): se[0], (2, "intercept"): se[1],
                (1, "x0"): se[2], (2, "x0"): se[2],
                (1, "sigma"): model.sigma_[0] * se[3], (2, "sigma"): model.sigma_[1] * se[4],
                (1, "weight"): w1w2 * se[5], (2, "weight"): w1w2 * se[5]}
    table = model.coef_table()
    assert len(table) == len(expected)
    for key, value in expected.items():
        assert table.loc[key, "std_err"] == pytest.approx(value, rel=1e-3), key


def test_constraint_errors():
    X, y, _ = mixture_rows(81, 200, COMMON)
    with pytest.raises(ValueError, match=r"'slope'.*\['intercept', 'x0'\]"):
        RegressionMixture(K, common_coef=["slope"]).fit(X, y)
    with pytest.raises(ValueError, match=r"'x1'.*\['intercept', 'x0'\]"):
        RegressionMixture(K, fixed_coef={"x1": 0.0}).fit(X, y)
    counts = np.random.default_rng(0).poisson(3.0, size=200).astype(float)
    with pytest.raises(ValueError, match="equal_variance"):
        RegressionMixture(K, family="poisson", equal_variance=True).fit(X, counts)
    with pytest.raises(ValueError, match="both common and fixed"):
        RegressionMixture(K, common_coef=["x0"], fixed_coef={"x0": 1.0}).fit(X, y)
    with pytest.raises(ValueError, match="fixed_coef"):
        RegressionMixture(K, fixed_coef={"x0": [1.0, 2.0, 3.0]}).fit(X, y)
    frame = pd.DataFrame({"resp": y, "dose": X[:, 0]})
    with pytest.raises(ValueError, match=r"\['intercept', 'dose'\]"):
        RegressionMixture(K, formula="resp ~ dose", common_coef=["x0"]).fit(frame)


def test_save_and_load_constrained_and_grouped_models(tmp_path):
    X, y, _ = mixture_rows(91, 400, COMMON)
    constrained = RegressionMixture(K, common_coef=["x0"], equal_variance=True,
                                    random_state=0).fit(X, y)
    constrained.save(tmp_path / "constrained.json")
    back = regmix.load(tmp_path / "constrained.json")
    assert back.log_likelihood(X, y) == constrained.log_likelihood(X, y)
    np.testing.assert_array_equal(back.predict(X), constrained.predict(X))
    np.testing.assert_array_equal(back.coef_, constrained.coef_)
    assert back.n_parameters_ == constrained.n_parameters_
    pd.testing.assert_frame_equal(back.coef_table(), constrained.coef_table())

    fixed = RegressionMixture(K, fixed_coef={"x0": 1.0}, random_state=0).fit(X, y)
    fixed.save(tmp_path / "fixed.json")
    back = regmix.load(tmp_path / "fixed.json")
    assert back.log_likelihood(X, y) == fixed.log_likelihood(X, y)
    np.testing.assert_array_equal(back.predict(X), fixed.predict(X))

    Xg, yg, g, _ = grouped_data(92, truth=SOFT)
    grouped = RegressionMixture(K, random_state=0).fit(Xg, yg, groups=g)
    grouped.save(tmp_path / "grouped.json")
    back = regmix.load(tmp_path / "grouped.json")
    assert back.n_groups_ == grouped.n_groups_
    assert back.log_likelihood(Xg, yg, groups=g) == grouped.log_likelihood(Xg, yg, groups=g)
    assert back.log_likelihood(Xg, yg, groups=g) == pytest.approx(grouped.log_likelihood_,
                                                                  rel=1e-12)
    np.testing.assert_array_equal(back.predict(Xg), grouped.predict(Xg))
    np.testing.assert_array_equal(back.posterior(Xg, yg, groups=g),
                                  grouped.posterior(Xg, yg, groups=g))
