"""The observed information of every family against an independent numerical Hessian.

The reference here does not use regmix's densities: the observed-data log-likelihood
``sum_i w_i logsumexp_k(log pi_k + log f_k(y_i))`` is written with scipy.stats
log-densities (poisson.logpmf, binom.logpmf, gamma.logpdf, nbinom.logpmf, t.logpdf,
norm.logpdf) and scipy.special.logsumexp, as a function of the unconstrained vector
``theta`` in the layout of :func:`regmix.inference.information.family_information` (per component:
coefficients, logs of the free extras; then ``eta_2..eta_K`` with ``pi = softmax(0,
eta)``). Its Hessian is taken by second differences of the function, combined row by
row before summing (so that round-off is relative to each row's log-density, not to the
total), with one Richardson extrapolation (steps ``h`` and ``h / 2``): the remaining error
is O(h^4) truncation plus about ``eps * |log f| / h^2`` round-off. Measured against the
unit-diagonal scaling of the matrix it is below 1e-7 for every case here except the
Student-t ``log df`` entries (flat likelihood, tiny diagonal), around 1e-6; the tolerance
is 1e-5 in that entry-wise scaled norm, stricter than 1e-4 of the matrix's largest entry.

Parameters are deliberately not at a maximum of the likelihood, where some mistakes
(for instance in terms proportional to the score) would cancel.
"""

from dataclasses import dataclass, replace

import numpy as np
import pytest
from scipy import special, stats

from regmix import RegressionMixture
from regmix.core.chunk import Chunk
from regmix.families.binomial import Binomial
from regmix.families.gamma import GammaFamily
from regmix.families.gaussian import Gaussian
from regmix.families.lognormal import LogNormal
from regmix.families.negative_binomial import NegativeBinomial
from regmix.families.poisson import Poisson
from regmix.families.student_t import StudentT
from regmix.inference.information import family_information
from regmix.sources.arrays import ArrayData

N_ROWS = 150
INFO_RTOL = 1e-5  # |analytic - numerical| / sqrt(|N_ii N_jj|), entry by entry
DERIV_RTOL = 1e-6


# ----------------------------------------------------------------------------- reference
def _inverse_link(link, eta):
    if link == "identity":
        return eta
    if link == "log":
        return np.exp(eta)
    if link == "logit":
        return special.expit(eta)
    if link == "probit":
        return stats.norm.cdf(eta)
    if link == "cloglog":
        return -np.expm1(-np.exp(eta))
    if link == "inverse":
        return 1.0 / eta
    raise AssertionError(link)


def _logpdf(name, link, y, trials, eta, extra):
    """Per-row log-density of one component; ``extra`` is its natural extras (all)."""
    mu = _inverse_link(link, eta)
    if name == "poisson":
        return stats.poisson.logpmf(y, mu)
    if name == "binomial":
        return stats.binom.logpmf(y, trials, mu)
    if name == "gamma":
        shape = extra[0]
        return stats.gamma.logpdf(y, a=shape, scale=mu / shape)
    if name == "negative_binomial":
        size = extra[0]
        return stats.nbinom.logpmf(y, n=size, p=size / (size + mu))
    if name == "student_t":
        sigma, df = extra
        return stats.t.logpdf(y, df, loc=mu, scale=sigma)
    if name == "gaussian":
        return stats.norm.logpdf(y, loc=mu, scale=extra[0])
    if name == "lognormal":  # scipy's scale is the median, exp(eta)
        return stats.lognorm.logpdf(y, extra[0], scale=mu)
    raise AssertionError(name)


@dataclass
class Case:
    """A family, a data set and a parameter point (user units, natural extras)."""

    name: str
    link: str
    family: object
    weights: np.ndarray  # (K,)
    coef: np.ndarray  # (K, p), intercept first
    extra: np.ndarray  # (K, m), every extra, fixed ones included
    X: np.ndarray  # (n, p - 1)
    y: np.ndarray
    w: np.ndarray | None = None
    offset: np.ndarray | None = None
    trials: np.ndarray | None = None

    @property
    def free(self) -> np.ndarray:
        return np.asarray(self.family.free_extra(), dtype=bool)

    @property
    def design(self) -> np.ndarray:
        return np.column_stack([np.ones(self.X.shape[0]), self.X])

    def theta(self) -> np.ndarray:
        """The unconstrained vector of ``family_information``'s layout."""
        blocks = [np.concatenate([self.coef[k], np.log(self.extra[k, self.free])])
                  for k in range(self.coef.shape[0])]
        eta = np.log(self.weights[1:]) - np.log(self.weights[0])
        return np.concatenate([*blocks, eta])

    def row_loglik(self, theta: np.ndarray) -> np.ndarray:
        """``w_i log sum_k pi_k f_k(y_i)`` per row, from ``theta``."""
        K, p = self.coef.shape
        mf = int(self.free.sum())
        D = self.design
        eta_pi = np.concatenate([[0.0], theta[K * (p + mf):]])
        log_pi = eta_pi - special.logsumexp(eta_pi)
        comps = []
        for k in range(K):
            block = theta[k * (p + mf):(k + 1) * (p + mf)]
            extra = self.extra[k].copy()
            extra[self.free] = np.exp(block[p:])
            eta = D @ block[:p]
            if self.offset is not None:
                eta = eta + self.offset
            comps.append(log_pi[k] + _logpdf(self.name, self.link, self.y, self.trials, eta,
                                             extra))
        ll = special.logsumexp(np.array(comps), axis=0)
        return ll if self.w is None else self.w * ll

    def source(self) -> ArrayData:
        return ArrayData(self.X, self.y, self.w, fit_intercept=True, standardize=False,
                         offset=self.offset, trials=self.trials)

    def information(self, **kwargs) -> np.ndarray:
        return family_information(self.family, self.weights, self.coef, self.extra,
                                  self.source(), **kwargs)


def numerical_hessian(row_fn, x: np.ndarray, h: float = 2e-3) -> np.ndarray:
    """Hessian of ``sum(row_fn(x))`` by second differences, Richardson-extrapolated."""

    def second_differences(step):
        d = x.size
        E = np.eye(d) * step
        f0 = row_fn(x)
        fp = [row_fn(x + E[i]) for i in range(d)]
        fm = [row_fn(x - E[i]) for i in range(d)]
        H = np.empty((d, d))
        for i in range(d):
            H[i, i] = np.sum((fp[i] - f0) + (fm[i] - f0)) / step**2
            for j in range(i):
                diff = ((row_fn(x + E[i] + E[j]) - row_fn(x + E[i] - E[j]))
                        - (row_fn(x - E[i] + E[j]) - row_fn(x - E[i] - E[j])))
                H[i, j] = H[j, i] = np.sum(diff) / (4.0 * step**2)
        return H

    return (4.0 * second_differences(0.5 * h) - second_differences(h)) / 3.0


def assert_information_close(analytic, numerical_info, rtol=INFO_RTOL):
    """Entry-wise comparison scaled by the diagonal: ``|A_ij - N_ij| <= rtol *
    sqrt(|N_ii N_jj|)`` (a unit-diagonal scaling, so that every parameter counts)."""
    assert analytic.shape == numerical_info.shape
    s = np.sqrt(np.abs(np.diag(numerical_info)))
    s = np.maximum(s, 1e-8 * s.max())
    err = np.abs(analytic - numerical_info) / np.outer(s, s)
    i, j = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= rtol, (
        f"worst entry ({i}, {j}): analytic {analytic[i, j]!r}, numerical "
        f"{numerical_info[i, j]!r}, scaled error {err.max():.3g}\n"
        f"{np.array2string(err, precision=2)}"
    )


# ----------------------------------------------------------------------------- cases
def _labels(rng, n, pi):
    return (rng.random(n) < pi[1]).astype(int)


def make_case(key: str, *, weighted: bool = False, offset: bool = False) -> Case:
    """Data drawn at 'true' parameters; the case holds a nearby point off the optimum."""
    rng = np.random.default_rng(_SEEDS[key])
    n = N_ROWS
    pi_true = np.array([0.4, 0.6])
    z = _labels(rng, n, pi_true)
    weights = np.array([0.35, 0.65])
    trials = off = None
    name, link = key.split("-")[:2]
    if name == "poisson":
        family = Poisson(link=link)
        if link == "log":
            X = rng.standard_normal((n, 1))
            true = np.array([[1.0, 0.6], [2.2, -0.4]])
            coef = np.array([[0.9, 0.7], [2.3, -0.3]])
        else:
            X = rng.uniform(0.0, 2.0, (n, 1))
            true = np.array([[2.0, 1.5], [8.0, -1.0]])
            coef = np.array([[2.3, 1.2], [7.5, -0.8]])
        extra = np.zeros((2, 0))
        eta = np.einsum("ij,ij->i", np.column_stack([np.ones(n), X]), true[z])
        if offset:
            off = np.log(rng.uniform(0.5, 3.0, n))
            eta = eta + off
        y = rng.poisson(_inverse_link(link, eta)).astype(float)
    elif name == "binomial":
        family = Binomial(link=link)
        X = rng.standard_normal((n, 2))
        scale = {"logit": 1.0, "probit": 0.6, "cloglog": 0.7}[link]
        true = scale * np.array([[-1.0, 1.0, 0.5], [1.0, -0.5, 0.8]])
        coef = true + np.array([[0.1, -0.1, 0.05], [-0.1, 0.05, 0.1]])
        extra = np.zeros((2, 0))
        trials = rng.integers(1, 13, n).astype(float)
        eta = np.einsum("ij,ij->i", np.column_stack([np.ones(n), X]), true[z])
        y = rng.binomial(trials.astype(int), _inverse_link(link, eta)).astype(float)
    elif name == "gamma":
        family = GammaFamily(link=link)
        shape_true = np.array([4.0, 8.0])
        if link == "log":
            X = rng.standard_normal((n, 1))
            true = np.array([[0.5, 0.4], [2.0, -0.3]])
            coef = np.array([[0.6, 0.3], [1.9, -0.2]])
        else:
            X = rng.uniform(0.0, 1.0, (n, 1))
            true = np.array([[0.5, 0.3], [0.1, 0.05]])
            coef = np.array([[0.55, 0.25], [0.12, 0.04]])
        extra = np.array([[3.5], [9.0]])
        eta = np.einsum("ij,ij->i", np.column_stack([np.ones(n), X]), true[z])
        mu = _inverse_link(link, eta)
        y = rng.gamma(shape_true[z], mu / shape_true[z])
    elif name == "negative_binomial":
        fixed = key.endswith("fixed")
        family = NegativeBinomial(size=3.0 if fixed else None)
        X = rng.standard_normal((n, 1))
        true = np.array([[1.0, 0.5], [2.5, -0.3]])
        coef = np.array([[0.9, 0.6], [2.4, -0.2]])
        size_true = np.array([3.0, 3.0]) if fixed else np.array([2.0, 6.0])
        extra = np.array([[3.0], [3.0]]) if fixed else np.array([[2.5], [5.0]])
        mu = np.exp(np.einsum("ij,ij->i", np.column_stack([np.ones(n), X]), true[z]))
        st = size_true[z]
        y = rng.negative_binomial(st, st / (st + mu)).astype(float)
    elif name == "student_t":
        fixed = key.endswith("fixed")
        family = StudentT(df=5.0 if fixed else None)
        X = rng.standard_normal((n, 2))
        true = np.array([[0.0, 1.0, 0.5], [3.0, -1.0, 0.2]])
        coef = true + np.array([[0.1, -0.05, 0.05], [-0.1, 0.1, -0.05]])
        sigma_true = np.array([0.5, 0.8])
        df_true = np.array([5.0, 5.0]) if fixed else np.array([4.0, 8.0])
        extra = np.array([[0.6, 5.0], [0.7, 5.0]]) if fixed else np.array(
            [[0.6, 3.0], [0.7, 10.0]])
        loc = np.einsum("ij,ij->i", np.column_stack([np.ones(n), X]), true[z])
        y = loc + sigma_true[z] * rng.standard_t(df_true[z])
    elif name == "gaussian":
        family = Gaussian()
        X = rng.standard_normal((n, 2))
        true = np.array([[0.0, 1.0, 0.5], [3.0, -1.0, 0.2]])
        coef = true + np.array([[0.1, -0.05, 0.05], [-0.1, 0.1, -0.05]])
        extra = np.array([[0.6], [0.9]])
        loc = np.einsum("ij,ij->i", np.column_stack([np.ones(n), X]), true[z])
        y = loc + np.array([0.5, 0.8])[z] * rng.standard_normal(n)
    elif name == "lognormal":
        family = LogNormal()
        X = rng.standard_normal((n, 2))
        true = np.array([[0.0, 1.0, 0.5], [2.0, -1.0, 0.2]])
        coef = true + np.array([[0.1, -0.05, 0.05], [-0.1, 0.1, -0.05]])
        extra = np.array([[0.4], [0.7]])
        loc = np.einsum("ij,ij->i", np.column_stack([np.ones(n), X]), true[z])
        y = np.exp(loc + np.array([0.3, 0.6])[z] * rng.standard_normal(n))
    else:
        raise AssertionError(key)
    w = rng.uniform(0.3, 2.5, n) if weighted else None
    return Case(name, link, family, weights, coef, extra, X, y, w, off, trials)


_SEEDS = {
    "poisson-log": 101,
    "poisson-identity": 102,
    "binomial-logit": 103,
    "binomial-probit": 104,
    "binomial-cloglog": 105,
    "gamma-log": 106,
    "gamma-inverse": 107,
    "negative_binomial-log": 108,
    "negative_binomial-log-fixed": 109,
    "student_t-identity": 110,
    "student_t-identity-fixed": 111,
    "gaussian-identity": 112,
    "lognormal-log": 113,
}
KEYS = tuple(_SEEDS)


# ----------------------------------------------------------------------------- 1. information
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("key", KEYS)
def test_information_matches_numerical_hessian(key, weighted):
    case = make_case(key, weighted=weighted)
    analytic = case.information()
    K, p = case.coef.shape
    assert analytic.shape == (K * (p + int(case.free.sum())) + K - 1,) * 2
    numeric = -numerical_hessian(case.row_loglik, case.theta())
    assert_information_close(analytic, numeric)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("link", ["log", "identity"])
def test_poisson_information_with_offset(link, weighted):
    case = make_case(f"poisson-{link}", weighted=weighted, offset=True)
    assert case.offset is not None
    analytic = case.information()
    numeric = -numerical_hessian(case.row_loglik, case.theta())
    assert_information_close(analytic, numeric)
    # the offset matters: without it the information is a different matrix
    case_no = replace(case, offset=None)
    assert not np.allclose(case_no.information(), analytic, rtol=1e-3)


@pytest.mark.parametrize("key", ["binomial-logit", "student_t-identity", "gamma-log"])
def test_information_does_not_depend_on_chunking(key):
    case = make_case(key, weighted=True)
    whole = case.information()
    chunked = case.information(chunk_size=17)
    np.testing.assert_allclose(chunked, whole, rtol=1e-10, atol=1e-10 * np.abs(whole).max())


# ----------------------------------------------------------------------------- 2. row derivatives
def _params(case):
    return case.family.make_params(case.coef, case.extra)


def _chunk(case, shift: float = 0.0) -> Chunk:
    """The case's rows as a chunk; ``shift`` is added to every linear predictor."""
    offset = None if shift == 0.0 else np.full(case.y.shape[0], shift)
    return Chunk(start=0, XT=np.ascontiguousarray(case.design.T), y=case.y, w=None,
                 offset=offset, trials=case.trials)


def _richardson(fn, h):
    """Central difference of ``fn`` at 0, Richardson-extrapolated (steps h and h/2)."""
    def central(s):
        return (fn(s) - fn(-s)) / (2.0 * s)

    return (4.0 * central(0.5 * h) - central(h)) / 3.0


def _log_extra_params(case, j, t):
    """Parameters with the j-th free extra multiplied by exp(t)."""
    extra = case.extra.copy()
    col = np.flatnonzero(case.free)[j]
    extra[:, col] *= np.exp(t)
    return case.family.make_params(case.coef, extra)


@pytest.mark.parametrize("key", KEYS)
def test_row_first_derivatives(key):
    case = make_case(key)
    fam = case.family
    params = _params(case)
    logf, d1, d2, e1, e2, ce = fam.row_derivatives(params, _chunk(case))
    K, n = logf.shape
    mf = int(case.free.sum())
    assert d1.shape == (K, n) and e1.shape == (K, mf, n)

    # the log-density itself, against scipy
    logd = fam.log_density(params, _chunk(case))[0]
    np.testing.assert_allclose(logf, logd, rtol=1e-12, atol=1e-12)
    eta = case.coef @ case.design.T
    ref = np.array([_logpdf(case.name, case.link, case.y, case.trials, eta[k], case.extra[k])
                    for k in range(K)])
    np.testing.assert_allclose(logd, ref, rtol=1e-10, atol=1e-10)

    # d1: d log f / d eta, through a constant offset added to every linear predictor
    num_d1 = _richardson(lambda s: fam.log_density(params, _chunk(case, s))[0], 1e-4)
    np.testing.assert_allclose(d1, num_d1, rtol=DERIV_RTOL,
                               atol=DERIV_RTOL * max(np.abs(num_d1).max(), 1.0))
    # e1: d log f / d log extra, for every free extra
    for j in range(mf):
        num_e1 = _richardson(
            lambda t, j=j: fam.log_density(_log_extra_params(case, j, t), _chunk(case))[0],
            1e-4)
        np.testing.assert_allclose(e1[:, j], num_e1, rtol=DERIV_RTOL,
                                   atol=DERIV_RTOL * max(np.abs(num_e1).max(), 1.0),
                                   err_msg=f"e1[:, {j}]")


@pytest.mark.parametrize("key", KEYS)
def test_row_second_derivatives(key):
    """d2, e2 and the cross derivatives against differences of d1 and e1."""
    case = make_case(key)
    fam = case.family
    params = _params(case)
    _, d1, d2, e1, e2, ce = fam.row_derivatives(params, _chunk(case))
    mf = int(case.free.sum())
    assert e2.shape == (*e1.shape[:2], mf, e1.shape[2]) and ce.shape == e1.shape

    # a larger step than for d1 and e1: differences of derivatives that carry round-off
    # of their own (cloglog near mu = 1 computes 1 - mu with about 1e-9 relative error)
    h = 1e-3

    def rows(s=0.0, j=None, t=0.0):
        p = params if j is None else _log_extra_params(case, j, t)
        return fam.row_derivatives(p, _chunk(case, s))

    def close(actual, desired, what):
        np.testing.assert_allclose(actual, desired, rtol=DERIV_RTOL,
                                   atol=DERIV_RTOL * max(np.abs(desired).max(initial=0.0), 1.0),
                                   err_msg=what)

    close(d2, _richardson(lambda s: rows(s)[1], h), "d2")
    close(ce, _richardson(lambda s: rows(s)[3], h), "ce = d e1 / d eta")
    for j in range(mf):
        close(e2[:, :, j], _richardson(lambda t, j=j: rows(j=j, t=t)[3], h), f"e2[:, :, {j}]")
        close(ce[:, j], _richardson(lambda t, j=j: rows(j=j, t=t)[1], h),
              f"ce[:, {j}] = d d1 / d log extra")


# ----------------------------------------------------------------------------- 3. fitted SEs
def _fit_data(name, rng):
    n = 200
    X = rng.standard_normal((n, 1))
    z = (rng.random(n) < 0.55).astype(int)
    D = np.column_stack([np.ones(n), X])
    kwargs, w = {}, None
    if name == "poisson":
        mu = np.exp(np.einsum("ij,ij->i", D, np.array([[0.8, 0.6], [2.6, -0.5]])[z]))
        y = rng.poisson(mu).astype(float)
    elif name == "poisson_offset_weights":
        exposure = rng.uniform(0.5, 3.0, n)
        mu = exposure * np.exp(np.einsum("ij,ij->i", D, np.array([[0.8, 0.6],
                                                                   [2.6, -0.5]])[z]))
        y = rng.poisson(mu).astype(float)
        w = rng.uniform(0.5, 2.0, n)
        kwargs["offset"] = np.log(exposure)
    elif name == "gamma":
        shape = np.array([6.0, 10.0])[z]
        mu = np.exp(np.einsum("ij,ij->i", D, np.array([[0.3, 0.5], [2.3, -0.4]])[z]))
        y = rng.gamma(shape, mu / shape)
    elif name == "negative_binomial":
        size = np.array([4.0, 12.0])[z]
        mu = np.exp(np.einsum("ij,ij->i", D, np.array([[0.8, 0.6], [3.0, -0.5]])[z]))
        y = rng.negative_binomial(size, size / (size + mu)).astype(float)
    elif name == "binomial":
        trials = rng.integers(1, 13, n).astype(float)
        p_success = special.expit(np.einsum("ij,ij->i", D, np.array([[-1.5, 1.0],
                                                                     [1.5, -0.7]])[z]))
        y = rng.binomial(trials.astype(int), p_success).astype(float)
        kwargs["trials"] = trials
    elif name == "student_t":
        loc = np.einsum("ij,ij->i", D, np.array([[0.0, 1.0], [4.0, -1.0]])[z])
        y = loc + np.array([0.5, 0.8])[z] * rng.standard_t(np.array([4.0, 8.0])[z])
    else:
        raise AssertionError(name)
    return X, y, w, kwargs


@pytest.mark.parametrize("name", ["poisson", "poisson_offset_weights", "gamma",
                                  "negative_binomial", "student_t", "binomial"])
def test_fitted_standard_errors(name):
    rng = np.random.default_rng(7)
    X, y, w, kwargs = _fit_data(name, rng)
    family = "poisson" if name.startswith("poisson") else name
    model = RegressionMixture(2, family=family, random_state=0).fit(X, y, sample_weight=w,
                                                                     **kwargs)
    table = model.coef_table()
    fam = model.family_
    extra = np.column_stack([getattr(model, f"{e}_") for e in fam.extra_names]) if (
        fam.extra_names) else np.zeros((2, 0))
    case = Case(fam.name, fam.link_name, fam, model.weights_.copy(),
                np.column_stack([model.intercept_, model.coef_]), extra, X, y, w,
                kwargs.get("offset"), kwargs.get("trials"))
    K, p = case.coef.shape
    free = case.free
    mf = int(free.sum())

    info = -numerical_hessian(case.row_loglik, case.theta())
    cov_theta = np.linalg.inv(info)
    # delta method to (coef, free extras, weight) per component
    pi = case.weights
    dpi = (np.diag(pi) - np.outer(pi, pi))[:, 1:]
    J = np.zeros((K * (p + mf + 1), cov_theta.shape[0]))
    for k in range(K):
        row, col = k * (p + mf + 1), k * (p + mf)
        J[row:row + p, col:col + p] = np.eye(p)
        for j in range(mf):
            J[row + p + j, col + p + j] = extra[k, free][j]
        J[row + p + mf, K * (p + mf):] = dpi[k]
    se = np.sqrt(np.diag(J @ cov_theta @ J.T))

    names = ["intercept", "x0", *[e for e, f in zip(fam.extra_names, free, strict=True) if f],
             "weight"]
    assert list(table.index) == [(k, s) for k in (1, 2) for s in names]
    estimates = np.column_stack([case.coef, extra[:, free], pi]).ravel()
    np.testing.assert_allclose(table["estimate"].to_numpy(), estimates, rtol=1e-12)
    np.testing.assert_allclose(table["std_err"].to_numpy(), se, rtol=1e-5)
