"""Invariances: what a fit must do under rescaling, shifting and reordering of the data,
reproducibility across runs, chunk sizes and threads, and no writes to the caller's data.

Transformed problems are fitted from the correspondingly transformed explicit start (the
EM iterates then correspond one to one, so results agree to round-off) and from the
default random starts with the same ``random_state`` (the starts are drawn in
standardised units, so they correspond as well, except under a row permutation, which
changes which rows the per-row random draws fall on; there only the optimum is
compared).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture

K = 3
START = dict(
    weights=[0.4, 0.3, 0.3],
    coef=[[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]],
    intercept=[0.0, -1.0, 1.0],
    sigma=[1.0, 1.0, 1.0],
)
RTOL = 1e-8
SCALES = [1e-6, 3.0, 1e6]


@pytest.fixture(scope="module")
def data():
    X, y, _, _ = make_regression_mixture(
        400, coef=[[2.0, -1.0], [-1.5, 0.5], [0.0, 2.0]], intercept=[1.0, -2.0, 0.0],
        sigma=[0.5, 1.0, 0.7], x_scale=2.0, random_state=0)
    w = np.random.default_rng(1).uniform(0.2, 2.0, size=len(y))
    return X, y, w


def fit(X, y, sample_weight=None, init="short_em", **params):
    params.setdefault("random_state", 0)
    return RegressionMixture(K, init=init, **params).fit(X, y, sample_weight=sample_weight)


@pytest.fixture(scope="module")
def reference(data):
    """Fits of the untransformed data: (explicit start, default start) x (unweighted, weighted)."""
    X, y, w = data
    return {
        (init_name, weighted): fit(X, y, w if weighted else None,
                                   init=START if init_name == "explicit" else "short_em")
        for init_name in ("explicit", "default")
        for weighted in (False, True)
    }


def scaled_start(c=1.0, shift=0.0, column_scale=(1.0, 1.0)):
    """START for data with y -> c y + shift and column j -> column_scale[j] * x_j."""
    return dict(
        weights=START["weights"],
        coef=np.asarray(START["coef"]) * c / np.asarray(column_scale),
        intercept=np.asarray(START["intercept"]) * c + shift,
        sigma=np.asarray(START["sigma"]) * c,
    )


def assert_same_fit(a, b, rtol=RTOL):
    """Equal parameters and log-likelihood, to ``rtol``."""
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=rtol, atol=0)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.sigma_, b.sigma_, rtol=rtol, atol=0)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=rtol, atol=0)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=rtol)


def assert_bit_identical(a, b):
    for name in ("coef_", "intercept_", "sigma_", "weights_", "log_likelihood_history_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.log_likelihood_ == b.log_likelihood_
    assert (a.n_iter_, a.converged_) == (b.n_iter_, b.converged_)


# --------------------------------------------------------------------------- y scale


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("init_name", ["explicit", "default"])
@pytest.mark.parametrize("c", SCALES)
def test_rescaling_y_rescales_lines_and_noise_and_shifts_the_log_likelihood(
    data, reference, c, init_name, weighted
):
    X, y, w = data
    w = w if weighted else None
    init = scaled_start(c=c) if init_name == "explicit" else "short_em"
    base = reference[(init_name, weighted)]
    scaled = fit(X, c * y, w, init=init)
    np.testing.assert_allclose(scaled.coef_, c * base.coef_, rtol=RTOL)
    np.testing.assert_allclose(scaled.intercept_, c * base.intercept_, rtol=RTOL)
    np.testing.assert_allclose(scaled.sigma_, c * base.sigma_, rtol=RTOL)
    np.testing.assert_allclose(scaled.weights_, base.weights_, rtol=RTOL)
    total = len(y) if w is None else w.sum()
    expected = base.log_likelihood_ - total * np.log(c)
    assert scaled.log_likelihood_ == pytest.approx(expected, rel=RTOL)


# --------------------------------------------------------------------------- rows


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_permuting_rows_changes_nothing_from_the_same_start(data, reference, weighted):
    X, y, w = data
    perm = np.random.default_rng(2).permutation(len(y))
    permuted = fit(X[perm], y[perm], w[perm] if weighted else None, init=START)
    base = reference[("explicit", weighted)]
    assert_same_fit(permuted, base)


@pytest.mark.parametrize("seed", [2, 3])
def test_permuting_rows_reaches_the_same_optimum_from_default_starts(data, reference, seed):
    X, y, _ = data
    perm = np.random.default_rng(seed).permutation(len(y))
    permuted = fit(X[perm], y[perm])
    base = reference[("default", False)]
    assert permuted.log_likelihood_ == pytest.approx(base.log_likelihood_, rel=1e-9)
    # the optimum is flat in the parameters: they agree far less sharply than the
    # log-likelihood, but they are the same optimum
    np.testing.assert_allclose(permuted.coef_, base.coef_, rtol=1e-5)
    # and the posteriors follow the rows
    np.testing.assert_allclose(permuted.posterior(X, y), base.posterior(X, y), atol=1e-5)


def test_an_integer_weight_counts_a_row_that_many_times(data):
    """Weights 0..3 fit like the data with each row repeated that many times (a zero
    weight drops the row)."""
    X, y, _ = data
    w = np.random.default_rng(4).integers(0, 4, size=len(y))
    rows = np.repeat(np.arange(len(y)), w)
    weighted = fit(X, y, w, init=START)
    repeated = fit(X[rows], y[rows], init=START)
    assert_same_fit(weighted, repeated)
    assert weighted.bic(X, y, w) == pytest.approx(repeated.bic(X[rows], y[rows]), rel=RTOL)


# --------------------------------------------------------------------------- shifts


@pytest.mark.parametrize("init_name", ["explicit", "default"])
@pytest.mark.parametrize("shift", [-1e3, 5.0, 1e4])
def test_shifting_y_changes_only_the_intercepts(data, reference, shift, init_name):
    X, y, _ = data
    init = scaled_start(shift=shift) if init_name == "explicit" else "short_em"
    base = reference[(init_name, False)]
    shifted = fit(X, y + shift, init=init)
    # round-off in the shifted data is |shift| * 1e-16, relative to a spread of ~5
    rtol = RTOL * max(1.0, abs(shift))
    np.testing.assert_allclose(shifted.intercept_, base.intercept_ + shift, rtol=RTOL)
    np.testing.assert_allclose(shifted.coef_, base.coef_, rtol=rtol)
    np.testing.assert_allclose(shifted.sigma_, base.sigma_, rtol=rtol)
    np.testing.assert_allclose(shifted.weights_, base.weights_, rtol=rtol)
    assert shifted.log_likelihood_ == pytest.approx(base.log_likelihood_, rel=rtol)


def test_shifting_a_feature_changes_only_the_intercepts(data, reference):
    X, y, _ = data
    d = 7.5
    Xs = X.copy()
    Xs[:, 0] += d
    init = dict(START, intercept=np.asarray(START["intercept"])
                - np.asarray(START["coef"])[:, 0] * d)
    base = reference[("explicit", False)]
    shifted = fit(Xs, y, init=init)
    np.testing.assert_allclose(shifted.coef_, base.coef_, rtol=RTOL)
    np.testing.assert_allclose(
        shifted.intercept_, base.intercept_ - base.coef_[:, 0] * d, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(shifted.sigma_, base.sigma_, rtol=RTOL)
    assert shifted.log_likelihood_ == pytest.approx(base.log_likelihood_, rel=RTOL)


@pytest.mark.parametrize("init_name", ["explicit", "default"])
@pytest.mark.parametrize("c", SCALES)
def test_rescaling_a_feature_divides_its_coefficients(data, reference, c, init_name):
    X, y, _ = data
    Xc = X.copy()
    Xc[:, 1] *= c
    init = scaled_start(column_scale=(1.0, c)) if init_name == "explicit" else "short_em"
    base = reference[(init_name, False)]
    scaled = fit(Xc, y, init=init)
    np.testing.assert_allclose(scaled.coef_[:, 1], base.coef_[:, 1] / c, rtol=RTOL)
    np.testing.assert_allclose(scaled.coef_[:, 0], base.coef_[:, 0], rtol=RTOL)
    np.testing.assert_allclose(scaled.intercept_, base.intercept_, rtol=RTOL)
    np.testing.assert_allclose(scaled.sigma_, base.sigma_, rtol=RTOL)
    np.testing.assert_allclose(scaled.weights_, base.weights_, rtol=RTOL)
    assert scaled.log_likelihood_ == pytest.approx(base.log_likelihood_, rel=RTOL)


# --------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("params", [
    dict(),
    dict(init="random", n_init=3),
    dict(init="subsets", accelerate=False),
    dict(init_sample_size=150, chunk_size=64),  # starts on a subsample, then all rows
], ids=["default", "random", "subsets-plain-em", "subsample-screening"])
def test_same_random_state_gives_bit_identical_fits(data, params):
    X, y, w = data
    assert_bit_identical(fit(X, y, w, **params), fit(X, y, w, **params))


@pytest.mark.parametrize("params", [dict(), dict(init_sample_size=150)],
                         ids=["default", "subsample-screening"])
@pytest.mark.parametrize("chunk_size", [11, 64, 399])
def test_chunk_size_changes_only_round_off(data, params, chunk_size):
    X, y, w = data
    a = fit(X, y, w, **params)
    b = fit(X, y, w, chunk_size=chunk_size, **params)
    assert b.log_likelihood_ == pytest.approx(a.log_likelihood_, rel=1e-9)
    assert_same_fit(a, b)


@pytest.mark.parametrize("chunk_size", [16, 100])
def test_thread_count_does_not_change_a_single_bit(data, chunk_size):
    X, y, w = data
    one = fit(X, y, w, chunk_size=chunk_size, n_jobs=1)
    two = fit(X, y, w, chunk_size=chunk_size, n_jobs=2)
    assert_bit_identical(one, two)
    assert one.n_passes_ == two.n_passes_


# --------------------------------------------------------------------------- no mutation


def _frozen(a):
    """A read-only copy: any attempt to write to it raises."""
    a = np.array(a)
    a.flags.writeable = False
    return a


def _containers(X, y, w):
    """The same data as read-only numpy arrays, a non-contiguous view, and pandas objects
    (plain and nullable dtypes)."""
    wide = np.repeat(X, 2, axis=1)
    yield "numpy", _frozen(X), _frozen(y), _frozen(w)
    yield "fortran-view", _frozen(np.asfortranarray(wide))[:, ::2], _frozen(y), _frozen(w)
    frame = pd.DataFrame(X, columns=["a", "b"])
    yield "pandas", frame, pd.Series(y, name="y"), pd.Series(w, name="w")
    yield ("pandas-nullable", frame.astype("Float64"), pd.Series(y, name="y").astype("Float64"),
           pd.Series(w, name="w"))


def _snapshot(obj):
    return obj.copy(deep=True) if hasattr(obj, "iloc") else np.array(obj, copy=True)


def _assert_unchanged(obj, copy):
    if isinstance(obj, pd.DataFrame):
        pd.testing.assert_frame_equal(obj, copy, check_exact=True)
    elif isinstance(obj, pd.Series):
        pd.testing.assert_series_equal(obj, copy, check_exact=True)
    else:
        np.testing.assert_array_equal(obj, copy, strict=True)


@pytest.mark.parametrize("kind", ["numpy", "fortran-view", "pandas", "pandas-nullable"])
def test_no_method_writes_to_its_inputs(data, kind):
    X0, y0, w0 = data
    X, y, w = next(c[1:] for c in _containers(X0[:120], y0[:120], w0[:120]) if c[0] == kind)
    init_resp = _frozen(np.full((120, K), 1.0 / K))
    init_dict = {key: _frozen(value) for key, value in START.items()}
    inputs = [X, y, w, init_resp, *init_dict.values()]
    copies = [_snapshot(obj) for obj in inputs]

    model = RegressionMixture(K, random_state=0).fit(X, y, sample_weight=w)
    RegressionMixture(K, init=init_resp, max_iter=5).fit(X, y, sample_weight=w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few iterations only: not converged
        RegressionMixture(K, init=init_dict, max_iter=5).fit(X, y)
    model.predict(X)
    model.predict_components(X)
    model.posterior(X, y)
    model.classify(X, y)
    model.score(X, y, sample_weight=w)
    model.log_likelihood(X, y, sample_weight=w)
    model.bic(X, y, sample_weight=w)
    model.aic(X, y, sample_weight=w)
    model.icl(X, y, sample_weight=w)
    model.sample(X=X, random_state=0)
    model.sample(50, random_state=0)
    RegressionMixture(K, warm_start=True, random_state=0).fit(X, y).fit(X, y)

    for obj, copy in zip(inputs, copies, strict=True):
        _assert_unchanged(obj, copy)
