"""The latent-class linear mixed-model family against dense references."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from regmix.core.params import MixtureParams
from regmix.engine.kernel import compiled_pass_applies
from regmix.engine.passes import e_step_chunk, run_pass
from regmix.families.mixed_gaussian import MixedGaussian, MixedGaussianParams
from regmix.fitting.steps import m_step
from regmix.mixing.constant import ConstantWeights
from regmix.sources.arrays import ArrayData


def _data(n_groups=20, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    t = rng.uniform(0, 3, groups.size)
    b = rng.normal(size=(n_groups, 2)) * [1.0, 0.4]
    y = 1.0 + 0.5 * t + b[groups, 0] + b[groups, 1] * t + rng.normal(0, 0.3, t.size)
    return t[:, None], y, groups


def _params():
    cov = np.array([[[0.8, 0.1], [0.1, 0.2]], [[0.5, -0.05], [-0.05, 0.1]]])
    return MixtureParams(np.array([0.6, 0.4]),
                         MixedGaussianParams(np.array([[1.0, 0.5], [0.2, -0.3]]),
                                             np.array([0.3, 0.5]), cov))


def _dense_loglik(X, y, groups, params):
    """Sum over groups of log sum_k pi_k N(y_i; X_i beta_k, Z_i D_k Z_i' + s_k^2 I)."""
    total = 0.0
    comp = params.component
    for g in np.unique(groups):
        rows = groups == g
        Xd = np.column_stack([np.ones(rows.sum()), X[rows]])
        terms = [np.log(params.weights[k]) + multivariate_normal.logpdf(
            y[rows], Xd @ comp.coef[k],
            Xd @ comp.cov[k] @ Xd.T + comp.sigma[k] ** 2 * np.eye(rows.sum()))
            for k in range(2)]
        total += logsumexp(terms)
    return total


def _pass(source, family, params):
    mixing = ConstantWeights()
    return run_pass(source, lambda ch: e_step_chunk(ch, family, mixing, params),
                    chunk_size=8192)


def test_group_log_density_equals_dense_reference():
    X, y, groups = _data()
    source = ArrayData(X, y, None, fit_intercept=True, standardize=False, groups=groups)
    params = _params()
    result = _pass(source, MixedGaussian((0, 1)), params)
    assert result.loglik == pytest.approx(_dense_loglik(X, y, groups, params), abs=1e-10)


def test_ecm_steps_never_lower_the_likelihood():
    X, y, groups = _data(30, seed=1)
    source = ArrayData(X, y, None, fit_intercept=True, standardize=False, groups=groups)
    family, mixing = MixedGaussian((0, 1)), ConstantWeights()
    params = _params()
    history = []
    for _ in range(40):
        result = _pass(source, family, params)
        history.append(result.loglik)
        params, _ = m_step(family, mixing, result, params)
    assert np.all(np.diff(history) >= -1e-9)
    assert history[-1] > history[0] + 1.0


def test_one_class_reaches_the_statsmodels_maximum():
    import statsmodels.api as sm

    X, y, groups = _data(30, seed=2)
    source = ArrayData(X, y, None, fit_intercept=True, groups=groups)
    family, mixing = MixedGaussian((0, 1)), ConstantWeights()
    params = MixtureParams(np.ones(1), family.zero_params(1, 2))
    previous = -np.inf
    for _ in range(5000):
        result = _pass(source, family, params)
        if result.loglik - previous < 1e-11:
            break
        previous = result.loglik
        params, _ = m_step(family, mixing, result, params)
    loglik = result.loglik - y.size * np.log(source.standardization.y_scale)
    design = np.column_stack([np.ones(y.size), X])
    reference = sm.MixedLM(y, design, groups, exog_re=design).fit(reml=False)
    assert loglik == pytest.approx(reference.llf, abs=1e-6)


def test_estimator_recovers_two_classes_with_random_intercepts_and_slopes():
    from regmix import RegressionMixture

    rng = np.random.default_rng(0)
    n_groups = 300
    groups = np.repeat(np.arange(n_groups), rng.integers(4, 8, n_groups))
    cls = rng.integers(0, 2, n_groups)
    t = rng.uniform(0, 3, groups.size)
    beta = np.array([[0.0, 1.0], [4.0, -1.0]])
    b = rng.normal(size=(n_groups, 2)) * [0.8, 0.3]
    y = (beta[cls[groups], 0] + beta[cls[groups], 1] * t + b[groups, 0]
         + b[groups, 1] * t + rng.normal(0, 0.5, t.size))
    model = RegressionMixture(2, family=MixedGaussian((0, 1)),
                              random_state=0).fit(t[:, None], y, groups=groups)
    order = np.argsort(model.intercept_)
    assert np.allclose(model.intercept_[order], [0.0, 4.0], atol=0.25)
    assert np.allclose(model.coef_[order, 0], [1.0, -1.0], atol=0.15)
    assert np.allclose(model.sigma_, 0.5, atol=0.05)
    cov = model.random_cov_
    assert model.information_.shape == (13, 13)
    assert np.all(np.diff(model.log_likelihood_history_) >= -1e-9)
    assert not compiled_pass_applies(None, model.family_)
    assert np.allclose(cov[:, 0, 0], 0.64, atol=0.25)
    assert np.allclose(cov[:, 1, 1], 0.09, atol=0.05)
    assert model.n_parameters_ == 2 * (2 + 1 + 3) + 1
    # the log-likelihood at the fitted parameters is the dense reference's
    params = MixtureParams(model.weights_, model.family_.make_params(
        np.column_stack([model.intercept_, model.coef_]), model.state_.extra))
    sub = groups < 20
    ll = RegressionMixture.log_likelihood(model, t[sub, None], y[sub], groups=groups[sub])
    assert ll == pytest.approx(_dense_loglik(t[sub, None], y[sub], groups[sub], params),
                               abs=1e-9)
    assert model.bic_ == pytest.approx(-2 * model.log_likelihood_
                                       + model.n_parameters_ * np.log(n_groups))


def test_unsupported_inputs_are_refused_by_name():
    from regmix import RegressionMixture

    X, y, groups = _data()
    model = RegressionMixture(1, family=MixedGaussian((0, 1)))
    with pytest.raises(ValueError, match="groups="):
        model.fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(X, y, sample_weight=np.ones(y.size), groups=groups)
    # (concomitant variables are taken: tests/test_mixed_gating.py)


def _two_class_data(n_groups, seed):
    """Two classes of subjects with 5 rows each, random intercepts and slopes."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), 5)
    t = rng.uniform(0, 3, groups.size)
    cls = rng.integers(0, 2, n_groups)[groups]
    b = rng.normal(size=(n_groups, 2))[groups] * [0.8, 0.3]
    y = np.where(cls == 0, t, 4 - t) + b[:, 0] + b[:, 1] * t + rng.normal(0, 0.5, t.size)
    return t[:, None], y, groups


def _unpack(theta, K=2, p=2):
    """``theta = (coef (K, p), log sigma (K), vech D (K, 3), log w_2 / w_1)``."""
    coef = theta[: K * p].reshape(K, p)
    sigma = np.exp(theta[K * p : K * p + K])
    tri = theta[K * p + K : K * p + 4 * K].reshape(K, 3)
    cov = tri[:, [0, 1, 1, 2]].reshape(K, 2, 2)
    eta = np.concatenate([[0.0], theta[K * p + 4 * K :]])
    return MixtureParams(np.exp(eta - logsumexp(eta)),
                         MixedGaussianParams(coef, sigma, cov))


def _dense_theta_loglik(theta, X, y, groups):
    params = _unpack(theta)
    cov = params.component.cov
    # outside the positive semi-definite matrices (beyond the round-off of a singular D)
    if np.any(np.linalg.eigvalsh(cov) < -1e-12 * np.abs(cov).max(axis=(1, 2))[:, None]):
        return -np.inf
    return _dense_loglik(X, y, groups, params)


def _dense_cholesky_loglik(v, X, y, groups):
    """The dense log-likelihood with each ``D_k = L_k L_k'`` (unconstrained ``L_k``)."""
    v = np.asarray(v, dtype=np.float64)
    tri = v[6:12].reshape(2, 3)
    L = np.zeros((2, 2, 2))
    L[:, [0, 1, 1], [0, 0, 1]] = tri
    D = L @ np.swapaxes(L, 1, 2)
    theta = np.concatenate([v[:6], D[:, [0, 1, 1], [0, 0, 1]].ravel(), v[12:]])
    return _dense_loglik(X, y, groups, _unpack(theta))


def _theta(model):
    cov = model.random_cov_
    return np.concatenate([np.column_stack([model.intercept_, model.coef_]).ravel(),
                           np.log(model.sigma_), cov[:, [0, 1, 1], [0, 0, 1]].ravel(),
                           [np.log(model.weights_[1] / model.weights_[0])]])


@pytest.mark.parametrize("seed", [1, 3])
def test_default_fit_reaches_the_dense_maximum(seed):
    """Data where a class's random-effect covariance is singular at the maximum, which
    EM approaches slowly: the fit reaches the maximum that BFGS finds on the dense
    likelihood (every D_k = L_k L_k' over unconstrained L_k) from the fit and from a
    perturbed start."""
    from scipy.optimize import minimize

    from regmix import RegressionMixture

    X, y, groups = _two_class_data(16, seed)
    model = RegressionMixture(2, family=MixedGaussian((0, 1)), random_state=0).fit(
        X, y, groups=groups)
    assert model.converged_
    theta = _theta(model)
    assert model.log_likelihood_ == pytest.approx(
        _dense_theta_loglik(theta, X, y, groups), abs=1e-9)
    assert np.linalg.eigvalsh(model.random_cov_).min() < 1e-8  # a singular D_k
    L = np.linalg.cholesky(model.random_cov_ + 1e-4 * np.eye(2))
    start = np.concatenate([theta[:6], L[:, [0, 1, 1], [0, 0, 1]].ravel(), theta[-1:]])
    best = -np.inf
    for v0 in (start, start + np.random.default_rng(seed).normal(0, 0.05, start.size)):
        res = minimize(lambda v: -_dense_cholesky_loglik(v, X, y, groups), v0,
                       method="BFGS", options=dict(gtol=1e-8, maxiter=2000))
        best = max(best, -res.fun)
    assert model.log_likelihood_ == pytest.approx(best, abs=1e-6)
    assert model.log_likelihood_ >= best - 1e-6


def test_group_derivatives_equal_numerical_derivatives():
    X, y, groups = _data()
    source = ArrayData(X, y, None, fit_intercept=True, standardize=False, groups=groups)
    chunk = source.chunk(0, source.n_rows)
    family = MixedGaussian((0, 1))
    comp = _params().component

    def vec(c):
        return np.column_stack([c.coef, np.log(c.sigma), c.cov[:, [0, 1, 1], [0, 0, 1]]])

    def unvec(v):
        return MixedGaussianParams(v[:, :2].copy(), np.exp(v[:, 2]),
                                   v[:, [3, 4, 4, 5]].reshape(2, 2, 2))

    logf, grad, hess = family.group_derivatives(comp, chunk)
    v0, h = vec(comp), 1e-6
    for j in range(v0.shape[1]):
        up, down = v0.copy(), v0.copy()
        up[:, j] += h
        down[:, j] -= h
        lu, gu, _ = family.group_derivatives(unvec(up), chunk)
        ld, gd, _ = family.group_derivatives(unvec(down), chunk)
        assert np.allclose(grad[:, :, j], (lu - ld) / (2 * h), rtol=1e-6, atol=1e-6)
        assert np.allclose(hess[:, :, :, j], (gu - gd) / (2 * h), rtol=1e-6, atol=1e-5)
    assert np.allclose(logf, family.group_log_density(comp, chunk)[0])


def test_standard_errors_equal_the_dense_numerical_hessian():
    """The observed-information standard errors against the inverse of a numerical
    Hessian of the dense log-likelihood in (coef, log sigma, vech D, log w2/w1), mapped
    to the natural parameters by the delta method."""
    from regmix import RegressionMixture

    X, y, groups = _two_class_data(16, 2)
    model = RegressionMixture(2, family=MixedGaussian((0, 1)), random_state=0).fit(
        X, y, groups=groups)
    theta = _theta(model)
    d, h = theta.size, 1e-4
    hess = np.empty((d, d))
    E = np.eye(d) * h
    f = lambda v: _dense_theta_loglik(v, X, y, groups)  # noqa: E731
    for i in range(d):
        for j in range(i, d):
            hess[i, j] = hess[j, i] = (f(theta + E[i] + E[j]) - f(theta + E[i] - E[j])
                                       - f(theta - E[i] + E[j]) + f(theta - E[i] - E[j])
                                       ) / (4 * h * h)
    cov_theta = np.linalg.inv(-hess)
    # natural parameters per component: coef, sigma, cov entries, weight
    w = model.weights_
    J = np.zeros((14, d))
    for k in range(2):
        J[7 * k : 7 * k + 2, 2 * k : 2 * k + 2] = np.eye(2)
        J[7 * k + 2, 4 + k] = model.sigma_[k]
        J[7 * k + 3 : 7 * k + 6, 6 + 3 * k : 9 + 3 * k] = np.eye(3)
    J[6, 12], J[13, 12] = -w[0] * w[1], w[0] * w[1]
    se = np.sqrt(np.diag(J @ cov_theta @ J.T))
    table = model.coef_table()
    assert list(table.index.get_level_values(1)[:7]) == [
        "intercept", "x0", "sigma", "var_0", "cov_1_0", "var_1", "weight"]
    assert np.allclose(table["estimate"], np.concatenate(
        [np.concatenate([[model.intercept_[k]], model.coef_[k], [model.sigma_[k]],
                         model.random_cov_[k][[0, 1, 1], [0, 0, 1]], [w[k]]])
         for k in range(2)]))
    assert np.allclose(table["std_err"], se, rtol=1e-4)


def _dense_effects(X, y, groups, params):
    """Per group: posterior probabilities (K,) and E[b | y, k] (K, q) from full matrices."""
    comp, out = params.component, []
    for g in np.unique(groups):
        rows = groups == g
        Xd = np.column_stack([np.ones(rows.sum()), X[rows]])
        logd, blups = [], []
        for k in range(2):
            V = Xd @ comp.cov[k] @ Xd.T + comp.sigma[k] ** 2 * np.eye(rows.sum())
            r = y[rows] - Xd @ comp.coef[k]
            logd.append(np.log(params.weights[k])
                        + multivariate_normal.logpdf(y[rows], Xd @ comp.coef[k], V))
            blups.append(comp.cov[k] @ Xd.T @ np.linalg.solve(V, r))
        logd = np.array(logd)
        out.append((np.exp(logd - logsumexp(logd)), np.array(blups), Xd, rows))
    return out


def test_random_effects_and_conditional_predictions_equal_dense_blups():
    from regmix import RegressionMixture

    X, y, groups = _two_class_data(20, 4)
    labels = np.array([f"s{g:02d}" for g in groups])[::-1].copy()  # labels out of order
    X, y = X[::-1].copy(), y[::-1].copy()
    model = RegressionMixture(2, family=MixedGaussian((0, 1)), random_state=0).fit(
        X, y, groups=labels)
    params = MixtureParams(model.weights_, model.family_.make_params(
        np.column_stack([model.intercept_, model.coef_]), model.state_.extra))
    dense = _dense_effects(X, y, labels, params)
    by_class = model.random_effects(X, y, groups=labels, by_class=True)
    mixed = model.random_effects(X, y, groups=labels)
    conditional = model.predict(X, kind="conditional", y=y, groups=labels)
    assert by_class.shape == (20, 2, 2) and mixed.shape == (20, 2)
    for g, (post, blups, Xd, rows) in enumerate(dense):
        assert np.allclose(by_class[g], blups, atol=1e-10)
        assert np.allclose(mixed[g], post @ blups, atol=1e-10)
        expected = sum(post[k] * Xd @ (params.component.coef[k] + blups[k]) for k in range(2))
        assert np.allclose(conditional[rows], expected, atol=1e-10)
    marginal = model.predict(X)
    assert np.allclose(marginal, (np.column_stack([np.ones(y.size), X])
                                  @ params.component.coef.T) @ model.weights_)
    with pytest.raises(ValueError, match="groups="):
        model.random_effects(X, y, groups=None)
    with pytest.raises(ValueError, match="conditional"):
        model.predict(X, groups=labels)


def test_sample_draws_classes_per_subject_and_their_random_effects():
    from regmix import RegressionMixture

    X, y, groups = _two_class_data(30, 5)
    model = RegressionMixture(2, family=MixedGaussian((0, 1)), random_state=0).fit(
        X, y, groups=groups)
    n_subjects, t = 20000, np.array([0.0, 1.0, 2.5])
    Xs = np.tile(t, n_subjects)[:, None]
    gs = np.repeat(np.arange(n_subjects), t.size)
    perm = np.random.default_rng(1).permutation(gs.size)  # rows in any order
    Xo, ys, lab = model.sample(X=Xs[perm], groups=gs[perm], random_state=3)
    assert np.array_equal(Xo, Xs[perm])
    back = np.empty_like(perm)
    back[perm] = np.arange(perm.size)
    ys, lab = ys[back].reshape(n_subjects, 3), lab[back].reshape(n_subjects, 3)
    assert np.all(lab == lab[:, :1])  # one class per subject
    Zt = np.column_stack([np.ones(3), t])
    for k in range(2):
        draws = ys[lab[:, 0] == k]
        assert abs(draws.shape[0] / n_subjects - model.weights_[k]) < 0.015
        mean = Zt @ np.r_[model.intercept_[k], model.coef_[k]]
        cov = Zt @ model.random_cov_[k] @ Zt.T + model.sigma_[k] ** 2 * np.eye(3)
        se = np.sqrt(np.diag(cov) / draws.shape[0])
        assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * se)
        assert np.allclose(np.cov(draws.T), cov, atol=0.1 * np.abs(cov).max())
    with pytest.raises(ValueError, match="groups="):
        model.sample(X=Xs)


def test_named_random_effects_save_load_and_component_selection(tmp_path):
    import pandas as pd

    from regmix import RegressionMixture, select_components
    from regmix.families.mixed_gaussian import random_terms
    from regmix.persistence import load

    assert random_terms("1 + time") == random_terms("time") == ("intercept", "time")
    assert random_terms("0 + time") == random_terms("time - 1") == ("time",)
    with pytest.raises(ValueError, match="random='1 \\+ time \\+ time'"):
        random_terms("1 + time + time")
    X, y, groups = _two_class_data(40, 7)
    frame = pd.DataFrame({"time": X[:, 0]})
    by_rows = RegressionMixture(2, family=MixedGaussian((0, 1)), random_state=0).fit(
        X, y, groups=groups)
    named = RegressionMixture(2, family=MixedGaussian("1 + time"), random_state=0).fit(
        frame, y, groups=groups)
    assert named.family_.z_rows == (0, 1)
    assert named.log_likelihood_ == pytest.approx(by_rows.log_likelihood_, abs=1e-9)
    assert np.allclose(named.random_cov_, by_rows.random_cov_, atol=1e-6)
    assert list(named.coef_table().loc[1].index) == [
        "intercept", "time", "sigma", "var_intercept", "cov_time_intercept", "var_time",
        "weight"]
    with pytest.raises(ValueError, match="'age'"):
        RegressionMixture(2, family=MixedGaussian(["intercept", "age"])).fit(
            frame, y, groups=groups)
    path = tmp_path / "mixed.json"
    named.save(path)
    loaded = load(path)
    assert loaded.family_.z_rows == (0, 1) and loaded.family_.names == ("intercept", "time")
    assert np.array_equal(loaded.random_cov_, named.random_cov_)
    assert loaded.log_likelihood(frame, y, groups=groups) == pytest.approx(
        named.log_likelihood_, abs=1e-9)
    assert np.array_equal(loaded.random_effects(frame, y, groups=groups),
                          named.random_effects(frame, y, groups=groups))
    pd.testing.assert_frame_equal(loaded.coef_table(), named.coef_table())
    sel = select_components(frame, y, n_components=[1, 2], groups=groups,
                            family=MixedGaussian("1 + time"), random_state=0)
    assert sel.best_n_components_ == 2
    assert sel.table.loc[2, "log_likelihood"] >= named.log_likelihood_ - 1e-6
    one = RegressionMixture(1, family=MixedGaussian("1 + time"), random_state=0).fit(
        frame, y, groups=groups)
    assert sel.table.loc[1, "log_likelihood"] == pytest.approx(one.log_likelihood_, abs=1e-6)


def test_command_line_fits_random_effects_named_by_column(tmp_path):
    import io
    import json

    import pandas as pd
    from click.testing import CliRunner

    from regmix import RegressionMixture
    from regmix.cli import main

    X, y, groups = _two_class_data(40, 7)
    frame = pd.DataFrame({"time": X[:, 0], "y": y, "subject": groups})
    frame.to_csv(tmp_path / "long.csv", index=False)
    args = ["fit", str(tmp_path / "long.csv"), "--formula", "y ~ time", "--groups",
            "subject", "--random", "time", "--format", "json", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    expected = RegressionMixture(2, family=MixedGaussian("1 + time"), formula="y ~ time",
                                 n_init=2, random_state=0).fit(frame, groups="subject")
    assert report["header"]["log_likelihood"] == pytest.approx(expected.log_likelihood_,
                                                               abs=1e-9)
    assert [r["parameter"] for r in report["coefficients"][:7]] == [
        "intercept", "time", "sigma", "var_intercept", "cov_time_intercept", "var_time",
        "weight"]
    refused = CliRunner().invoke(main, args[:4] + ["--random", "time"])
    assert refused.exit_code != 0 and "--groups" in refused.output
    saved = CliRunner().invoke(main, args + ["--out", str(tmp_path / "m.json")])
    assert saved.exit_code == 0, saved.output
    predicted = CliRunner().invoke(main, ["predict", str(tmp_path / "m.json"),
                                          str(tmp_path / "long.csv"), "--groups", "subject"])
    assert predicted.exit_code == 0, predicted.output
    table = pd.read_csv(io.StringIO(predicted.output))
    assert np.allclose(table["conditional"], expected.predict(
        frame, kind="conditional", groups="subject"), rtol=1e-12, atol=1e-12)
    assert np.allclose(table["posterior_1"], expected.posterior(frame, groups="subject")[:, 0])
    refused = CliRunner().invoke(main, ["predict", str(tmp_path / "m.json"),
                                        str(tmp_path / "long.csv")])
    assert refused.exit_code != 0 and "--groups" in refused.output


def test_parquet_stream_sorted_by_subject_gives_the_in_memory_fit(tmp_path):
    """Streamed fits are bit-identical across row groups and chunk sizes (chunks are cut
    at subject boundaries) and equal the in-memory fit to round-off (the sources take
    the moments of the standardisation in different orders)."""
    pytest.importorskip("pyarrow")
    import pandas as pd

    from regmix import RegressionMixture
    from regmix.sources.parquet import ParquetData

    X, y, groups = _two_class_data(60, 8)
    frame = pd.DataFrame({"time": X[:, 0], "y": y, "subject": groups})
    settings = dict(family=MixedGaussian("1 + time"), random_state=0)
    memory = RegressionMixture(2, **settings).fit(frame[["time"]], y, groups=groups)
    fits = []
    for i, (row_group, chunk) in enumerate([(37, 64), (300, 8192), (11, 100)]):
        path = tmp_path / f"long{i}.parquet"
        frame.to_parquet(path, row_group_size=row_group)
        source = ParquetData(path, x=["time"], y="y", groups="subject")
        fits.append(RegressionMixture(2, chunk_size=chunk, **settings).fit(source))
    for fit in fits[1:]:
        assert np.array_equal(fit.log_likelihood_history_, fits[0].log_likelihood_history_)
        assert np.array_equal(fit.random_cov_, fits[0].random_cov_)
        assert np.array_equal(fit.coef_, fits[0].coef_)
        assert np.array_equal(fit.information_, fits[0].information_)
    streamed = fits[0]
    assert streamed.n_groups_ == 60
    assert streamed.log_likelihood_ == pytest.approx(memory.log_likelihood_, abs=1e-9)
    assert np.allclose(streamed.random_cov_, memory.random_cov_, atol=1e-7)
    assert np.allclose(streamed.coef_, memory.coef_, atol=1e-7)
    assert np.allclose(streamed.information_, memory.information_, rtol=1e-6,
                       atol=1e-8 * np.abs(memory.information_).max())


def test_parametric_bootstrap_agrees_with_the_observed_information():
    """Replicates drawn by ``sample`` (a class and random effects per subject) and
    refitted: their spread of the coefficients, sigma and weights is that of the
    observed-information standard errors (within what 40 replicates can tell)."""
    from regmix import RegressionMixture

    X, y, groups = _two_class_data(40, 2)
    model = RegressionMixture(2, family=MixedGaussian((0, 1)), random_state=0).fit(
        X, y, groups=groups)
    boot = model.bootstrap(X, y, groups=groups, n_boot=40, kind="parametric",
                           random_state=1)
    table = model.coef_table()
    assert list(boot.replicates.columns) == list(table.index)
    keep = table.index.get_level_values(1).isin(["intercept", "x0", "sigma", "weight"])
    ratio = boot.replicates.std().to_numpy()[keep] / table["std_err"].to_numpy()[keep]
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio


def test_formula_random_effects_term_is_the_named_family_and_groups(tmp_path):
    """``"y ~ time + (1 + time | subject)"`` (lme4's notation) fits what
    ``family=MixedGaussian("1 + time")`` with ``groups="subject"`` fits, to the bit; the
    term's column gives the groups of every later call, a model file keeps it, and the
    command line takes it; a term with another family, two terms, or other groups are
    refused by name."""
    import io

    import pandas as pd
    from click.testing import CliRunner

    from regmix import RegressionMixture
    from regmix.cli import main
    from regmix.estimator.formula import split_random
    from regmix.persistence import load

    assert split_random("y ~ time + (1 + time | subject)") == (
        "y ~ time", "1 + time", "subject")
    assert split_random("y ~ (1 | g) + x | z") == ("y ~ x | z", "1", "g")
    assert split_random("y ~ x + I((x + 1))") == ("y ~ x + I((x + 1))", None, None)
    X, y, groups = _two_class_data(40, 7)
    frame = pd.DataFrame({"time": X[:, 0], "y": y, "subject": groups})
    term = RegressionMixture(2, formula="y ~ time + (1 + time | subject)",
                             random_state=0).fit(frame)
    named = RegressionMixture(2, family=MixedGaussian("1 + time"), formula="y ~ time",
                              random_state=0).fit(frame, groups="subject")
    assert term.log_likelihood_ == named.log_likelihood_
    np.testing.assert_array_equal(term.random_cov_, named.random_cov_)
    np.testing.assert_array_equal(term.posterior(frame),
                                  named.posterior(frame, groups="subject"))
    np.testing.assert_array_equal(term.predict(frame, kind="conditional"),
                                  named.predict(frame, kind="conditional", groups="subject"))
    path = tmp_path / "term.json"
    term.save(path)
    np.testing.assert_array_equal(load(path).posterior(frame), term.posterior(frame))
    frame.to_csv(tmp_path / "long.csv", index=False)
    fitted = CliRunner().invoke(main, ["fit", str(tmp_path / "long.csv"), "--formula",
                                       "y ~ time + (1 + time | subject)", "--quiet",
                                       "--out", str(tmp_path / "cli.json")])
    assert fitted.exit_code == 0, fitted.output
    predicted = CliRunner().invoke(main, ["predict", str(tmp_path / "cli.json"),
                                          str(tmp_path / "long.csv")])
    assert predicted.exit_code == 0, predicted.output
    table = pd.read_csv(io.StringIO(predicted.output))
    np.testing.assert_allclose(table["conditional"], term.predict(frame, kind="conditional"),
                               rtol=1e-12, atol=1e-12)
    for kwargs, match in [({"family": "poisson"}, "makes a linear mixed model"),
                          ({"formula": "y ~ time + (1 | subject) + (time | subject)"},
                           "one random-effects term")]:
        params = {"formula": "y ~ time + (1 + time | subject)", **kwargs}
        with pytest.raises(ValueError, match=match):
            RegressionMixture(2, **params).fit(frame)
    frame["other"] = frame["subject"]
    with pytest.raises(ValueError, match="groups by 'subject'"):
        RegressionMixture(2, formula="y ~ time + (1 | subject)").fit(frame, groups="other")


@pytest.mark.parametrize("constraint", [{"common_coef": ["time"]},
                                        {"fixed_coef": {"time": 0.0}}])
def test_coefficient_constraints_are_refused_not_ignored(constraint):
    """The mixed model's M-step does not take the coefficient constraints: they are
    refused by name rather than fitted as if absent (a common sigma, equal_variance, is
    fitted: tests/test_mixed_covariance.py)."""
    import pandas as pd

    from regmix import RegressionMixture

    X, y, groups = _two_class_data(20, 7)
    frame = pd.DataFrame({"time": X[:, 0], "y": y, "subject": groups})
    with pytest.raises(ValueError, match="not supported yet for a latent-class linear"):
        RegressionMixture(2, formula="y ~ time + (1 + time | subject)",
                          **constraint).fit(frame)


def test_predict_names_the_conditional_kind_in_its_refusal():
    import pandas as pd

    from regmix import RegressionMixture

    X, y, groups = _two_class_data(20, 7)
    frame = pd.DataFrame({"time": X[:, 0], "y": y, "subject": groups})
    model = RegressionMixture(2, formula="y ~ time + (1 + time | subject)",
                              random_state=0).fit(frame)
    with pytest.raises(ValueError, match="'response', 'link', 'conditional'; got 'blup'"):
        model.predict(frame, kind="blup")
