"""The families are exact, or refuse by name, over the whole range their inputs pass.

Each log-density is compared with scipy.stats (or, where scipy itself cancels, with an
exact form written here); fits are compared with their equivariant counterparts on
rescaled data; every family with every non-default link fits ordinary generated data
without a RuntimeWarning (the suite turns them into errors). See docs/reliability.md.
"""

import math

import numpy as np
import pytest
from scipy import stats

from regmix import BoundaryWarning, DegenerateFitError, RegressionMixture
from regmix.datasets import make_family_mixture
from regmix.engine.passes import log_responsibilities
from regmix.families.binomial import Binomial
from regmix.families.gamma import GammaFamily
from regmix.families.negative_binomial import NegativeBinomial, log_rising_ratio
from regmix.families.poisson import Poisson
from regmix.sources.arrays import ArrayData, response_robust_scale

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def two_lines_with_outliers(n=400, n_out=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, n)
    label = rng.integers(0, 2, n)
    y = np.where(label == 0, 1 + 2 * x, -1 - x) + rng.normal(0, 0.5, n)
    y[:n_out] = 1e6
    return x[:, None], y


# --------------------------------------------------------------------- variance floor
def test_student_t_recovers_two_lines_among_gross_outliers():
    X, y = two_lines_with_outliers()
    model = RegressionMixture(2, family="student_t", random_state=0).fit(X, y)
    order = np.argsort(model.coef_[:, 0])
    np.testing.assert_allclose(model.coef_[order, 0], [-1.0, 2.0], atol=0.1)
    np.testing.assert_allclose(model.intercept_[order], [-1.0, 1.0], atol=0.15)
    # t scales of N(0, 0.5) noise (one component's small df takes the outliers)
    assert np.all((model.sigma_ > 0.2) & (model.sigma_ < 0.8)), model.sigma_
    assert not model.state_.boundary


def test_gaussian_components_on_identical_outliers_fail_saying_why():
    X, y = two_lines_with_outliers()
    with pytest.raises(DegenerateFitError, match=r"min_weight=0\.05.*component \d has "
                       r"weight 0\.0125 and its sigma sits at the variance floor.*student_t"):
        RegressionMixture(2, random_state=0).fit(X, y)


def naive_mad_scale(y, w, centre=True):
    """1.4826 times the median absolute deviation, of the rows repeated w times."""
    v = np.repeat(y, w.astype(int))
    c = np.median(v) if centre else 0.0
    return 1.482602218505602 * np.median(np.abs(v - c))


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_the_floor_scale_is_the_weighted_median_absolute_deviation(fit_intercept):
    rng = np.random.default_rng(3)
    y = rng.standard_t(2, 301) * 5 + 7
    w = rng.integers(0, 4, 301).astype(float)
    X = rng.normal(size=(301, 1))
    for weights in (None, w):
        data = ArrayData(X, y, weights, fit_intercept=fit_intercept)
        expected = naive_mad_scale(y, np.ones(301) if weights is None else w, fit_intercept)
        assert response_robust_scale(data) == pytest.approx(expected, rel=1e-14)
    # more than half the rows on one value: the spread instead
    y0 = np.where(np.arange(301) < 200, 2.0, y)
    data = ArrayData(X, y0, None, fit_intercept=True)
    assert response_robust_scale(data) == pytest.approx(np.std(y0), rel=1e-12)


def test_the_floor_is_equivariant_and_ignores_the_outliers():
    X, y = two_lines_with_outliers(n_out=0)
    _, y_out = two_lines_with_outliers(n_out=5)
    clean = response_robust_scale(ArrayData(X, y, None, fit_intercept=True))
    dirty = response_robust_scale(ArrayData(X, y_out, None, fit_intercept=True))
    assert dirty == pytest.approx(clean, rel=0.05)  # np.std(y_out) is 1e5 times larger
    scaled = response_robust_scale(ArrayData(X, 1e-7 * y_out, None, fit_intercept=True))
    assert scaled == pytest.approx(1e-7 * dirty, rel=1e-14)


# ----------------------------------------------------------------------------- Gamma
@pytest.mark.parametrize("link", ["log", "inverse", "identity"])
def test_gamma_log_density_matches_scipy_over_the_accepted_range(link):
    fam = GammaFamily(link=link)
    rng = np.random.default_rng(1)
    for scale in (1e-99, 1e-30, 1.0, 1e30, 1e99):
        mu = scale * rng.uniform(0.5, 2.0, (2, 50))
        nu = np.array([[[0.3]], [[40.0]]])
        y = scale * rng.uniform(0.1, 5.0, 50)
        eta = fam.link.link(mu)
        got = fam.loglik(y, eta, mu, nu, None)
        want = stats.gamma.logpdf(y, a=nu[:, 0], scale=mu / nu[:, 0])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


@pytest.mark.parametrize("link", ["inverse", "identity"])
def test_gamma_density_is_zero_where_the_mean_is_not_positive(link):
    fam = GammaFamily(link=link)
    mu = np.array([[-1.0, 0.0, 2.0]])
    got = fam.loglik(np.ones(3), fam.link.link(np.where(mu == 0, 1.0, mu)), mu,
                     np.array([[[2.0]]]), None)
    assert got[0, 0] == -np.inf and got[0, 1] == -np.inf
    assert got[0, 2] == pytest.approx(stats.gamma.logpdf(1.0, a=2.0, scale=1.0))


GAMMA_DATA = {
    "log": dict(coef=[[0.5], [-0.5]], intercept=[0.0, 1.5]),
    "inverse": dict(coef=[[0.05], [-0.1]], intercept=[0.5, 2.0]),
    "identity": dict(coef=[[0.5], [-1.0]], intercept=[4.0, 10.0]),
}


@pytest.mark.parametrize("link", ["log", "inverse", "identity"])
@pytest.mark.parametrize("c", [1e-60, 1e60])
def test_gamma_fit_is_equivariant_under_rescaling_the_response(link, c):
    X, y, _, _ = make_family_mixture(300, GammaFamily(link=link), extra={"shape": [5.0, 10.0]},
                                     random_state=0, **GAMMA_DATA[link])
    fits = [RegressionMixture(2, family="gamma", link=link, random_state=0).fit(X, v)
            for v in (y, c * y)]
    base, scaled = fits
    n = len(y)
    assert scaled.log_likelihood_ == pytest.approx(base.log_likelihood_ - n * np.log(c),
                                                   rel=1e-9)
    np.testing.assert_allclose(scaled.shape_, base.shape_, rtol=1e-4)
    factor = {"log": 1.0, "identity": c, "inverse": 1.0 / c}[link]
    np.testing.assert_allclose(scaled.coef_, base.coef_ * factor, rtol=1e-4)
    shift = np.log(c) if link == "log" else 0.0
    np.testing.assert_allclose(scaled.intercept_, base.intercept_ * factor + shift,
                               rtol=1e-4)


@pytest.mark.parametrize("c", [1e140, 1e-140])
def test_gamma_response_beyond_its_range_is_refused_by_name(c):
    X, y, _, _ = make_family_mixture(100, "gamma", extra={"shape": [5.0]}, coef=[[0.3]],
                                     intercept=[0.0], random_state=0)
    with pytest.raises(ValueError, match=r"the Gamma response must lie within \[1e-100, "
                       r"1e\+100\]; y\[0\]"):
        RegressionMixture(1, family="gamma").fit(X, y * c)


# ----------------------------------------------------------------- negative binomial
Y_COUNTS = np.array([0.0, 1, 3, 7, 20, 150, 1000, 30000])
MU = np.array([0.5, 2.0, 3.0, 6.0, 25.0, 140.0, 900.0, 3.1e4])


def exact_nb_logpmf(y, mu, th):
    """sum_{j<y} log1p(j / th) - lgamma(y + 1) + y log mu - (th + y) log1p(mu / th)."""
    rising = math.fsum(math.log1p(j / th) for j in range(int(y)))
    return rising - math.lgamma(y + 1) + y * math.log(mu) - (th + y) * math.log1p(mu / th)


@pytest.mark.parametrize("size", [0.01, 1.0, 10.0, 1e3])
def test_negative_binomial_log_density_matches_scipy(size):
    got = NegativeBinomial(size=size).loglik(Y_COUNTS, np.log(MU)[None], MU[None],
                                             np.array([[[size]]]), None)[0]
    want = stats.nbinom.logpmf(Y_COUNTS, size, size / (size + MU))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("size", [99.0, 100.0, 1e4, 1e8, 1e15, 1e40])
def test_negative_binomial_log_density_is_exact_at_large_sizes(size):
    # scipy's nbinom.logpmf cancels here (by 2.5 at size 1e15)
    got = NegativeBinomial(size=size).loglik(Y_COUNTS, np.log(MU)[None], MU[None],
                                             np.array([[[size]]]), None)[0]
    want = [exact_nb_logpmf(y, m, size) for y, m in zip(Y_COUNTS, MU, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(
        log_rising_ratio(Y_COUNTS, size),
        [math.fsum(math.log1p(j / size) for j in range(int(y))) for y in Y_COUNTS],
        rtol=1e-10, atol=1e-12)


def test_negative_binomial_with_a_huge_size_is_the_poisson_fit_and_not_above_it():
    X, y, _, _ = make_family_mixture(300, "poisson", coef=[[0.4]], intercept=[2.0],
                                     random_state=2)
    pois = RegressionMixture(1, family="poisson").fit(X, y)
    nb = RegressionMixture(1, family=NegativeBinomial(size=1e15)).fit(X, y)
    assert nb.log_likelihood_ <= pois.log_likelihood_ + 1e-9
    assert nb.log_likelihood_ == pytest.approx(pois.log_likelihood_, abs=1e-6)
    np.testing.assert_allclose(nb.coef_, pois.coef_, rtol=1e-6)


@pytest.mark.parametrize("family", ["poisson", "negative_binomial"])
def test_counts_beyond_two_to_the_53_are_refused_by_name(family):
    X = np.arange(20.0)[:, None]
    y = np.arange(20.0)
    y[7] = 1e140  # an integer in float64, but not a count: its neighbours are not
    with pytest.raises(ValueError, match=r"counts up to 2\*\*53 .*y\[7\] = 1e\+140"):
        RegressionMixture(1, family=family).fit(X, y)


# -------------------------------------------------------------------------- binomial
@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_binomial_log_density_matches_scipy_and_stays_finite_when_p_rounds(link):
    fam = Binomial(link=link)
    eta = np.linspace(-6, 2, 41)[None]
    m = np.full(41, 7.0)
    y = np.arange(41) % 8.0
    got = fam.loglik(y, eta, fam.link.inverse(eta), None, m)[0]
    want = stats.binom.logpmf(y, m, fam.link.inverse(eta)[0])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # p rounds to 1 (or 0) in float64 but the density of the other outcome is not zero
    far = np.array([[40.0, -40.0]])
    edge = fam.loglik(np.array([0.0, 1.0]), far, fam.link.inverse(far), None, None)[0]
    assert np.all(np.isfinite(edge))
    if link == "cloglog":  # 1 - p = exp(-e^eta), p = 1 - exp(-e^eta) ~ e^eta
        np.testing.assert_allclose(edge, [-np.exp(40.0), -40.0 - 0.5 * np.exp(-40.0)],
                                   rtol=1e-14)
    if link == "probit":
        np.testing.assert_allclose(edge, stats.norm.logcdf([-40.0, -40.0]), rtol=1e-12)


# ------------------------------------------------------------- the response's values
def test_a_response_constant_up_to_round_off_is_refused_by_name():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1))
    y = 1.0 + 1e-16 * rng.standard_normal(200)
    assert np.ptp(y) > 0
    with pytest.raises(ValueError, match=r"y is constant up to round-off: its values span"):
        RegressionMixture(2).fit(X, y)
    with pytest.raises(ValueError, match=r"constant up to round-off on every row with "
                       "positive weight"):
        RegressionMixture(2).fit(X, np.where(np.arange(200) < 100, y, 5.0),
                                 sample_weight=(np.arange(200) < 100).astype(float))
    with pytest.raises(ValueError, match=r"y is constant up to round-off .*Gamma shape"):
        RegressionMixture(1, family="gamma").fit(X, y)
    # lines through the origin cannot fit a constant: an ordinary fit, as for y = 1
    RegressionMixture(1, fit_intercept=False).fit(X, y)
    # a spread of 1e-10 relative is signal (here exactly on a line: sigma at the floor)
    with pytest.warns(BoundaryWarning, match="variance floor"):
        signal = RegressionMixture(1, random_state=0).fit(X, 1.0 + 1e-10 * X[:, 0])
    assert signal.coef_[0, 0] == pytest.approx(1e-10, rel=1e-4)


@pytest.mark.parametrize("scale", [1e300, 1e160, 1e-160, 1e-310, 5e-324])
def test_sample_weights_beyond_float64_squares_are_refused_by_name(scale):
    X, y, _, _ = make_family_mixture(100, "gaussian", coef=[[1.0]], intercept=[0.0],
                                     extra={"sigma": [1.0]}, random_state=0)
    with pytest.raises(ValueError, match=r"sample_weight has values of magnitude .*ratios"):
        RegressionMixture(1).fit(X, y, sample_weight=np.full(100, scale))
    one = np.ones(100)
    one[3] = scale
    if scale > 1:
        with pytest.raises(ValueError, match=r"sample_weight has values of magnitude"):
            RegressionMixture(1).fit(X, y, sample_weight=one)


def test_sample_weights_within_range_scale_the_log_likelihood_exactly():
    X, y, _, _ = make_family_mixture(100, "gaussian", coef=[[1.0]], intercept=[0.0],
                                     extra={"sigma": [1.0]}, random_state=0)
    base = RegressionMixture(1).fit(X, y)
    heavy = RegressionMixture(1).fit(X, y, sample_weight=np.full(100, 1e150))
    assert heavy.log_likelihood_ == pytest.approx(1e150 * base.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(heavy.coef_, base.coef_, rtol=1e-12)


# ------------------------------------------------------------ non-default links
NON_DEFAULT = [
    ("poisson", "identity", Poisson("identity"), dict(coef=[[1.0], [-1.0]],
                                                      intercept=[6.0, 15.0])),
    ("binomial", "probit", Binomial("probit"), dict(coef=[[1.0], [-1.0]],
                                                    intercept=[-0.5, 1.0])),
    ("binomial", "cloglog", Binomial("cloglog"), dict(coef=[[1.0], [-1.0]],
                                                      intercept=[-0.5, 1.0])),
    ("gamma", "inverse", GammaFamily("inverse"), dict(GAMMA_DATA["inverse"],
                                                      extra={"shape": [5.0, 10.0]})),
    ("gamma", "identity", GammaFamily("identity"), dict(GAMMA_DATA["identity"],
                                                        extra={"shape": [5.0, 10.0]})),
]


@pytest.mark.parametrize(("family", "link", "draw", "truth"), NON_DEFAULT,
                         ids=[f"{f}-{lk}" for f, lk, _, _ in NON_DEFAULT])
@pytest.mark.parametrize("variant", ["plain", "weights", "concomitant", "fixed_slope",
                                     "x_1e4", "x_1e-4"])
@pytest.mark.filterwarnings("ignore::regmix.BoundaryWarning")  # probit: separation
def test_every_non_default_link_fits_ordinary_data_without_a_runtime_warning(
        family, link, draw, truth, variant):
    X, y, _, _ = make_family_mixture(300, draw, random_state=1, **truth)
    rng = np.random.default_rng(1)
    fit_kw, est_kw = {}, {}
    if variant == "weights":
        fit_kw["sample_weight"] = rng.integers(0, 4, 300).astype(float)
    elif variant == "concomitant":
        fit_kw["concomitant"] = rng.normal(size=(300, 1))
    elif variant == "fixed_slope":
        est_kw["fixed_coef"] = {"x0": 0.5}
    elif variant.startswith("x_"):  # the feature scaled, as in the property tests
        X = X * float(variant[2:])
    model = RegressionMixture(2, family=family, link=link, random_state=1, **est_kw)
    model.fit(X, y, **fit_kw)
    model.coef_table()
    again = model.log_likelihood(X, y, fit_kw.get("sample_weight"),
                                 concomitant=fit_kw.get("concomitant"))
    assert again == pytest.approx(model.log_likelihood_, rel=1e-9)


def test_rows_that_no_component_can_produce_have_no_responsibilities_and_no_warning():
    logd = np.array([[-1.0, -np.inf, -3.0], [-2.0, -np.inf, -np.inf]])
    resp, row_ll = log_responsibilities(logd.copy())
    np.testing.assert_allclose(resp[:, 1], 0.0)
    assert row_ll[1] == -np.inf
    np.testing.assert_allclose(row_ll[[0, 2]], [np.logaddexp(-1, -2), -3.0])
    np.testing.assert_allclose(resp[:, 0].sum(), 1.0)
