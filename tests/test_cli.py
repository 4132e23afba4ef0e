"""The ``regmix`` command line, run as the real console script in subprocesses.

Starting a subprocess costs about a second (mostly imports), so the script's command
lines are started together, a few at a time, when the first test needs one; each test
then waits for its own and checks it against the library called in-process. One user
error of each kind runs as the real script; further variants of usage errors run
in-process through click's test runner, which goes through the same code.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import regmix
from regmix import RegressionMixture, select_components
from regmix.cli import ComponentRange
from regmix.datasets import make_regression_mixture

SCRIPT = Path(sys.executable).with_name("regmix")
PNG = b"\x89PNG\r\n\x1a\n"
FORMULA = "y ~ x"

# name -> arguments; "{d}" stands for the directory of the data files
RUNS: dict[str, list[str]] = {
    "fit_text": ["fit", "{d}/two.csv", "--formula", FORMULA, "-k", "2", "--n-init", "2",
                 "--seed", "1", "--out", "{d}/fit-model.json", "--plot", "{d}/fit.png"],
    "fit_json": ["fit", "{d}/two.parquet", "--formula", FORMULA, "--components", "2",
                 "--n-init", "2", "--seed", "5", "--format", "json", "--quiet"],
    "select_text": ["select", "{d}/two.csv", "--formula", FORMULA, "-k", "1-3",
                    "--n-init", "1", "--seed", "2"],
    "select_json": ["select", "{d}/two.parquet", "--formula", FORMULA, "-k", "3,1,2",
                    "--criterion", "icl", "--n-init", "1", "--seed", "2", "--format", "json",
                    "--plot", "{d}/criteria.png", "--out", "{d}/best.json"],
    "predict_stdout": ["predict", "{d}/model.json", "{d}/two.csv"],
    "predict_index_out": ["predict", "{d}/model.json", "{d}/features-indexed.parquet",
                          "--out", "{d}/predictions.csv"],
}

# name -> (arguments, a fragment of the one error line); every one must exit 2.
# One of each kind runs as the real script; more variants run in-process below.
ERRORS: dict[str, tuple[list[str], str]] = {
    "missing_file": (["fit", "{d}/nope.csv", "--formula", FORMULA], "cannot read"),
    "empty_file": (["fit", "{d}/empty.csv", "--formula", FORMULA], "is empty"),
    "unknown_file_type": (["fit", "{d}/data.txt", "--formula", FORMULA], "unknown file type"),
    "damaged_parquet": (["fit", "{d}/damaged.parquet", "--formula", FORMULA], "cannot read"),
    "unknown_column": (["fit", "{d}/two.csv", "--formula", "y ~ z"], "'z'"),
    "unparsable_formula": (["fit", "{d}/two.csv", "--formula", "y ~ (x"],
                           "cannot parse formula"),
    "non_numeric_response": (["fit", "{d}/strings.csv", "--formula", FORMULA], "not numeric"),
    "too_few_rows": (["fit", "{d}/few.csv", "--formula", FORMULA], "fewer than"),
    "k_zero": (["fit", "{d}/two.csv", "--formula", FORMULA, "-k", "0"], "--components"),
    "degenerate_fit": (["fit", "{d}/two.csv", "--formula", FORMULA, "-k", "15", "--n-init",
                        "1"], "ended with every component's weight at least min_weight"),
    "bad_format": (["fit", "{d}/two.csv", "--formula", FORMULA, "--format", "xml"],
                   "--format"),
    "range_reversed": (["select", "{d}/two.csv", "--formula", FORMULA, "-k", "5-1"],
                       "is empty"),
    "damaged_model": (["predict", "{d}/truncated.json", "{d}/two.csv"], "damaged"),
    "newer_model": (["predict", "{d}/newer.json", "{d}/two.csv"], "newer regmix"),
    "parquet_without_pyarrow": (["fit", "{d}/two.parquet", "--formula", FORMULA],
                                "needs pyarrow"),
}

MORE_ERRORS: dict[str, tuple[list[str], str]] = {
    "header_only": (["fit", "{d}/header.csv", "--formula", FORMULA], "no data rows"),
    "stray_string": (["fit", "{d}/stray.csv", "--formula", FORMULA],
                     "stray.csv holds numbers but for 1 cell(s): line 9 has 'oops'"),
    "binary_csv": (["fit", "{d}/binary.csv", "--formula", FORMULA], "cannot read"),
    "k_impossible": (["fit", "{d}/two.csv", "--formula", FORMULA, "-k", "21"], "min_weight"),
    "bad_n_init": (["fit", "{d}/two.csv", "--formula", FORMULA, "--n-init", "0"], "--n-init"),
    "bad_seed": (["fit", "{d}/two.csv", "--formula", FORMULA, "--seed", "-1"], "--seed"),
    "missing_formula": (["fit", "{d}/two.csv"], "--formula"),
    "unknown_option": (["fit", "{d}/two.csv", "--formula", FORMULA, "--bogus"], "--bogus"),
    "unknown_command": (["frobnicate"], "frobnicate"),
    "missing_output_dir": (["fit", "{d}/two.csv", "--formula", FORMULA, "--out",
                            "{d}/no/such/model.json"], "cannot write"),
    "output_is_a_directory": (["predict", "{d}/model.json", "{d}/two.csv", "--out", "{d}"],
                              "directory"),
    "range_zero": (["select", "{d}/two.csv", "--formula", FORMULA, "-k", "0-3"], ">= 1"),
    "range_garbage": (["select", "{d}/two.csv", "--formula", FORMULA, "-k", "a-b"],
                      "not a number of components"),
    "range_huge": (["select", "{d}/two.csv", "--formula", FORMULA, "-k", "1-999999999"],
                   "at most"),
    "range_impossible": (["select", "{d}/two.csv", "--formula", FORMULA, "-k", "19-25"],
                         "min_weight"),
    "bad_criterion": (["select", "{d}/two.csv", "--formula", FORMULA, "--criterion", "foo"],
                      "--criterion"),
    "select_too_few_rows": (["select", "{d}/two-rows.csv", "--formula", FORMULA],
                            "fewer than"),
    "missing_model": (["predict", "{d}/nope.json", "{d}/two.csv"], "cannot read model"),
    "model_is_a_directory": (["predict", "{d}", "{d}/two.csv"],
                             "is a directory, not a regular file"),
    "not_a_model": (["predict", "{d}/two.csv", "{d}/two.csv"], "damaged"),
    "predict_unknown_column": (["predict", "{d}/model.json", "{d}/other-columns.csv"],
                               "'x'"),
    "predict_non_numeric_response": (["predict", "{d}/model.json", "{d}/strings.csv"],
                                     "y"),
    "weights_unknown_column": (["fit", "{d}/weighted.csv", "--formula", FORMULA,
                                "--weights", "nope"],
                               "--weights 'nope' is not a column of"),
    "weights_not_numeric": (["fit", "{d}/weighted.csv", "--formula", FORMULA, "--weights",
                             "name"], "--weights column 'name' of"),
    "weights_negative": (["fit", "{d}/negative-weight.csv", "--formula", FORMULA,
                          "--weights", "w"],
                         "the --weights column 'w' is negative at line 5 of"),
    "weights_missing": (["fit", "{d}/missing-weight.csv", "--formula", FORMULA,
                         "--weights", "w"],
                        "the --weights column 'w' contains NaN at line 4 of"),
    "select_weights_unknown_column": (["select", "{d}/weighted.csv", "--formula", FORMULA,
                                       "--weights", "nope"], "--weights 'nope'"),
    "common_coef_unknown": (["fit", "{d}/two.csv", "--formula", FORMULA, "--common-coef",
                             "nope"], "--common-coef: common_coef: 'nope' is not a coef"),
    "fixed_coef_unknown": (["fit", "{d}/two.csv", "--formula", FORMULA, "--fixed-coef",
                            "nope=1"], "--fixed-coef: fixed_coef: 'nope' is not a coef"),
    "fixed_coef_not_a_number": (["fit", "{d}/two.csv", "--formula", FORMULA,
                                 "--fixed-coef", "x=one"], "--fixed-coef"),
    "fixed_coef_without_value": (["fit", "{d}/two.csv", "--formula", FORMULA,
                                  "--fixed-coef", "x"], "--fixed-coef"),
    "fixed_coef_infinite": (["fit", "{d}/two.csv", "--formula", FORMULA, "--fixed-coef",
                             "x=inf"], "--fixed-coef"),
    "fixed_coef_wrong_count": (["fit", "{d}/two.csv", "--formula", FORMULA,
                                "--fixed-coef", "x=1,2,3"], "--fixed-coef"),
    "fixed_coef_twice": (["fit", "{d}/two.csv", "--formula", FORMULA, "--fixed-coef",
                          "x=1", "--fixed-coef", "x=2"], "--fixed-coef names"),
    "common_and_fixed": (["fit", "{d}/two.csv", "--formula", FORMULA, "--fixed-coef",
                          "x=1", "--common-coef", "x"], "both common and fixed"),
    "common_coef_components_not_numbers": (["fit", "{d}/two.csv", "--formula", FORMULA,
                                            "--common-coef", "x@1,b"], "after '@'"),
    "common_coef_component_out_of_range": (
        ["fit", "{d}/two.csv", "--formula", FORMULA, "--common-coef", "x@1,3"],
        "--common-coef: common_coef['x']: component 3 is not one of 1..2"),
    "fixed_coef_single_na": (["fit", "{d}/two.csv", "--formula", FORMULA, "--fixed-coef",
                              "x=NA"], "--fixed-coef"),
    "known_labels_unknown_column": (["fit", "{d}/two.csv", "--formula", FORMULA,
                                     "--known-labels", "nope"],
                                    "--known-labels: known_labels='nope' names no column"),
    "known_labels_stream": (["fit", "{d}/two.parquet", "--formula", FORMULA, "--stream",
                             "--known-labels", "x"], "--known-labels needs the data"),
    "fixed_weights_not_numbers": (["fit", "{d}/two.csv", "--formula", FORMULA,
                                   "--fixed-weights", "0.5,half"], "--fixed-weights"),
    "fixed_weights_not_summing_to_one": (
        ["fit", "{d}/two.csv", "--formula", FORMULA, "--fixed-weights", "0.5,0.6"],
        "--fixed-weights: fixed_weights must sum to one"),
    "select_fixed_coef_per_component": (["select", "{d}/two.csv", "--formula", FORMULA,
                                         "--fixed-coef", "x=1,2"], "--fixed-coef x=V1"),
    "tol_nan": (["fit", "{d}/two.csv", "--formula", FORMULA, "--tol", "nan"], "--tol"),
    "tol_negative": (["fit", "{d}/two.csv", "--formula", FORMULA, "--tol", "-1"], "--tol"),
    "max_iter_negative": (["fit", "{d}/two.csv", "--formula", FORMULA, "--max-iter", "-1"],
                          "--max-iter"),
    "min_weight_above_one": (["fit", "{d}/two.csv", "--formula", FORMULA, "--min-weight",
                              "2"], "--min-weight"),
    "min_weight_impossible": (["select", "{d}/two.csv", "--formula", FORMULA, "-k", "1-3",
                               "--min-weight", "0.4"], "--min-weight: min_weight=0.4"),
    "predict_out_unknown_type": (["predict", "{d}/model.json", "{d}/two.csv", "--out",
                                  "{d}/predictions.xlsx"],
                                 "--out {d}/predictions.xlsx: unknown file type"),
    "keep_unknown_column": (["predict", "{d}/model.json", "{d}/two.csv", "--keep", "id"],
                            "--keep 'id' is not a column of"),
    "keep_clash": (["predict", "{d}/model.json", "{d}/predicted.csv", "--keep",
                    "predicted"], "--keep 'predicted' has the name of a column"),
}

# runs whose environment hides pyarrow (an importable module that refuses to load)
WITHOUT_PYARROW = {"parquet_without_pyarrow"}


# ---------------------------------------------------------------------- data files
def _two_lines(n: int = 150, seed: int = 0) -> pd.DataFrame:
    X, y, _, _ = make_regression_mixture(n, coef=[[2.0], [-2.0]], intercept=[1.0, -1.0],
                                         sigma=[0.3, 0.3], random_state=seed)
    return pd.DataFrame({"x": X[:, 0], "y": y})


def _weighted() -> pd.DataFrame:
    """Two lines with an identifier, a text column and integer row weights 1 to 3."""
    frame = _two_lines()
    rng = np.random.default_rng(7)
    return frame.assign(id=5000 + np.arange(len(frame)), name=[f"r{i}" for i in
                                                               range(len(frame))],
                        w=rng.integers(1, 4, len(frame)))


def _write_files(d: Path) -> None:
    frame = _two_lines()
    frame.to_csv(d / "two.csv", index=False)
    frame.to_parquet(d / "two.parquet")
    features = frame[["x"]].set_index(pd.Index(1000 + np.arange(len(frame)), name="id"))
    features.to_parquet(d / "features-indexed.parquet")
    frame.head(5).to_csv(d / "few.csv", index=False)
    frame.head(2).to_csv(d / "two-rows.csv", index=False)
    frame.rename(columns={"x": "u"}).to_csv(d / "other-columns.csv", index=False)
    frame.assign(y=[f"v{i}" for i in range(len(frame))]).to_csv(d / "strings.csv",
                                                                 index=False)
    (d / "empty.csv").write_bytes(b"")
    (d / "header.csv").write_text("x,y\n")
    stray = frame.astype({"x": object})
    stray.loc[7, "x"] = "oops"
    stray.to_csv(d / "stray.csv", index=False)
    (d / "data.txt").write_text("x,y\n1,2\n")
    (d / "binary.csv").write_bytes(b"\x00\xff\xfe\x00garbage")
    (d / "damaged.parquet").write_text("this is not Parquet\n")
    _weighted().to_csv(d / "weighted.csv", index=False)
    _weighted().to_parquet(d / "weighted.parquet")
    frame.assign(w=np.where(np.arange(len(frame)) == 3, -1.0, 1.0)).to_csv(
        d / "negative-weight.csv", index=False)
    frame.assign(w=np.where(np.arange(len(frame)) == 2, np.nan, 1.0)).to_csv(
        d / "missing-weight.csv", index=False)
    frame.assign(predicted=1.0).to_csv(d / "predicted.csv", index=False)

    model = RegressionMixture(2, formula=FORMULA, n_init=2, random_state=0).fit(frame)
    model.save(d / "model.json")
    text = (d / "model.json").read_text()
    (d / "truncated.json").write_text(text[: len(text) // 2])
    content = json.loads(text)
    content["format_version"] += 1
    (d / "newer.json").write_text(json.dumps(content))
    array_model = RegressionMixture(2, n_init=2, random_state=0).fit(frame[["x"]], frame["y"])
    array_model.save(d / "array-model.json")

    shadow = d / "shadow"
    shadow.mkdir()
    (shadow / "pyarrow.py").write_text("raise ImportError('pyarrow is hidden in this test')\n")


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=300,
                          env=env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    _write_files(d)
    return d


@pytest.fixture(scope="module")
def runs(data_dir) -> dict[str, Future]:
    """Every command line of this module, started together in a small thread pool."""
    hidden = {**os.environ,
              "PYTHONPATH": os.pathsep.join(filter(None, [str(data_dir / "shadow"),
                                                          os.environ.get("PYTHONPATH")]))}
    commands = RUNS | {name: args for name, (args, _) in ERRORS.items()}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            name: pool.submit(_run, [a.replace("{d}", str(data_dir)) for a in args],
                              hidden if name in WITHOUT_PYARROW else None)
            for name, args in commands.items()
        }
        yield futures


def _ok(runs: dict[str, Future], name: str) -> subprocess.CompletedProcess:
    proc = runs[name].result()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def _stderr_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return proc.stderr.splitlines()


# ---------------------------------------------------------------------- fit
def test_fit_prints_the_summary_and_writes_model_and_plot(runs, data_dir):
    proc = _ok(runs, "fit_text")
    frame = pd.read_csv(data_dir / "two.csv")
    expected = RegressionMixture(2, formula=FORMULA, n_init=2, random_state=1).fit(frame)
    assert proc.stdout == expected.summary().as_text() + "\n"
    assert "Log-likelihood" in proc.stdout and "Component 2" in proc.stdout
    # stderr is not a terminal: no progress bar, only the notes
    assert _stderr_lines(proc) == [f"wrote {data_dir}/fit-model.json",
                                   f"wrote {data_dir}/fit.png"]
    saved = regmix.load(data_dir / "fit-model.json")
    np.testing.assert_array_equal(saved.predict(frame), expected.predict(frame))
    np.testing.assert_array_equal(saved.posterior(frame), expected.posterior(frame))
    png = (data_dir / "fit.png").read_bytes()
    assert png[:8] == PNG and len(png) > 10_000


def test_fit_json_matches_the_library(runs, data_dir):
    proc = _ok(runs, "fit_json")
    assert proc.stderr == ""  # --quiet and no warnings
    report = json.loads(proc.stdout)
    frame = pd.read_parquet(data_dir / "two.parquet")
    expected = RegressionMixture(2, formula=FORMULA, n_init=2, random_state=5).fit(frame)
    header = report["header"]
    assert header["formula"] == FORMULA and header["n_components"] == 2
    assert header["n_observations"] == 150 and header["n_parameters"] == 7
    assert header["converged"] is expected.converged_
    assert header["n_iter"] == expected.n_iter_
    for key, value in [("log_likelihood", expected.log_likelihood_), ("aic", expected.aic_),
                       ("bic", expected.bic_), ("icl", expected.icl_)]:
        assert header[key] == pytest.approx(value, rel=1e-12), key
    np.testing.assert_allclose(header["component_sizes"], expected.component_sizes_,
                               rtol=1e-10)

    table = expected.coef_table()
    records = report["coefficients"]
    assert [(r["component"], r["parameter"]) for r in records] == list(table.index)
    for column in table.columns:
        got = np.array([np.nan if r[column] is None else r[column] for r in records])
        np.testing.assert_allclose(got, table[column].to_numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=column)
    assert records[2]["parameter"] == "sigma" and records[2]["z"] is None

    diagnostics = report["diagnostics"]
    assert diagnostics["converged"] is expected.converged_
    assert diagnostics["n_iter"] == expected.n_iter_
    np.testing.assert_allclose(diagnostics["log_likelihood_history"],
                               expected.log_likelihood_history_, rtol=1e-12)
    assert report["warnings"] == []


# ---------------------------------------------------------------------- select
def test_select_text_table_matches_select_components(runs, data_dir):
    proc = _ok(runs, "select_text")
    frame = pd.read_csv(data_dir / "two.csv")
    expected = select_components(frame, n_components=[1, 2, 3], criterion="bic",
                                 formula=FORMULA, n_init=1, random_state=2)
    assert expected.best_n_components_ == 2
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Number of components by BIC")
    rows = {int(line.lstrip("* ").split()[0]): line for line in lines[2:5]}
    for k, row in expected.table.iterrows():
        line = rows[k]
        assert line.startswith("*") == (k == 2)
        if row["status"] == "ok":
            for column in ("log_likelihood", "aic", "bic", "icl"):
                assert f"{row[column]:.3f}" in line.split(), (k, column)
        else:
            assert line.split()[-1] == row["status"].split(":")[0]
    assert "chosen: K = 2" in proc.stdout
    assert expected.best_estimator_.summary().as_text() in proc.stdout


def test_select_json_plot_and_out(runs, data_dir):
    proc = _ok(runs, "select_json")
    report = json.loads(proc.stdout)
    frame = pd.read_parquet(data_dir / "two.parquet")
    expected = select_components(frame, n_components=[1, 2, 3], criterion="icl",
                                 formula=FORMULA, n_init=1, random_state=2)
    assert report["criterion"] == "icl"
    assert report["best_n_components"] == expected.best_n_components_ == 2
    table = pd.DataFrame(report["table"]).set_index("n_components")
    assert list(table.index) == [1, 2, 3]
    assert list(table["status"]) == list(expected.table["status"])
    for column in ("log_likelihood", "aic", "bic", "icl"):
        got = table[column].astype(float).to_numpy()
        np.testing.assert_allclose(got, expected.table[column].to_numpy(), rtol=1e-10,
                                   err_msg=column)
    assert report["best"]["header"]["n_components"] == 2
    assert (data_dir / "criteria.png").read_bytes()[:8] == PNG
    best = regmix.load(data_dir / "best.json")
    np.testing.assert_allclose(best.predict(frame), expected.best_estimator_.predict(frame),
                               rtol=1e-10)
    assert _stderr_lines(proc)[-2:] == [f"wrote {data_dir}/best.json",
                                        f"wrote {data_dir}/criteria.png"]


@pytest.mark.parametrize(("text", "expected"), [
    ("3", [3]), ("1-5", [1, 2, 3, 4, 5]), ("1,2,4", [1, 2, 4]), ("4, 1-2,2", [1, 2, 4]),
    (" 2 - 3 ", [2, 3]),
])
def test_component_range_parses_ranges_and_lists(text, expected):
    assert ComponentRange().convert(text, None, None) == expected


# ---------------------------------------------------------------------- predict
def _read_csv_output(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def _check_predictions(got: pd.DataFrame, model: RegressionMixture, frame: pd.DataFrame,
                       with_response: bool) -> None:
    K = model.n_components
    columns = ["predicted", *(f"mean_{k + 1}" for k in range(K))]
    if with_response:
        columns += [*(f"posterior_{k + 1}" for k in range(K)), "component"]
    assert list(got.columns) == columns
    np.testing.assert_allclose(got["predicted"], model.predict(frame), rtol=1e-13)
    means = got[[f"mean_{k + 1}" for k in range(K)]].to_numpy()
    np.testing.assert_allclose(means, model.predict_components(frame), rtol=1e-13)
    if with_response:
        post = got[[f"posterior_{k + 1}" for k in range(K)]].to_numpy()
        np.testing.assert_allclose(post, model.posterior(frame), rtol=1e-10, atol=1e-300)
        np.testing.assert_array_equal(got["component"], model.classify(frame) + 1)


def test_predict_with_response_writes_csv_to_stdout(runs, data_dir):
    proc = _ok(runs, "predict_stdout")
    assert proc.stderr == ""
    frame = pd.read_csv(data_dir / "two.csv")
    got = _read_csv_output(proc.stdout)
    assert len(got) == len(frame)
    _check_predictions(got, regmix.load(data_dir / "model.json"), frame, with_response=True)


def test_predict_without_response_keeps_a_non_default_index(runs, data_dir):
    proc = _ok(runs, "predict_index_out")
    assert proc.stdout == ""
    assert _stderr_lines(proc) == [f"wrote 150 rows to {data_dir}/predictions.csv"]
    features = pd.read_parquet(data_dir / "features-indexed.parquet")
    got = pd.read_csv(data_dir / "predictions.csv", index_col="id")
    np.testing.assert_array_equal(got.index, features.index)  # row order kept
    _check_predictions(got.reset_index(drop=True), regmix.load(data_dir / "model.json"),
                       features, with_response=False)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", list(ERRORS))
def test_user_error_is_one_line_with_status_2(runs, name):
    proc = runs[name].result()
    _check_user_error(proc.returncode, proc.stdout, proc.stderr, ERRORS[name][1])


def _check_user_error(code: int, stdout: str, stderr: str, fragment: str) -> None:
    assert code == 2, (stdout, stderr)
    assert "Traceback" not in stderr
    assert stderr.startswith("error: ")
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    assert fragment in stderr
    assert stdout == ""


# ---------------------------------------------------------------------- in-process
def _invoke(args: list[str], data_dir: Path):
    from click.testing import CliRunner

    from regmix.cli import main

    args = [a.replace("{d}", str(data_dir)) for a in args]
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.parametrize("name", list(MORE_ERRORS))
def test_more_user_errors_in_process(data_dir, name):
    args, fragment = MORE_ERRORS[name]
    result = _invoke(args, data_dir)
    fragment = fragment.replace("{d}", str(data_dir))
    _check_user_error(result.exit_code, result.stdout, result.stderr, fragment)


def test_fit_help_lists_the_options(data_dir):
    result = _invoke(["fit", "-h"], data_dir)
    assert result.exit_code == 0
    for option in ("--formula", "-k, --components", "--n-init", "--seed", "--out", "--plot",
                   "--format", "--quiet", "--max-iter", "--tol", "--min-weight",
                   "--common-coef", "--fixed-coef", "--equal-variance", "--weights"):
        assert option in result.stdout


def test_predict_writes_parquet(data_dir):
    result = _invoke(["predict", "{d}/model.json", "{d}/two.parquet", "--out",
                      "{d}/predictions.parquet", "--quiet"], data_dir)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    got = pd.read_parquet(data_dir / "predictions.parquet")
    assert isinstance(got.index, pd.RangeIndex)
    frame = pd.read_parquet(data_dir / "two.parquet")
    _check_predictions(got, regmix.load(data_dir / "model.json"), frame, with_response=True)


def test_predict_with_a_model_fitted_without_formula(data_dir):
    result = _invoke(["predict", "{d}/array-model.json", "{d}/two.csv"], data_dir)
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(data_dir / "two.csv")
    _check_predictions(_read_csv_output(result.stdout),
                       regmix.load(data_dir / "array-model.json"), frame[["x"]],
                       with_response=False)


# ---------------------------------------------------------------------- progress bar
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux pty")
def test_progress_bar_only_on_a_terminal_and_not_with_quiet(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    X, y, _, _ = make_regression_mixture(6000, coef=[[1.0], [1.3]], intercept=[0.0, 0.3],
                                         sigma=[1.0, 1.0], random_state=0)
    pd.DataFrame({"x": X[:, 0], "y": y}).to_csv(tmp_path / "overlap.csv", index=False)

    def stderr_on_a_terminal(*extra: str) -> bytes:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        proc = subprocess.Popen(
            [str(SCRIPT), "fit", str(tmp_path / "overlap.csv"), "--formula", FORMULA,
             "--n-init", "4", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        assert proc.wait(timeout=300) == 0
        return b"".join(chunks)

    with ThreadPoolExecutor(max_workers=2) as pool:
        shown = pool.submit(stderr_on_a_terminal)
        quiet = pool.submit(stderr_on_a_terminal, "--quiet")
        assert b"starts" in shown.result()
        assert b"starts" not in quiet.result()


def test_fit_stream_reads_parquet_batch_by_batch(data_dir):
    """`regmix fit --stream` fits through ParquetData: the same fit as in memory."""
    proc = _run(["fit", str(data_dir / "two.parquet"), "--formula", FORMULA, "--stream",
                 "-k", "2", "--n-init", "2", "--seed", "5", "--format", "json", "--quiet"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    frame = _two_lines()
    expected = RegressionMixture(2, n_init=2, random_state=5).fit(frame[["x"]], frame["y"])
    assert report["header"]["log_likelihood"] == pytest.approx(expected.log_likelihood_,
                                                               rel=1e-12)
    bad = _run(["fit", str(data_dir / "two.parquet"), "--formula", "y ~ I(x**2)", "--stream"])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "plain column names" in bad.stderr and "Traceback" not in bad.stderr
    csv = _run(["fit", str(data_dir / "two.csv"), "--formula", FORMULA, "--stream"])
    assert csv.returncode == 2 and "reads Parquet" in csv.stderr


# ---------------------------------------------------------------------- gated models
def _gated_frames(n: int = 600, seed: int = 3) -> dict[str, tuple[str, str, pd.DataFrame]]:
    """Data whose component depends strongly on ``z``: the gating matters for the mean.

    name -> (family, formula, frame): a Gaussian, a Poisson with an offset term and a
    binomial with trials, each with the concomitant variable ``z`` after ``|``.
    """
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    second = rng.random(n) < 1.0 / (1.0 + np.exp(-3.0 * z))
    y = np.where(second, 5.0 + 2.0 * x, -5.0 - x) + 0.5 * rng.normal(size=n)
    t = rng.integers(1, 5, n).astype(float)
    counts = rng.poisson(t * np.exp(np.where(second, 1.0 + 0.5 * x, -0.5 * x)))
    trials = rng.integers(5, 20, n)
    successes = rng.binomial(trials, 1.0 / (1.0 + np.exp(-np.where(second, 1 + x, -1 - x))))
    return {
        "gaussian": ("gaussian", "y ~ x | z", pd.DataFrame({"x": x, "z": z, "y": y})),
        "poisson": ("poisson", "y ~ x + offset(np.log(t)) | z",
                    pd.DataFrame({"x": x, "z": z, "t": t, "y": counts})),
        "binomial": ("binomial", "s + f ~ x | z",
                     pd.DataFrame({"x": x, "z": z, "s": successes, "f": trials - successes})),
    }


@pytest.mark.parametrize("name", ["gaussian", "poisson", "binomial"])
def test_predict_of_a_gated_model_weights_the_components_by_the_gating(tmp_path, name):
    """`regmix predict` gives model.predict: sum_k pi_k(z) mu_k(x), not the constant
    weights (which differ from it by several units on these data)."""
    family, formula, frame = _gated_frames()[name]
    model = RegressionMixture(2, family=family, formula=formula, n_init=2,
                              random_state=0).fit(frame)
    expected = model.predict(frame)
    constant = model.predict_components(frame) @ model.weights_
    assert np.abs(constant - expected).max() > 0.4  # the gating matters here
    model.save(tmp_path / "gated.json")
    frame.to_csv(tmp_path / "gated.csv", index=False)
    result = _invoke(["predict", str(tmp_path / "gated.json"), str(tmp_path / "gated.csv")],
                     tmp_path)
    assert result.exit_code == 0, result.stderr
    got = pd.read_csv(io.StringIO(result.stdout))
    np.testing.assert_allclose(got["predicted"], expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[["mean_1", "mean_2"]], model.predict_components(frame),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[["posterior_1", "posterior_2"]],
                               model.posterior(frame), rtol=1e-12, atol=1e-300)


def test_family_and_link_choices_are_the_registry_s(data_dir):
    from regmix.cli import fit, select
    from regmix.families.registry import FAMILIES, family_links

    for command in (fit, select):
        options = {p.name: p for p in command.params}
        assert list(options["family"].type.choices) == list(FAMILIES)
        links = {link for name in FAMILIES for link in family_links(name)}
        assert set(options["link"].type.choices) == links
    for name, cls in FAMILIES.items():
        assert cls().name == name
        assert cls().link_name == family_links(name)[0]
    result = _invoke(["fit", "{d}/two.csv", "--formula", FORMULA, "--link", "sqrt"], data_dir)
    _check_user_error(result.exit_code, result.stdout, result.stderr, "--link")


def test_predict_out_is_written_whole_or_not_at_all(data_dir, tmp_path):
    target = tmp_path / "keep.csv"
    target.write_text("keep me\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    result = _invoke(["predict", "{d}/model.json", "{d}/two.csv", "--out", str(link)],
                     data_dir)
    _check_user_error(result.exit_code, result.stdout, result.stderr,
                      "is a symbolic link, not a regular file")
    assert target.read_text() == "keep me\n"
    out = tmp_path / "pred.csv"
    result = _invoke(["predict", "{d}/model.json", "{d}/two.csv", "--out", str(out),
                      "--quiet"], data_dir)
    assert result.exit_code == 0, result.stderr
    assert len(out.read_text().splitlines()) == 151
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_ctrl_c_is_one_line_and_status_130(data_dir, monkeypatch):
    import regmix.cli_commands as commands

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "read_data", interrupted)
    result = _invoke(["fit", "{d}/two.csv", "--formula", FORMULA], data_dir)
    assert result.exit_code == 130
    assert result.stderr == "error: interrupted\n"
    assert result.stdout == ""


def test_stream_with_a_repeated_term_fits_it_once(data_dir):
    once = _invoke(["fit", "{d}/two.parquet", "--formula", "y ~ x", "--stream", "--format",
                    "json", "--quiet", "--seed", "3"], data_dir)
    twice = _invoke(["fit", "{d}/two.parquet", "--formula", "y ~ x + x", "--stream",
                     "--format", "json", "--quiet", "--seed", "3"], data_dir)
    assert once.exit_code == 0 and twice.exit_code == 0, twice.stderr
    assert (json.loads(twice.stdout)["header"]["log_likelihood"]
            == json.loads(once.stdout)["header"]["log_likelihood"])


# ---------------------------------------------------------------------- lines of CSV files
def _bad_rows(tmp_path: Path) -> dict[str, Path]:
    """CSV files with one bad value each, at data row 5 (0-based): line 7 of the file."""
    frame = _two_lines(40)
    frame["g"] = np.where(np.arange(40) % 2, "a", "b")
    files = {}
    for name, column, value in [("nan_x", "x", np.nan), ("missing_level", "g", None),
                                ("negative_count", "y", -3.0)]:
        bad = frame.copy()
        if name == "negative_count":
            bad["y"] = np.round(np.abs(bad["y"]))
        bad[column] = bad[column].astype(object)
        bad.loc[5, column] = value
        files[name] = tmp_path / f"{name}.csv"
        bad.to_csv(files[name], index=False)
    return files


@pytest.mark.parametrize(("name", "args"), [
    ("nan_x", ["--formula", "y ~ x"]),
    ("missing_level", ["--formula", "y ~ x + g"]),
    ("missing_level", ["--formula", "y ~ x", "--groups", "g"]),
    ("negative_count", ["--formula", "y ~ x", "--family", "poisson"]),
])
def test_messages_about_csv_rows_name_the_line_of_the_file(tmp_path, name, args):
    path = _bad_rows(tmp_path)[name]
    result = _invoke(["fit", str(path), "-k", "1", *args], tmp_path)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and f"line 7 of {path}" in line
    assert "row 5" not in line and "[5]" not in line
    # line 7 of the file (the header is line 1) is the row with the bad value
    row = path.read_text().splitlines()[7 - 1].split(",")
    header = path.read_text().splitlines()[0].split(",")
    cell = row[header.index({"nan_x": "x", "missing_level": "g"}.get(name, "y"))]
    assert cell in ("", "-3.0")


def test_predict_names_the_line_and_parquet_keeps_rows(tmp_path):
    pytest.importorskip("pyarrow")
    frame = _two_lines(40)
    model = RegressionMixture(1, formula=FORMULA, random_state=0).fit(frame)
    model.save(tmp_path / "m.json")
    bad = frame.astype({"x": object})
    bad.loc[5, "x"] = np.nan
    bad.to_csv(tmp_path / "bad.csv", index=False)
    result = _invoke(["predict", "{d}/m.json", "{d}/bad.csv"], tmp_path)
    assert result.exit_code == 2 and f"line 7 of {tmp_path}/bad.csv" in result.stderr
    bad.astype({"x": float}).to_parquet(tmp_path / "bad.parquet")
    result = _invoke(["predict", "{d}/m.json", "{d}/bad.parquet"], tmp_path)
    assert result.exit_code == 2 and "row 5" in result.stderr and "line" not in result.stderr


def test_csv_lines_rewrites_rows_and_items():
    from regmix.cli_commands import csv_lines

    assert csv_lines("NaN at row 0, column 'x'", "d.csv") == \
        "NaN at line 2 of d.csv, column 'x'"
    assert csv_lines("counts; y[12] = -1", "d.csv") == "counts; y on line 14 of d.csv is -1"
    assert csv_lines("trials[3] is not whole", "d.csv") == \
        "trials on line 5 of d.csv is not whole"
    assert csv_lines("got n_samples=6 rows, fewer than 7", "d.csv") == \
        "got n_samples=6 rows, fewer than 7"


# ---------------------------------------------------------------------- EM settings
def _json_fit(args: list[str], data_dir: Path) -> dict:
    result = _invoke([*args, "--format", "json", "--quiet"], data_dir)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _check_report(report: dict, expected: RegressionMixture) -> None:
    """The JSON report of a fit is that of ``expected``: log-likelihood and every
    estimate to 1e-10."""
    assert report["header"]["log_likelihood"] == pytest.approx(expected.log_likelihood_,
                                                               rel=1e-10)
    assert report["header"]["n_parameters"] == expected.n_parameters_
    assert report["header"]["n_iter"] == expected.n_iter_
    table = expected.coef_table()
    records = report["coefficients"]
    assert [(r["component"], r["parameter"]) for r in records] == list(table.index)
    np.testing.assert_allclose([r["estimate"] for r in records], table["estimate"],
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("options", "params"), [
    (["--common-coef", "x", "--weights", "w", "--max-iter", "400", "--tol", "1e-10",
      "--min-weight", "0.1"],
     {"common_coef": ["x"], "max_iter": 400, "tol": 1e-10, "min_weight": 0.1}),
    (["--fixed-coef", "x=2,-2", "--equal-variance", "--weights", "w"],
     {"fixed_coef": {"x": [2.0, -2.0]}, "equal_variance": True}),
    (["--common-coef", "intercept", "--tol", "1e-4"],
     {"common_coef": ["intercept"], "tol": 1e-4}),
    (["--fixed-coef", "x=NA,0", "--fixed-weights", "0.4,0.6"],
     {"fixed_coef": {"x": [None, 0.0]}, "fixed_weights": [0.4, 0.6]}),
    (["--common-coef", "x@1,2"], {"common_coef": {"x": [1, 2]}}),
    (["--max-iter", "1"], {"max_iter": 1}),
])
def test_fit_em_settings_and_weights_are_the_estimator_s(data_dir, options, params):
    """`regmix fit` with constraints, EM settings and --weights gives the API's fit with
    the same parameters and ``sample_weight`` (and not the unconstrained one)."""
    frame = _weighted()
    report = _json_fit(["fit", "{d}/weighted.csv", "--formula", FORMULA, "--seed", "3",
                        *options], data_dir)
    weights = frame["w"] if "--weights" in options else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected = RegressionMixture(2, formula=FORMULA, random_state=3, **params).fit(
            frame, sample_weight=weights)
    _check_report(report, expected)
    assert len(report["warnings"]) == len({str(w.message) for w in caught})
    plain = RegressionMixture(2, formula=FORMULA, random_state=3).fit(frame)
    assert (abs(plain.log_likelihood_ - expected.log_likelihood_) > 1e-3
            or plain.converged_ != expected.converged_)  # the options make a difference
    if weights is not None:
        assert report["header"]["sum_weights"] == pytest.approx(frame["w"].sum())


def test_fit_stream_takes_the_weights_column(data_dir):
    """--stream --weights w reads the weights from the Parquet file: the in-memory
    weighted fit."""
    frame = _weighted()
    report = _json_fit(["fit", "{d}/weighted.parquet", "--formula", FORMULA, "--stream",
                        "--weights", "w", "--common-coef", "x"], data_dir)
    expected = RegressionMixture(2, common_coef=["x"], random_state=0).fit(
        frame[["x"]], frame["y"], sample_weight=frame["w"])
    assert report["header"]["log_likelihood"] == pytest.approx(expected.log_likelihood_,
                                                               rel=1e-10)


def test_select_em_settings_and_weights_are_select_components_s(data_dir):
    frame = _weighted()
    result = _invoke(["select", "{d}/weighted.csv", "--formula", FORMULA, "-k", "1-3",
                      "--n-init", "1", "--seed", "2", "--weights", "w", "--common-coef", "x",
                      "--min-weight", "0.1", "--format", "json", "--quiet"], data_dir)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    template = RegressionMixture(3, formula=FORMULA, n_init=1, random_state=2,
                                 common_coef=["x"], min_weight=0.1)
    expected = select_components(frame, n_components=[1, 2, 3], estimator=template,
                                 sample_weight=frame["w"])
    assert report["best_n_components"] == expected.best_n_components_
    np.testing.assert_allclose([row["log_likelihood"] for row in report["table"]],
                               expected.table["log_likelihood"], rtol=1e-10)
    _check_report(report["best"], expected.best_estimator_)


# ---------------------------------------------------------------------- predict output
def test_predict_keeps_columns_and_writes_the_gating_weights(tmp_path):
    """--keep copies columns first and unchanged; a gated model's pi_k(z) are
    weight_1..weight_K; Parquet and gzip-compressed CSV hold the same table."""
    _, formula, frame = _gated_frames()["gaussian"]
    frame = frame.assign(id=[f"row-{i}" for i in range(len(frame))], site=7)
    model = RegressionMixture(2, formula=formula, n_init=2, random_state=0).fit(frame)
    model.save(tmp_path / "gated.json")
    frame.to_csv(tmp_path / "gated.csv", index=False)
    outputs = {}
    for name in ("out.csv", "out.csv.gz", "out.parquet", "out.pq"):
        result = _invoke(["predict", "{d}/gated.json", "{d}/gated.csv", "--keep", "id",
                          "--keep", "site", "--out", f"{{d}}/{name}", "--quiet"], tmp_path)
        assert result.exit_code == 0, result.stderr
        path = tmp_path / name
        outputs[name] = (pd.read_parquet(path) if name.endswith(("parquet", "pq"))
                         else pd.read_csv(path))
    assert (tmp_path / "out.csv.gz").read_bytes()[:2] == b"\x1f\x8b"  # gzip
    got = outputs["out.csv"]
    assert list(got.columns) == ["id", "site", "predicted", "mean_1", "mean_2", "weight_1",
                                 "weight_2", "posterior_1", "posterior_2", "component"]
    assert got["id"].tolist() == frame["id"].tolist() and (got["site"] == 7).all()
    pi = model.mixing_weights(frame)
    assert np.ptp(pi[:, 0]) > 0.5  # the weights vary with z
    np.testing.assert_allclose(got[["weight_1", "weight_2"]], pi, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["predicted"], model.predict(frame), rtol=1e-12)
    for name, table in outputs.items():
        pd.testing.assert_frame_equal(table, got, check_exact=False, rtol=1e-15,
                                      obj=name)


def test_predict_without_gating_writes_no_weights(data_dir):
    result = _invoke(["predict", "{d}/model.json", "{d}/weighted.csv", "--keep", "id"],
                     data_dir)
    assert result.exit_code == 0, result.stderr
    got = _read_csv_output(result.stdout)
    assert got.columns[0] == "id" and not any(c.startswith("weight_") for c in got.columns)
    _check_predictions(got.drop(columns="id"), regmix.load(data_dir / "model.json"),
                       _weighted(), with_response=True)


def test_fit_robust_standard_errors_take_the_weights(data_dir):
    """--cov-type robust with --weights: the sandwich of the weighted fit, which the
    library refuses to compute without the same weights."""
    frame = _weighted()
    report = _json_fit(["fit", "{d}/weighted.csv", "--formula", FORMULA, "--weights", "w",
                        "--cov-type", "robust"], data_dir)
    expected = RegressionMixture(2, formula=FORMULA, random_state=0).fit(
        frame, sample_weight=frame["w"])
    table = expected.coef_table(cov_type="robust", X=frame, sample_weight=frame["w"])
    np.testing.assert_allclose([r["std_err"] for r in report["coefficients"]],
                               table["std_err"], rtol=1e-9)
    with pytest.raises(ValueError, match="not the training data"):
        expected.coef_table(cov_type="robust", X=frame)


def test_fit_known_labels_column_is_the_estimator_s(tmp_path):
    """`regmix fit --known-labels COLUMN` gives the API's fit with that column's labels
    (empty cells unknown)."""
    frame = _two_lines()
    labels = np.where(np.arange(len(frame)) % 4 == 0, 1 + (frame["y"] < 0), np.nan)
    frame = frame.assign(label=labels)
    frame.to_csv(tmp_path / "labels.csv", index=False)
    report = _json_fit(["fit", "{d}/labels.csv", "--formula", FORMULA, "--seed", "3",
                        "--known-labels", "label"], tmp_path)
    expected = RegressionMixture(2, formula=FORMULA, random_state=3).fit(
        frame, known_labels="label")
    _check_report(report, expected)


def test_fit_streams_a_parquet_input_that_would_not_fit_in_memory(data_dir, monkeypatch):
    """Without --stream, a Parquet input whose in-memory fit would take more than half
    the available memory is streamed, with a note; --no-stream loads it all the same,
    and a formula that cannot be streamed keeps the data in memory."""
    from click.testing import CliRunner

    from regmix import cli_commands
    from regmix.cli import main

    frame = _two_lines()
    need = cli_commands.IN_MEMORY_COPIES * 8 * frame.shape[0] * frame.shape[1]
    monkeypatch.setattr(cli_commands, "available_memory", lambda: int(need))  # 2x short
    streamed = []
    real = cli_commands._streamed_source
    monkeypatch.setattr(cli_commands, "_streamed_source",
                        lambda *a, **k: streamed.append(a) or real(*a, **k))
    args = ["fit", str(data_dir / "two.parquet"), "--formula", FORMULA, "-k", "2",
            "--n-init", "2", "--seed", "5", "--format", "json"]
    auto = CliRunner().invoke(main, args, catch_exceptions=False)
    assert auto.exit_code == 0, auto.stderr
    assert len(streamed) == 1
    assert "note: streaming" in auto.stderr and "GiB available" in auto.stderr
    loaded = CliRunner().invoke(main, [*args, "--no-stream"], catch_exceptions=False)
    assert loaded.exit_code == 0 and len(streamed) == 1 and "streaming" not in loaded.stderr
    expected = RegressionMixture(2, n_init=2, random_state=5).fit(frame[["x"]], frame["y"])
    for result in (auto, loaded):
        report = json.loads(result.stdout)
        assert report["header"]["log_likelihood"] == pytest.approx(
            expected.log_likelihood_, rel=1e-10)
    transformed = CliRunner().invoke(main, [*args[:3], "y ~ x + I(x**2)", *args[4:]],
                                     catch_exceptions=False)
    assert transformed.exit_code == 0 and len(streamed) == 1
    monkeypatch.setattr(cli_commands, "available_memory", lambda: int(100 * need))
    roomy = CliRunner().invoke(main, args, catch_exceptions=False)
    assert roomy.exit_code == 0 and len(streamed) == 1 and "streaming" not in roomy.stderr


def test_parquet_input_read_column_by_column_keeps_types_and_index(tmp_path):
    """The CLI's Parquet reader (one column at a time) gives what pandas.read_parquet
    gives: categorical, text and nullable columns, a stored index, a directory."""
    from regmix.cli_commands import _read_parquet

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "g": pd.Categorical(["u", "v", "u"]),
                          "s": ["x", "y", "z"], "i": pd.array([1, None, 3], dtype="Int64")},
                         index=["r1", "r2", "r3"])
    frame.to_parquet(tmp_path / "indexed.parquet")
    frame.reset_index(drop=True).to_parquet(tmp_path / "plain.parquet")
    (tmp_path / "parts").mkdir()
    frame.iloc[:2].to_parquet(tmp_path / "parts" / "p1.parquet")
    frame.iloc[2:].to_parquet(tmp_path / "parts" / "p2.parquet")
    for name in ("indexed.parquet", "plain.parquet", "parts"):
        got = _read_parquet(tmp_path / name)
        pd.testing.assert_frame_equal(got, pd.read_parquet(tmp_path / name))


def test_available_memory_is_at_most_the_machines():
    from regmix.cli_commands import available_memory

    free = available_memory()
    if free is None:  # neither /proc/meminfo nor a cgroup file: nothing to compare
        pytest.skip("no memory figures on this system")
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 <= free <= total
