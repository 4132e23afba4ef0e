"""The compiled E-step passes over grouped rows (all rows of a group share one
membership) against the numpy data pass, and where they apply."""

from __future__ import annotations

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from regmix import RegressionMixture  # noqa: E402
from regmix.compiled import gaussian_kernel as gk  # noqa: E402
from regmix.compiled import glm_kernel as glk  # noqa: E402
from regmix.core.params import ComponentParams, GaussianParams, MixtureParams  # noqa: E402
from regmix.engine import kernel  # noqa: E402
from regmix.engine.runner import MembershipArray, PassRunner  # noqa: E402
from regmix.families.gamma import GammaFamily  # noqa: E402
from regmix.families.gaussian import Gaussian  # noqa: E402
from regmix.families.mixed_gaussian import MixedGaussian  # noqa: E402
from regmix.families.poisson import Poisson  # noqa: E402
from regmix.families.student_t import StudentT  # noqa: E402
from regmix.mixing.constant import ConstantWeights  # noqa: E402
from regmix.mixing.gating import MultinomialLogitGating  # noqa: E402
from regmix.sources.arrays import ArrayData  # noqa: E402
from tests.test_glm_kernel import CASES, _family, _params, _problem  # noqa: E402

RTOL = 1e-12


def _groups(rng, n, *, large=True):
    """Sorted group codes of n rows: groups of 1 to 30 rows, and (``large``) one group
    longer than a tile and one longer than a block of the kernels."""
    sizes = list(rng.integers(1, 31, n))
    if large:
        sizes[5:5] = [700, 2500]
    return np.repeat(np.arange(len(sizes)), sizes)[:n]


def _close(ours, ref, rtol=RTOL):
    """Each entry within ``rtol`` of the largest magnitude of the reference (sums of
    terms of both signs are not relatively accurate entry by entry)."""
    ours, ref = np.asarray(ours, dtype=float), np.asarray(ref, dtype=float)
    assert ours.shape == ref.shape
    scale = np.abs(ref).max() if ref.size else 0.0
    np.testing.assert_allclose(ours, ref, rtol=0, atol=rtol * max(scale, 1e-300))


def _same_pass(compiled, numpy, rtol=RTOL):
    _close(compiled.loglik, numpy.loglik, rtol)
    _close(compiled.resp_sum, numpy.resp_sum, rtol)
    assert len(compiled.stats) == len(numpy.stats)
    for ours, ref in zip(compiled.stats, numpy.stats, strict=True):
        _close(ours, ref, rtol)
    assert len(compiled.mix_stats) == len(numpy.mix_stats)
    for ours, ref in zip(compiled.mix_stats, numpy.mix_stats, strict=True):
        _close(ours, ref, rtol)


def _runners(source, family, mixing):
    runners = [PassRunner(source, family, mixing, chunk_size=4096, n_jobs=1, engine=e)
               for e in ("numba", "numpy")]
    assert runners[0].kernel is not None and runners[1].kernel is None
    return runners


def _same_classification(runners, params, n_groups):
    ours, ref = (r.classification(params) for r in runners)
    for field in ("entropy", "top", "table", "counts", "sizes"):
        _close(getattr(ours, field), getattr(ref, field))
    assert ours.n == n_groups
    _close(ours.n, ref.n)


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("student", [False, True])
def test_gaussian_and_student_t_passes_match_the_numpy_pass(student, weighted, gated):
    """The sums of one grouped pass (groups of 1 to 30 rows, one longer than a tile,
    one longer than a block) on the Gaussian kernel: the statistics with each row's
    group posterior, the per-group log-likelihood and mixing statistics (the gating's
    on each group's first row), and the per-group classification."""
    rng = np.random.default_rng(5)
    n, K = 9000, 3
    X = rng.normal(size=(n, 2)) * [3.0, 0.5] + [2.0, -1.0]
    y = X @ [0.5, -1.0] + rng.standard_t(4.0, n)
    w = rng.uniform(0.0, 3.0, n) if weighted else None
    g = _groups(rng, n)
    Z = rng.normal(size=(n, 2)) * [2.0, 0.3] + [1.0, -4.0] if gated else None
    source = ArrayData(X, y, w, fit_intercept=True, Z=Z, groups=g)
    coef = 0.3 * rng.normal(size=(K, 3))
    sigma = rng.uniform(0.8, 2.0, K)
    gamma = None
    if gated:
        gamma = np.zeros((K, 3))
        gamma[1:] = 0.5 * rng.normal(size=(K - 1, 3))
    if student:
        family = StudentT()
        component = ComponentParams(coef, np.column_stack([sigma, [1.5, 6.0, 150.0]]))
    else:
        family, component = Gaussian(), GaussianParams(coef, sigma)
    params = MixtureParams(np.array([0.5, 0.3, 0.2]), component, gamma)
    mixing = MultinomialLogitGating() if gated else ConstantWeights()
    runners = _runners(source, family, mixing)
    compiled, numpy = (r.evaluate(params) for r in runners)
    _same_pass(compiled, numpy)
    _same_classification(runners, params, source.n_groups)
    # given memberships are taken row by row, by both passes
    R = rng.dirichlet(np.ones(K), size=n)
    _same_pass(*(r.given(MembershipArray(R), K, params) for r in runners), rtol=1e-11)


@pytest.mark.parametrize(("name", "link"), CASES)
@pytest.mark.parametrize(("weighted", "with_offset"), [(False, False), (True, True)])
def test_glm_passes_match_the_numpy_pass(name, link, weighted, with_offset):
    """The sums of one grouped pass on the GLM kernel, every family and link it covers,
    with and without sample weights (some zero) and offsets."""
    X, y, w, offset, trials, _, coef, mix = _problem(name, link, n=6000, weighted=weighted,
                                                     with_offset=with_offset, seed=7)
    source = ArrayData(X, y, w, fit_intercept=True, offset=offset, trials=trials,
                       scale_response=False, groups=_groups(np.random.default_rng(7), 6000))
    family = _family(name, link)
    params = MixtureParams(mix, _params(family, coef, len(mix)))
    runners = _runners(source, family, ConstantWeights())
    compiled, numpy = (r.evaluate(params) for r in runners)
    # (the negative binomial's size statistics to about 1e-12 of the terms the numpy
    # pass subtracts, see glm_kernel)
    _same_pass(compiled, numpy, 1e-11 if name == "negative_binomial" else RTOL)
    _same_classification(runners, params, source.n_groups)


@pytest.mark.parametrize("name", ["poisson", "binomial"])
def test_gated_glm_pass_matches_the_numpy_pass(name):
    """Multinomial-logit weights with groups on the GLM kernel: each group's weights and
    gating statistics are its first row's."""
    rng = np.random.default_rng(8)
    n = 5000
    link = "log" if name == "poisson" else "logit"
    X, y, w, offset, trials, _, coef, _ = _problem(name, link, n=n, seed=8)
    Z = np.asfortranarray(rng.normal(size=(n, 1)) * 2.0 + 1.0)
    source = ArrayData(X, y, w, fit_intercept=True, offset=offset, trials=trials,
                       scale_response=False, groups=_groups(rng, n), Z=Z)
    gamma = np.zeros((3, 2))
    gamma[1:] = rng.normal(size=(2, 2))
    params = MixtureParams(np.full(3, 1.0 / 3.0), ComponentParams(coef, np.zeros((3, 0))),
                           gamma)
    runners = _runners(source, _family(name, link), MultinomialLogitGating())
    _same_pass(*(r.evaluate(params) for r in runners))
    _same_classification(runners, params, source.n_groups)


def test_groups_of_one_row_are_the_ungrouped_kernel():
    """Unweighted groups of one row each are the rows themselves: the grouped kernels'
    sums are the ungrouped kernels' (to round-off: the log weights are added per group),
    their groups' posteriors the ungrouped N_k, and their blocks the same rows."""
    rng = np.random.default_rng(9)
    n, K = 7000, 2
    X = rng.normal(size=(n, 2))
    y = X @ [1.0, -0.5] + rng.normal(size=n)
    starts = np.arange(n)
    log_w = np.log([0.4, 0.6])
    args = (np.zeros(2), np.ones(2), 0.0, 1.0, True, rng.normal(size=(K, 3)),
            np.array([0.8, 1.3]), log_w)
    grouped = gk.gaussian_e_step(X, y, None, *args, group_starts=starts)
    rows = gk.gaussian_e_step(X, y, None, *args)
    assert len(grouped) == len(rows) + 1
    for ours, ref in zip(grouped, rows, strict=False):
        _close(ours, ref, 1e-13)
    _close(grouped[-1], rows[1], 1e-13)
    counts = rng.poisson(2.0, n).astype(float)
    glm_args = (X, counts, None, None, None, np.zeros(2), np.ones(2), 1.0, True,
                0.3 * rng.normal(size=(K, 3)), log_w, "poisson", "log")
    grouped = glk.glm_e_step(*glm_args, group_starts=starts)
    rows = glk.glm_e_step(*glm_args)
    for ours, ref in zip(grouped, rows, strict=False):
        _close(ours, ref, 1e-13)
    _close(grouped[-1], rows[1], 1e-13)
    bounds, _, _ = gk.block_bounds(0, n, gk.E_STEP_BLOCK_SIZE, starts)
    np.testing.assert_array_equal(bounds, gk.block_bounds(0, n, gk.E_STEP_BLOCK_SIZE)[0])


def test_a_group_is_one_observation():
    """An independent reference: with two groups whose rows are repeated the grouped
    log-likelihood is the sum over the groups of log sum_k pi_k prod_i f_k(y_i)^w_i,
    written out here, and N_k sums each row's weight times its group's posterior."""
    X = np.array([[0.0], [1.0], [2.0], [0.5], [1.5]])
    y = np.array([0.1, 1.2, 1.9, -0.4, 0.3])
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    coef = np.array([[0.0, 1.0], [0.5, -0.5]])
    sigma = np.array([0.7, 1.1])
    pi = np.array([0.3, 0.7])
    starts = np.array([0, 3])
    loglik, resp_sum, *_, groups = gk.gaussian_e_step(
        X, y, w, np.zeros(1), np.ones(1), 0.0, 1.0, True, coef, sigma, np.log(pi),
        group_starts=starts)
    mean = coef[:, :1] + coef[:, 1:] * X[:, 0]
    logf = -np.log(sigma)[:, None] - 0.5 * np.log(2 * np.pi) - 0.5 * ((y - mean)
                                                                      / sigma[:, None]) ** 2
    expected, n_k, post_sum = 0.0, np.zeros(2), np.zeros(2)
    for rows in (slice(0, 3), slice(3, 5)):
        joint = np.log(pi) + (logf[:, rows] * w[rows]).sum(axis=1)
        expected += np.log(np.exp(joint).sum())
        post = np.exp(joint) / np.exp(joint).sum()
        n_k += post * w[rows].sum()
        post_sum += post
    np.testing.assert_allclose(loglik, expected, rtol=1e-14)
    np.testing.assert_allclose(resp_sum, n_k, rtol=1e-14)
    np.testing.assert_allclose(groups, post_sum, rtol=1e-14)


def test_block_bounds_end_on_group_boundaries():
    rng = np.random.default_rng(2)
    g = _groups(rng, 20_000)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    bounds, gs, bg = gk.block_bounds(0, g.size, 2048, starts)
    np.testing.assert_array_equal(gs, starts)
    gb = np.append(starts, g.size)  # the group boundaries
    assert bounds[0] == 0 and bounds[-1] == g.size and np.all(np.diff(bounds) > 0)
    assert set(bounds) <= set(gb) and np.array_equal(gb[bg], bounds)
    # the cuts are the first group boundaries at or after the multiples of the block size
    for multiple in range(2048, g.size, 2048):
        assert gb[np.searchsorted(gb, multiple)] in bounds
    for cut in bounds[1:-1]:
        multiple = cut // 2048 * 2048
        assert multiple > 0 and not np.any((gb >= multiple) & (gb < cut))
    np.testing.assert_array_equal(gk.block_bounds(100, 5000, 2048)[0], [100, 2148, 4196,
                                                                        5000])


def test_grouped_rows_refused_where_they_cannot_go():
    rng = np.random.default_rng(3)
    n = 300
    X, y = rng.normal(size=(n, 1)), rng.normal(size=n)
    args = (np.zeros(1), np.ones(1), 0.0, 1.0, True, np.zeros((2, 2)), np.ones(2),
            np.log([0.5, 0.5]))
    for bad in ([1, 5], [0, 5, 5], [0, 400], [[0, 1]] * 0):
        with pytest.raises(ValueError, match="group_starts"):
            gk.gaussian_e_step(X, y, None, *args, group_starts=np.array(bad, dtype=int))
    sums = gk.GaussianSums(*args, grouped=True)
    with pytest.raises(ValueError, match="group starts"):
        sums.add(X, y, None)
    sums.add(X[:100], y[:100], None, group_starts=np.arange(0, 100, 10))
    with pytest.raises(ValueError, match="one batch"):
        sums.add(X[100:], y[100:], None, group_starts=np.arange(0, 200, 10))
    with pytest.raises(ValueError, match="group starts"):
        gk.GaussianSums(*args).add(X, y, None, group_starts=np.arange(0, n, 10))
    with pytest.raises(ValueError, match="responsibilities"):
        gk.gaussian_e_step(X, y, None, *args, responsibilities=np.full((n, 2), 0.5),
                           group_starts=np.arange(0, n, 10))
    with pytest.raises(ValueError, match="responsibilities"):
        glk.glm_e_step(X, np.abs(np.round(y)), None, None, None, np.zeros(1), np.ones(1),
                       1.0, True, np.zeros((2, 2)), np.log([0.5, 0.5]), "poisson", "log",
                       responsibilities=np.full((n, 2), 0.5), group_starts=np.arange(0, n, 10))


def test_where_the_grouped_kernels_apply():
    rng = np.random.default_rng(4)
    n = 400
    X, y = rng.normal(size=(n, 1)), rng.poisson(2.0, n).astype(float)
    g = np.repeat(np.arange(n // 4), 4)
    grouped = ArrayData(X, y, None, fit_intercept=True, groups=g, scale_response=False,
                        offset=rng.uniform(-0.1, 0.1, n))
    mixing = ConstantWeights()
    assert kernel.compiled_pass_applies(grouped, Poisson(), mixing)
    plain = ArrayData(X, y, None, fit_intercept=True, groups=g, standardize=False)
    assert kernel.compiled_pass_applies(plain, Gaussian(), mixing)
    assert kernel.compiled_pass_applies(plain, StudentT(), mixing)
    # the information of grouped rows is the numpy pass's; so are the families whose
    # groups' densities are not sums of row densities
    assert not kernel.compiled_pass_applies(plain, Gaussian(), mixing, information=True)
    assert kernel.kernel_family(MixedGaussian([0])) is None
    assert not kernel.compiled_pass_applies(plain, MixedGaussian([0]), mixing)
    runner = PassRunner(grouped, Poisson(), mixing, chunk_size=4096, n_jobs=1, engine="numba")
    assert (runner.engine, runner.kernel) == ("numba", "glm")
    # so the estimator's set-up takes the compiled column pass for grouped rows too
    assert kernel.kernel_reads(plain, Gaussian()) and kernel.kernel_reads(grouped, Poisson())
    assert not kernel.kernel_reads(plain, MixedGaussian([0]))


def _fit_data(seed=3, n_groups=500):
    """Rows in groups of 1 to 11, each group drawn from one of two regressions."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 12, n_groups)
    g = np.repeat(np.arange(n_groups), sizes)
    n = g.size
    z = np.repeat(rng.integers(0, 2, n_groups), sizes)
    X = rng.normal(size=(n, 2))
    offset = rng.uniform(-0.3, 0.3, n)
    w = rng.uniform(0.5, 2.0, n)
    counts = rng.poisson(np.exp(np.where(z == 0, 0.5 + X @ [0.8, -0.3],
                                         2.0 + X @ [-0.5, 0.4]) + offset)).astype(float)
    trials = rng.integers(1, 10, n).astype(float)
    p = 1.0 / (1.0 + np.exp(-np.where(z == 0, -1.0 + X @ [1.0, 0.5], 1.0 + X @ [-1.0, 0.2])))
    successes = rng.binomial(trials.astype(int), p).astype(float)
    lines = (np.where(z == 0, 1.0 + X @ [1.0, -1.0], -1.0 + X @ [-1.0, 2.0])
             + rng.standard_t(5.0, n) * np.where(z == 0, 0.5, 0.8))
    return X, g, offset, w, counts, trials, successes, lines


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("family", "with_offset"), [
    ("gaussian", False), ("student_t", False), ("poisson", False), ("poisson", True),
    ("binomial", False), ("binomial", True)])
def test_grouped_fit_on_the_kernel_equals_the_numpy_fit(family, with_offset, weighted,
                                                        monkeypatch):
    """Fits with groups= on the compiled kernels (their grouped passes counted) reach
    the numpy engine's fit: the log-likelihood to 1e-10, the parameters to 1e-8."""
    from regmix.engine import runner

    calls = []
    sums, glm = runner.GaussianSums, runner.glm_e_step
    monkeypatch.setattr(runner, "GaussianSums",
                        lambda *a, **k: calls.append(k.get("grouped")) or sums(*a, **k))
    monkeypatch.setattr(runner, "glm_e_step", lambda *a, **k: calls.append(
        k.get("group_starts") is not None) or glm(*a, **k))
    X, g, offset, w, counts, trials, successes, lines = _fit_data()
    kwargs = {"groups": g, "sample_weight": w if weighted else None,
              "offset": offset if with_offset else None}
    if family == "poisson":
        y = counts
    elif family == "binomial":
        y, kwargs["trials"] = successes, trials
    else:
        y = lines
    fits = [RegressionMixture(2, family=family, engine=engine, random_state=0, n_init=2,
                              tol=1e-12, max_iter=5000).fit(X, y, **kwargs)
            for engine in ("numba", "numpy")]
    assert any(calls)  # the grouped passes of the first fit ran on the kernel
    np.testing.assert_allclose(fits[0].log_likelihood_, fits[1].log_likelihood_, rtol=1e-10)
    for name in ("coef_", "intercept_", "weights_"):
        np.testing.assert_allclose(getattr(fits[0], name), getattr(fits[1], name), rtol=0,
                                   atol=1e-8)
    np.testing.assert_allclose(fits[0].state_.extra, fits[1].state_.extra, rtol=1e-8)


def test_a_group_no_component_produces_and_a_component_of_weight_zero():
    """A group whose rows have density zero under every component (Gamma means that
    underflow to zero) has log-likelihood -inf and posteriors zero, as in the numpy
    pass; a component of weight zero takes no group."""
    rng = np.random.default_rng(0)
    n = 3000
    X, y = rng.normal(size=(n, 1)), rng.gamma(2.0, 1.0, n)
    g = np.repeat(np.arange(n // 5), 5)
    offset = np.zeros(n)
    offset[10:15] = -800.0  # the third group
    source = ArrayData(X, y, None, fit_intercept=True, offset=offset, scale_response=False,
                       groups=g)
    coef = np.array([[0.1, 0.2], [0.5, -0.3]])
    params = MixtureParams(np.array([0.4, 0.6]), ComponentParams(coef, np.array([[2.0], [3.0]])))
    with np.errstate(over="ignore"):
        compiled, numpy = (r.evaluate(params)
                           for r in _runners(source, GammaFamily("log"), ConstantWeights()))
    assert compiled.loglik == numpy.loglik == -np.inf
    for ours, ref in zip((compiled.resp_sum, *compiled.stats, *compiled.mix_stats),
                         (numpy.resp_sum, *numpy.stats, *numpy.mix_stats), strict=True):
        _close(ours, ref)
    _close(compiled.mix_stats[0].sum(), n // 5 - 1)  # every group but the third
    gaussian = ArrayData(X, y, None, fit_intercept=True, groups=g)
    params = MixtureParams(np.array([0.0, 1.0]), GaussianParams(coef, np.array([1.0, 2.0])))
    compiled, numpy = (r.evaluate(params)
                       for r in _runners(gaussian, Gaussian(), ConstantWeights()))
    _same_pass(compiled, numpy)
    assert compiled.resp_sum[0] == 0.0 and compiled.mix_stats[0][1] == n // 5
