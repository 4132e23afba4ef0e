"""Write the golden model files: one fitted model of every kind, with its predictions.

Run from the repository root with ``python tests/golden/make_golden.py``. The files were
written before the package moved into subpackages; ``tests/test_golden_models.py``
requires that every one still loads and predicts the same numbers. Re-running this
script is only right when the model-file format itself changes on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from regmix import RegressionMixture
from regmix.datasets import make_family_mixture, make_regression_mixture

HERE = Path(__file__).resolve().parent
N = 240


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X, y, labels, _ = make_regression_mixture(
        N, coef=[[2.0, -1.0], [-1.5, 0.5]], intercept=[1.0, -2.0], sigma=[0.5, 1.0],
        random_state=seed)
    return pd.DataFrame({
        "y": y, "x1": X[:, 0], "x2": X[:, 1],
        "z": rng.normal(size=N) + 1.5 * labels,
        "g": np.repeat(np.arange(N // 4), 4),
        "f": rng.choice(["a", "b", "c"], size=N),
        "hours": rng.uniform(0.5, 2.0, size=N),
    })


def _family_frame(family: str, seed: int, **kwargs) -> pd.DataFrame:
    X, y, _, _ = make_family_mixture(
        N, family, coef=[[1.0], [-1.0]], intercept=[0.5, 2.0], random_state=seed, **kwargs)
    frame = pd.DataFrame({"x": X[:, 0], "y": y})
    if "trials" in kwargs:
        frame = frame.assign(s=y, t=kwargs["trials"] - y)
    return frame


def cases():
    """(name, model, fit kwargs, frame or arrays) for every kind of model."""
    frame = _frame(0)
    arrays = frame[["x1", "x2"]].to_numpy(), frame["y"].to_numpy()
    yield "gaussian_arrays", RegressionMixture(2, random_state=0), {}, arrays
    yield "gaussian_formula", RegressionMixture(
        2, formula="y ~ x1 + x2 + C(f)", random_state=0), {}, frame
    yield "gating_formula", RegressionMixture(
        2, formula="y ~ x1 + x2 | z", random_state=0), {}, frame
    yield "groups", RegressionMixture(2, random_state=0), {"groups": "g"}, (frame, "y ~ x1")
    yield "constraints", RegressionMixture(
        2, common_coef=["x1"], equal_variance=True, random_state=0), {}, (frame, "y ~ x1 + x2")
    yield "fixed_coef", RegressionMixture(
        2, fixed_coef={"x2": 0.5}, random_state=0), {}, (frame, "y ~ x1 + x2")
    yield "student_t", RegressionMixture(
        2, family="student_t", random_state=0), {}, (frame, "y ~ x1 + x2")
    yield "poisson_offset", RegressionMixture(
        2, family="poisson", formula="y ~ x + offset(np.log(hours))", random_state=0), {}, \
        _family_frame("poisson", 1).assign(hours=frame["hours"].to_numpy())
    yield "binomial_counts", RegressionMixture(
        2, family="binomial", formula="s + t ~ x", random_state=0), {}, \
        _family_frame("binomial", 2, trials=10)
    yield "binomial_probit", RegressionMixture(
        2, family="binomial", link="probit", formula="y ~ x", random_state=0), {}, \
        _family_frame("binomial", 3)
    yield "gamma", RegressionMixture(
        2, family="gamma", formula="y ~ x", random_state=0), {}, \
        _family_frame("gamma", 4, extra={"shape": [5.0, 20.0]})
    yield "negative_binomial", RegressionMixture(
        2, family="negative_binomial", formula="y ~ x", random_state=0), {}, \
        _family_frame("negative_binomial", 5, extra={"size": [3.0, 8.0]})


def fit_case(model, kwargs, data):
    """Fit ``model`` on the case's data; return the model and the prediction inputs."""
    if isinstance(data, tuple) and isinstance(data[0], np.ndarray):
        X, y = data
        model.fit(X, y, **kwargs)
        return {"X": X, "y": y}
    if isinstance(data, tuple):
        frame, formula = data
        model.set_params(formula=formula)
        model.fit(frame, **kwargs)
        return {"frame": frame}
    model.fit(data, **kwargs)
    return {"frame": data}


def predictions(model, inputs) -> dict:
    """The numbers a loaded model must reproduce."""
    if "X" in inputs:
        X, y = inputs["X"], inputs["y"]
        return {"predict": model.predict(X), "components": model.predict_components(X),
                "posterior": model.posterior(X, y), "loglik": model.log_likelihood(X, y)}
    frame = inputs["frame"]
    return {"predict": model.predict(frame), "components": model.predict_components(frame),
            "posterior": model.posterior(frame), "loglik": model.log_likelihood(frame)}


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def main() -> None:
    for name, model, kwargs, data in cases():
        inputs = fit_case(model, kwargs, data)
        model.save(HERE / f"{name}.json")
        expected = {key: _plain(v) for key, v in predictions(model, inputs).items()}
        if "X" in inputs:
            expected["inputs"] = {"X": inputs["X"].tolist(), "y": inputs["y"].tolist()}
        else:
            expected["inputs"] = {"frame": inputs["frame"].to_dict(orient="list")}
        (HERE / f"{name}.expected.json").write_text(json.dumps(expected))
        print(name, model.log_likelihood_)


if __name__ == "__main__":
    main()
