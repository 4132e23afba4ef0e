"""Model files written by earlier versions load and predict the same numbers.

The files under ``tests/golden`` were written by ``tests/golden/make_golden.py`` before
the package was cut into subpackages: one model of every kind (arrays and formulas,
factors, gating, groups, constraints, every family, offsets, binomial trials, links).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regmix import load

GOLDEN = Path(__file__).resolve().parent / "golden"
NAMES = sorted(p.name[: -len(".expected.json")] for p in GOLDEN.glob("*.expected.json"))


def test_every_kind_of_model_has_a_golden_file():
    assert len(NAMES) == 12


@pytest.mark.parametrize("name", NAMES)
def test_golden_model_predicts_as_when_it_was_saved(name):
    expected = json.loads((GOLDEN / f"{name}.expected.json").read_text())
    model = load(GOLDEN / f"{name}.json")
    inputs = expected["inputs"]
    if "X" in inputs:
        X, y = np.asarray(inputs["X"]), np.asarray(inputs["y"])
        got = {"predict": model.predict(X), "components": model.predict_components(X),
               "posterior": model.posterior(X, y), "loglik": model.log_likelihood(X, y)}
    else:
        frame = pd.DataFrame(inputs["frame"])
        got = {"predict": model.predict(frame), "components": model.predict_components(frame),
               "posterior": model.posterior(frame), "loglik": model.log_likelihood(frame)}
    for key, value in got.items():
        np.testing.assert_allclose(value, np.asarray(expected[key]), rtol=1e-12, atol=1e-12,
                                   err_msg=f"{name}: {key}")
