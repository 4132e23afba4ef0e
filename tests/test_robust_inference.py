"""Robust and cluster-robust standard errors against sandwiches computed by hand.

The reference codes each observation's mixture log-likelihood with numpy/scipy, takes
the observations' scores by central differences and the information by differences of
the summed scores, and builds ``c H^-1 B H^-1``; for one component the GLM sandwiches of
statsmodels are the reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from regmix import RegressionMixture

sm = pytest.importorskip("statsmodels.api")


# ---------------------------------------------------------------------- the reference
def numeric_scores(unit_ll, phi: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """(N, d) central differences of the per-unit log-likelihoods."""
    cols = []
    for j in range(phi.size):
        e = np.zeros_like(phi)
        e[j] = h
        cols.append((unit_ll(phi + e) - unit_ll(phi - e)) / (2 * h))
    return np.column_stack(cols)


def reference_sandwich(unit_ll, phi, w=None, clusters=None) -> np.ndarray:
    """``c H^-1 B H^-1`` of ``sum_o w_o unit_ll(phi)_o`` by numerical differentiation."""
    N = unit_ll(phi).size
    w = np.ones(N) if w is None else np.asarray(w, dtype=float)

    def gradient(v):
        return w @ numeric_scores(unit_ll, v)

    h = 1e-4
    H = np.column_stack([(gradient(phi + h * e) - gradient(phi - h * e)) / (2 * h)
                         for e in np.eye(phi.size)])
    H = -0.5 * (H + H.T)
    s = numeric_scores(unit_ll, phi) * w[:, None]
    if clusters is None:
        B, n = s.T @ s, np.count_nonzero(w > 0)
    else:
        labels, codes = np.unique(clusters, return_inverse=True)
        S = np.zeros((labels.size, phi.size))
        for g in range(labels.size):
            S[g] = s[codes == g].sum(axis=0)
        B, n = S.T @ S, labels.size
    Hinv = np.linalg.inv(H)
    return n / (n - 1) * Hinv @ B @ Hinv


def gaussian_units(D, y, K, groups=None, build=lambda phi: phi):
    """Per-observation log-likelihoods of a Gaussian mixture in ``theta = build(phi)``
    = (b_1, log s_1, ..., b_K, log s_K, eta_2..eta_K); per group when grouped."""
    p = D.shape[1]

    def unit_ll(phi):
        theta = build(phi)
        eta = np.r_[0.0, theta[K * (p + 1):]]
        logpi = eta - special.logsumexp(eta)
        logf = np.vstack([stats.norm.logpdf(y, D @ theta[k * (p + 1): k * (p + 1) + p],
                                            np.exp(theta[k * (p + 1) + p]))
                          for k in range(K)])
        if groups is not None:
            logf = np.vstack([np.bincount(groups, weights=row) for row in logf])
        return special.logsumexp(logf + logpi[:, None], axis=0)

    return unit_ll


def gaussian_theta(model) -> np.ndarray:
    full = np.column_stack([model.intercept_, model.coef_])
    eta = np.log(model.weights_[1:] / model.weights_[0])
    return np.r_[np.column_stack([full, np.log(model.sigma_)]).ravel(), eta]


def coef_block(cov: pd.DataFrame, names) -> np.ndarray:
    keys = [(k, n) for k in cov.index.get_level_values(0).unique() for n in names]
    return cov.loc[keys, keys].to_numpy()


@pytest.fixture(scope="module")
def gaussian_data():
    rng = np.random.default_rng(3)
    n = 300
    X = rng.normal(size=(n, 2))
    z = rng.random(n) < 0.4
    scale = np.where(z, 0.5, 1.0) * (1 + 0.5 * np.abs(X[:, 0]))  # heteroscedastic
    y = np.where(z, 3 + X @ [1.0, -1.0], -1 + X @ [-1.0, 0.5]) + scale * rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    clusters = np.array([f"c{j}" for j in rng.integers(0, 25, size=n)])
    return X, y, w, clusters


def _compare(model_cov, ref_cov, model, rtol=2e-5):
    """The coefficients' and sigmas' covariance from the model and from the reference
    (theta holds log sigma: sigma's covariance is sigma_k sigma_l times its)."""
    names = ["intercept", "x0", "x1"]
    K, p = model.n_components, 3
    idx = np.concatenate([np.arange(k * (p + 1), k * (p + 1) + p) for k in range(K)])
    ref = ref_cov[np.ix_(idx, idx)]
    np.testing.assert_allclose(coef_block(model_cov, names), ref, rtol=rtol,
                               atol=rtol * np.abs(ref).max())
    ls = np.array([k * (p + 1) + p for k in range(K)])
    ref_sigma = ref_cov[np.ix_(ls, ls)] * np.outer(model.sigma_, model.sigma_)
    np.testing.assert_allclose(coef_block(model_cov, ["sigma"]), ref_sigma, rtol=rtol,
                               atol=rtol * np.abs(ref_sigma).max())


@pytest.mark.parametrize("weighted", [False, True])
def test_gaussian_robust_matches_the_hand_sandwich(gaussian_data, weighted):
    X, y, w, _ = gaussian_data
    w = w if weighted else None
    model = RegressionMixture(2, random_state=0).fit(X, y, sample_weight=w)
    D = np.column_stack([np.ones(len(y)), X])
    ref = reference_sandwich(gaussian_units(D, y, 2), gaussian_theta(model), w)
    cov = model.covariance_matrix("robust", X=X, y=y, sample_weight=w)
    _compare(cov, ref, model)
    assert "n/(n-1), n = 300 observations" in cov.attrs["se_method"]


def test_gaussian_cluster_matches_the_hand_sandwich(gaussian_data):
    X, y, w, clusters = gaussian_data
    model = RegressionMixture(2, random_state=0).fit(X, y, sample_weight=w)
    D = np.column_stack([np.ones(len(y)), X])
    ref = reference_sandwich(gaussian_units(D, y, 2), gaussian_theta(model), w, clusters)
    cov = model.covariance_matrix("cluster", X=X, y=y, sample_weight=w, clusters=clusters)
    _compare(cov, ref, model)
    table = model.coef_table(cov_type="cluster", X=X, y=y, sample_weight=w,
                             clusters=clusters)
    np.testing.assert_allclose(table["std_err"].to_numpy(), np.sqrt(np.diag(cov)))
    assert "G = 25 clusters" in table.attrs["se_method"]
    text = str(model.summary(cov_type="cluster", X=X, y=y, sample_weight=w,
                             clusters=clusters))
    assert "G/(G-1), G = 25 clusters" in " ".join(text.split())  # the notes are wrapped


def test_grouped_rows_score_whole_groups(gaussian_data):
    X, y, _, _ = gaussian_data
    groups = np.arange(len(y)) // 3  # 100 groups of three rows, sorted already
    order = np.random.default_rng(0).permutation(len(y))  # given in any order
    model = RegressionMixture(2, random_state=0).fit(X[order], y[order],
                                                     groups=groups[order])
    D = np.column_stack([np.ones(len(y)), X])
    ref = reference_sandwich(gaussian_units(D, y, 2, groups), gaussian_theta(model))
    cov = model.covariance_matrix("robust", X=X[order], y=y[order], groups=groups[order])
    _compare(cov, ref, model)
    assert "n = 100 groups" in cov.attrs["se_method"]
    # clusters of whole groups, given in the caller's order
    clusters = groups // 4
    ref = reference_sandwich(gaussian_units(D, y, 2, groups), gaussian_theta(model),
                             clusters=clusters[::3])
    cov = model.covariance_matrix("cluster", X=X[order], y=y[order], groups=groups[order],
                                  clusters=clusters[order])
    _compare(cov, ref, model)
    with pytest.raises(ValueError, match="clusters must hold whole groups"):
        model.covariance_matrix("cluster", X=X, y=y, groups=groups,
                                clusters=np.arange(len(y)) % 2)


def test_constraints_go_through_the_constraint_map(gaussian_data):
    X, y, _, _ = gaussian_data
    D = np.column_stack([np.ones(len(y)), X])
    common = RegressionMixture(2, common_coef=["x0"], random_state=0).fit(X, y)
    fixed = RegressionMixture(2, fixed_coef={"x0": 0.25}, random_state=0).fit(X, y)

    def build_common(phi):  # (a_1, c_1, ls_1, a_2, c_2, ls_2, b_x0, eta)
        a1, c1, l1, a2, c2, l2, b, eta = phi
        return np.array([a1, b, c1, l1, a2, b, c2, l2, eta])

    def build_fixed(phi):  # (a_1, c_1, ls_1, a_2, c_2, ls_2, eta)
        a1, c1, l1, a2, c2, l2, eta = phi
        return np.array([a1, 0.25, c1, l1, a2, 0.25, c2, l2, eta])

    equal = RegressionMixture(2, equal_variance=True, random_state=0).fit(X, y)

    def build_equal(phi):  # (b_1, b_2, log s, eta)
        return np.r_[phi[:3], phi[6], phi[3:6], phi[6], phi[7]]

    for model, build, take in ((common, build_common, [0, 2, 3, 4, 6, 7, 1, 8]),
                               (fixed, build_fixed, [0, 2, 3, 4, 6, 7, 8]),
                               (equal, build_equal, [0, 1, 2, 4, 5, 6, 3, 8])):
        phi = gaussian_theta(model)[take]
        ref_phi = reference_sandwich(gaussian_units(D, y, 2, build=build), phi)
        # the reference's covariance of theta: the chain rule through build (linear)
        Cm = np.column_stack([build(e) - build(np.zeros_like(phi)) for e in np.eye(phi.size)])
        _compare(model.covariance_matrix("robust", X=X, y=y), Cm @ ref_phi @ Cm.T, model)


def test_poisson_with_gating_matches_the_hand_sandwich():
    rng = np.random.default_rng(5)
    n = 400
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    first = rng.random(n) < special.expit(0.3 + 1.2 * z)
    mu = np.exp(np.where(first, 0.5 + 0.8 * x, 2.0 - 0.4 * x))
    y = rng.negative_binomial(8, 8 / (8 + mu)).astype(float)  # overdispersed
    X, Z = x[:, None], pd.DataFrame({"z": z})
    model = RegressionMixture(2, family="poisson", random_state=0).fit(X, y, concomitant=Z)
    D = np.column_stack([np.ones(n), x])
    G = np.column_stack([np.ones(n), z])

    def unit_ll(theta):
        b = theta[:4].reshape(2, 2)
        logpi = special.log_softmax(np.column_stack([np.zeros(n), G @ theta[4:]]), axis=1)
        logf = np.column_stack([stats.poisson.logpmf(y, np.exp(D @ bk)) for bk in b])
        return special.logsumexp(logf + logpi, axis=1)

    theta = np.r_[np.column_stack([model.intercept_, model.coef_]).ravel(),
                  model.gating_coef_[1]]
    clusters = rng.integers(0, 40, size=n)
    for cov_type, cl in (("robust", None), ("cluster", clusters)):
        ref = reference_sandwich(unit_ll, theta, clusters=cl)
        cov = model.covariance_matrix(cov_type, X=X, y=y, concomitant=Z, clusters=cl)
        np.testing.assert_allclose(cov.to_numpy(), ref, rtol=2e-5, atol=1e-12)


# ---------------------------------------------------------------------- one component
@pytest.fixture(scope="module")
def poisson_one():
    rng = np.random.default_rng(11)
    n = 500
    X = rng.normal(size=(n, 2))
    mu = np.exp(0.3 + X @ [0.5, -0.3])
    y = rng.negative_binomial(3, 3 / (3 + mu)).astype(float)
    clusters = rng.integers(0, 30, size=n)
    model = RegressionMixture(1, family="poisson", random_state=0).fit(X, y)
    return X, y, clusters, model


def test_one_poisson_component_is_statsmodels_hc0(poisson_one):
    X, y, _, model = poisson_one
    n = len(y)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit(cov_type="HC0")
    table = model.coef_table(cov_type="robust", X=X, y=y)
    np.testing.assert_allclose(table["std_err"].to_numpy()[:3],
                               ref.bse * np.sqrt(n / (n - 1)), rtol=1e-7)


def test_one_poisson_component_is_statsmodels_cluster(poisson_one):
    X, y, clusters, model = poisson_one
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": clusters, "use_correction": False})
    table = model.coef_table(cov_type="cluster", X=X, y=y, clusters=clusters)
    np.testing.assert_allclose(table["std_err"].to_numpy()[:3],
                               ref.bse * np.sqrt(30 / 29), rtol=1e-7)


def test_one_gaussian_component_is_statsmodels_hc0(gaussian_data):
    X, y, _, _ = gaussian_data
    n = len(y)
    model = RegressionMixture(1, random_state=0).fit(X, y)
    ref = sm.OLS(y, sm.add_constant(X)).fit(cov_type="HC0")
    table = model.coef_table(cov_type="robust", X=X, y=y)
    np.testing.assert_allclose(table["std_err"].to_numpy()[:3],
                               ref.bse * np.sqrt(n / (n - 1)), rtol=1e-7)


# ---------------------------------------------------------------------- inputs
def test_formula_model_takes_a_cluster_column(gaussian_data):
    X, y, _, clusters = gaussian_data
    df = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": y, "school": clusters})
    model = RegressionMixture(2, formula="y ~ a + b", random_state=0).fit(df)
    by_name = model.coef_table(cov_type="cluster", X=df, clusters="school")
    by_array = model.coef_table(cov_type="cluster", X=df, clusters=clusters)
    np.testing.assert_array_equal(by_name.to_numpy(), by_array.to_numpy())
    with pytest.raises(ValueError, match="'town' is not a column of X"):
        model.coef_table(cov_type="cluster", X=df, clusters="town")


def test_parquet_source_gives_the_same_sandwich(gaussian_data, tmp_path):
    pytest.importorskip("pyarrow")
    from regmix.parquet import ParquetData

    X, y, _, clusters = gaussian_data
    path = tmp_path / "rows.parquet"
    pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "y": y}).to_parquet(path)
    source = ParquetData(path, x=["x0", "x1"], y="y")
    model = RegressionMixture(2, random_state=0).fit(source)
    frame = pd.DataFrame(X, columns=["x0", "x1"])
    in_memory = model.covariance_matrix("cluster", X=frame, y=y, clusters=clusters)
    streamed = model.covariance_matrix("cluster", X=source, clusters=clusters)
    np.testing.assert_allclose(streamed.to_numpy(), in_memory.to_numpy(), rtol=1e-10)


def test_bad_requests_are_refused(gaussian_data):
    X, y, _, clusters = gaussian_data
    model = RegressionMixture(2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="cov_type must be one of"):
        model.coef_table(cov_type="hc3")
    with pytest.raises(ValueError, match="needs the training data"):
        model.coef_table(cov_type="robust")
    with pytest.raises(ValueError, match="needs clusters="):
        model.coef_table(cov_type="cluster", X=X, y=y)
    with pytest.raises(ValueError, match="clusters= needs cov_type='cluster'"):
        model.coef_table(cov_type="robust", X=X, y=y, clusters=clusters)
    with pytest.raises(ValueError, match="not the training data"):
        model.coef_table(cov_type="robust", X=X, y=y + 1.0)
    with pytest.raises(ValueError, match="X has 299 rows, the fit had 300"):
        model.coef_table(cov_type="robust", X=X[1:], y=y[1:])
    with pytest.raises(ValueError, match="one label per row"):
        model.coef_table(cov_type="cluster", X=X, y=y, clusters=clusters[:-1])
    with pytest.raises(ValueError, match="missing label at row 4"):
        model.coef_table(cov_type="cluster", X=X, y=y,
                         clusters=np.where(np.arange(len(y)) == 4, None, clusters))
    with pytest.raises(ValueError, match="at least two clusters"):
        model.coef_table(cov_type="cluster", X=X, y=y, clusters=np.zeros(len(y)))
    X_before, y_before = X.copy(), y.copy()
    model.coef_table(cov_type="cluster", X=X, y=y, clusters=clusters)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


# ---------------------------------------------------------------------- the CLI
def test_cli_prints_cluster_robust_errors(gaussian_data, tmp_path):
    import json

    from click.testing import CliRunner

    from regmix.cli import main

    X, y, _, clusters = gaussian_data
    df = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": y, "school": clusters})
    path = tmp_path / "rows.csv"
    df.to_csv(path, index=False)
    args = ["fit", str(path), "--formula", "y ~ a + b", "-q", "--format", "json",
            "--cov-type", "cluster", "--clusters", "school"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    model = RegressionMixture(2, formula="y ~ a + b", random_state=0).fit(df)
    table = model.coef_table(cov_type="cluster", X=df, clusters="school")
    np.testing.assert_allclose([r["std_err"] for r in report["coefficients"]],
                               table["std_err"].to_numpy(), rtol=1e-6)
    assert "G = 25 clusters" in report["se_method"]
    result = CliRunner().invoke(main, args[:-2])
    assert result.exit_code == 2
    assert result.output.startswith("error: --clusters COLUMN goes with --cov-type cluster")


def test_dask_source_gives_the_same_sandwich(gaussian_data):
    da = pytest.importorskip("dask.array")
    from regmix.dask_source import DaskData

    X, y, _, clusters = gaussian_data
    model = RegressionMixture(2, random_state=0).fit(X, y)
    source = DaskData(da.from_array(X, chunks=(70, 2)), da.from_array(y, chunks=70), None,
                      fit_intercept=True)
    for cov_type, cl in (("robust", None), ("cluster", clusters)):
        in_memory = model.covariance_matrix(cov_type, X=X, y=y, clusters=cl)
        on_dask = model.covariance_matrix(cov_type, X=source, clusters=cl)
        np.testing.assert_allclose(on_dask.to_numpy(), in_memory.to_numpy(), rtol=1e-10)


def test_known_labels_give_the_sandwich_of_the_masked_likelihood(gaussian_data):
    X, y, _, _ = gaussian_data
    rng = np.random.default_rng(5)
    known = np.where(rng.uniform(size=y.size) < 0.2, 1 + (y < 1), -1)  # some rows labelled
    model = RegressionMixture(2, random_state=0).fit(X, y, known_labels=known)
    K, D = 2, np.column_stack([np.ones(y.size), X])
    allowed = np.ones((y.size, K), dtype=bool)
    allowed[known > 0] = np.eye(K, dtype=bool)[known[known > 0] - 1]
    free = gaussian_units(D, y, K)

    def unit_ll(phi):  # the rows' log-likelihoods with the excluded components removed
        p = D.shape[1]
        eta = np.r_[0.0, phi[K * (p + 1):]]
        logpi = eta - special.logsumexp(eta)
        logf = np.vstack([stats.norm.logpdf(y, D @ phi[k * (p + 1): k * (p + 1) + p],
                                            np.exp(phi[k * (p + 1) + p]))
                          for k in range(K)])
        return special.logsumexp(np.where(allowed.T, logf + logpi[:, None], -np.inf), axis=0)

    phi = gaussian_theta(model)
    assert unit_ll(phi).sum() == pytest.approx(model.log_likelihood_, rel=1e-10)
    assert free(phi).sum() != pytest.approx(model.log_likelihood_, rel=1e-6)
    cov = model.covariance_matrix("robust", X=X, y=y, known_labels=known)
    _compare(cov, reference_sandwich(unit_ll, phi), model)
    with pytest.raises(ValueError, match="pass them again"):
        model.covariance_matrix("robust", X=X, y=y)
