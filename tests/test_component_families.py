"""A family per component and point-mass components (zero inflation), against
references written here: the zero-inflated Poisson likelihood maximised by scipy, a
dense EM step with scipy's densities, a numerical Hessian, scipy's t and normal
densities."""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats

import regmix
from regmix import RegressionMixture
from regmix.core.params import MixtureParams
from regmix.engine.passes import e_step_pass
from regmix.families.registry import get_family
from regmix.fitting.steps import m_step
from regmix.mixing.constant import ConstantWeights
from regmix.sources.arrays import ArrayData
from tests.reference import numerical_hessian


def _zip_data(n=500, seed=0, gated=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    logit = -0.6 + (1.2 * z if gated else 0.0)
    zero = rng.random(n) < special.expit(logit)
    y = np.where(zero, 0.0, rng.poisson(np.exp(0.4 + 0.7 * x))).astype(np.float64)
    return x, z, y


def _zip_loglik(theta, x, z, y, gated):
    """The zero-inflated Poisson log-likelihood: a zero with probability p(z), else
    Poisson(exp(b0 + b1 x)); theta = (b0, b1, g0[, g1]) with logit p = g0 + g1 z."""
    b0, b1, g0 = theta[:3]
    g1 = theta[3] if gated else 0.0
    eta = b0 + b1 * x
    log_p = -np.logaddexp(0.0, -(g0 + g1 * z))  # log p(z)
    log_q = -np.logaddexp(0.0, g0 + g1 * z)  # log (1 - p(z))
    log_pois = y * eta - np.exp(eta) - special.gammaln(y + 1.0)
    return float(np.sum(np.where(y == 0, np.logaddexp(log_p, log_q + log_pois),
                                 log_q + log_pois)))


def _zip_ml(x, z, y, gated):
    """The maximum by BFGS, polished by Newton steps on central differences."""
    def f(t):
        return _zip_loglik(t, x, z, y, gated)

    theta = optimize.minimize(lambda t: -f(t), np.zeros(4 if gated else 3),
                              method="BFGS").x
    h = 1e-5
    for _ in range(3):
        grad = np.array([(f(theta + e) - f(theta - e)) / (2 * h)
                         for e in np.eye(theta.size) * h])
        theta = theta - np.linalg.solve(numerical_hessian(f, theta), grad)
    return theta, f(theta)


@pytest.mark.parametrize("gated", [False, True])
def test_zero_inflated_poisson_is_the_direct_maximum(gated):
    x, z, y = _zip_data(gated=gated)
    theta, ll = _zip_ml(x, z, y, gated)
    model = RegressionMixture(2, family=["pointmass", "poisson"], random_state=0)
    model.fit(x[:, None], y, concomitant=z[:, None] if gated else None)
    assert abs(model.log_likelihood_ - ll) <= 1e-8
    np.testing.assert_allclose([model.intercept_[1], model.coef_[1, 0]], theta[:2],
                               atol=1e-5)
    if gated:  # the Poisson component's log-odds against the point mass
        np.testing.assert_allclose(model.gating_coef_[1], -theta[2:], atol=1e-5)
    else:
        np.testing.assert_allclose(model.weights_[0], special.expit(theta[2]), atol=1e-5)
    # the point mass has no coefficients
    assert np.isnan(model.coef_[0]).all() and np.isnan(model.intercept_[0])
    assert model.log_likelihood(x[:, None], y, concomitant=z[:, None] if gated else None
                                ) == pytest.approx(model.log_likelihood_, rel=1e-12)


def test_standard_errors_are_the_numerical_hessians():
    x, z, y = _zip_data(seed=3)
    model = RegressionMixture(2, family=["pointmass", "poisson"], random_state=0)
    model.fit(x[:, None], y)
    pi0 = model.weights_[0]
    theta = np.array([model.intercept_[1], model.coef_[1, 0], special.logit(pi0)])
    H = numerical_hessian(lambda t: _zip_loglik(t, x, z, y, False), theta)
    cov = np.linalg.inv(-H)
    se = np.sqrt(np.diag(cov))
    table = model.coef_table()
    # the point mass has only its weight
    assert list(table.loc[1].index) == ["weight"]
    np.testing.assert_allclose(table.loc[(2, "intercept"), "std_err"], se[0], rtol=1e-4)
    np.testing.assert_allclose(table.loc[(2, "x0"), "std_err"], se[1], rtol=1e-4)
    np.testing.assert_allclose(table.loc[(1, "weight"), "std_err"],
                               pi0 * (1 - pi0) * se[2], rtol=1e-4)
    text = model.summary().as_text()
    assert "Point mass + Poisson (log link)" in text


def test_one_em_step_is_the_dense_reference_step():
    x, _, y = _zip_data(n=300, seed=5)
    w0, b = np.array([0.35, 0.65]), np.array([0.2, 0.5])
    family = get_family(["pointmass", "poisson"])
    source = ArrayData(x[:, None], y, None, fit_intercept=True, scale_response=False)
    st = source.standardization
    user = family.make_params(np.array([[0.0, 0.0], b]), np.zeros((2, 0)))
    params = MixtureParams(w0, family.to_internal(user, st))
    result = e_step_pass(source, family, params.component, np.log(w0)[:, None],
                         chunk_size=64)
    new, _ = m_step(family, ConstantWeights(), result, params)
    got = family.to_user(new.component, st)

    # dense reference: scipy's densities, then the weights and one Fisher-scoring step
    D = np.column_stack([np.ones_like(x), x])
    mu = np.exp(D @ b)
    f = np.column_stack([(y == 0).astype(float), stats.poisson.pmf(y, mu)])
    joint = f * w0
    resp = joint / joint.sum(axis=1, keepdims=True)
    assert result.loglik == pytest.approx(np.log(joint.sum(axis=1)).sum(), rel=1e-12)
    r = resp[:, 1]
    step = np.linalg.solve(D.T @ (D * (r * mu)[:, None]), D.T @ (r * (y - mu)))
    np.testing.assert_allclose(new.weights, resp.mean(axis=0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.coef[1], b + step, rtol=0, atol=1e-10)
    assert np.isnan(got.coef[0]).all()


def test_gaussian_beside_student_t_has_the_reference_likelihood():
    rng = np.random.default_rng(1)
    n = 500
    x = rng.normal(size=n)
    first = rng.random(n) < 0.5
    y = np.where(first, 1 + 2 * x + 0.5 * rng.normal(size=n),
                 -1 - x + 0.7 * rng.standard_t(3, size=n))
    model = RegressionMixture(2, family=["gaussian", "student_t"], random_state=0)
    model.fit(x[:, None], y)
    assert np.isnan(model.df_[0]) and model.df_[1] > 0
    pi, b0, b1, s = model.weights_, model.intercept_, model.coef_[:, 0], model.sigma_
    dens = np.column_stack([
        stats.norm.logpdf(y, b0[0] + b1[0] * x, s[0]),
        stats.t.logpdf(y, model.df_[1], b0[1] + b1[1] * x, s[1])])
    reference = special.logsumexp(dens + np.log(pi), axis=1).sum()
    assert model.log_likelihood_ == pytest.approx(reference, rel=1e-10)
    np.testing.assert_allclose([b0[0], b1[0]], [1, 2], atol=0.15)
    table = model.coef_table()
    assert "df" not in table.loc[1].index and "df" in table.loc[2].index
    assert np.isfinite(table["std_err"]).all()


def test_default_search_reaches_the_best_of_many_random_starts():
    rng = np.random.default_rng(3)
    n = 500
    x = rng.normal(size=n)
    u = rng.random(n)
    mu = np.where(u < 0.45, np.exp(1.0 + 0.8 * x),
                  np.where(u < 0.75, np.exp(1.2 - 0.8 * x), np.exp(2.5)))
    y = np.where(u < 0.15, 0.0, rng.poisson(mu)).astype(float)
    family = ["pointmass", "poisson", "poisson", "poisson"]
    found = [RegressionMixture(4, family=family, init="random", n_init=1,
                               split_merge=False, compute_se=False,
                               random_state=s).fit(x[:, None], y).log_likelihood_
             for s in range(12)]
    best = max(found)
    assert min(found) < best - 1.0  # the random starts do not all agree
    model = RegressionMixture(4, family=family, compute_se=False, random_state=0)
    model.fit(x[:, None], y)
    assert model.log_likelihood_ >= best - 1e-6 * abs(best)
    # the point mass stays component 1; the Poisson components are ordered by weight
    assert np.isnan(model.intercept_[0])
    assert np.all(np.diff(model.weights_[1:]) <= 0)


def test_predict_sample_posterior_and_model_file(tmp_path):
    x, z, y = _zip_data(n=400, seed=2)
    frame = pd.DataFrame({"y": y, "x": x, "z": z})
    model = RegressionMixture(2, family=[regmix.PointMass(), "poisson"],
                              formula="y ~ x | z", random_state=0).fit(frame)
    pi = model.mixing_weights(frame)
    np.testing.assert_allclose(model.predict(frame),
                               pi[:, 1] * np.exp(model.intercept_[1] + model.coef_[1, 0] * x))
    post = model.posterior(frame)
    assert np.all(post[y > 0, 0] == 0)
    _, ys, labels = model.sample(X=frame, random_state=1)
    assert np.all(ys[labels == 0] == 0)
    path = tmp_path / "zip.json"
    model.save(path)
    loaded = regmix.load(path)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_array_equal(loaded.coef_, model.coef_)
    pd.testing.assert_frame_equal(loaded.coef_table(), model.coef_table())


def test_point_mass_elsewhere_and_family_objects_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    n = 400
    x = rng.normal(size=n)
    y = np.where(rng.random(n) < 0.3, 1.0, 1.0 + rng.poisson(np.exp(0.5 + 0.5 * x)))
    model = RegressionMixture(2, family=[regmix.PointMass(1.0), "negative_binomial"],
                              random_state=0).fit(x[:, None], y)
    assert model.weights_[0] == pytest.approx(0.3, abs=0.1)
    model.save(tmp_path / "m.json")
    loaded = regmix.load(tmp_path / "m.json")
    assert loaded.family_.families[0].value == 1.0
    np.testing.assert_array_equal(loaded.posterior(x[:, None], y),
                                  model.posterior(x[:, None], y))


def test_streamed_parquet_fit_is_the_in_memory_fit(tmp_path):
    pytest.importorskip("pyarrow")
    from regmix.parquet import ParquetData

    x, _, y = _zip_data(n=400, seed=6)
    path = tmp_path / "zip.parquet"
    pd.DataFrame({"x": x, "y": y}).to_parquet(path)
    family = ["pointmass", "poisson"]
    memory = RegressionMixture(2, family=family, random_state=0).fit(x[:, None], y)
    streamed = RegressionMixture(2, family=family, random_state=0).fit(
        ParquetData(path, ["x"], "y"))
    assert streamed.log_likelihood_ == pytest.approx(memory.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(streamed.coef_, memory.coef_, rtol=1e-9)


@pytest.mark.parametrize("family, K, match", [
    (["pointmass", "poison"], 2, r"family\[1\] must be one of"),
    (["pointmass", "poisson"], 3, r"family lists 2 families.*n_components=3"),
    (["pointmass", "gaussian"], 2, r"family mixes continuous \(gaussian\) and discrete"),
    (["poisson", "student_t"], 2, r"family mixes continuous"),
    (["gamma", "gaussian"], 2, r"family mixes location-scale"),
    (["pointmass", "pointmass"], 2, r"family: a point mass is a component beside"),
    ("pointmass", 2, r"family='pointmass' is a component beside others"),
])
def test_bad_families_are_refused_naming_the_argument(family, K, match):
    x, _, y = _zip_data(n=50)
    with pytest.raises(ValueError, match=match):
        RegressionMixture(K, family=family).fit(x[:, None], y + 1.0)


def test_link_and_constraints_are_refused_with_a_family_per_component():
    x, _, y = _zip_data(n=50)
    with pytest.raises(ValueError, match="link= applies to a single family"):
        RegressionMixture(2, family=["pointmass", "poisson"], link="log").fit(x[:, None], y)
    with pytest.raises(ValueError, match="with a family per component"):
        RegressionMixture(2, family=["pointmass", "poisson"],
                          common_coef=["x0"]).fit(x[:, None], y)


def test_command_line_takes_a_family_per_component(tmp_path):
    from click.testing import CliRunner

    from regmix.cli import main

    x, _, y = _zip_data(n=300, seed=8)
    pd.DataFrame({"x": x, "y": y}).to_csv(tmp_path / "zip.csv", index=False)
    args = ["fit", str(tmp_path / "zip.csv"), "--formula", "y ~ x", "--quiet"]
    result = CliRunner().invoke(main, [*args, "--family", "pointmass,poisson", "--out",
                                       str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    assert "Point mass + Poisson (log link)" in result.output
    fitted = RegressionMixture(2, family=["pointmass", "poisson"], formula="y ~ x",
                               random_state=0).fit(pd.read_csv(tmp_path / "zip.csv"))
    assert regmix.load(tmp_path / "m.json").log_likelihood_ == pytest.approx(
        fitted.log_likelihood_, rel=1e-12)
    for family, fragment in (("pointmass,poison", "'poison' is not one of"),
                             ("pointmass", "'pointmass' is not one of")):
        result = CliRunner().invoke(main, [*args, "--family", family])
        assert result.exit_code == 2 and fragment in result.output
    result = CliRunner().invoke(main, [*args, "--family", "pointmass,poisson", "-k", "3"])
    assert result.exit_code == 2
    assert "family lists 2 families" in result.output


def test_link_predictions_are_refused_for_a_point_mass():
    x, _, y = _zip_data(n=200, seed=9)
    model = RegressionMixture(2, family=["pointmass", "poisson"], random_state=0)
    model.fit(x[:, None], y)
    for predict in (model.predict, model.predict_components):
        with pytest.raises(ValueError, match="component 1 is a point mass"):
            predict(x[:5, None], kind="link")
    assert np.all(np.isfinite(model.predict(x[:5, None])))


def test_warm_start_continues():
    x, _, y = _zip_data(n=200, seed=9)
    model = RegressionMixture(2, family=["pointmass", "poisson"], random_state=0)
    model.fit(x[:, None], y)
    ll = model.log_likelihood_
    model.set_params(warm_start=True).fit(x[:, None], y)
    assert model.log_likelihood_ == pytest.approx(ll, rel=1e-10)


def test_bootstrap_replicates_are_refits_matched_within_each_family():
    """The nonparametric bootstrap of a zero-inflated Poisson fit: its replicates are
    the fits of this loop (rows drawn with the b-th child of the seed, refit from the
    fitted parameters), its rows those of coef_table(), and its standard errors agree
    with the sandwich's, which the nonparametric bootstrap estimates (200 replicates: a
    relative error of about 0.05; the tolerance is four of those)."""
    x, _, y = _zip_data(n=400, seed=11)
    X = pd.DataFrame({"x": x})
    model = RegressionMixture(2, family=["pointmass", "poisson"], random_state=0).fit(X, y)
    boot = model.bootstrap(X, y, n_boot=200, kind="nonparametric", random_state=3)
    table = model.coef_table()
    assert boot.table().index.equals(table.index)
    assert boot.n_failed == 0
    init = {"weights": model.weights_, "coef": np.nan_to_num(model.coef_),
            "intercept": np.nan_to_num(model.intercept_)}
    expected = []
    for seed in np.random.SeedSequence(3).spawn(3):
        idx = np.random.default_rng(seed).integers(0, x.size, size=x.size)
        refit = RegressionMixture(2, family=["pointmass", "poisson"], init=init, n_init=1,
                                  compute_se=False).fit(X.iloc[idx], y[idx])
        expected.append([refit.weights_[0], refit.intercept_[1], refit.coef_[1, 0],
                         refit.weights_[1]])
    np.testing.assert_allclose(boot.replicates.to_numpy()[:3], expected, rtol=1e-10)
    robust = model.coef_table(cov_type="robust", X=X, y=y)["std_err"]
    np.testing.assert_allclose(boot.std_err / robust, 1.0, atol=0.2)


def test_bootstrap_label_matching_keeps_each_family_to_its_own():
    """A replicate whose components come in another order is matched back: a Poisson
    component is never put in the place of the point mass, however close its
    parameters, and two Poisson components are matched to the nearer."""
    from regmix.inference.bootstrap import _Parameters

    nan = np.nan
    ref = _Parameters(np.array([[nan, nan], [0.0, 0.0], [1.0, 1.0]]), np.zeros((3, 0)),
                      np.array([0.2, 0.4, 0.4]), None, ("pointmass", "poisson", "poisson"))
    replicate = _Parameters(np.array([[0.9, 1.1], [0.0, 0.1], [nan, nan]]),
                            np.zeros((3, 0)), np.array([0.41, 0.2, 0.39]), None,
                            ("poisson", "poisson", "pointmass"))
    matched, margin = replicate.matched_to(ref, margin=True)
    assert matched.kinds == ref.kinds
    np.testing.assert_array_equal(matched.weights, [0.39, 0.2, 0.41])
    np.testing.assert_array_equal(matched.coef[1:], [[0.0, 0.1], [0.9, 1.1]])
    assert margin > 0.9  # the only other assignment within the families is far worse
    # nearer in its numbers to the point mass's zeros, a Poisson component stays one
    close = _Parameters(np.array([[0.0, 0.0], [nan, nan], [1.0, 1.0]]), np.zeros((3, 0)),
                        np.array([0.2, 0.4, 0.4]), None, ("poisson", "pointmass", "poisson"))
    assert close.matched_to(ref).kinds == ref.kinds


def test_a_list_of_one_family_is_that_family():
    x, _, y = _zip_data(n=300, seed=10)
    counts = y + (np.arange(y.size) % 3)
    one = RegressionMixture(2, family="poisson", random_state=0).fit(x[:, None], counts)
    listed = RegressionMixture(2, family=["poisson", "poisson"], random_state=0).fit(
        x[:, None], counts)
    assert listed.log_likelihood_ == pytest.approx(one.log_likelihood_, rel=1e-10)
    np.testing.assert_allclose(listed.coef_, one.coef_, rtol=1e-6)
    pd.testing.assert_frame_equal(listed.coef_table(), one.coef_table(), rtol=1e-5)
