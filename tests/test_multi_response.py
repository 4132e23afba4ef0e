"""Several responses sharing one latent class (``MultiResponse``), checked against dense
references written here: the log-likelihood summed from scipy densities, one EM step,
the separate single-response fits of statsmodels at K = 1, and the observed
information by central differences of the dense log-likelihood."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, stats
from scipy.special import logsumexp

import regmix
from regmix.engine.runner import PassRunner
from regmix.families.registry import get_family
from regmix.fitting.steps import m_step
from regmix.mixing.constant import ConstantWeights
from regmix.sources.arrays import ArrayData
from tests.reference import numerical_hessian

FAMILY = {"yn": "gaussian", "yp": "poisson"}
FORMULA = "yn + yp ~ x + I(x**2)"
NAMES = ["yn:intercept", "yn:x", "yn:I(x ** 2)", "yp:intercept", "yp:x"]


def npreg(seed: int = 1, n: int = 100) -> pd.DataFrame:
    """flexmix's NPreg: x uniform on (0, 10); class 1: yn = 5x + N(0, 3^2) and
    yp ~ Poisson(exp(2 - 0.2x)); class 2: yn = 40 - (x - 5)^2 + N(0, 3^2) and
    yp ~ Poisson(exp(1 + 0.1x)); n rows per class."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, 2 * n)
    c = np.repeat([0, 1], n)
    yn = np.where(c == 0, 5 * x, 40 - (x - 5) ** 2) + rng.normal(0, 3, 2 * n)
    yp = rng.poisson(np.exp(np.where(c == 0, 2 - 0.2 * x, 1 + 0.1 * x))).astype(float)
    return pd.DataFrame({"x": x, "yn": yn, "yp": yp, "class": c + 1})


def model(K: int = 2, **kw) -> regmix.RegressionMixture:
    family = regmix.MultiResponse(FAMILY, columns={"yp": ["x"]})
    return regmix.RegressionMixture(K, family=family, formula=FORMULA, **{"random_state": 0, **kw})


def params_of(m):
    """(weights, yn coefficients (K, 3), sigma (K,), yp coefficients (K, 2)) of a fit."""
    full = np.column_stack([m.intercept_, m.coef_])
    table = m.coef_table()["estimate"]
    sigma = np.array([table[(k + 1, "yn:sigma")] for k in range(m.n_components)])
    return m.weights_, full[:, :3], sigma, full[:, 3:]


def dense_logf(df, weights, bn, sigma, bp):
    """(n, K) log(pi_k f_k(row)) with scipy densities; a missing response adds 0."""
    x = df["x"].to_numpy()
    Xn = np.column_stack([np.ones_like(x), x, x**2])
    Xp = np.column_stack([np.ones_like(x), x])
    yn, yp = df["yn"].to_numpy(), df["yp"].to_numpy()
    out = np.log(weights)[None, :].repeat(x.size, axis=0)
    for k in range(len(weights)):
        ln = stats.norm.logpdf(yn, Xn @ bn[k], sigma[k])
        lp = stats.poisson.logpmf(yp, np.exp(Xp @ bp[k]))
        out[:, k] += np.where(np.isnan(yn), 0.0, ln) + np.where(np.isnan(yp), 0.0, lp)
    return out


def dense_loglik(df, *params) -> float:
    return float(logsumexp(dense_logf(df, *params), axis=1).sum())


@pytest.fixture(scope="module")
def data():
    return npreg()


@pytest.fixture(scope="module")
def fit(data):
    return model().fit(data)


def test_names_and_loglik_equal_dense_reference(fit, data):
    assert ["yn:intercept", *fit.coef_names()] == NAMES
    ref = dense_loglik(data, *params_of(fit))
    assert fit.log_likelihood_ == pytest.approx(ref, rel=1e-10, abs=1e-10)
    assert fit.log_likelihood(data) == pytest.approx(ref, rel=1e-10, abs=1e-10)
    # the classes are recovered (NPreg's are well separated)
    labels = fit.classify(data)
    agree = np.mean(labels == data["class"].to_numpy() - 1)
    assert max(agree, 1 - agree) > 0.9


def test_posterior_and_predictions_per_response(fit, data):
    logf = dense_logf(data, *params_of(fit))
    post = np.exp(logf - logsumexp(logf, axis=1, keepdims=True))
    np.testing.assert_allclose(fit.posterior(data), post, rtol=1e-9, atol=1e-12)
    weights, bn, _, bp = params_of(fit)
    x = data["x"].to_numpy()
    mu_n = np.column_stack([1 + 0 * x, x, x**2]) @ bn.T
    mu_p = np.exp(np.column_stack([1 + 0 * x, x]) @ bp.T)
    comp = fit.predict_components(data)
    assert comp.shape == (len(data), 2, 2)
    np.testing.assert_allclose(comp[:, :, 0], mu_n, rtol=1e-12)
    np.testing.assert_allclose(comp[:, :, 1], mu_p, rtol=1e-12)
    np.testing.assert_allclose(
        fit.predict_components(data, kind="link")[:, :, 1], np.log(mu_p), rtol=1e-12
    )
    np.testing.assert_allclose(
        fit.predict(data), np.column_stack([mu_n @ weights, mu_p @ weights]), rtol=1e-12
    )


def test_columns_are_named_as_written_in_the_formula(fit, data):
    family = regmix.MultiResponse(FAMILY, columns={"yn": ["x", "I(x**2)"], "yp": ["x"]})
    m = regmix.RegressionMixture(2, family=family, formula=FORMULA, random_state=0)
    assert m.fit(data).log_likelihood_ == fit.log_likelihood_


def test_score_is_the_mean_r2_of_the_responses_on_their_observed_rows(fit, data):
    df = data.copy()
    df.loc[df.index[::4], "yp"] = np.nan
    pred = fit.predict(df)
    r2 = []
    for j, name in enumerate(["yn", "yp"]):
        y = df[name].to_numpy()
        seen = ~np.isnan(y)
        resid = y[seen] - pred[seen, j]
        r2.append(1 - resid @ resid / np.sum((y[seen] - y[seen].mean()) ** 2))
    assert fit.score(df) == pytest.approx(np.mean(r2), rel=1e-12)


def test_arrays_with_a_frame_of_responses_equal_the_formula_fit(fit, data):
    X = np.column_stack([data["x"], data["x"] ** 2])
    family = regmix.MultiResponse(FAMILY, columns={"yp": ["x"]})
    m = regmix.RegressionMixture(2, family=family, random_state=0)
    m.fit(pd.DataFrame(X, columns=["x", "I(x ** 2)"]), data[["yn", "yp"]])
    assert m.log_likelihood_ == pytest.approx(fit.log_likelihood_, rel=1e-9)
    # an (n, R) array in the family's order is the same response
    m2 = regmix.RegressionMixture(2, family=family, random_state=0)
    m2.fit(pd.DataFrame(X, columns=["x", "I(x ** 2)"]), data[["yn", "yp"]].to_numpy())
    assert m2.log_likelihood_ == pytest.approx(fit.log_likelihood_, rel=1e-9)


def test_one_em_step_equals_dense_reference(data):
    """One EM step of the library from a point away from the maximum against the dense
    E-step and each response's own M-step: weighted least squares for the Gaussian
    (checked by the gradient of the dense expected log-likelihood, by central
    differences, vanishing there) and one Newton (Fisher-scoring) step on the dense
    expected log-likelihood for the Poisson."""
    x = data["x"].to_numpy()
    X = np.column_stack([x, x**2])
    Y = data[["yn", "yp"]].to_numpy().copy()
    Y[::7, 1] = np.nan  # some responses missing
    Y[3::11, 0] = np.nan
    family = get_family(regmix.MultiResponse(FAMILY, columns={"yp": ["x"]})).bind(
        ["x", "I(x ** 2)"], True
    )
    source = ArrayData(X, Y, None, fit_intercept=True, standardize=False, scale_response=False)
    mixing = ConstantWeights()
    runner = PassRunner(source, family, mixing, chunk_size=64, n_jobs=1)
    weights = np.array([0.4, 0.6])
    bn = np.array([[1.0, 4.0, 0.1], [10.0, 9.0, -0.9]])
    sigma = np.array([4.0, 5.0])
    bp = np.array([[1.8, -0.15], [1.2, 0.05]])
    start = regmix.core.params.MixtureParams(
        weights, family.make_params(np.hstack([bn, bp]), sigma[:, None])
    )
    result = runner.evaluate(start)
    new, _ = m_step(family, mixing, result, start)
    frame = pd.DataFrame({"x": x, "yn": Y[:, 0], "yp": Y[:, 1]})
    logf = dense_logf(frame, weights, bn, sigma, bp)
    assert result.loglik == pytest.approx(float(logsumexp(logf, axis=1).sum()), rel=1e-12)
    r = np.exp(logf - logsumexp(logf, axis=1, keepdims=True))
    np.testing.assert_allclose(new.weights, r.mean(axis=0), rtol=1e-12)
    Xn = np.column_stack([np.ones_like(x), x, x**2])
    Xp = np.column_stack([np.ones_like(x), x])
    on, op = ~np.isnan(Y[:, 0]), ~np.isnan(Y[:, 1])
    new_n, new_p = new.component.parts
    for k in range(2):
        # the Gaussian M-step: weighted least squares on the rows where yn is observed,
        # in closed form and by maximising the dense expected log-likelihood numerically
        rk, Xk, yk = r[on, k], Xn[on], Y[on, 0]
        b_ref = np.linalg.solve((Xk * rk[:, None]).T @ Xk, Xk.T @ (rk * yk))
        s_ref = np.sqrt(rk @ (yk - Xk @ b_ref) ** 2 / rk.sum())
        np.testing.assert_allclose(new_n.coef[k], b_ref, rtol=1e-10)
        assert new_n.sigma[k] == pytest.approx(s_ref, rel=1e-10)

        def minus_q(theta, rk=rk, Xk=Xk, yk=yk):
            return -float(rk @ stats.norm.logpdf(yk, Xk @ theta[:3], np.exp(theta[3])))

        found = optimize.minimize(
            minus_q, np.r_[bn[k], np.log(sigma[k])], method="BFGS", options={"gtol": 1e-9}
        )
        np.testing.assert_allclose(
            found.x, np.r_[new_n.coef[k], np.log(new_n.sigma[k])], rtol=1e-5, atol=1e-6
        )
        # the Poisson M-step: one Newton step on sum_i r_ik log Poisson(y_i; exp(x_i'b))
        mu = np.exp(Xp[op] @ bp[k])
        g = Xp[op].T @ (r[op, k] * (Y[op, 1] - mu))
        H = (Xp[op] * (r[op, k] * mu)[:, None]).T @ Xp[op]
        np.testing.assert_allclose(
            new_p.coef[k], bp[k] + np.linalg.solve(H, g), rtol=1e-8, atol=1e-10
        )


def test_one_component_equals_separate_fits(data):
    m = model(1).fit(data)
    x = data["x"].to_numpy()
    ols = sm.OLS(data["yn"].to_numpy(), np.column_stack([np.ones_like(x), x, x**2])).fit()
    glm = sm.GLM(
        data["yp"].to_numpy(), np.column_stack([np.ones_like(x), x]), family=sm.families.Poisson()
    ).fit(tol=1e-12)
    _, bn, sigma, bp = params_of(m)
    np.testing.assert_allclose(bn[0], ols.params, rtol=1e-7)
    np.testing.assert_allclose(bp[0], glm.params, rtol=1e-7)
    assert sigma[0] == pytest.approx(np.sqrt(ols.ssr / len(x)), rel=1e-7)
    assert m.log_likelihood_ == pytest.approx(ols.llf + glm.llf, rel=1e-9)


def test_missing_responses_keep_the_rows(data):
    df = data.copy()
    df.loc[df.index[::5], "yp"] = np.nan
    df.loc[df.index[2::9], "yn"] = np.nan
    m = model().fit(df)
    assert m.n_samples_fit_ == len(df)
    ref = dense_loglik(df, *params_of(m))
    assert m.log_likelihood_ == pytest.approx(ref, rel=1e-10)
    # a row whose Poisson response is missing: its Gaussian response's contribution
    # alone; the same rows with that response dropped give the same likelihood
    one = df.iloc[[0]]
    w, bn, sigma, bp = params_of(m)
    x = float(one["x"].iloc[0])
    alone = logsumexp(
        np.log(w) + stats.norm.logpdf(float(one["yn"].iloc[0]), bn @ [1, x, x * x], sigma)
    )
    assert m.log_likelihood(one) == pytest.approx(alone, rel=1e-12)
    # the fit is the maximum: more starts do not find a better one
    best = model(n_init=12, init="random").fit(df)
    assert best.log_likelihood_ <= m.log_likelihood_ + 1e-6


def test_default_search_reaches_the_best_of_many_random_starts(fit, data):
    lls = [
        model(n_init=1, init="random", split_merge=False, random_state=s).fit(data).log_likelihood_
        for s in range(10)
    ]
    assert fit.log_likelihood_ >= max(lls) - 1e-6


def test_standard_errors_equal_a_numerical_hessian(fit, data):
    """The information in (coefficients, log sigma per component, eta_2) against
    central differences of the dense log-likelihood."""
    weights, bn, sigma, bp = params_of(fit)
    K = 2

    def pack():
        blocks = [np.r_[bn[k], bp[k], np.log(sigma[k])] for k in range(K)]
        return np.r_[np.concatenate(blocks), np.log(weights[1] / weights[0])]

    def loglik(theta):
        size = 6
        b = [theta[k * size : (k + 1) * size] for k in range(K)]
        eta = theta[K * size]
        w = np.array([1.0, np.exp(eta)]) / (1 + np.exp(eta))
        return dense_loglik(
            data,
            w,
            np.array([v[:3] for v in b]),
            np.exp([v[5] for v in b]),
            np.array([v[3:5] for v in b]),
        )

    theta = pack()
    H = numerical_hessian(loglik, theta, 1e-4 * np.maximum(np.abs(theta), 1.0))
    np.testing.assert_allclose(fit.information_, -H, rtol=2e-5, atol=2e-4)
    cov = np.linalg.inv(-H)
    table = fit.coef_table()
    for k in range(K):
        for j, name in enumerate(NAMES):
            assert table.loc[(k + 1, name), "std_err"] == pytest.approx(
                np.sqrt(cov[6 * k + j, 6 * k + j]), rel=1e-4
            )
        assert table.loc[(k + 1, "yn:sigma"), "std_err"] == pytest.approx(
            sigma[k] * np.sqrt(cov[6 * k + 5, 6 * k + 5]), rel=1e-4
        )


def test_summary_save_load_and_sample(fit, data, tmp_path):
    text = str(fit.summary())
    assert "yn: Gaussian + yp: Poisson" in text and "yp:intercept" in text
    path = tmp_path / "multi.json"
    fit.save(path)
    loaded = regmix.load(path)
    np.testing.assert_array_equal(loaded.predict(data), fit.predict(data))
    np.testing.assert_array_equal(loaded.posterior(data), fit.posterior(data))
    assert loaded.log_likelihood(data) == fit.log_likelihood(data)
    X, y, labels = fit.sample(X=data, random_state=3)
    assert y.shape == (len(data), 2) and labels.shape == (len(data),)
    assert np.all(y[:, 1] == np.round(y[:, 1])) and np.all(y[:, 1] >= 0)
    # the drawn responses follow their components' means
    comp = fit.predict_components(data)
    rows = np.arange(len(data))
    resid = y[:, 0] - comp[rows, labels, 0]
    assert abs(resid.mean()) < 1.0 and 2.5 < resid.std() < 4.5


def test_what_does_not_take_several_responses_says_so(fit, data):
    pytest.importorskip("matplotlib")
    from regmix.plotting import plot_fit

    with pytest.raises(ValueError, match="several responses"):
        plot_fit(fit, data)


def test_bad_input_names_the_response(data):
    with pytest.raises(ValueError, match="response 'yp' is not a column"):
        model().fit(data.drop(columns="yp"))
    with pytest.raises(ValueError, match="response 'yp'.*Poisson"):
        model().fit(data.assign(yp=data["yp"] + 0.5))
    with pytest.raises(ValueError, match="response 'yp'.*Poisson"):
        model().fit(data.assign(yp=-data["yp"]))
    with pytest.raises(ValueError, match=r"columns\['yp'\] names \['z'\]"):
        regmix.RegressionMixture(
            2, family=regmix.MultiResponse(FAMILY, columns={"yp": ["z"]}), formula=FORMULA
        ).fit(data)
    with pytest.raises(ValueError, match=r"family\['yp'\]"):
        regmix.RegressionMixture(
            2, family={"yn": "gaussian", "yp": "poison"}, formula=FORMULA
        ).fit(data)
    with pytest.raises(ValueError, match=r"family\['yp'\]: a response's family"):
        regmix.RegressionMixture(
            2, family={"yn": "gaussian", "yp": regmix.PointMass()}, formula=FORMULA
        ).fit(data)
    with pytest.raises(ValueError, match="response .yn. is missing"):
        model().fit(data.assign(yn=np.nan))
    with pytest.raises(ValueError, match="responses"):
        regmix.RegressionMixture(2, family=FAMILY, formula="yn + yb ~ x").fit(data.assign(yb=1.0))
    X = np.column_stack([data["x"]])
    with pytest.raises(ValueError, match="one column per response"):
        regmix.RegressionMixture(2, family=FAMILY).fit(X, data[["yn"]].to_numpy())


def test_command_line_fits_and_predicts_several_responses(data, tmp_path):
    from click.testing import CliRunner

    from regmix.cli import main

    csv = tmp_path / "npreg.csv"
    data.assign(yp=data["yp"].where(data.index % 6 != 0)).to_csv(csv, index=False)
    frame = pd.read_csv(csv)  # an empty cell is a missing response
    out = tmp_path / "model.json"
    args = [
        "fit",
        str(csv),
        "--formula",
        "yn + yp ~ x + I(x**2)",
        "--family",
        "yn=gaussian,yp=poisson",
        "-k",
        "2",
        "--seed",
        "3",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "yp:intercept" in result.output
    ref = regmix.RegressionMixture(
        2, family=FAMILY, formula="yn + yp ~ x + I(x**2)", random_state=3
    ).fit(frame)
    loaded = regmix.load(out)
    assert loaded.log_likelihood_ == pytest.approx(ref.log_likelihood_, rel=1e-12)
    predicted = CliRunner().invoke(main, ["predict", str(out), str(csv)], catch_exceptions=False)
    table = pd.read_csv(io.StringIO(predicted.output))
    np.testing.assert_allclose(
        table[["predicted_yn", "predicted_yp"]].to_numpy(), ref.predict(frame), rtol=1e-12
    )
    np.testing.assert_allclose(
        table[["posterior_1", "posterior_2"]].to_numpy(),
        ref.posterior(frame),
        rtol=1e-10,
        atol=1e-14,
    )
    bad = CliRunner().invoke(main, [*args[:5], "yn=gaussian,yp=poison"])
    assert bad.exit_code == 2 and "'poison' (response 'yp')" in bad.output


def test_fit_is_bit_identical_for_any_chunk_size(fit, data):
    other = model(chunk_size=7).fit(data)
    assert other.log_likelihood_ == fit.log_likelihood_
    np.testing.assert_array_equal(other.coef_, fit.coef_)


def test_gating_weights_equal_dense_reference(data):
    df = data.assign(z=data["class"] + np.random.default_rng(0).normal(0, 1, len(data)))
    m = regmix.RegressionMixture(
        2,
        family=regmix.MultiResponse(FAMILY, columns={"yp": ["x"]}),
        formula=FORMULA + " | z",
        random_state=0,
    ).fit(df)
    _, bn, sigma, bp = params_of(m)
    gamma = m.gating_coef_
    eta = gamma[:, 0][None, :] + df[["z"]].to_numpy() @ gamma[:, 1:].T
    log_pi = eta - logsumexp(eta, axis=1, keepdims=True)
    logf = dense_logf(df, np.ones(2), bn, sigma, bp) + log_pi
    assert m.log_likelihood_ == pytest.approx(float(logsumexp(logf, axis=1).sum()), rel=1e-10)


def test_parametric_bootstrap_agrees_with_the_information(fit, data):
    result = fit.bootstrap(data, n_boot=40, kind="parametric", random_state=0)
    table = fit.coef_table()
    for name in ("yn:x", "yp:x"):
        boot = result.replicates[(1, name)].std()
        assert 0.6 < boot / table.loc[(1, name), "std_err"] < 1.6


def test_three_families_with_extras_and_missing_values_information():
    """Gaussian, binomial and negative-binomial responses (the last on the intercept
    only), some missing: the information equals central differences of the library's
    own log-likelihood at given parameters (``init`` with ``max_iter=0``), and the
    log-likelihood the sum of scipy's densities."""
    rng = np.random.default_rng(2)
    n = 300
    x = rng.uniform(-2, 2, n)
    c = rng.integers(0, 2, n)
    a = np.where(c == 0, 1 + x, -1 - x) + rng.normal(0, 0.5, n)
    b = rng.binomial(1, 1 / (1 + np.exp(-np.where(c == 0, 1.5, -1.5) * x))).astype(float)
    mu = np.exp(np.where(c == 0, 1.0, 2.0))
    cnt = rng.negative_binomial(3, 3 / (3 + mu)).astype(float)
    b[::9] = np.nan
    cnt[1::7] = np.nan
    df = pd.DataFrame({"x": x, "a": a, "b": b, "c": cnt})
    fam = {"a": "gaussian", "b": "binomial", "c": "negative_binomial"}

    def make(**kw):
        return regmix.RegressionMixture(
            2,
            family=regmix.MultiResponse(fam, columns={"c": []}),
            formula="a + b + c ~ x",
            random_state=0,
            **kw,
        )

    m = make().fit(df)
    assert m.coef_names() == ["a:x", "b:intercept", "b:x", "c:intercept"]
    full = np.column_stack([m.intercept_, m.coef_])
    table = m.coef_table()["estimate"]
    s = np.array([table[(k + 1, "a:sigma")] for k in range(2)])
    size = np.array([table[(k + 1, "c:size")] for k in range(2)])
    logf = np.log(m.weights_)[None, :].repeat(n, axis=0)
    for k in range(2):
        p_b = 1 / (1 + np.exp(-(full[k, 2] + full[k, 3] * x)))
        mu_c = np.exp(full[k, 4])
        logf[:, k] += stats.norm.logpdf(a, full[k, 0] + full[k, 1] * x, s[k])
        logf[:, k] += np.where(np.isnan(b), 0, stats.bernoulli.logpmf(np.nan_to_num(b), p_b))
        logf[:, k] += np.where(
            np.isnan(cnt),
            0,
            stats.nbinom.logpmf(np.nan_to_num(cnt), size[k], size[k] / (size[k] + mu_c)),
        )
    assert m.log_likelihood_ == pytest.approx(float(logsumexp(logf, axis=1).sum()), rel=1e-10)

    extra = np.column_stack([s, size])

    def loglik(theta):
        blocks = theta[:14].reshape(2, 7)
        w = np.array([1.0, np.exp(theta[14])]) / (1 + np.exp(theta[14]))
        init = {
            "weights": w,
            "intercept": blocks[:, 0],
            "coef": blocks[:, 1:5],
            "a:sigma": np.exp(blocks[:, 5]),
            "c:size": np.exp(blocks[:, 6]),
        }
        return make(init=init, max_iter=0, compute_se=False).fit(df).log_likelihood_

    theta = np.r_[
        np.column_stack([full, np.log(extra)]).ravel(), np.log(m.weights_[1] / m.weights_[0])
    ]
    d, h = theta.size, 1e-4
    H = np.empty((d, d))
    for i in range(d):
        for j in range(i, d):
            ei, ej = np.eye(d)[i] * h, np.eye(d)[j] * h
            H[i, j] = H[j, i] = (
                loglik(theta + ei + ej)
                - loglik(theta + ei - ej)
                - loglik(theta - ei + ej)
                + loglik(theta - ei - ej)
            ) / (4 * h * h)
    np.testing.assert_allclose(m.information_, -H, rtol=1e-5, atol=1e-3)


@pytest.mark.filterwarnings("ignore:The best of 1 start")
def test_one_pass_over_the_rows_per_iteration(data):
    """The responses share each pass: from the same start, a fit of both responses
    makes as many passes over the rows as a fit of the Gaussian response alone."""
    init = {
        "weights": [0.5, 0.5],
        "intercept": [0.0, 10.0],
        "coef": [[5.0, 0.0, 2.0, -0.2], [10.0, -1.0, 1.0, 0.1]],
        "yn:sigma": [3.0, 3.0],
    }
    settings = dict(max_iter=6, tol=0.0, accelerate=False, compute_se=False)
    both = model(init=init, **settings).fit(data)
    one = regmix.RegressionMixture(
        2,
        formula="yn ~ x + I(x**2)",
        init={k: v for k, v in init.items() if k != "yn:sigma"}
        | {"coef": [[5.0, 0.0], [10.0, -1.0]], "sigma": [3.0, 3.0]},
        **settings,
    ).fit(data)
    assert both.n_iter_ == one.n_iter_ == 6
    assert both.n_passes_ == one.n_passes_


def test_parquet_rows_give_the_fit_in_memory(data, tmp_path):
    pytest.importorskip("pyarrow")
    from regmix.parquet import ParquetData

    df = data.assign(x2=data["x"] ** 2)
    df.loc[df.index[::5], "yp"] = np.nan
    df.loc[df.index[3::13], "yn"] = np.nan
    path = tmp_path / "npreg.parquet"
    df.to_parquet(path)
    family = regmix.MultiResponse(FAMILY, columns={"yp": ["x"]})
    source = ParquetData(path, x=["x", "x2"], y=["yn", "yp"])
    # (to a tight tolerance: the two standardisations differ in round-off)
    tight = dict(family=family, random_state=0, tol=1e-13)
    streamed = regmix.RegressionMixture(2, chunk_size=50, **tight).fit(source)
    memory = regmix.RegressionMixture(2, **tight).fit(df[["x", "x2"]], df[["yn", "yp"]])
    assert streamed.log_likelihood_ == pytest.approx(memory.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(streamed.coef_, memory.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(streamed.information_, memory.information_, rtol=1e-4)
    with pytest.raises(ValueError, match=r"responses are \['yp', 'yn'\]"):
        regmix.RegressionMixture(2, family=family).fit(ParquetData(path, x=["x"], y=["yp", "yn"]))
    with pytest.raises(ValueError, match="several responses"):
        regmix.RegressionMixture(2).fit(source)
    df.loc[df.index[7], "yp"] = np.inf
    df.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="column 'yp' has a non-finite value at row 7"):
        ParquetData(tmp_path / "bad.parquet", x=["x"], y=["yn", "yp"])


def test_command_line_streams_several_responses(data, tmp_path):
    pytest.importorskip("pyarrow")
    from click.testing import CliRunner

    from regmix.cli import main

    path = tmp_path / "npreg.parquet"
    data.assign(x2=data["x"] ** 2).to_parquet(path)
    args = [
        "fit",
        str(path),
        "--formula",
        "yn + yp ~ x + x2",
        "--family",
        "yn=gaussian,yp=poisson",
        "-k",
        "2",
        "--format",
        "json",
    ]
    lls = []
    for extra in ([], ["--stream"]):
        result = CliRunner().invoke(main, args + extra, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        lls.append(json.loads(result.output)["header"]["log_likelihood"])
    assert lls[1] == pytest.approx(lls[0], rel=1e-10)


def test_more_bad_input(data):
    with pytest.raises(ValueError, match=r"columns names response\(s\) \['yz'\]"):
        regmix.MultiResponse(FAMILY, columns={"yz": ["x"]})
    with pytest.raises(ValueError, match="mapping of each response"):
        regmix.MultiResponse({})
    dd = pytest.importorskip("dask.dataframe")
    with pytest.raises(ValueError, match="response 'yp' is not a column of the data"):
        model().fit(dd.from_pandas(data.drop(columns="yp"), npartitions=2))


def test_without_intercept_loglik_equals_dense_reference(data):
    family = regmix.MultiResponse(FAMILY, columns={"yp": ["x"]})
    m = regmix.RegressionMixture(
        2, family=family, formula="yn + yp ~ x + I(x**2) - 1", fit_intercept=False, random_state=0
    ).fit(data)
    assert m.coef_names() == ["yn:x", "yn:I(x ** 2)", "yp:x"]
    np.testing.assert_array_equal(m.intercept_, 0.0)
    table = m.coef_table()["estimate"]
    x, yn, yp = (data[c].to_numpy() for c in ("x", "yn", "yp"))
    logf = np.column_stack(
        [
            np.log(m.weights_[k])
            + stats.norm.logpdf(
                yn, m.coef_[k, 0] * x + m.coef_[k, 1] * x**2, table[(k + 1, "yn:sigma")]
            )
            + stats.poisson.logpmf(yp, np.exp(m.coef_[k, 2] * x))
            for k in range(2)
        ]
    )
    assert m.log_likelihood_ == pytest.approx(float(logsumexp(logf, axis=1).sum()), rel=1e-10)


def test_command_line_names_a_response_s_design_columns(data, fit, tmp_path):
    from click.testing import CliRunner

    from regmix.cli import main

    csv = tmp_path / "npreg.csv"
    data.to_csv(csv, index=False)
    args = ["fit", str(csv), "--formula", FORMULA, "-k", "2", "--format", "json", "--family"]
    result = CliRunner().invoke(main, [*args, "yn=gaussian,yp=poisson[x]"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    ll = json.loads(result.output)["header"]["log_likelihood"]
    ref = model().fit(pd.read_csv(csv))
    assert ll == pytest.approx(ref.log_likelihood_, rel=1e-12)
    bad = CliRunner().invoke(main, [*args, "yn=gaussian,yp=poisson[z]"])
    assert bad.exit_code == 2 and "columns['yp'] names ['z']" in bad.output


# ----------------------------------------------------------------------------- constraints
def test_common_coefficients_of_a_response_are_its_pooled_fit(data):
    """yp's coefficients common to both classes: yp says nothing about the class, so the
    likelihood is the pooled Poisson GLM's times yn's own mixture."""
    m = model(common_coef=["yp:intercept", "yp:x"]).fit(data)
    pooled = sm.GLM(
        data["yp"].to_numpy(), sm.add_constant(data["x"].to_numpy()), family=sm.families.Poisson()
    ).fit()
    yn_only = regmix.RegressionMixture(2, formula="yn ~ x + I(x**2)", random_state=0).fit(data)
    assert m.log_likelihood_ == pytest.approx(yn_only.log_likelihood_ + pooled.llf, rel=1e-9)
    assert m.n_parameters_ == yn_only.n_parameters_ + 2
    table, alone = m.coef_table(), yn_only.coef_table()
    for k in (1, 2):
        for j, name in enumerate(["yp:intercept", "yp:x"]):
            assert table.loc[(k, name), "estimate"] == pytest.approx(pooled.params[j], rel=1e-6)
            assert table.loc[(k, name), "std_err"] == pytest.approx(pooled.bse[j], rel=1e-4)
        for name in ["intercept", "x", "I(x ** 2)", "sigma"]:
            assert table.loc[(k, f"yn:{name}"), "estimate"] == pytest.approx(
                alone.loc[(k, name), "estimate"], rel=1e-6
            )
            assert table.loc[(k, f"yn:{name}"), "std_err"] == pytest.approx(
                alone.loc[(k, name), "std_err"], rel=1e-4
            )


def test_fixed_and_common_coefficients_are_the_constrained_maximum(data, tmp_path):
    """yp:x known per class and yn's squared term common: the fit is a stationary point
    of the dense log-likelihood in the free parameters, which no optimiser improves."""
    m = model(fixed_coef={"yp:x": [-0.2, 0.1]}, common_coef=["yn:I(x ** 2)"]).fit(data)
    weights, bn, sigma, bp = params_of(m)
    np.testing.assert_array_equal(bp[:, 1], [-0.2, 0.1])
    assert bn[0, 2] == pytest.approx(bn[1, 2], rel=1e-12)
    # free: logit weight, yn intercepts and slopes, the common square, log sigmas, yp
    # intercepts
    theta0 = np.r_[
        np.log(weights[1] / weights[0]), bn[:, :2].ravel(), bn[0, 2], np.log(sigma), bp[:, 0]
    ]

    def loglik(t):
        w = np.array([1.0, np.exp(t[0])]) / (1 + np.exp(t[0]))
        b = np.column_stack([t[1:5].reshape(2, 2), [t[5], t[5]]])
        return dense_loglik(data, w, b, np.exp(t[6:8]), np.column_stack([t[8:10], [-0.2, 0.1]]))

    assert m.log_likelihood_ == pytest.approx(loglik(theta0), rel=1e-10)
    best = optimize.minimize(lambda t: -loglik(t), theta0, method="BFGS")
    assert -best.fun < m.log_likelihood_ + 1e-6
    assert m.n_parameters_ == theta0.size
    m.save(tmp_path / "m.json")
    loaded = regmix.load(tmp_path / "m.json")
    assert loaded.n_parameters_ == m.n_parameters_
    np.testing.assert_array_equal(loaded.coef_table(), m.coef_table())


def test_constraints_of_several_responses_are_refused_by_name(data):
    with pytest.raises(ValueError, match="'x' is not a coefficient.*'<response>:<column>'"):
        model(common_coef=["x"]).fit(data)
    counts = regmix.MultiResponse({"yp": "poisson", "yb": "poisson"})
    with pytest.raises(ValueError, match=r"equal_variance=True needs a response with a scale"):
        regmix.RegressionMixture(2, family=counts, formula="yp + yb ~ x", equal_variance=True).fit(
            data.assign(yb=data["yp"])
        )


def test_equal_variance_is_one_sigma_per_response_at_the_dense_maximum(data, tmp_path):
    """equal_variance=True with two Gaussian responses (one with missing values) and a
    Poisson one: per response one sigma common to the classes. The fit is the maximum of
    the dense log-likelihood in the constrained parameters (BFGS from it and from
    perturbed starts), and its standard errors those of the dense numerical Hessian."""
    df = data.iloc[::2].copy()
    rng = np.random.default_rng(3)
    x = df["x"].to_numpy()
    df["yg"] = np.where(df["class"] == 1, 1 + 0.5 * x, 3 - 0.2 * x) + rng.normal(0, 1, x.size)
    df.loc[df.index[::7], "yg"] = np.nan
    family = regmix.MultiResponse(
        {"yn": "gaussian", "yg": "gaussian", "yp": "poisson"}, columns={"yg": ["x"], "yp": ["x"]}
    )
    m = regmix.RegressionMixture(
        2, family=family, formula="yn + yg + yp ~ x + I(x**2)", equal_variance=True, random_state=0
    ).fit(df)
    table = m.coef_table()
    for name in ("yn:sigma", "yg:sigma"):
        assert table.loc[(1, name), "estimate"] == table.loc[(2, name), "estimate"]
    Xn = np.column_stack([np.ones_like(x), x, x**2])
    X1 = Xn[:, :2]
    yn, yg, yp = (df[c].to_numpy() for c in ("yn", "yg", "yp"))
    seen = ~np.isnan(yg)

    def loglik(t):
        """t: yn (2 x 3), yg (2 x 2), yp (2 x 2) coefficients, log sigma of yn and of
        yg, the log weight ratio."""
        bn, bg, bp = t[:6].reshape(2, 3), t[6:10].reshape(2, 2), t[10:14].reshape(2, 2)
        sn, sg = np.exp(t[14:16])
        lw = np.array([0.0, t[16]]) - np.logaddexp(0.0, t[16])
        logf = np.column_stack(
            [
                lw[k]
                + stats.norm.logpdf(yn, Xn @ bn[k], sn)
                + np.where(seen, stats.norm.logpdf(yg, X1 @ bg[k], sg), 0.0)
                + stats.poisson.logpmf(yp, np.exp(X1 @ bp[k]))
                for k in range(2)
            ]
        )
        return float(logsumexp(logf, axis=1).sum())

    est = table["estimate"]
    t0 = np.r_[
        [est[(k, f"yn:{n}")] for k in (1, 2) for n in ("intercept", "x", "I(x ** 2)")],
        [est[(k, f"yg:{n}")] for k in (1, 2) for n in ("intercept", "x")],
        [est[(k, f"yp:{n}")] for k in (1, 2) for n in ("intercept", "x")],
        np.log([est[(1, "yn:sigma")], est[(1, "yg:sigma")]]),
        np.log(m.weights_[1] / m.weights_[0]),
    ]
    assert m.n_parameters_ == t0.size
    assert loglik(t0) == pytest.approx(m.log_likelihood_, abs=1e-9)
    best = -np.inf
    for scale in (0.0, 0.05, 0.2):
        start = t0 + np.random.default_rng(1).normal(0, scale, t0.size)
        res = optimize.minimize(lambda t: -loglik(t), start, method="BFGS", options={"gtol": 1e-7})
        best = max(best, -res.fun)
    assert m.log_likelihood_ >= best - 1e-6
    assert m.log_likelihood_ == pytest.approx(best, abs=1e-6)
    cov = np.linalg.inv(-numerical_hessian(loglik, t0, 1e-4 * np.maximum(np.abs(t0), 1.0)))
    for j, name in ((14, "yn:sigma"), (15, "yg:sigma")):  # sigma = exp(t)
        se = np.exp(t0[j]) * np.sqrt(cov[j, j])
        for k in (1, 2):
            assert table.loc[(k, name), "std_err"] == pytest.approx(se, rel=1e-4)
    assert table.loc[(1, "yg:x"), "std_err"] == pytest.approx(np.sqrt(cov[7, 7]), rel=1e-4)
    m.save(tmp_path / "m.json")
    loaded = regmix.load(tmp_path / "m.json")
    assert loaded.n_parameters_ == m.n_parameters_
    pd.testing.assert_frame_equal(loaded.coef_table(), table)


# ----------------------------------------------------------------------------- margins
def test_margins_per_response_against_hand_written_means_and_derivatives(fit, data):
    weights, bn, _, bp = params_of(fit)
    x = data["x"].to_numpy()
    Xn, Xp = np.column_stack([1 + 0 * x, x, x**2]), np.column_stack([1 + 0 * x, x])
    mu_p = np.exp(Xp @ bp.T)
    # d yn / dx = b1 + 2 b2 x; d yp / dx = exp(eta) b1 (log link)
    slope = {
        "yn": (bn[:, 1] + 2 * bn[:, 2] * x[:, None]).mean(axis=0),
        "yp": (mu_p * bp[:, 1]).mean(axis=0),
    }
    mean = {"yn": (Xn @ bn.T).mean(axis=0), "yp": mu_p.mean(axis=0)}
    effects = fit.marginal_effects(data).set_index(["response", "component"])
    margins = fit.predictive_margins(data).set_index(["response", "component"])
    for r in ("yn", "yp"):
        for k in (1, 2):
            assert effects.loc[(r, k), "effect"] == pytest.approx(slope[r][k - 1], rel=1e-7)
            assert margins.loc[(r, k), "margin"] == pytest.approx(mean[r][k - 1], rel=1e-10)
        assert effects.loc[(r, "mixture"), "effect"] == pytest.approx(weights @ slope[r], rel=1e-7)
        assert margins.loc[(r, "mixture"), "margin"] == pytest.approx(weights @ mean[r], rel=1e-10)
    # yn's effect in component k is linear in (b1, b2): its variance is a' V a
    cov = fit.covariance_matrix()
    for k in (1, 2):
        names = [(k, "yn:x"), (k, "yn:I(x ** 2)")]
        a = np.array([1.0, 2 * x.mean()])
        V = cov.loc[names, names].to_numpy()
        assert effects.loc[("yn", k), "std_err"] == pytest.approx(np.sqrt(a @ V @ a), rel=1e-5)
    one = fit.marginal_effects(data, component=1, at={"x": [2.0, 8.0]})
    assert list(zip(one["at"], one["response"], strict=True)) == [
        ("x=2.0", "yn"),
        ("x=2.0", "yp"),
        ("x=8.0", "yn"),
        ("x=8.0", "yp"),
    ]
    at8 = one[(one["at"] == "x=8.0") & (one["response"] == "yp")]["effect"].item()
    assert at8 == pytest.approx(np.exp(bp[0] @ [1, 8.0]) * bp[0, 1], rel=1e-7)


def test_equal_variance_of_a_student_t_response_keeps_its_df_per_class(data):
    family = regmix.MultiResponse({"yn": "student_t", "yp": "poisson"}, columns={"yp": ["x"]})
    m = regmix.RegressionMixture(
        2, family=family, formula=FORMULA, equal_variance=True, random_state=0
    ).fit(data.iloc[::2])
    table = m.coef_table()
    assert table.loc[(1, "yn:sigma"), "estimate"] == table.loc[(2, "yn:sigma"), "estimate"]
    assert table.loc[(1, "yn:df"), "estimate"] != table.loc[(2, "yn:df"), "estimate"]
    assert m.n_parameters_ == 2 * 5 + 1 + 2 + 1  # coefficients, sigma, the dfs, a weight
    assert m.information_.shape == (m.n_parameters_,) * 2
    assert np.all(np.diff(m.log_likelihood_history_) >= -1e-9)
