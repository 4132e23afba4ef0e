"""The covariance structures of the latent-class linear mixed model (diagonal or full
``D``; specific, common or proportional across classes; a common sigma) against a dense
reference: full marginal covariance matrices, each structure's parameters maximised by
scipy from regmix's solution and from other starts."""

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from regmix import RegressionMixture
from regmix.families.mixed_gaussian import MixedGaussian
from tests.reference import numerical_hessian

N_ROWS = 5  # rows per subject


def _data(n_groups, seed, slope_sd=0.3):
    """Two classes of subjects with 5 rows each, random intercepts and slopes."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), N_ROWS)
    t = rng.uniform(0, 3, groups.size)
    cls = rng.integers(0, 2, n_groups)[groups]
    b = rng.normal(size=(n_groups, 2))[groups] * [0.8, slope_sd]
    y = np.where(cls == 0, t, 4 - t) + b[:, 0] + b[:, 1] * t + rng.normal(0, 0.5, t.size)
    return t[:, None], y, groups


def _dense_loglik(X, y, coef, sigma, cov, weights):
    """``sum_i log sum_k pi_k N(y_i; X_i beta_k, Z_i D_k Z_i' + sigma_k^2 I)`` with the
    full (5, 5) covariance matrix of every subject (Z = X = [1, t])."""
    Xd = np.column_stack([np.ones(y.size), X]).reshape(-1, N_ROWS, 2)
    Y = y.reshape(-1, N_ROWS)
    terms = []
    for k in range(len(weights)):
        V = Xd @ cov[k] @ np.swapaxes(Xd, 1, 2) + sigma[k] ** 2 * np.eye(N_ROWS)
        C = np.linalg.cholesky(V)
        r = np.linalg.solve(C, (Y - Xd @ coef[k])[..., None])[..., 0]
        logdet = 2.0 * np.log(np.diagonal(C, axis1=1, axis2=2)).sum(axis=1)
        terms.append(
            np.log(weights[k]) - 0.5 * (N_ROWS * np.log(2 * np.pi) + logdet + (r * r).sum(axis=1))
        )
    return float(logsumexp(np.array(terms), axis=0).sum())


class Structure:
    """A structure's own parameters ``v``: coefficients, log sigma (one or per class),
    the factors of the free covariances (a lower-triangular ``L``, D = L L', or the
    standard deviations of a diagonal D), the ratios ``w_k`` (proportional), the log
    weight ratios."""

    def __init__(self, cov, classes, equal_variance, K=2):
        self.cov, self.classes, self.equal, self.K = cov, classes, equal_variance, K
        self.n_s = 1 if equal_variance else K
        self.G = K if classes == "specific" else 1
        self.u = 3 if cov == "full" else 2
        self.n_w = K - 1 if classes == "proportional" else 0

    def unpack(self, v):
        K = self.K
        ends = np.cumsum([2 * K, self.n_s, self.G * self.u, self.n_w])
        coef, log_s, f, w, eta = np.split(np.asarray(v, dtype=np.float64), ends)
        f = f.reshape(self.G, self.u)
        L = np.zeros((self.G, 2, 2))
        if self.cov == "full":
            L[:, [0, 1, 1], [0, 0, 1]] = f
        else:
            L[:, [0, 1], [0, 1]] = f
        D = L @ np.swapaxes(L, 1, 2)
        D = D if self.G == K else np.repeat(D, K, axis=0)
        if self.n_w:
            D = np.append(w**2, 1.0)[:, None, None] * D
        eta = np.concatenate([[0.0], eta])
        return (
            coef.reshape(K, 2),
            np.broadcast_to(np.exp(log_s), (K,)),
            D,
            np.exp(eta - logsumexp(eta)),
        )

    def vector(self, model):
        """``v`` of a fitted model."""
        D = model.random_cov_
        free = D if self.G == self.K else D[-1:]
        if self.cov == "full":
            L = np.linalg.cholesky(free + 1e-10 * np.eye(2))[:, [0, 1, 1], [0, 0, 1]]
        else:
            L = np.sqrt(free[:, [0, 1], [0, 1]])
        tr = np.trace(D, axis1=1, axis2=2)
        w = np.sqrt(tr[:-1] / tr[-1])[: self.n_w]
        lw = np.log(model.weights_)
        return np.concatenate(
            [
                np.column_stack([model.intercept_, model.coef_]).ravel(),
                np.log(model.sigma_[: self.n_s]),
                L.ravel(),
                w,
                lw[1:] - lw[0],
            ]
        )

    def n_parameters(self):
        return 2 * self.K + self.n_s + self.G * self.u + self.n_w + self.K - 1


def _fit(X, y, groups, structure, **settings):
    family = MixedGaussian((0, 1), cov=structure.cov, cov_classes=structure.classes)
    return RegressionMixture(
        structure.K, family=family, equal_variance=structure.equal, random_state=0, **settings
    ).fit(X, y, groups=groups)


def _check_structure(model, structure):
    D = model.random_cov_
    if structure.cov == "diagonal":
        assert np.all(D[:, 0, 1] == 0.0) and np.all(D[:, 1, 0] == 0.0)
    if structure.classes == "common":
        assert np.allclose(D, D[0], rtol=1e-12, atol=0)
    if structure.classes == "proportional":
        free = D[1] != 0
        assert np.allclose(D[0][free] / D[1][free], D[0, 0, 0] / D[1, 0, 0], rtol=1e-8)
    if structure.equal:
        assert model.sigma_[0] == pytest.approx(model.sigma_[1], rel=1e-12)


CASES = [
    ("full", "common", False),
    ("full", "proportional", True),
    ("diagonal", "specific", True),
    ("diagonal", "common", False),
    ("diagonal", "proportional", False),
    ("full", "common", True),
]


@pytest.mark.parametrize(("cov", "classes", "equal"), CASES)
def test_each_structure_reaches_the_dense_maximum(cov, classes, equal):
    X, y, groups = _data(20, 1, slope_sd=0.5)
    s = Structure(cov, classes, equal)
    model = _fit(X, y, groups, s, n_init=1)
    assert model.converged_
    assert np.all(np.diff(model.log_likelihood_history_) >= -1e-9)
    _check_structure(model, s)
    assert model.n_parameters_ == s.n_parameters()
    assert model.information_.shape == (s.n_parameters(),) * 2  # the free parameters
    v = s.vector(model)
    loglik = lambda v: _dense_loglik(X, y, *s.unpack(v))  # noqa: E731
    assert loglik(v) == pytest.approx(model.log_likelihood_, abs=1e-9)
    best = -np.inf
    rng = np.random.default_rng(0)
    for v0 in (v, v + rng.normal(0, 0.1, v.size), v + rng.normal(0, 0.3, v.size)):
        res = minimize(
            lambda v: -loglik(v), v0, method="BFGS", options=dict(gtol=1e-7, maxiter=3000)
        )
        best = max(best, -res.fun)
    assert model.log_likelihood_ >= best - 1e-6
    assert model.log_likelihood_ == pytest.approx(best, abs=1e-6)


def test_dense_reference_is_the_multivariate_normal_density():
    X, y, groups = _data(6, 1)
    s = Structure("full", "specific", False)
    v = np.random.default_rng(2).normal(0, 0.4, 2 * 2 + 2 + 6 + 1)
    coef, sigma, cov, weights = s.unpack(v)
    Xd = np.column_stack([np.ones(y.size), X])
    expected = sum(
        logsumexp(
            [
                np.log(weights[k])
                + multivariate_normal.logpdf(
                    y[groups == g],
                    Xd[groups == g] @ coef[k],
                    Xd[groups == g] @ cov[k] @ Xd[groups == g].T + sigma[k] ** 2 * np.eye(N_ROWS),
                )
                for k in range(2)
            ]
        )
        for g in range(6)
    )
    assert _dense_loglik(X, y, coef, sigma, cov, weights) == pytest.approx(expected, abs=1e-10)


def _natural(s, v):
    """The rows of coef_table from ``v``: per class the coefficients, sigma, the
    covariance entries (a common one in the first class only), the ratio ``w_k`` of
    proportional ones (k < K) and the weight."""
    coef, sigma, D, weights = s.unpack(v)
    rows, cols = ([0, 1, 1], [0, 0, 1]) if s.cov == "full" else ([0, 1], [0, 1])
    ratio = np.asarray(v)[2 * s.K + s.n_s + s.G * s.u :][: s.n_w]
    out = []
    for k in range(s.K):
        entries = list(D[k][rows, cols]) if (k == 0 or s.classes != "common") else []
        if k < s.n_w:
            entries.append(ratio[k])
        out += [*coef[k], sigma[k], *entries, weights[k]]
    return np.array(out)


@pytest.mark.parametrize(
    ("cov", "classes", "equal"),
    [
        ("full", "common", False),
        ("full", "proportional", False),
        ("diagonal", "proportional", True),
    ],
)
def test_standard_errors_equal_the_dense_numerical_hessian(cov, classes, equal):
    """The observed-information standard errors against the inverse of a numerical
    Hessian of the dense log-likelihood in the structure's own parameters, mapped to
    the table's parameters by the delta method (a numerical Jacobian)."""
    X, y, groups = _data(30, 11, slope_sd=0.5)
    s = Structure(cov, classes, equal)
    model = _fit(X, y, groups, s, n_init=2)
    assert np.linalg.eigvalsh(model.random_cov_).min() > 1e-3  # an interior maximum
    v = s.vector(model)
    H = numerical_hessian(lambda v: _dense_loglik(X, y, *s.unpack(v)), v, 1e-4)
    cov_v = np.linalg.inv(-H)
    h = 1e-6
    J = np.column_stack(
        [(_natural(s, v + h * e) - _natural(s, v - h * e)) / (2 * h) for e in np.eye(v.size)]
    )
    table = model.coef_table()
    assert np.allclose(table["estimate"], _natural(s, v), rtol=1e-9, atol=1e-12)
    assert np.allclose(table["std_err"], np.sqrt(np.diag(J @ cov_v @ J.T)), rtol=1e-4)
    if classes == "proportional":  # w_1 with D_1 = w_1^2 D_2
        w = np.sqrt(model.random_cov_[0, 0, 0] / model.random_cov_[1, 0, 0])
        assert table.loc[(1, "ratio"), "estimate"] == pytest.approx(w, rel=1e-12)
        assert "ratio" not in table.loc[2].index
        assert "ratio: w_k of random-effect" in str(model.summary())
    if classes == "common":  # one D, in the first class
        assert "var_0" not in table.loc[2].index and "var_0" in table.loc[1].index
        assert "shown under component 1: var_0, cov_1_0, var_1." in str(model.summary())


def test_one_class_diagonal_equals_statsmodels():
    """K = 1 with independent random intercept and slope: statsmodels' MixedLM with a
    diagonal random-effect covariance (its off-diagonal entry held at zero)."""
    import statsmodels.api as sm
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    X, y, groups = _data(30, 5, slope_sd=0.5)
    model = RegressionMixture(1, family=MixedGaussian((0, 1), cov="diagonal"), random_state=0).fit(
        X, y, groups=groups
    )
    design = np.column_stack([np.ones(y.size), X])
    free = MixedLMParams.from_components(np.ones(2), cov_re=np.eye(2))
    reference = sm.MixedLM(y, design, groups, exog_re=design).fit(
        reml=False, free=free, method="lbfgs"
    )
    assert model.log_likelihood_ == pytest.approx(reference.llf, abs=1e-6)
    assert model.log_likelihood_ >= reference.llf - 1e-9
    assert np.allclose(model.random_cov_[0], reference.cov_re, rtol=1e-3, atol=1e-6)
    assert model.n_parameters_ == 2 + 1 + 2


def test_proportional_with_one_class_is_the_specific_fit():
    X, y, groups = _data(20, 3)
    fits = [
        RegressionMixture(1, family=MixedGaussian((0, 1), cov_classes=c), random_state=0).fit(
            X, y, groups=groups
        )
        for c in ("specific", "proportional")
    ]
    assert fits[1].log_likelihood_ == pytest.approx(fits[0].log_likelihood_, abs=1e-9)
    assert fits[0].n_parameters_ == fits[1].n_parameters_


def test_bad_structure_names_are_refused_by_argument():
    with pytest.raises(ValueError, match="cov must be one of .*'diag'"):
        MixedGaussian("1 + time", cov="diag")
    with pytest.raises(ValueError, match="cov_classes must be one of .*'tied'"):
        MixedGaussian("1 + time", cov_classes="tied")
    X, y, groups = _data(20, 3)
    with pytest.raises(ValueError, match="common_coef"):
        RegressionMixture(
            2, family=MixedGaussian((0, 1)), common_coef=["x0"], equal_variance=True
        ).fit(X, y, groups=groups)


def test_structures_survive_save_load_sample_and_selection(tmp_path):
    from regmix import select_components
    from regmix.persistence import load

    X, y, groups = _data(24, 4)
    frame = pd.DataFrame({"time": X[:, 0]})
    family = MixedGaussian("1 + time", cov="diagonal", cov_classes="proportional")
    model = RegressionMixture(2, family=family, equal_variance=True, n_init=1, random_state=0).fit(
        frame, y, groups=groups
    )
    model.save(tmp_path / "m.json")
    loaded = load(tmp_path / "m.json")
    assert (loaded.family_.cov, loaded.family_.cov_classes) == ("diagonal", "proportional")
    assert loaded.equal_variance
    assert loaded.log_likelihood(frame, y, groups=groups) == pytest.approx(
        model.log_likelihood_, abs=1e-9
    )
    pd.testing.assert_frame_equal(loaded.coef_table(), model.coef_table())
    assert loaded.n_parameters_ == model.n_parameters_ == 4 + 1 + 2 + 1 + 1
    np.testing.assert_array_equal(
        loaded.random_effects(frame, y, groups=groups),
        model.random_effects(frame, y, groups=groups),
    )
    _, ys, _ = model.sample(X=frame, groups=groups, random_state=1)
    assert ys.shape == y.shape and np.all(np.isfinite(ys))
    assert np.allclose(model.predict(frame), loaded.predict(frame))
    sel = select_components(
        frame,
        y,
        n_components=[1, 2],
        groups=groups,
        family=family,
        equal_variance=True,
        random_state=0,
        n_init=1,
    )
    assert sel.table.loc[2, "log_likelihood"] == pytest.approx(model.log_likelihood_, abs=1e-6)


@pytest.mark.filterwarnings("ignore::regmix.core.errors.ReplicationWarning")
def test_command_line_takes_the_structure(tmp_path):
    import json

    from click.testing import CliRunner

    from regmix.cli import fit, main, select
    from regmix.core.choices import RANDOM_COV_CLASSES, RANDOM_COVS

    for command in (fit, select):
        options = {p.name: p for p in command.params}
        assert tuple(options["random_cov"].type.choices) == RANDOM_COVS
        assert tuple(options["random_cov_classes"].type.choices) == RANDOM_COV_CLASSES
    for cov in RANDOM_COVS:
        for classes in RANDOM_COV_CLASSES:
            MixedGaussian("1 + time", cov=cov, cov_classes=classes)  # each is accepted
    X, y, groups = _data(24, 4)
    frame = pd.DataFrame({"time": X[:, 0], "y": y, "subject": groups})
    frame.to_csv(tmp_path / "long.csv", index=False)
    args = [
        "fit",
        str(tmp_path / "long.csv"),
        "--formula",
        "y ~ time",
        "--groups",
        "subject",
        "--random",
        "time",
        "--random-cov",
        "diagonal",
        "--random-cov-classes",
        "common",
        "--equal-variance",
        "--n-init",
        "1",
        "--format",
        "json",
        "--quiet",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    family = MixedGaussian("1 + time", cov="diagonal", cov_classes="common")
    expected = RegressionMixture(
        2, family=family, formula="y ~ time", n_init=1, equal_variance=True, random_state=0
    ).fit(frame, groups="subject")
    assert report["header"]["log_likelihood"] == pytest.approx(expected.log_likelihood_, abs=1e-9)
    rows = [(r["component"], r["parameter"]) for r in report["coefficients"]]
    assert (1, "var_time") in rows and (2, "var_time") not in rows
    term = CliRunner().invoke(
        main,
        [
            "fit",
            str(tmp_path / "long.csv"),
            "--formula",
            "y ~ time + (1 + time | subject)",
            "--n-init",
            "1",
            "--random-cov-classes",
            "proportional",
            "--format",
            "json",
            "--quiet",
        ],
    )
    assert term.exit_code == 0, term.output
    family = MixedGaussian("1 + time", cov_classes="proportional")
    expected = RegressionMixture(
        2, family=family, formula="y ~ time + (1 + time | subject)", n_init=1, random_state=0
    ).fit(frame)
    assert json.loads(term.stdout)["header"]["log_likelihood"] == pytest.approx(
        expected.log_likelihood_, abs=1e-9
    )
    refused = CliRunner().invoke(main, args[:6] + ["--random-cov", "diagonal"])
    assert refused.exit_code != 0 and "--random-cov" in refused.output
    refused = CliRunner().invoke(main, args[:8] + ["--random-cov", "diag"])
    assert refused.exit_code != 0 and "--random-cov" in refused.output


def test_parquet_stream_fits_a_diagonal_structure_as_in_memory(tmp_path):
    """A diagonal D fits on uncentred features, streamed too."""
    pytest.importorskip("pyarrow")
    from regmix.sources.parquet import ParquetData

    X, y, groups = _data(16, 4)
    frame = pd.DataFrame({"time": X[:, 0], "y": y, "subject": groups})
    frame.to_parquet(tmp_path / "long.parquet", row_group_size=37)
    family = MixedGaussian("1 + time", cov="diagonal", cov_classes="proportional")
    settings = dict(family=family, random_state=0, n_init=1)
    memory = RegressionMixture(2, **settings).fit(frame[["time"]], y, groups=groups)
    source = ParquetData(tmp_path / "long.parquet", x=["time"], y="y", groups="subject")
    streamed = RegressionMixture(2, **settings).fit(source)
    assert streamed.log_likelihood_ == pytest.approx(memory.log_likelihood_, abs=1e-9)
    assert np.all(streamed.random_cov_[:, 0, 1] == 0.0)
    assert np.allclose(streamed.random_cov_, memory.random_cov_, rtol=1e-6)
    assert np.allclose(streamed.coef_table()["std_err"], memory.coef_table()["std_err"], rtol=1e-5)


@pytest.mark.parametrize(("cov", "classes"), [("full", "proportional"), ("diagonal", "common")])
def test_polish_coordinates_give_the_score_and_hessian_of_their_loglik(cov, classes):
    """The Newton polish's score and Hessian in a structure's free parameters equal
    central differences of the log-likelihood (and of the score) in them."""
    from regmix.core.params import MixtureParams
    from regmix.engine.passes import e_step_chunk, run_pass
    from regmix.estimator.polish import _Coordinates
    from regmix.families.mixed_gaussian import MixedGaussianParams
    from regmix.inference.information import _Layout, score_information
    from regmix.mixing.constant import ConstantWeights
    from regmix.sources.arrays import ArrayData

    X, y, groups = _data(12, 6)
    source = ArrayData(X, y, None, fit_intercept=True, standardize=False, groups=groups)
    family = MixedGaussian((0, 1), cov=cov, cov_classes=classes)
    D = np.array([[0.6, 0.1], [0.1, 0.2]]) * (np.eye(2) if cov == "diagonal" else 1.0)
    comp = MixedGaussianParams(
        np.array([[0.1, 1.0], [3.9, -1.0]]),
        np.array([0.4, 0.6]),
        np.array([(1.5 if classes == "proportional" else 1.0) * D, D]),
        cov == "diagonal",
    )
    params = MixtureParams(np.array([0.45, 0.55]), comp)
    coords = _Coordinates(family, _Layout(2, 2, len(family.extra_names)))
    v = coords.vector(params)
    assert np.allclose(coords.params(v).component.cov, comp.cov)

    def derivatives(v):
        score, info, loglik = score_information(family, coords.params(v), source)
        return (*coords.chain(v, score, -info), loglik)

    def loglik(v):
        mixing = ConstantWeights()
        return run_pass(
            source, lambda ch: e_step_chunk(ch, family, mixing, coords.params(v)), chunk_size=8192
        ).loglik

    grad, hess, _ = derivatives(v)
    h = 1e-5
    E = np.eye(v.size) * h
    num_grad = np.array([(loglik(v + e) - loglik(v - e)) / (2 * h) for e in E])
    num_hess = np.column_stack(
        [(derivatives(v + e)[0] - derivatives(v - e)[0]) / (2 * h) for e in E]
    )
    assert np.allclose(grad, num_grad, rtol=1e-6, atol=1e-6)
    assert np.allclose(hess, num_hess, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("classes", ["common", "proportional"])
def test_covariance_wald_and_bootstrap_have_the_rows_of_coef_table(classes):
    """A common D once (class 1) and the ratios' rows, in the covariance matrix, the
    Wald test and the bootstrap replicates as in coef_table."""
    X, y, groups = _data(20, 1, slope_sd=0.5)
    model = _fit(X, y, groups, Structure("diagonal", classes, False), n_init=1)
    table = model.coef_table()
    cov = model.covariance_matrix()
    assert cov.index.equals(table.index) and cov.columns.equals(table.index)
    assert np.allclose(np.sqrt(np.diag(cov)), table["std_err"], rtol=1e-12)
    natural = model._natural_covariance()  # every class's entries, no ratios
    assert len(natural) == len(cov) + (2 if classes == "common" else -1)
    if classes == "common":
        assert (2, "var_0") not in cov.index
        pd.testing.assert_frame_equal(
            cov.loc[table.index, table.index],
            natural.loc[table.index, table.index],
            check_exact=False,
            rtol=1e-12,
        )
        v, se = table.loc[(1, "var_0"), ["estimate", "std_err"]]
        test = model.wald_test("var_0@1 = 0.5")
        assert test.statistic == pytest.approx(((v - 0.5) / se) ** 2, rel=1e-10)
        with pytest.raises(ValueError, match="var_0@2"):
            model.wald_test("var_0@1 = var_0@2")
        with pytest.raises(ValueError, match="'var_0' is common to all components"):
            model.test_equal("var_0")
    else:
        w, se = table.loc[(1, "ratio"), ["estimate", "std_err"]]
        test = model.wald_test("ratio@1 = 1")
        assert test.statistic == pytest.approx(((w - 1.0) / se) ** 2, rel=1e-10)
        R = (table.index == (1, "ratio")).astype(float)[None, :]  # a matrix over the rows
        assert model.wald_test(R, [1.0]).statistic == pytest.approx(test.statistic, rel=1e-12)
        # its covariance with x0@1 by the delta method from w^2 = var_0@1 / var_0@2
        v1, v2 = (table.loc[(k, "var_0"), "estimate"] for k in (1, 2))
        g = np.array([w / (2 * v1), -w / (2 * v2)])
        expected = g @ natural.loc[[(1, "var_0"), (2, "var_0")], (1, "x0")].to_numpy()
        assert cov.loc[(1, "ratio"), (1, "x0")] == pytest.approx(expected, rel=1e-10)
    boot = model.bootstrap(X, y, groups=groups, n_boot=3, random_state=0)
    assert boot.replicates.columns.equals(table.index)
    assert np.allclose(boot.estimates, table["estimate"], rtol=1e-10)
    if classes == "proportional":
        reps = boot.replicates
        assert np.allclose(reps[(1, "ratio")], np.sqrt(reps[(1, "var_0")] / reps[(2, "var_0")]))
        assert boot.table().index.equals(table.index)


def test_warm_start_refuses_another_structure_by_argument():
    """A warm start keeps the fitted structure; another cov, cov_classes or other random
    effects are refused with the argument, and the same structure warm-starts."""
    X, y, groups = _data(20, 3)
    frame = pd.DataFrame({"time": X[:, 0]})
    model = RegressionMixture(2, family=MixedGaussian("1 + time"), n_init=1, random_state=0)
    model.fit(frame, y, groups=groups)
    fitted = model.log_likelihood_
    model.set_params(warm_start=True)
    for family, said in [
        (MixedGaussian("1 + time", cov_classes="common"), "cov_classes='common' from the fit's "),
        (MixedGaussian("1 + time", cov="diagonal"), "cov='diagonal' from the fit's cov='full'"),
        (MixedGaussian("1"), r"random effects changed to \('intercept',\)"),
    ]:
        with pytest.raises(ValueError, match=f"warm_start=True but .*{said}"):
            model.set_params(family=family).fit(frame, y, groups=groups)
    model.set_params(family=MixedGaussian("1 + time")).fit(frame, y, groups=groups)
    assert model.log_likelihood_ == pytest.approx(fitted, abs=1e-6)
    assert model.log_likelihood_ >= fitted - 1e-9
