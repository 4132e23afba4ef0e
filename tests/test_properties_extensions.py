"""Property-based tests for the families, mixtures of experts, groups and constraints.

The promise of ``test_properties.py`` extended: on any generated problem, with any
family, concomitant variables, groups or constraints, a fit either succeeds (finite
parameters with positive family parameters, weights summing to one, a finite
non-decreasing log-likelihood history, posteriors whose rows sum to one and
``log_likelihood`` of the training rows equal to ``log_likelihood_``) or raises a
``ValueError`` from regmix with a message. No other exception, NaN or warning.
"""

import os
import warnings

import numpy as np
import pytest

from regmix import RegressionMixture
from regmix.datasets import make_family_mixture

from .test_properties import ALLOWED_WARNINGS, check_refusal, hypothesis, reliability, st

FAMILIES = ["gaussian", "poisson", "binomial", "gamma", "negative_binomial", "student_t"]
EXTRAS = {"gaussian": {"sigma": 0.5}, "student_t": {"sigma": 0.5, "df": 4.0},
          "gamma": {"shape": 6.0}, "negative_binomial": {"size": 5.0}}


@st.composite
def extended_problems(draw):
    family = draw(st.sampled_from(FAMILIES), label="family")
    K = draw(st.integers(1, 3), label="K")
    p = draw(st.integers(1, 3), label="p")
    n = draw(st.integers(K * (p + 3) + 5, 250), label="n")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    coef = rng.normal(0.0, 0.8, size=(K, p))
    intercept = rng.normal(0.5 if family in ("poisson", "negative_binomial") else 0.0,
                           0.7, size=K)
    extra = {k: np.full(K, v) for k, v in EXTRAS.get(family, {}).items()}
    trials = draw(st.sampled_from([None, 5]), label="trials") if family == "binomial" else None
    X, y, _, _ = make_family_mixture(n, family, coef=coef, intercept=intercept, extra=extra,
                                     trials=trials, random_state=seed % 2**31)
    X = X * 10.0 ** draw(st.floats(-4.0, 4.0), label="log10 x scale")
    fit_kw = {}
    if trials is not None:
        fit_kw["trials"] = np.full(n, trials)
    if draw(st.booleans(), label="concomitant"):
        fit_kw["concomitant"] = rng.normal(size=(n, draw(st.integers(1, 2), label="q")))
    if draw(st.booleans(), label="groups"):
        fit_kw["groups"] = rng.integers(0, max(2, n // draw(st.integers(1, 6),
                                                           label="rows per group")), n)
    weight_kind = draw(st.sampled_from(["none", "uniform", "integer"]), label="weights")
    w = None if weight_kind == "none" else (
        rng.uniform(0.2, 3.0, n) if weight_kind == "uniform" else rng.integers(1, 4, n))
    options = {}
    constraint = draw(st.sampled_from(["none", "common slope", "common intercept",
                                       "fixed slope", "equal variance"]), label="constraint")
    if constraint == "common slope":
        options["common_coef"] = ["x0"]
    elif constraint == "common intercept":
        options["common_coef"] = ["intercept"]
    elif constraint == "fixed slope":
        options["fixed_coef"] = {"x0": 0.0}
    elif constraint == "equal variance" and family in ("gaussian", "student_t"):
        options["equal_variance"] = True
    params = dict(n_components=K, family=family, n_init=draw(st.integers(1, 2), label="n_init"),
                  max_iter=draw(st.sampled_from([30, 300]), label="max_iter"),
                  accelerate=draw(st.booleans(), label="accelerate"),
                  chunk_size=draw(st.sampled_from([50, 8192]), label="chunk_size"),
                  random_state=seed % 1000, **options)
    return X, y, w, fit_kw, params


def _check(model, X, y, w, fit_kw):
    K = model.n_components
    for name in ("coef_", "intercept_", "weights_"):
        assert np.all(np.isfinite(getattr(model, name))), name
    extra = model.state_.extra
    assert np.all(extra > 0) and np.all(np.isfinite(extra)), extra
    assert model.weights_.sum() == pytest.approx(1.0, abs=1e-12)
    if model.gating_coef_ is not None:
        assert np.all(np.isfinite(model.gating_coef_))
    ll = model.log_likelihood_
    history = np.asarray(model.log_likelihood_history_)
    assert np.isfinite(ll) and np.all(np.isfinite(history))
    scale = np.maximum(np.abs(history[:-1]), len(y))
    assert np.all(np.diff(history) >= -1e-10 * scale), np.diff(history)
    kw = {k: v for k, v in fit_kw.items() if k in ("trials", "concomitant", "groups")}
    post = model.posterior(X, y, **kw)
    assert post.shape == (len(y), K) and np.all(np.isfinite(post))
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    again = model.log_likelihood(X, y, sample_weight=w, **kw)
    assert again == pytest.approx(ll, rel=1e-9, abs=1e-9 * len(y))


@hypothesis.settings(reliability,
                     max_examples=int(os.environ.get("REGMIX_HYPOTHESIS_EXAMPLES", "60")))
@hypothesis.given(problem=extended_problems())
def test_any_family_and_option_fits_cleanly_or_refuses(problem):
    X, y, w, fit_kw, params = problem
    model = RegressionMixture(**params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(X, y, sample_weight=w, **fit_kw)
        except ValueError as err:
            check_refusal(err)
            hypothesis.event(f"refused: {str(err)[:50]}")
            model = None
        if model is not None:
            _check(model, X, y, w, fit_kw)
            hypothesis.event("fitted")
    unexpected = [f"{c.category.__name__}: {c.message} ({c.filename}:{c.lineno})"
                  for c in caught if not issubclass(c.category, ALLOWED_WARNINGS)]
    assert not unexpected, unexpected
