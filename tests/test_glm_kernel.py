"""The fused compiled Poisson and binomial E-step against the numpy data pass, and where
it applies."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from regmix import RegressionMixture  # noqa: E402
from regmix.compiled import glm_kernel as glk  # noqa: E402
from regmix.core.params import ComponentParams, MixtureParams  # noqa: E402
from regmix.core.results import PassResult  # noqa: E402
from regmix.engine import kernel  # noqa: E402
from regmix.engine.passes import e_step_pass  # noqa: E402
from regmix.engine.runner import PassRunner  # noqa: E402
from regmix.families.binomial import Binomial  # noqa: E402
from regmix.families.constraints import CoefficientConstraints  # noqa: E402
from regmix.families.gamma import GammaFamily  # noqa: E402
from regmix.families.gaussian import Gaussian  # noqa: E402
from regmix.families.negative_binomial import NegativeBinomial  # noqa: E402
from regmix.families.poisson import Poisson  # noqa: E402
from regmix.families.student_t import StudentT  # noqa: E402
from regmix.mixing.constant import ConstantWeights  # noqa: E402
from regmix.mixing.gating import MultinomialLogitGating  # noqa: E402
from regmix.sources.arrays import ArrayData  # noqa: E402

RTOL = 1e-12

CASES = [("poisson", "log"), ("poisson", "identity"), ("binomial", "logit"),
         ("binomial", "probit"), ("binomial", "cloglog"), ("gamma", "log"),
         ("gamma", "inverse"), ("negative_binomial", "log")]


# The components' Gamma shapes and negative-binomial sizes (150: a size past 100, where
# the negative-binomial log-density takes Stirling's series).
EXTRAS = {"gamma": [0.7, 2.0, 5.0], "negative_binomial": [0.5, 150.0, 3.0]}


def _family(name, link):
    if name == "gamma":
        return GammaFamily(link)
    if name == "negative_binomial":
        return NegativeBinomial(link=link)
    return (Poisson if name == "poisson" else Binomial)(link)


def _extra(name, K):
    """The extras (K,) of the family, or None."""
    return None if name not in EXTRAS else np.array(EXTRAS[name][:K])


def _problem(name, link, n=3000, d=3, K=3, *, weighted=True, with_offset=True,
             fit_intercept=True, seed=0):
    """Rows with columns of different locations and scales, offsets, weights (some
    zero), trials for the binomial, and parameters away from any optimum."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 5.0, d) + rng.uniform(-3.0, 3.0, d)
    offset = rng.uniform(-0.5, 0.5, n) if with_offset else None
    w = None
    if weighted:
        w = rng.uniform(0.0, 3.0, n)
        w[::41] = 0.0
    trials = None
    if name == "poisson":
        y = rng.poisson(3.0, n).astype(float)
    elif name == "negative_binomial":
        y = rng.negative_binomial(2.0, 0.4, n).astype(float)
    elif name == "gamma":
        y = rng.gamma(2.0, 1.5, n)
    else:
        trials = rng.integers(1, 25, n).astype(float)
        y = rng.binomial(trials.astype(int), 0.35).astype(float)
    source = ArrayData(X, y, w, fit_intercept=fit_intercept, offset=offset, trials=trials,
                       scale_response=False)
    coef = 0.3 * rng.normal(size=(K, source.n_design))
    if link == "identity":  # positive means: a large intercept, small slopes
        if fit_intercept:
            coef[:, 0] = rng.uniform(3.0, 5.0, K)
        coef *= 0.1 if not fit_intercept else 1.0
        coef[:, int(fit_intercept):] *= 0.05
        if offset is not None:
            offset += 1.0  # keeps the means positive without an intercept too
    if link == "inverse":  # positive linear predictors 1 / mu, about one over the mean
        coef[:, int(fit_intercept):] *= 0.03
        if fit_intercept:
            coef[:, 0] = rng.uniform(0.3, 0.6, K)
        if offset is not None:
            offset *= 0.2
            offset += 0.2  # positive means without an intercept too
    mix = rng.dirichlet(np.ones(K))
    return X, y, w, offset, trials, source, coef, mix


def _kernel(X, y, w, offset, trials, source, coef, mix, name, link, **kwargs):
    st = source.standardization
    K = len(mix)
    kwargs.setdefault("extra", _extra(name, K))
    return glk.glm_e_step(X, y, w, offset, trials, st.x_loc, 1.0 / st.x_scale,
                          1.0 / st.y_scale, source.fit_intercept, coef, np.log(mix), name,
                          link, **kwargs)


def _params(family, coef, K):
    extra = _extra(family.name, K)
    return ComponentParams(coef, np.zeros((K, 0)) if extra is None else extra[:, None])


def _reference(source, family, coef, mix):
    return e_step_pass(source, family, _params(family, coef, len(mix)),
                       np.log(mix)[:, None], chunk_size=4096)


def _extra_scale(source, family, coef, mix, wr=None):
    """Per component and statistic of the extras, the sum over the rows of the absolute
    weighted terms (the bound on a sum of terms of both signs; for the negative binomial
    the terms of which the numpy pass forms each row's value, the digamma and trigamma
    values of y + size and of the size among them); ``wr`` the weighted
    responsibilities (default: the posterior), the means those of ``coef`` or, without
    coefficients, the family's ``mustart``."""
    from scipy import special

    K = len(mix)
    if family.name not in EXTRAS:
        return None
    params = _params(family, coef, K)
    chunk = source.chunk(0, source.n_rows)
    if coef is None:
        mu = np.broadcast_to(family.mustart(chunk.y, chunk.trials), (K, chunk.y.size))
    else:
        logd, (mu, _) = family.log_density(params, chunk, np.log(mix)[:, None])
    if wr is None:
        wr = special.softmax(logd, axis=0) * (1.0 if chunk.w is None else chunk.w)
    th = params.extra
    if family.name == "gamma":
        ok = (mu > 0) & np.isfinite(mu)  # elsewhere no weight: the density is zero
        r = chunk.y / np.where(ok, mu, 1.0)
        terms = [np.where(ok, np.log(np.where(ok, r, 1.0)) - r, 0.0)]
    else:  # the terms the numpy pass subtracts: digamma and trigamma values of y + th, th
        a, s = chunk.y + th, th + mu
        t1 = th * (np.abs(special.digamma(a)) + np.abs(special.digamma(th))
                   + np.abs(np.log(th / s)) + 1.0 + a / s)
        t2 = th * th * (special.polygamma(1, a) + special.polygamma(1, th) + 1.0 / th
                        + 2.0 / s + a / (s * s))
        terms = [t1, t1 + t2]
    return np.column_stack([np.einsum("kn,kn->k", wr, np.abs(t)) for t in terms])


def _assert_matches(out, ref, extra_scale=None):
    """Agreement to RTOL: the log-likelihood and N_k entry by entry; the entries of A
    (sums of terms of both signs) relative to the Cauchy-Schwarz bound sqrt(A_jj A_ll)
    on the sum of their absolute terms, the entries of b relative to each component's
    largest, the extras' statistics relative to the sums of their absolute terms
    (``extra_scale``, required for the families with extras)."""
    loglik, resp_sum, A, b, extra = out
    A_ref, b_ref, extra_ref = ref.stats
    assert extra.shape == extra_ref.shape
    if extra.size:
        assert np.all(np.isfinite(extra))
        assert np.all(np.abs(extra - extra_ref) <= RTOL * extra_scale)
    assert (A.shape, b.shape) == (A_ref.shape, b_ref.shape)
    for value in (resp_sum, A, b):
        assert np.all(np.isfinite(value))
    np.testing.assert_allclose(loglik, ref.loglik, rtol=RTOL, equal_nan=True)
    np.testing.assert_allclose(resp_sum, ref.resp_sum, rtol=RTOL)
    diag = np.sqrt(np.einsum("kjj->kj", A_ref))
    bound = diag[:, :, None] * diag[:, None, :]
    assert np.all(np.abs(A - A_ref) <= RTOL * bound)
    scale = np.abs(b_ref).max(axis=1, keepdims=True)
    assert np.all(np.abs(b - b_ref) <= RTOL * scale)


@pytest.mark.parametrize(("name", "link"), CASES)
@pytest.mark.parametrize(("weighted", "with_offset"), [(True, True), (False, False)])
def test_matches_numpy_pass(name, link, weighted, with_offset):
    X, y, w, offset, trials, source, coef, mix = _problem(
        name, link, weighted=weighted, with_offset=with_offset)
    out = _kernel(X, y, w, offset, trials, source, coef, mix, name, link)
    family = _family(name, link)
    _assert_matches(out, _reference(source, family, coef, mix),
                    _extra_scale(source, family, coef, mix))


@pytest.mark.parametrize(("name", "link"), [("poisson", "log"), ("binomial", "logit"),
                                            ("gamma", "inverse"), ("negative_binomial", "log")])
def test_without_intercept_and_fortran_order(name, link):
    X, y, w, offset, trials, source, coef, mix = _problem(name, link, n=2500, d=2, K=2,
                                                           fit_intercept=False)
    out = _kernel(np.asfortranarray(X), y, w, offset, trials, source, coef, mix, name, link)
    family = _family(name, link)
    _assert_matches(out, _reference(source, family, coef, mix),
                    _extra_scale(source, family, coef, mix))
    c_order = _kernel(X, y, w, offset, trials, source, coef, mix, name, link)
    for a, b in zip(out, c_order, strict=True):
        np.testing.assert_array_equal(a, b)


def test_extreme_linear_predictors():
    # means that under- and overflow in the tails: the log link's cap, the logit's
    # exact log-probabilities, probit's asymptotic lower tail
    for name, link in CASES:
        if link in ("identity", "inverse"):
            continue
        X, y, w, offset, trials, source, coef, mix = _problem(name, link, n=2100, K=2)
        coef = coef.copy()
        coef[1, 0] += 30.0 if name == "binomial" else -40.0
        coef[0, 1] *= 30.0
        out = _kernel(X, y, w, offset, trials, source, coef, mix, name, link)
        ref = _reference(source, _family(name, link), coef, mix)
        np.testing.assert_allclose(out[0], ref.loglik, rtol=RTOL)
        np.testing.assert_allclose(out[1], ref.resp_sum, rtol=1e-10, atol=1e-300)


def test_gamma_inverse_link_with_means_that_are_not_positive():
    # one component's linear predictor crosses zero: its means there are negative or
    # infinite (density zero, no weight in the statistics), the other's carry the rows
    X, y, w, offset, trials, source, coef, mix = _problem("gamma", "inverse", n=2600, K=2)
    coef = coef.copy()
    coef[1, 1] = 1.0  # eta of component 1 negative on about a quarter of the rows
    eta = source.chunk(0, 2600).XT.T @ coef[1] + offset
    assert 0.1 < np.mean(eta < 0) < 0.9
    family = _family("gamma", "inverse")
    out = _kernel(X, y, w, offset, trials, source, coef, mix, "gamma", "inverse")
    _assert_matches(out, _reference(source, family, coef, mix),
                    _extra_scale(source, family, coef, mix))


def test_digamma_and_trigamma_match_scipy():
    from scipy import special

    glk._compiled()
    x = np.concatenate([np.geomspace(1e-3, 1e8, 3001), [9.999, 10.0, 10.001, 0.5, 1.0, 2.0]])
    got = np.array([glk._digamma(v) for v in x])
    np.testing.assert_allclose(got, special.digamma(x), rtol=1e-13, atol=1e-15)
    got = np.array([glk._trigamma(v) for v in x])
    np.testing.assert_allclose(got, special.polygamma(1, x), rtol=1e-13)


def test_log_ndtr_matches_scipy():
    from scipy import special

    glk._compiled()
    x = np.concatenate([np.linspace(-60.0, 10.0, 2001), [-20.0, -19.999, 6.0, 6.001]])
    got = np.array([glk._log_ndtr(v) for v in x])
    np.testing.assert_allclose(got, special.log_ndtr(x), rtol=1e-13)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
@pytest.mark.parametrize(("name", "link"), [("poisson", "log"), ("gamma", "log"),
                                            ("gamma", "inverse"), ("negative_binomial", "log")])
def test_bit_identical_across_thread_counts(monkeypatch, name, link):
    from regmix.compiled import helpers

    monkeypatch.setattr(helpers, "MIN_ROWS_PER_THREAD", 1)  # two threads on 9000 rows
    X, y, w, offset, trials, source, coef, mix = _problem(name, link, n=9000)
    one = _kernel(X, y, w, offset, trials, source, coef, mix, name, link, n_threads=1)
    for _ in range(3):  # blocks claimed in another order each time, the same sums
        two = _kernel(X, y, w, offset, trials, source, coef, mix, name, link, n_threads=2)
        for a, b in zip(one, two, strict=True):
            np.testing.assert_array_equal(a, b)
    assert glk.glm_log_constant(y, w, trials, name, n_threads=1) == glk.glm_log_constant(
        y, w, trials, name, n_threads=2)


def test_rejects_bad_input():
    X, y, w, offset, trials, source, coef, mix = _problem("poisson", "log", n=100)
    with pytest.raises(ValueError, match="no compiled pass"):
        _kernel(X, y, w, offset, trials, source, coef, mix, "gamma", "identity")
    with pytest.raises(ValueError, match="no compiled pass"):
        _kernel(X, y, w, offset, trials, source, coef, mix, "poisson", "inverse")
    with pytest.raises(ValueError, match="needs its extra parameter"):
        _kernel(X, y, w, offset, trials, source, coef, mix, "gamma", "log", extra=None)
    with pytest.raises(ValueError, match="extra must hold 3 positive numbers"):
        _kernel(X, y, w, offset, trials, source, coef, mix, "negative_binomial", "log",
                extra=np.array([1.0, -1.0, 2.0]))
    with pytest.raises(ValueError, match="has no extra parameter"):
        _kernel(X, y, w, offset, trials, source, coef, mix, "poisson", "log",
                extra=np.ones(3))
    with pytest.raises(ValueError, match="offset must have shape"):
        _kernel(X, y, w, offset[:-1], trials, source, coef, mix, "poisson", "log")
    with pytest.raises(ValueError, match="coef must have shape"):
        _kernel(X, y, w, offset, trials, source, coef[:, :-1], mix, "poisson", "log")
    with pytest.raises(ValueError, match="first step without coefficients"):
        _kernel(X, y, w, offset, trials, source, None, mix, "poisson", "log")


def _count_data(n=2000, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    offset = rng.uniform(-0.3, 0.3, n)
    z = rng.integers(0, 2, n)
    eta = np.where(z == 0, 0.5 + X @ [0.8, -0.3], 2.0 + X @ [-0.5, 0.4]) + offset
    trials = rng.integers(1, 10, n).astype(float)
    p = 1.0 / (1.0 + np.exp(-np.where(z == 0, -1.0 + X @ [1.0, 0.5], 1.0 + X @ [-1.0, 0.2])))
    return (X, rng.poisson(np.exp(eta)).astype(float), offset, rng.uniform(0.5, 2.0, n),
            trials, rng.binomial(trials.astype(int), p).astype(float))


@pytest.mark.parametrize("family", ["poisson", "binomial", "negative_binomial", "gamma"])
def test_fit_with_kernel_equals_fit_without(family, monkeypatch):
    from regmix.engine import runner

    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return glk.glm_e_step(*args, **kwargs)

    monkeypatch.setattr(runner, "glm_e_step", counted)
    X, y, offset, w, trials, yb = _count_data()
    if family == "poisson":
        args, kwargs = (X, y), {"offset": offset, "sample_weight": w}
    elif family == "negative_binomial":  # overdispersed counts around the Poisson ones
        # (on Poisson counts a size runs to its bound, where the likelihood is flat)
        nb_y = np.random.default_rng(9).negative_binomial(2.0, 2.0 / (2.5 + y)).astype(float)
        args, kwargs = (X, nb_y), {"offset": offset, "sample_weight": w}
    elif family == "gamma":  # positive responses with the counts' means
        gamma_y = np.random.default_rng(8).gamma(3.0, (y + 0.5) / 3.0)
        args, kwargs = (X, gamma_y), {"offset": offset, "sample_weight": w}
    else:
        args, kwargs = (X, yb), {"trials": trials, "sample_weight": w}
    # (the negative binomial's EM crawls along its sizes: a tighter stop for it)
    tol = 1e-12 if family == "negative_binomial" else 1e-8
    fits = [RegressionMixture(2, family=family, engine=engine, random_state=0, n_init=1,
                              tol=tol, max_iter=5000).fit(*args, **kwargs)
            for engine in ("numba", "numpy")]
    assert calls  # the first fit's E-steps ran on the kernel
    np.testing.assert_allclose(fits[0].log_likelihood_, fits[1].log_likelihood_, rtol=1e-10)
    # the same maximum; the coefficients where the stopping rule (tol on the mean
    # log-likelihood) leaves them, within about sqrt(tol) of it
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, atol=1e-4)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
@pytest.mark.parametrize("family", ["gamma", "negative_binomial"])
def test_fits_on_the_kernel_are_bit_identical_across_threads(family, monkeypatch):
    from regmix.compiled import helpers

    monkeypatch.setattr(helpers, "MIN_ROWS_PER_THREAD", 1)  # two threads on these rows
    X, y, offset, w, _, _ = _count_data()
    if family == "gamma":
        y = np.random.default_rng(8).gamma(3.0, (y + 0.5) / 3.0)
    fits = [RegressionMixture(2, family=family, engine="numba", random_state=0, n_init=2,
                              n_jobs=n_jobs).fit(X, y, offset=offset, sample_weight=w)
            for n_jobs in (1, 2)]
    for a, b in zip(fits[0].state_.extra.ravel(), fits[1].state_.extra.ravel(), strict=True):
        assert a == b
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)
    np.testing.assert_array_equal(fits[0].log_likelihood_history_, fits[1].log_likelihood_history_)


def test_runner_takes_the_kernel_only_with_coefficients():
    X, y, offset, w, trials, yb = _count_data(n=600)
    source = ArrayData(X, y, w, offset=offset, fit_intercept=True, scale_response=False)
    runner = PassRunner(source, Poisson(), ConstantWeights(), chunk_size=4096, n_jobs=1,
                        engine="numba")
    assert runner.kernel == "glm"
    start = runner.start_params(2)  # no coefficients: the first step is the numpy pass's
    resp = runner.given(lambda ch: np.full((2, ch.y.shape[0]), 0.5), 2, start)
    assert np.isnan(resp.loglik)
    params = MixtureParams(np.array([0.4, 0.6]),
                           ComponentParams(np.array([[0.5, 0.8, -0.3], [2.0, -0.5, 0.4]]),
                                           np.zeros((2, 0))))
    compiled = runner.evaluate(params)
    numpy = PassRunner(source, Poisson(), ConstantWeights(), chunk_size=4096, n_jobs=1,
                       engine="numpy").evaluate(params)
    np.testing.assert_allclose(compiled.loglik, numpy.loglik, rtol=RTOL)
    np.testing.assert_allclose(compiled.mix_stats[0], numpy.mix_stats[0], rtol=RTOL)


class _MyPoisson(Poisson):
    pass


def test_selection_refuses_what_the_kernel_does_not_cover():
    X, y, offset, w, trials, yb = _count_data(n=300)
    plain = ArrayData(X, y, w, offset=offset, fit_intercept=True, scale_response=False)
    mixing = ConstantWeights()
    assert kernel.compiled_pass_applies(plain, Poisson(), mixing)
    assert kernel.compiled_pass_applies(plain, Binomial("cloglog"), mixing)
    # other families, subclasses, links not covered
    for family in (GammaFamily("log"), GammaFamily("inverse", shape=2.0), NegativeBinomial()):
        assert kernel.kernel_family(family) == "glm"
    for family in (_MyPoisson(), GammaFamily("identity")):
        assert kernel.kernel_family(family) is None
        assert not kernel.compiled_pass_applies(plain, family, mixing)
    assert kernel.kernel_family(Gaussian()) == "gaussian"
    assert kernel.kernel_family(StudentT()) == "student_t"
    # Student-t components take the Gaussian kernel's rows: none with an offset
    assert not kernel.compiled_pass_applies(plain, StudentT(), mixing)
    # gating with concomitant variables, constraints (the E-step's sums do not depend
    # on them) and groups (tests/test_grouped_kernel.py); not: concomitant variables
    # without gating (or gating without them), a subclass of the gating, the
    # information pass (constrained, gated or of grouped rows)
    gated = ArrayData(X, y, w, Z=X[:, :1].copy(), fit_intercept=True, scale_response=False)
    gating = MultinomialLogitGating()
    assert kernel.compiled_pass_applies(gated, Poisson(), gating)
    assert kernel.compiled_pass_applies(gated, Gaussian(), gating)
    assert not kernel.compiled_pass_applies(plain, Poisson(), gating)
    assert not kernel.compiled_pass_applies(gated, Gaussian(), gating, information=True)
    assert not kernel.compiled_pass_applies(gated, Poisson(), type("G", (MultinomialLogitGating,),
                                                                   {})())
    assert not kernel.compiled_pass_applies(gated, Poisson(), gating, information=True)
    assert kernel.compiled_pass_applies(plain, Poisson(), mixing, constrained=True)
    constrained = Poisson()
    constrained.constraints = CoefficientConstraints(
        np.array([False, True, False]), np.zeros(3, dtype=bool), np.zeros((2, 3)))
    assert kernel.compiled_pass_applies(plain, constrained, mixing)
    user = ArrayData(X, y, w, fit_intercept=True, standardize=False, scale_response=False)
    assert kernel.compiled_pass_applies(user, Gaussian(), mixing, information=True)
    assert not kernel.compiled_pass_applies(user, Gaussian(), mixing, constrained=True,
                                            information=True)
    groups = np.repeat(np.arange(150), 2)
    grouped = ArrayData(X, y, w, offset=offset, groups=groups, fit_intercept=True,
                        scale_response=False)
    assert kernel.compiled_pass_applies(grouped, Poisson(), mixing)
    grouped_user = ArrayData(X, y, w, groups=groups, fit_intercept=True, standardize=False,
                             scale_response=False)
    assert not kernel.compiled_pass_applies(grouped_user, Gaussian(), mixing,
                                            information=True)
    assert not kernel.compiled_pass_applies(gated, Poisson(), mixing)
    # the information: GLM components too (offsets and trials in memory), in user units
    assert kernel.compiled_pass_applies(plain, Poisson(), mixing, information=True)
    assert not kernel.compiled_pass_applies(plain, Poisson(), mixing, user_units=True,
                                            information=True)
    assert not kernel.compiled_pass_applies(user, StudentT(), mixing, information=True)
    runner = PassRunner(grouped, Poisson(), mixing, chunk_size=4096, n_jobs=1,
                        engine="numba")
    assert (runner.engine, runner.kernel) == ("numba", "glm")


def test_without_numba_the_runner_takes_the_numpy_pass(tmp_path):
    # numba hidden: the selection refuses, and a Poisson pass runs on numpy
    (tmp_path / "numba.py").write_text("raise ImportError('numba is hidden in this test')\n")
    code = (
        "import numpy as np\n"
        "from regmix.engine.runner import PassRunner\n"
        "from regmix.families.poisson import Poisson\n"
        "from regmix.mixing.constant import ConstantWeights\n"
        "from regmix.sources.arrays import ArrayData\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(500, 2)); y = rng.poisson(2.0, 500).astype(float)\n"
        "src = ArrayData(X, y, None, fit_intercept=True, scale_response=False)\n"
        "r = PassRunner(src, Poisson(), ConstantWeights(), chunk_size=4096, n_jobs=1,"
        " engine='numba')\n"
        "assert (r.engine, r.kernel) == ('numpy', None), (r.engine, r.kernel)\n"
        "p = r.start_params(2)\n"
        "res = r.given(lambda ch: np.full((2, ch.y.shape[0]), 0.5), 2, p)\n"
        "assert np.isfinite(res.stats[0]).all()\n"
    )
    env_path = f"{tmp_path}:{':'.join(p for p in sys.path if p)}"
    done = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": env_path},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("name", "link", "with_coef"), [
    ("poisson", "log", True), ("binomial", "probit", True), ("gamma", "inverse", True),
    ("negative_binomial", "log", True), *[
        (name, link, False) for name, link in CASES if link in glk.START_LINKS]])
def test_given_memberships_match_the_numpy_statistics(name, link, with_coef):
    # with coefficients, and for a first step without them (from the smoothed response)
    from regmix.engine.runner import MembershipArray

    X, y, w, offset, trials, source, coef, mix = _problem(name, link, n=2500, K=2)
    memberships = np.random.default_rng(5).uniform(0.01, 1.0, (2500, 2))
    family = _family(name, link)
    params = MixtureParams(mix, _params(family, coef if with_coef else None, 2))
    results = [PassRunner(source, family, ConstantWeights(), chunk_size=4096,
                          n_jobs=1, engine=engine).given(MembershipArray(memberships), 2,
                                                         params)
               for engine in ("numba", "numpy")]
    compiled, numpy = results
    assert np.isnan(compiled.loglik) and np.isnan(numpy.loglik)
    np.testing.assert_allclose(compiled.mix_stats[0], numpy.mix_stats[0], rtol=RTOL)
    wr = (memberships / memberships.sum(axis=1, keepdims=True)).T * (1.0 if w is None else w)
    scale = _extra_scale(source, family, coef if with_coef else None, mix, wr)
    _assert_matches((numpy.loglik, compiled.resp_sum, *compiled.stats),
                    PassResult(numpy.loglik, numpy.resp_sum, numpy.stats), scale)


def test_known_labels_keep_the_numpy_pass():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 1))
    z = rng.random(400) < 0.5
    y = rng.poisson(np.exp(np.where(z, 0.2 + X[:, 0], 1.5 - 0.5 * X[:, 0]))).astype(float)
    known = np.where(np.arange(400) < 40, 1 + (~z).astype(int), -1)
    fits = [RegressionMixture(2, family="poisson", engine=engine, random_state=0).fit(
        X, y, known_labels=known) for engine in ("numba", "numpy")]
    assert fits[0].log_likelihood_ == pytest.approx(fits[1].log_likelihood_, rel=1e-10)


@pytest.mark.parametrize(("name", "link"), [("poisson", "log"), ("binomial", "probit"),
                                            ("gamma", "log"), ("negative_binomial", "log")])
@pytest.mark.parametrize("weighted", [True, False])
def test_classification_sums_match_the_posteriors(name, link, weighted):
    """The kernel's classification sums against the posteriors computed here with scipy
    (softmax of the family's log-densities) and summed row by row, ties to the first
    component; and the runner's classification on the kernel equal to the numpy pass's."""
    from scipy import special

    X, y, w, offset, trials, source, coef, mix = _problem(name, link, weighted=weighted)
    family = _family(name, link)
    K = len(mix)
    *head, (counts, table, entropy, top) = _kernel(X, y, w, offset, trials, source, coef,
                                                   mix, name, link, classify=True)
    _assert_matches(tuple(head), _reference(source, family, coef, mix),
                    _extra_scale(source, family, coef, mix))
    chunk = source.chunk(0, source.n_rows)
    logd, _ = family.log_density(_params(family, coef, K), chunk, np.log(mix)[:, None])
    post = special.softmax(logd, axis=0).T  # (n, K)
    weight = np.ones(len(y)) if w is None else w
    assigned = post.argmax(axis=1)
    ref_table = np.zeros((K, K))
    for i in range(len(y)):
        ref_table[assigned[i]] += weight[i] * post[i]
    np.testing.assert_allclose(counts, np.bincount(assigned, weights=weight, minlength=K),
                               rtol=RTOL)
    np.testing.assert_allclose(table, ref_table, rtol=1e-11, atol=1e-12 * weight.sum())
    np.testing.assert_allclose(entropy, weight @ special.entr(post).sum(axis=1), rtol=1e-11)
    np.testing.assert_allclose(top, weight @ np.log(post.max(axis=1)), rtol=1e-11)
    params = MixtureParams(mix, _params(family, coef, K))
    runs = [PassRunner(source, family, ConstantWeights(), chunk_size=4096, n_jobs=1,
                       engine=engine).classification(params) for engine in ("numba", "numpy")]
    for field in ("entropy", "n", "top"):
        np.testing.assert_allclose(getattr(runs[0], field), getattr(runs[1], field),
                                   rtol=1e-11)
    for field in ("table", "counts", "sizes"):
        np.testing.assert_allclose(getattr(runs[0], field), getattr(runs[1], field),
                                   rtol=1e-11, atol=1e-12 * weight.sum())
    with pytest.raises(ValueError, match="classify"):
        _kernel(X, y, w, offset, trials, source, coef, mix, name, link, classify=True,
                responsibilities=post)


def _gated(name, link, K=3, weighted=True, seed=3, fortran=False):
    """A problem of _problem with two concomitant variables (locations and scales
    unlike the features') and gating coefficients away from zero."""
    X, y, w, offset, trials, source, coef, mix = _problem(name, link, K=K, weighted=weighted,
                                                           seed=seed)
    rng = np.random.default_rng(seed + 10)
    Z = rng.normal(size=(len(y), 2)) * [2.0, 0.3] + [1.0, -4.0]
    if fortran:
        Z = np.asfortranarray(Z)
    gated = ArrayData(X, y, w, fit_intercept=True, offset=offset, trials=trials, Z=Z,
                      scale_response=False)
    gamma = np.zeros((K, 3))
    gamma[1:] = rng.normal(size=(K - 1, 3))
    return gated, coef, gamma, mix


@pytest.mark.parametrize(("name", "link"), [("poisson", "log"), ("binomial", "logit"),
                                            ("gamma", "inverse"), ("negative_binomial", "log")])
@pytest.mark.parametrize("weighted", [True, False])
def test_gated_weights_match_the_numpy_pass(name, link, weighted):
    """Multinomial-logit weights on the kernel: the E-step sums and the gating
    statistics against the numpy pass with MultinomialLogitGating, the classification
    too, and given memberships (a first step without coefficients included)."""
    source, coef, gamma, mix = _gated(name, link, weighted=weighted)
    family, mixing = _family(name, link), MultinomialLogitGating()
    K = len(mix)
    params = MixtureParams(mix, _params(family, coef, K), gamma)
    runners = [PassRunner(source, family, mixing, chunk_size=4096, n_jobs=1, engine=engine)
               for engine in ("numba", "numpy")]
    assert runners[0].kernel == "glm" and runners[1].kernel is None
    compiled, numpy = (r.evaluate(params) for r in runners)
    _assert_matches((compiled.loglik, compiled.resp_sum, *compiled.stats), numpy,
                    _extra_scale_gated(source, family, params))
    _assert_gating_matches(compiled.mix_stats, numpy.mix_stats)
    classes = [r.classification(params) for r in runners]
    for field in ("entropy", "top", "table", "counts", "sizes"):
        np.testing.assert_allclose(getattr(classes[0], field), getattr(classes[1], field),
                                   rtol=1e-11, atol=1e-12 * source.total_weight)
    R = np.random.default_rng(5).dirichlet(np.ones(K), size=source.n_rows)
    from regmix.engine.runner import MembershipArray

    starts = [params] + ([runners[0].start_params(K)] if link in glk.START_LINKS else [])
    for start in starts:
        given = [r.given(MembershipArray(R), K, start) for r in runners]
        _assert_gating_matches(given[0].mix_stats, given[1].mix_stats)


def _extra_scale_gated(source, family, params):
    if family.name not in EXTRAS:
        return None
    from scipy import special

    chunk = source.chunk(0, source.n_rows)
    log_w = MultinomialLogitGating().log_weights(params, chunk)
    logd, _ = family.log_density(params.component, chunk, log_w)
    wr = special.softmax(logd, axis=0) * (1.0 if chunk.w is None else chunk.w)
    return _extra_scale(source, family, params.component.coef, params.weights, wr)


def _assert_gating_matches(ours, ref):
    """resp_sum entry by entry; the gradient relative to the sum of the absolute terms'
    bound (the Hessian's diagonal scale), the Hessian entry by entry to its diagonal's
    Cauchy-Schwarz bound."""
    (n_ours, g_ours, H_ours), (n_ref, g_ref, H_ref) = ours, ref
    np.testing.assert_allclose(n_ours, n_ref, rtol=RTOL)
    assert g_ours.shape == g_ref.shape and H_ours.shape == H_ref.shape
    scale = np.abs(g_ref).max() + np.sqrt(np.diag(H_ref)).max()
    assert np.all(np.abs(g_ours - g_ref) <= 1e-11 * scale)
    diag = np.sqrt(np.diag(H_ref))
    assert np.all(np.abs(H_ours - H_ref) <= RTOL * np.outer(diag, diag))
    np.testing.assert_array_equal(H_ours, H_ours.T)


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_gated_fit_on_the_kernel_equals_the_numpy_fit(family, monkeypatch):
    """A mixture of experts fitted on the kernel (counted) reaches the numpy engine's
    maximum; the fits are bit-identical across thread counts and for a Fortran-ordered
    concomitant array."""
    from regmix.compiled import helpers
    from regmix.engine import runner

    calls = []

    def counted(*args, **kwargs):
        calls.append("concomitant" in kwargs)
        return glk.glm_e_step(*args, **kwargs)

    monkeypatch.setattr(runner, "glm_e_step", counted)
    monkeypatch.setattr(helpers, "MIN_ROWS_PER_THREAD", 1)
    X, y, offset, w, trials, yb = _count_data()
    z = np.random.default_rng(4).normal(size=(len(y), 1)) + 0.5 * X[:, :1]
    args, kwargs = ((X, y), {"offset": offset}) if family == "poisson" else (
        (X, yb), {"trials": trials})
    fits = [RegressionMixture(2, family=family, engine=engine, random_state=0, n_init=1,
                              n_jobs=n_jobs, tol=1e-10).fit(*args, concomitant=Z, **kwargs)
            for engine, n_jobs, Z in (("numba", 1, z), ("numba", 2, np.asfortranarray(z)),
                                      ("numpy", 1, z))]
    assert any(calls)
    np.testing.assert_array_equal(fits[0].log_likelihood_history_,
                                  fits[1].log_likelihood_history_)
    np.testing.assert_array_equal(fits[0].gating_coef_, fits[1].gating_coef_)
    np.testing.assert_allclose(fits[0].log_likelihood_, fits[2].log_likelihood_, rtol=1e-10)
    np.testing.assert_allclose(fits[0].gating_coef_, fits[2].gating_coef_, atol=1e-4)


@pytest.mark.parametrize("student", [False, True])
@pytest.mark.parametrize("weighted", [True, False])
def test_gated_gaussian_and_student_t_match_the_numpy_pass(student, weighted):
    """Multinomial-logit weights on the Gaussian kernel (Gaussian and Student-t
    components): the E-step sums and the gating statistics against the numpy pass, in
    batches (Fortran-ordered concomitant variables) with the bits of one batch, the
    classification, and given memberships."""
    from regmix.compiled import gaussian_kernel as gk
    from regmix.core.params import GaussianParams
    from regmix.engine.runner import MembershipArray

    rng = np.random.default_rng(11)
    n, K = 3000, 3
    X = rng.normal(size=(n, 2)) * [3.0, 0.5] + [2.0, -1.0]
    y = X @ [0.5, -1.0] + rng.standard_t(3.0, n)
    w = rng.uniform(0.0, 3.0, n) if weighted else None
    Z = np.asfortranarray(rng.normal(size=(n, 2)) * [2.0, 0.3] + [1.0, -4.0])
    source = ArrayData(X, y, w, fit_intercept=True, Z=Z)
    coef = rng.normal(size=(K, 3))
    sigma = rng.uniform(0.5, 2.0, K)
    gamma = np.zeros((K, 3))
    gamma[1:] = rng.normal(size=(K - 1, 3))
    if student:
        family = StudentT()
        component = ComponentParams(coef, np.column_stack([sigma, [1.5, 6.0, 150.0]]))
    else:
        family, component = Gaussian(), GaussianParams(coef, sigma)
    params = MixtureParams(np.full(K, 1.0 / K), component, gamma)
    runners = [PassRunner(source, family, MultinomialLogitGating(), chunk_size=4096,
                          n_jobs=1, engine=engine) for engine in ("numba", "numpy")]
    assert runners[0].kernel in ("gaussian", "student_t") and runners[1].kernel is None
    compiled, numpy = (r.evaluate(params) for r in runners)
    np.testing.assert_allclose(compiled.loglik, numpy.loglik, rtol=RTOL)
    np.testing.assert_allclose(compiled.resp_sum, numpy.resp_sum, rtol=RTOL)
    for ours, ref in zip(compiled.stats, numpy.stats, strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())
    _assert_gating_matches(compiled.mix_stats, numpy.mix_stats)
    classes = [r.classification(params) for r in runners]
    for field in ("entropy", "top", "table", "counts", "sizes"):
        np.testing.assert_allclose(getattr(classes[0], field), getattr(classes[1], field),
                                   rtol=1e-11, atol=1e-12 * source.total_weight)
    R = rng.dirichlet(np.ones(K), size=n)
    given = [r.given(MembershipArray(R), K, params) for r in runners]
    _assert_gating_matches(given[0].mix_stats, given[1].mix_stats)
    # batches that end inside blocks: the bits of one batch
    st = source.standardization
    args = (st.x_loc, 1.0 / st.x_scale, st.y_loc, 1.0 / st.y_scale, True, coef, sigma,
            np.zeros(K))
    kw = dict(gating=gamma, z_loc=st.z_loc, z_inv=1.0 / st.z_scale,
              df=component.extra[:, 1] if student else None)
    whole, parts = gk.GaussianSums(*args, **kw), gk.GaussianSums(*args, **kw)
    whole.add(X, y, w, None, Z)
    for start in range(0, n, 1100):
        part = slice(start, start + 1100)
        parts.add(X[part], y[part], None if w is None else w[part], None, Z[part])
    for a, b in zip(whole.result()[-1], parts.result()[-1], strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="concomitant"):
        gk.GaussianSums(*args, **kw).add(X, y, w)


@pytest.mark.parametrize(
    ("family", "constraints"),
    [
        ("poisson", {"common_coef": ["x1"]}),
        ("binomial", {"fixed_coef": {"x0": [None, -1.0]}}),
        ("gaussian", {"common_coef": {"intercept": "all"}}),
        ("gaussian", {"fixed_coef": {"x1": [0.0, None]}}),
        ("student_t", {"equal_variance": True}),
    ],
    ids=["poisson-common", "binomial-fixed", "gaussian-common-intercept", "gaussian-fixed",
         "student_t-equal-variance"],
)
def test_constrained_fit_on_the_kernel_equals_the_numpy_fit(family, constraints,
                                                             monkeypatch):
    """Coefficient constraints act in the M-step only: the E-step passes of a
    constrained fit run on the kernels (counted) and the fit reaches the numpy
    engine's maximum, its constraints held exactly."""
    from regmix.engine import runner

    calls = []
    sums, glm = runner.GaussianSums, runner.glm_e_step
    monkeypatch.setattr(runner, "GaussianSums",
                        lambda *a, **k: calls.append(1) or sums(*a, **k))
    monkeypatch.setattr(runner, "glm_e_step", lambda *a, **k: calls.append(1) or glm(*a, **k))
    X, y, offset, w, trials, yb = _count_data()
    if family == "poisson":
        args, kwargs = (X, y), {"offset": offset, "sample_weight": w}
    elif family == "binomial":
        args, kwargs = (X, yb), {"trials": trials}
    else:
        rng = np.random.default_rng(3)
        lines = np.where(rng.random(len(y)) < 0.6, 1.0 + X @ [1.0, 0.5], 1.0 + X @ [-1.0, 0.5])
        args, kwargs = (X, lines + rng.standard_t(5.0, len(y)) * 0.5), {}
    fits = [RegressionMixture(2, family=family, engine=engine, random_state=0, n_init=1,
                              tol=1e-10, **constraints).fit(*args, **kwargs)
            for engine in ("numba", "numpy")]
    assert calls
    np.testing.assert_allclose(fits[0].log_likelihood_, fits[1].log_likelihood_, rtol=1e-10)
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, atol=1e-4)
    fit = fits[0]
    if "common_coef" in constraints and family == "poisson":
        assert fit.coef_[0, 1] == fit.coef_[1, 1]
    if "common_coef" in constraints and family == "gaussian":
        assert fit.intercept_[0] == fit.intercept_[1]
    if "fixed_coef" in constraints:
        (name, values), = constraints["fixed_coef"].items()
        j = int(name[1])
        k = next(i for i, v in enumerate(values) if v is not None)
        assert fit.coef_[k, j] == values[k]  # the constraints' numbering is kept
    if "equal_variance" in constraints:
        assert fit.sigma_[0] == fit.sigma_[1]


def test_gated_gaussian_fit_on_the_kernel_equals_the_numpy_fit(monkeypatch):
    """A Gaussian mixture of experts fitted on the kernel (its gated sums counted)
    reaches the numpy engine's maximum, with the same bits on one and two threads."""
    from regmix.compiled import helpers
    from regmix.engine import runner

    gated = []
    sums = runner.GaussianSums

    def counted(*args, **kwargs):
        gated.append(kwargs.get("gating") is not None)
        return sums(*args, **kwargs)

    monkeypatch.setattr(runner, "GaussianSums", counted)
    monkeypatch.setattr(helpers, "MIN_ROWS_PER_THREAD", 1)
    rng = np.random.default_rng(6)
    n = 1500
    X = rng.normal(size=(n, 2))
    z = rng.normal(size=(n, 1))
    second = rng.random(n) < 1.0 / (1.0 + np.exp(-(0.3 + 2.0 * z[:, 0])))
    y = np.where(second, 2.0 + X @ [1.0, -1.0], -1.0 + X @ [-0.5, 0.5]) + rng.normal(
        scale=0.5, size=n)
    fits = [RegressionMixture(2, engine=engine, random_state=0, n_init=1, n_jobs=n_jobs,
                              tol=1e-10).fit(X, y, concomitant=z)
            for engine, n_jobs in (("numba", 1), ("numba", 2), ("numpy", 1))]
    assert any(gated)
    np.testing.assert_array_equal(fits[0].log_likelihood_history_,
                                  fits[1].log_likelihood_history_)
    np.testing.assert_allclose(fits[0].log_likelihood_, fits[2].log_likelihood_, rtol=1e-10)
    np.testing.assert_allclose(fits[0].gating_coef_, fits[2].gating_coef_, atol=1e-4)
