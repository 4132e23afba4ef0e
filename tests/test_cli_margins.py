"""``regmix margins``: the table of the library's marginal effects and margins, printed
or written, through click's test runner (the same code as the script)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import regmix
from regmix import RegressionMixture
from regmix.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("margins")
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["a", "b"], n)})
    frame["y"] = (np.where(rng.random(n) < 0.5, 1 + frame["x"], -1 - frame["x"])
                  + (frame["g"] == "b") + 0.3 * rng.normal(size=n))
    frame.to_csv(d / "data.csv", index=False)
    RegressionMixture(2, formula="y ~ x + C(g)", random_state=0).fit(frame).save(
        d / "model.json")
    return d


def _invoke(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_margins_writes_the_library_s_table(files):
    model = regmix.load(files / "model.json")
    frame = pd.read_csv(files / "data.csv")
    out = files / "effects.csv"
    result = _invoke(["margins", files / "model.json", files / "data.csv", "--out", out])
    assert result.exit_code == 0, result.stderr
    assert f"wrote 6 rows to {out}" in result.stderr
    got = pd.read_csv(out)
    expected = model.marginal_effects(frame)
    np.testing.assert_allclose(got["effect"], expected["effect"], rtol=1e-12)
    np.testing.assert_allclose(got["std_err"], expected["std_err"], rtol=1e-12)
    assert list(got["contrast"]) == list(expected["contrast"])

    result = _invoke(["margins", files / "model.json", files / "data.csv", "--predictive",
                      "--at-means"])
    assert result.exit_code == 0, result.stderr
    printed = result.stdout.splitlines()
    margins = model.predictive_margins(frame, kind="at_means")
    assert printed[0].split() == list(margins.columns)
    assert f"{margins['margin'].iloc[0]:.6f}" in printed[1]


def test_margins_errors_are_one_line(files):
    result = _invoke(["margins", files / "model.json", files / "data.csv", "--variable", "w"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "'w' is not a variable" in result.stderr
    result = _invoke(["margins", files / "model.json", files / "data.csv", "--predictive",
                      "--variable", "x"])
    assert result.exit_code == 2 and "--predictive" in result.stderr
