"""The fused compiled Gaussian E-step against the numpy data pass."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from regmix.compiled import gaussian_kernel as gk  # noqa: E402
from regmix.compiled import helpers  # noqa: E402
from regmix.core.params import GaussianParams  # noqa: E402
from regmix.datasets import make_regression_mixture  # noqa: E402
from regmix.engine.passes import e_step_pass  # noqa: E402
from regmix.families.gaussian import Gaussian  # noqa: E402
from regmix.sources.arrays import ArrayData  # noqa: E402

RTOL = 1e-12


def _problem(n, d, K, *, fit_intercept, weighted, seed=0, weights=None, outliers=False):
    """Data, a source over it and parameters (internal units) away from the optimum."""
    X, y, _, prm = make_regression_mixture(n, d, K, weights=weights, random_state=seed)
    rng = np.random.default_rng(seed + 1)
    if outliers:
        y = y.copy()
        y[::37] += 1e6
    w = rng.uniform(0.0, 3.0, n) if weighted else None
    source = ArrayData(X, y, w, fit_intercept=fit_intercept)
    st = source.standardization
    coef_user = prm["coef"]
    if fit_intercept:
        coef_user = np.column_stack([prm["intercept"], coef_user])
    coef = st.to_internal(coef_user) + 0.1 * rng.standard_normal((K, source.n_design))
    sigma = prm["sigma"] / st.y_scale * rng.uniform(0.8, 1.5, K)
    mix = np.full(K, 1.0 / K) if weights is None else np.asarray(weights, dtype=float)
    return X, y, w, source, GaussianParams(coef, sigma), mix


def _kernel(X, y, w, source, params, mix, **kwargs):
    st = source.standardization
    with np.errstate(divide="ignore"):
        log_weights = np.log(mix)
    return gk.gaussian_e_step(
        X,
        y,
        w,
        st.x_loc,
        1.0 / st.x_scale,
        st.y_loc,
        1.0 / st.y_scale,
        source.fit_intercept,
        params.coef,
        params.sigma,
        log_weights,
        **kwargs,
    )


def _reference(source, params, mix):
    with np.errstate(divide="ignore"):
        log_weights = np.log(mix)[:, None]
    return e_step_pass(source, Gaussian(), params, log_weights, chunk_size=4096)


def _assert_matches(out, ref):
    """Agreement to RTOL. Entries of A and b are sums of terms of both signs that can
    cancel to nothing (with centred columns the intercept row of A vanishes), so they are
    compared relative to the Cauchy-Schwarz bound on the sum of the absolute terms,
    sqrt(A_jj A_ll) and sqrt(A_jj c); the other sums are compared entry by entry."""
    loglik, resp_sum, A, b, c = out
    for value in (loglik, resp_sum, A, b, c):
        assert np.all(np.isfinite(value))
    A_ref, b_ref, c_ref = ref.stats
    assert (A.shape, b.shape, c.shape) == (A_ref.shape, b_ref.shape, c_ref.shape)
    np.testing.assert_allclose(loglik, ref.loglik, rtol=RTOL)
    np.testing.assert_allclose(resp_sum, ref.resp_sum, rtol=RTOL)
    np.testing.assert_allclose(c, c_ref, rtol=RTOL)
    diag = np.sqrt(np.diagonal(A_ref, axis1=1, axis2=2))
    assert np.all(np.abs(A - A_ref) <= RTOL * diag[:, :, None] * diag[:, None, :])
    assert np.all(np.abs(b - b_ref) <= RTOL * diag * np.sqrt(c_ref)[:, None])
    assert np.array_equal(A, np.swapaxes(A, 1, 2))


def test_available():
    assert helpers.available()


def test_importing_regmix_does_not_import_numba():
    code = (
        "import sys, regmix, regmix.compiled.gaussian_kernel, regmix.compiled.helpers\n"
        "assert 'numba' not in sys.modules, 'numba imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("K", [1, 2, 4])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_numpy_pass(fit_intercept, weighted, K):
    X, y, w, source, params, mix = _problem(
        3001, 3, K, fit_intercept=fit_intercept, weighted=weighted, seed=K
    )
    ref = _reference(source, params, mix)
    _assert_matches(_kernel(X, y, w, source, params, mix, block_size=1000), ref)
    _assert_matches(_kernel(X, y, w, source, params, mix), ref)


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 255, 257, 20000])
def test_row_counts_and_blocks(n, weighted):
    """Partial lane groups, tiles and blocks give the same sums (unweighted rows take
    the log-likelihood from per-lane products of the row sums)."""
    X, y, w, source, params, mix = _problem(n, 2, 3, fit_intercept=True, weighted=weighted)
    ref = _reference(source, params, mix)
    for block_size in (1, 100, 8192):
        _assert_matches(_kernel(X, y, w, source, params, mix, block_size=block_size), ref)


def test_single_feature_without_intercept():
    X, y, w, source, params, mix = _problem(500, 1, 2, fit_intercept=False, weighted=False)
    _assert_matches(_kernel(X, y, w, source, params, mix), _reference(source, params, mix))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("d", range(1, 10))
def test_every_design_width(d, weighted):
    """One-sweep upper triangles (up to seven design columns) and the per-row sweeps
    beyond, with and without an intercept."""
    for fit_intercept in (True, False):
        X, y, w, source, params, mix = _problem(777, d, 2, fit_intercept=fit_intercept,
                                                weighted=weighted, seed=d)
        _assert_matches(_kernel(X, y, w, source, params, mix),
                        _reference(source, params, mix))


def test_many_features():
    """More than eight design columns (several sweeps per row of A)."""
    X, y, w, source, params, mix = _problem(2000, 11, 2, fit_intercept=True, weighted=True)
    _assert_matches(_kernel(X, y, w, source, params, mix), _reference(source, params, mix))


def test_zero_mixing_weight():
    X, y, w, source, params, mix = _problem(
        2000, 2, 3, fit_intercept=True, weighted=True, weights=[0.5, 0.0, 0.5]
    )
    out = _kernel(X, y, w, source, params, mix)
    assert out[1][1] == 0.0
    assert np.all(out[2][1] == 0.0) and np.all(out[3][1] == 0.0) and out[4][1] == 0.0
    _assert_matches(out, _reference(source, params, mix))


@pytest.mark.parametrize("weighted", [False, True])
def test_huge_residuals(weighted):
    """Rows 1e6 away from every line: every log-density underflows exp without the
    max subtraction, yet nothing is NaN and the sums match."""
    X, y, w, source, params, mix = _problem(
        3000, 2, 3, fit_intercept=True, weighted=weighted, outliers=True
    )
    # sigma is about 1e-5 of the response's spread: the log-densities of the outlying
    # rows are near -3e11 under every component, those of the others near -1e7
    out = _kernel(X, y, w, source, params, mix)
    _assert_matches(out, _reference(source, params, mix))


def test_far_from_every_component():
    """Components with huge intercepts (internal units): exp(logd) is 0 for every row and
    component, the log-sum-exp is not."""
    X, y, w, source, params, mix = _problem(1000, 2, 3, fit_intercept=True, weighted=True)
    coef = params.coef.copy()
    coef[:, 0] = [1e6, 1e6 + 3.0, -1e6]
    far = GaussianParams(coef, np.array([0.01, 0.02, 0.5]))
    out = _kernel(X, y, w, source, far, mix)
    assert out[0] < -1e14
    _assert_matches(out, _reference(source, far, mix))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
def test_bit_identical_across_thread_counts(monkeypatch):
    # two threads on these rows too (a pass takes one thread per MIN_ROWS_PER_THREAD
    # rows), each claiming blocks as it goes
    monkeypatch.setattr(helpers, "MIN_ROWS_PER_THREAD", 1)
    X, y, w, source, params, mix = _problem(20000, 3, 3, fit_intercept=True, weighted=True)
    previous = numba.get_num_threads()
    try:
        outs = []
        for n_threads in (1, 2, 1, 2):
            numba.set_num_threads(n_threads)
            outs.append(_kernel(X, y, w, source, params, mix, block_size=512))
        outs.append(_kernel(X, y, w, source, params, mix, block_size=512, n_threads=2))
    finally:
        numba.set_num_threads(previous)
    assert numba.get_num_threads() == previous
    for out in outs[1:]:
        assert out[0] == outs[0][0]
        for got, want in zip(out[1:], outs[0][1:], strict=True):
            assert np.array_equal(got, want)


def test_inputs_not_modified():
    X, y, w, source, params, mix = _problem(1000, 3, 2, fit_intercept=True, weighted=True)
    st = source.standardization
    arrays = [X, y, w, st.x_loc, st.x_scale, params.coef, params.sigma, mix]
    copies = [a.copy() for a in arrays]
    _kernel(X, y, w, source, params, mix)
    for a, a0 in zip(arrays, copies, strict=True):
        assert np.array_equal(a, a0)


def test_fortran_ordered_x():
    """A Fortran-ordered X is read through its transpose, with the same arithmetic."""
    X, y, w, source, params, mix = _problem(3000, 3, 2, fit_intercept=True, weighted=True)
    want = _kernel(X, y, w, source, params, mix, block_size=1000)
    got = _kernel(np.asfortranarray(X), y, w, source, params, mix, block_size=1000)
    assert got[0] == want[0]
    for g, v in zip(got[1:], want[1:], strict=True):
        assert np.array_equal(g, v)


def test_read_only_inputs():
    X, y, w, source, params, mix = _problem(1000, 3, 2, fit_intercept=True, weighted=True)
    want = _kernel(X, y, w, source, params, mix)
    for a in (X, y, w, params.coef, params.sigma):
        a.setflags(write=False)
    got = _kernel(X, y, w, source, params, mix)
    assert got[0] == want[0]
    for g, v in zip(got[1:], want[1:], strict=True):
        assert np.array_equal(g, v)


def test_concurrent_calls_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    X, y, w, source, params, mix = _problem(20000, 3, 3, fit_intercept=True, weighted=True)
    want = _kernel(X, y, w, source, params, mix, block_size=1024)
    if numba.threading_layer() == "workqueue":
        pytest.skip("the workqueue threading layer does not support concurrent calls")
    with ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(_kernel, X, y, w, source, params, mix, block_size=1024)
            for _ in range(8)
        ]
        outs = [f.result() for f in futures]
    for out in outs:
        assert out[0] == want[0]
        for g, v in zip(out[1:], want[1:], strict=True):
            assert np.array_equal(g, v)


def test_empty_input():
    X = np.empty((0, 2))
    out = gk.gaussian_e_step(
        X, np.empty(0), None, np.zeros(2), np.ones(2), 0.0, 1.0, True,
        np.zeros((2, 3)), np.ones(2), np.log([0.5, 0.5]),
    )  # fmt: skip
    assert out[0] == 0.0
    assert out[2].shape == (2, 3, 3) and not np.any(out[2])


def test_rejects_bad_input():
    X, y, w, source, params, mix = _problem(100, 3, 2, fit_intercept=True, weighted=False)
    with pytest.raises(ValueError, match="contiguous"):
        _kernel(X[::2], y[::2], w, source, params, mix)
    with pytest.raises(ValueError, match="float64"):
        _kernel(X.astype(np.float32), y, w, source, params, mix)
    with pytest.raises(ValueError, match="y must have shape"):
        _kernel(X, y[:-1], w, source, params, mix)
    with pytest.raises(ValueError, match="coef"):
        _kernel(X, y, w, source, GaussianParams(params.coef[:, 1:], params.sigma), mix)


def test_exp_accuracy_and_special_values():
    funcs = gk._compiled()
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            -np.geomspace(1e-300, 745.0, 4000),
            rng.uniform(-745.0, 709.0, 4000),
            [0.0, -0.0, 1e-320, -708.39, -708.4, -744.4, -745.3, -800.0, -np.inf, np.inf],
            [709.7, 709.782712893384, 709.7827128933841, 710.0, np.nan, 1.0, -1.0, 0.3],
        ]
    )
    x = x[: x.size - x.size % 8]
    D = x[None, :].copy()
    funcs.exp_minus(D, np.zeros(x.size), np.empty(x.size))
    with np.errstate(over="ignore"):
        want = np.exp(x)
    got = D[0]
    normal = np.isfinite(want) & (want >= np.finfo(float).tiny)
    ulp = np.spacing(want[normal])
    assert np.max(np.abs(got[normal] - want[normal]) / ulp) <= 2.0
    small = np.isfinite(want) & ~normal
    np.testing.assert_allclose(got[small], want[small], rtol=0, atol=1e-320)
    special = ~np.isfinite(want) | ~np.isfinite(x)
    assert np.array_equal(got[special], want[special], equal_nan=True)
    assert got[x == 0.0][0] == 1.0


def test_log_accuracy_and_special_values():
    funcs = gk._compiled()
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            np.geomspace(5e-324, 1.7e308, 4000),
            1.0 + rng.uniform(0.0, 7.0, 4000),
            [1.0, np.nextafter(1.0, 2.0), np.nextafter(1.0, 0.0), np.sqrt(2.0), 2.0],
        ]
    )
    out = np.empty_like(x)
    funcs.log(x, out)
    want = np.log(x)
    ulp = np.spacing(np.abs(want))
    assert np.max(np.abs(out - want) / ulp) <= 2.0
    specials = np.array([0.0, -0.0, np.inf, -1.0, -np.inf, np.nan])
    got = np.empty_like(specials)
    funcs.log(specials, got)
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.array_equal(got, np.log(specials), equal_nan=True)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("centre", [False, True])
def test_column_moments_match_the_numpy_standardisation(weighted, centre):
    # the compiled column pass against the numpy one (and against np.average), with a
    # constant column, a column beyond 1e100 and an offset column far from zero
    from regmix.sources.arrays import column_summary

    rng = np.random.default_rng(5)
    n = 30_011
    X = np.column_stack([rng.normal(size=n), np.full(n, 2.5), rng.normal(size=n) * 1e140,
                         1e6 + rng.normal(size=n)])
    w = rng.uniform(0.0, 2.0, n) if weighted else None
    lo, hi, loc, scale = column_summary(X, w, centre, compiled=True)
    ref = column_summary(X, w, centre, compiled=False)
    np.testing.assert_array_equal(lo, X.min(axis=0))
    np.testing.assert_array_equal(hi, X.max(axis=0))
    for got, want in zip((lo, hi, loc, scale), ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    mean = np.average(X, axis=0, weights=w) if centre else np.zeros(4)
    direct = np.sqrt(np.average(((X - mean) / np.array([1, 1, 1e140, 1])) ** 2, axis=0,
                                weights=w)) * np.array([1, 1, 1e140, 1])
    if centre:
        assert loc[1] == 2.5 and scale[1] == 1.0  # constant: exact centre, unit scale
        direct[1] = 1.0
    np.testing.assert_allclose(loc, mean, rtol=1e-12)
    np.testing.assert_allclose(scale, direct, rtol=1e-10)
    # independent of the thread count, bit for bit
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = column_summary(X, w, centre, compiled=True)
    finally:
        numba.set_num_threads(previous)
    for a, b in zip(single, (lo, hi, loc, scale), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [1, 8191, 8193, 70_001])
def test_column_extremes_exact_with_nan_and_infinity(n):
    # the compiled extremes against numpy's, exactly; a NaN anywhere in a column makes
    # both of its extremes NaN (numpy's min and max propagate it too), infinities count
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 4)) * np.array([1.0, 1e200, 1e-200, 3.0])
    lo, hi = helpers.column_extremes(X)
    np.testing.assert_array_equal(lo, X.min(axis=0))
    np.testing.assert_array_equal(hi, X.max(axis=0))
    X[n // 2, 1] = np.nan  # in the middle of a block
    X[n - 1, 2] = np.nan  # the very last row
    X[0, 3] = -np.inf
    lo, hi = helpers.column_extremes(X)
    np.testing.assert_array_equal(lo, X.min(axis=0))
    np.testing.assert_array_equal(hi, X.max(axis=0))
    assert np.isnan(lo[1]) and np.isnan(hi[1]) and np.isnan(lo[2]) and np.isnan(hi[2])
    assert lo[3] == -np.inf


def test_validation_uses_the_compiled_extremes_once_loaded():
    # regmix.sources.arrays.column_extremes switches to the compiled pass for large C-ordered
    # arrays once the compiled functions are loaded: the same results, and the input
    # checks name the same problems
    from regmix.sources.arrays import column_extremes
    from regmix.sources.validation import check_features

    helpers._compiled()
    rng = np.random.default_rng(3)
    X = rng.normal(size=(70_000, 3))
    lo, hi = column_extremes(X)
    np.testing.assert_array_equal(lo, X.min(axis=0))
    np.testing.assert_array_equal(hi, X.max(axis=0))
    X[123, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        check_features(X)
    X[123, 1] = 1e160
    with pytest.raises(ValueError, match="column 1"):
        check_features(X)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_given_memberships_match_the_numpy_statistics(fit_intercept, weighted):
    # the kernel with given (unnormalised) memberships against the numpy statistics of
    # the same memberships divided by their row sums, taken at the same parameters
    from regmix.engine.runner import MembershipArray, PassRunner
    from regmix.mixing.constant import ConstantWeights

    X, y, w, source, params, mix = _problem(5003, 3, 3, fit_intercept=fit_intercept,
                                            weighted=weighted, seed=7)
    rng = np.random.default_rng(8)
    R = rng.uniform(0.0, 5.0, size=(len(y), 3))
    R[::3, 1] = 0.0  # hard zeros, as in one-hot starts
    out = _kernel(X, y, w, source, params, mix, responsibilities=R)
    assert np.isnan(out[0])
    resp = (R / R.sum(axis=1, keepdims=True)).T
    wr = resp if w is None else resp * w
    ref = Gaussian().statistics(source.chunk(0, len(y)), wr, params)
    np.testing.assert_allclose(out[1], wr.sum(axis=1), rtol=RTOL)
    diag = np.sqrt(np.diagonal(ref[0], axis1=1, axis2=2))
    assert np.all(np.abs(out[2] - ref[0]) <= RTOL * diag[:, :, None] * diag[:, None, :])
    assert np.all(np.abs(out[3] - ref[1]) <= RTOL * diag * np.sqrt(ref[2])[:, None])
    np.testing.assert_allclose(out[4], ref[2], rtol=RTOL)
    # the runner's route: the same statistics through the kernel and through numpy
    from regmix.core.params import MixtureParams

    start = MixtureParams(mix, params)
    results = []
    for engine in ("numba", "numpy"):
        runner = PassRunner(source, Gaussian(), ConstantWeights(), chunk_size=1000,
                            n_jobs=2, engine=engine)
        results.append(runner.given(MembershipArray(R), 3, start))
    (A1, b1, c1), (A2, b2, c2) = results[0].stats, results[1].stats
    np.testing.assert_allclose(results[0].resp_sum, results[1].resp_sum, rtol=RTOL)
    assert np.all(np.abs(A1 - A2) <= RTOL * diag[:, :, None] * diag[:, None, :])
    np.testing.assert_allclose(c1, c2, rtol=RTOL)
    assert np.all(np.abs(b1 - b2) <= RTOL * diag * np.sqrt(c2)[:, None])


def test_given_memberships_bad_shape():
    X, y, w, source, params, mix = _problem(100, 2, 2, fit_intercept=True, weighted=False)
    with pytest.raises(ValueError, match="responsibilities must have shape"):
        _kernel(X, y, w, source, params, mix, responsibilities=np.ones((100, 3)))


def test_initial_memberships_for_the_kernel_equal_the_chunked_ones():
    # the initialisation's row-hash memberships, drawn by numba for the kernel, are the
    # numpy ones of the chunked pass bit for bit, row-major for the kernel
    from regmix.fitting.initialization import RandomMemberships, SubsetMemberships

    for memberships in (RandomMemberships(12345, 3), SubsetMemberships(999, 4, 0.01)):
        whole = memberships.as_array(20_011)
        assert whole.flags.c_contiguous and whole.shape == (20_011, memberships.n_components)
        chunks = np.hstack([memberships.rows(a, min(a + 7_000, 20_011))
                            for a in range(0, 20_011, 7_000)])
        np.testing.assert_array_equal(whole, chunks.T)


# ------------------------------------------------------------------- Student-t components
def _student(n, K, *, weighted, seed=0, df=None):
    """Rows with outliers, a source, and Student-t parameters (coefficients, sigma, df)
    away from the optimum, one df past 100 among them."""
    X, y, w, source, params, mix = _problem(n, 3, K, fit_intercept=True, weighted=weighted,
                                            seed=seed)
    y = y.copy()
    y[::29] += 40.0 * source.standardization.y_scale
    source = ArrayData(X, y, w, fit_intercept=True, standardization=source.standardization)
    nu = np.array([1.5, 6.0, 150.0, 0.7][:K]) if df is None else np.full(K, float(df))
    return X, y, w, source, params.coef, params.sigma, nu, mix


def _student_kernel(X, y, w, source, coef, sigma, nu, mix, R=None, **kw):
    st = source.standardization
    sums = gk.GaussianSums(st.x_loc, 1.0 / st.x_scale, st.y_loc, 1.0 / st.y_scale, True, coef,
                           sigma, np.log(mix), df=nu, **kw)
    sums.add(X, y, w, R)
    return sums.result()


def _student_reference(source, coef, sigma, nu, mix):
    from regmix.core.params import ComponentParams
    from regmix.families.student_t import StudentT

    return e_step_pass(source, StudentT(), ComponentParams(coef, np.column_stack([sigma, nu])),
                       np.log(mix)[:, None], chunk_size=4096)


def _df_scale(source, coef, sigma, nu, wr):
    """Per component the sums over the rows of w r times the absolute terms of which the
    numpy pass forms g and h (digamma and trigamma values among them)."""
    from scipy import special

    chunk = source.chunk(0, source.n_rows)
    e = chunk.y - coef @ chunk.XT
    s2, nu_ = (sigma * sigma)[:, None], nu[:, None]
    D = nu_ * s2 + e * e
    t1 = nu_ * 0.5 * (np.abs(special.digamma(0.5 * (nu_ + 1.0))) + np.abs(special.digamma(
        0.5 * nu_)) + 1.0 / nu_ + np.abs(np.log(D / (nu_ * s2))) + (nu_ + 1.0) * e * e
        / (nu_ * D))
    t2 = nu_ * nu_ * 0.5 * (special.polygamma(1, 0.5 * (nu_ + 1.0)) + special.polygamma(
        1, 0.5 * nu_) + 1.0 / nu_**2 + s2 / D + 1.0 / nu_ + e * e * (nu_ * D + (nu_ + 1.0)
        * (D + nu_ * s2)) / (nu_ * D) ** 2)
    return np.column_stack([np.einsum("kn,kn->k", wr, t1),
                            np.einsum("kn,kn->k", wr, t1 + t2)])


def _assert_student_matches(out, ref, scale):
    loglik, resp_sum, A, b, c, gh = out
    if np.isnan(ref.loglik):  # given memberships: no log-likelihood on either side
        assert np.isnan(loglik)
        loglik = 0.0
    _assert_matches((loglik, resp_sum, A, b, c),
                    type(ref)(0.0 if np.isnan(ref.loglik) else ref.loglik, ref.resp_sum,
                              ref.stats[:3]))
    assert np.all(np.abs(gh - ref.stats[3]) <= RTOL * scale)


@pytest.mark.parametrize("K", [1, 2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_student_t_matches_numpy_pass(K, weighted):
    from scipy import special

    X, y, w, source, coef, sigma, nu, mix = _student(3001, K, weighted=weighted, seed=K)
    ref = _student_reference(source, coef, sigma, nu, mix)
    chunk = source.chunk(0, source.n_rows)
    from regmix.core.params import ComponentParams
    from regmix.families.student_t import StudentT

    logd, _ = StudentT().log_density(ComponentParams(coef, np.column_stack([sigma, nu])),
                                     chunk, np.log(mix)[:, None])
    wr = special.softmax(logd, axis=0) * (1.0 if w is None else w)
    for block_size in (1000, gk.E_STEP_BLOCK_SIZE):
        out = _student_kernel(X, y, w, source, coef, sigma, nu, mix, block_size=block_size)
        _assert_student_matches(out, ref, _df_scale(source, coef, sigma, nu, wr))


def test_last_batch_read_in_place_gives_the_same_bits():
    # a batch marked last runs its unfinished block in place (no copy): the same blocks,
    # so the same sums as when that block is carried and finished by result()
    X, y, w, source, params, mix = _problem(5000, 2, 3, fit_intercept=True, weighted=True)
    st = source.standardization
    args = (st.x_loc, 1.0 / st.x_scale, st.y_loc, 1.0 / st.y_scale, True, params.coef,
            params.sigma, np.log(mix))
    carried, in_place = gk.GaussianSums(*args), gk.GaussianSums(*args)
    for a, b in ((0, 1500), (1500, 5000)):
        carried.add(X[a:b], y[a:b], w[a:b])
    in_place.add(X[:1500], y[:1500], w[:1500])
    in_place.add(X[1500:], y[1500:], w[1500:], last=True)
    whole = gk.GaussianSums(*args)
    whole.add(X, y, w, last=True)
    for out in (in_place.result(), whole.result()):
        for u, v in zip(carried.result(), out, strict=True):
            np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="no rows can be added"):
        whole.add(X[:10], y[:10], w[:10])


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
def test_student_t_bit_identical_across_threads_and_batches(monkeypatch):
    monkeypatch.setattr(helpers, "MIN_ROWS_PER_THREAD", 1)
    X, y, w, source, coef, sigma, nu, mix = _student(20000, 3, weighted=True)
    one = _student_kernel(X, y, w, source, coef, sigma, nu, mix, n_threads=1)
    two = _student_kernel(X, y, w, source, coef, sigma, nu, mix, n_threads=2)
    st = source.standardization
    sums = gk.GaussianSums(st.x_loc, 1.0 / st.x_scale, st.y_loc, 1.0 / st.y_scale, True, coef,
                           sigma, np.log(mix), df=nu, n_threads=2)
    for a, b in ((0, 3000), (3000, 3001), (3001, 20000)):
        sums.add(X[a:b], y[a:b], w[a:b])
    for out in (two, sums.result()):
        for u, v in zip(one, out, strict=True):
            np.testing.assert_array_equal(u, v)


def test_student_t_given_memberships_and_fits_match_the_numpy_engine():
    from regmix import RegressionMixture
    from regmix.core.params import ComponentParams, MixtureParams
    from regmix.engine.runner import MembershipArray, PassRunner
    from regmix.families.student_t import StudentT
    from regmix.mixing.constant import ConstantWeights

    X, y, w, source, coef, sigma, nu, mix = _student(5003, 3, weighted=True, seed=7)
    R = np.random.default_rng(8).uniform(0.0, 5.0, size=(len(y), 3))
    params = MixtureParams(mix, ComponentParams(coef, np.column_stack([sigma, nu])))
    for family in (StudentT(), StudentT(df=4.0)):
        runs = [PassRunner(source, family, ConstantWeights(), chunk_size=1000, n_jobs=2,
                           engine=engine) for engine in ("numba", "numpy")]
        assert runs[0].kernel == "student_t"
        given = [r.given(MembershipArray(R), 3, params) for r in runs]
        assert np.isnan(given[0].loglik) and np.isnan(given[1].loglik)
        wr = (R / R.sum(axis=1, keepdims=True)).T * w
        scale = _df_scale(source, coef, sigma, nu, wr)
        _assert_student_matches((given[0].loglik, given[0].resp_sum, *given[0].stats),
                                given[1], scale)
        if family.df is not None:
            assert not np.any(given[0].stats[3])
    fits = [RegressionMixture(2, family="student_t", engine=engine, random_state=0,
                              n_init=1, tol=1e-9).fit(X, y)
            for engine in ("numba", "numpy")]
    np.testing.assert_allclose(fits[0].log_likelihood_, fits[1].log_likelihood_, rtol=1e-10)
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("student", [False, True])
@pytest.mark.parametrize("weighted", [True, False])
def test_classification_sums_match_the_posteriors(student, weighted):
    """The kernel's classification sums (in three batches, the same bits as in one)
    against posteriors computed here with scipy from the family's log-densities, and
    the runner's classification on the kernel against the numpy pass's."""
    from scipy import special

    from regmix.core.params import ComponentParams, MixtureParams
    from regmix.engine.runner import PassRunner
    from regmix.families.student_t import StudentT
    from regmix.mixing.constant import ConstantWeights

    X, y, w, source, coef, sigma, nu, mix = _student(3000, 3, weighted=weighted)
    if student:
        family, component = StudentT(), ComponentParams(coef, np.column_stack([sigma, nu]))
    else:
        family, component, nu = Gaussian(), GaussianParams(coef, sigma), None
    st = source.standardization
    sums = [gk.GaussianSums(st.x_loc, 1.0 / st.x_scale, st.y_loc, 1.0 / st.y_scale, True,
                            coef, sigma, np.log(mix), df=nu, classify=True) for _ in range(2)]
    sums[0].add(X, y, w)
    for start in range(0, 3000, 1100):
        part = slice(start, start + 1100)
        sums[1].add(X[part], y[part], None if w is None else w[part])
    whole, batched = (s.result() for s in sums)
    counts, table, entropy, top = whole[-1]
    for a, b in zip(whole[-1], batched[-1], strict=True):
        np.testing.assert_array_equal(a, b)
    logd, _ = family.log_density(component, source.chunk(0, source.n_rows),
                                 np.log(mix)[:, None])
    post = special.softmax(logd, axis=0).T
    weight = np.ones(len(y)) if w is None else w
    assigned = post.argmax(axis=1)
    ref_table = np.zeros((3, 3))
    for i in range(len(y)):
        ref_table[assigned[i]] += weight[i] * post[i]
    np.testing.assert_allclose(counts, np.bincount(assigned, weights=weight, minlength=3),
                               rtol=RTOL)
    np.testing.assert_allclose(table, ref_table, rtol=1e-11, atol=1e-12 * weight.sum())
    np.testing.assert_allclose(entropy, weight @ special.entr(post).sum(axis=1), rtol=1e-11)
    np.testing.assert_allclose(top, weight @ np.log(post.max(axis=1)), rtol=1e-11)
    params = MixtureParams(mix, component)
    runs = [PassRunner(source, family, ConstantWeights(), chunk_size=4096, n_jobs=1,
                       engine=engine).classification(params) for engine in ("numba", "numpy")]
    for field in ("entropy", "n", "top", "table", "counts", "sizes"):
        np.testing.assert_allclose(getattr(runs[0], field), getattr(runs[1], field),
                                   rtol=1e-11, atol=1e-12 * weight.sum())
    with pytest.raises(ValueError, match="classify"):
        sums = gk.GaussianSums(st.x_loc, 1.0 / st.x_scale, st.y_loc, 1.0 / st.y_scale, True,
                               coef, sigma, np.log(mix), classify=True)
        sums.add(X, y, w, post)
        sums.result()
