"""Every way a command can fail ends with one line on standard error: exit status 2
(``error: ...``) for a mistake, 130 (``error: interrupted``) for Ctrl-C.

Ctrl-C is sent as a real SIGINT to ``python -m regmix`` (and to the console script's
entry point) at chosen moments. The moments are found with ``python -X importtime``,
which writes a line to standard error as each module finishes importing: the signal
goes out when a given module's line appears (plus a delay for the moments after the
imports). Those lines are not the command's output and are set aside before the
single error line is checked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
FORMULA = "y ~ x"

# The console script as pip writes it for the entry point in pyproject.toml.
SCRIPT_SHIM = ("import sys; from regmix.__main__ import main; "
               "sys.argv[0] = 'regmix'; sys.exit(main())")


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def _python(args: list[str], *, shim: bool = False) -> list[str]:
    entry = ["-c", SCRIPT_SHIM] if shim else ["-m", "regmix"]
    return [sys.executable, "-X", "importtime", *entry, *args]


def _output_lines(stderr: str) -> list[str]:
    """The command's own lines on standard error (without ``-X importtime``'s)."""
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


def _interrupt(args: list[str], after: str, delay: float = 0.0, *, shim: bool = False,
               env: dict[str, str] | None = None, cwd: Path | None = None,
               timeout: float = 300) -> tuple[int, list[str], str]:
    """Run the command, send SIGINT once the import line naming ``after`` appears (and
    ``delay`` seconds more); return the exit status, its own stderr lines and stdout."""
    proc = subprocess.Popen(_python(args, shim=shim), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env or _env(), cwd=cwd)
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace")
            lines.append(line)
            if line.startswith("import time:") and line.split("|")[-1].strip() == after:
                seen.set()
        seen.set()  # the process ended without that import: the test fails below

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert seen.wait(timeout), f"{after} was never imported"
    assert proc.poll() is None, f"the command ended before {after} was imported"
    if delay:
        seen.clear()
        seen.wait(delay)  # returns early only if the process ends
    proc.send_signal(signal.SIGINT)
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode(errors="replace")
    code = proc.wait(timeout)
    reader.join(timeout)
    return code, _output_lines("".join(lines)), stdout


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli-errors")
    X, y, _, _ = make_regression_mixture(150, coef=[[2.0], [-2.0]], intercept=[1.0, -1.0],
                                         sigma=[0.3, 0.3], random_state=0)
    frame = pd.DataFrame({"x": X[:, 0], "y": y})
    frame.to_csv(d / "two.csv", index=False)
    RegressionMixture(2, formula=FORMULA, n_init=1, random_state=0).fit(frame).save(
        d / "model.json")
    (d / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    os.mkfifo(d / "fifo.json")
    (d / "zero.json").symlink_to("/dev/zero")
    return d


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    """Enough rows for the compiled kernel, and a fit that lasts several seconds."""
    path = tmp_path_factory.mktemp("cli-big") / "big.csv"
    X, y, _, _ = make_regression_mixture(120_000, coef=[[2.0], [-1.0], [0.5]],
                                         intercept=[1.0, -1.0, 0.0], sigma=[1.0, 1.0, 1.0],
                                         random_state=1)
    pd.DataFrame({"x": X[:, 0], "y": y}).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------- Ctrl-C
def _assert_interrupted(code: int, lines: list[str]) -> None:
    assert (code, lines) == (130, ["error: interrupted"])


@pytest.mark.parametrize("after, shim", [
    ("regmix.interrupts", False),   # right after start: the handler is being installed
    ("numpy._core._multiarray_umath", False),  # in the middle of numpy's import
    ("sklearn.base", False),        # in the middle of the imports of the command
    ("numpy._core._multiarray_umath", True),   # the console script's entry point
])
def test_ctrl_c_during_start_and_imports_is_one_line_and_130(data_dir, after, shim):
    code, lines, _ = _interrupt(["fit", str(data_dir / "two.csv"), "--formula", FORMULA],
                                after, shim=shim)
    _assert_interrupted(code, lines)


@pytest.mark.slow
def test_ctrl_c_during_a_fit_is_one_line_and_130(big_csv):
    pytest.importorskip("numba")
    # numba is imported by the fit itself (enough rows for the compiled kernel): the
    # signal arrives during the fit, however fast the machine
    code, lines, stdout = _interrupt(["fit", str(big_csv), "--formula", FORMULA, "-k", "3",
                                      "--n-init", "20", "--quiet"], "numba", delay=0.2)
    _assert_interrupted(code, lines)
    assert stdout == ""


@pytest.mark.slow
def test_ctrl_c_while_numba_compiles_is_one_line_and_130(big_csv, tmp_path):
    pytest.importorskip("numba")
    # an empty cache: the kernels are compiled, which takes seconds, not loaded
    env = _env(NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    code, lines, _ = _interrupt(["fit", str(big_csv), "--formula", FORMULA, "-k", "3",
                                 "--quiet"], "numba", delay=1.0, env=env)
    _assert_interrupted(code, lines)


def test_entry_point_is_the_module_ready_for_ctrl_c():
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as handle:
        scripts = tomllib.load(handle)["project"]["scripts"]
    assert scripts == {"regmix": "regmix.__main__:main"}


# ---------------------------------------------------------------------- exit status 2
ERRORS: dict[str, tuple[list[str], str]] = {
    "nested_model": (["predict", "{d}/nested.json", "{d}/two.csv"],
                     "nested.json is damaged: its JSON is nested 100000 levels deep"),
    "fifo_model": (["predict", "{d}/fifo.json", "{d}/two.csv"],
                   "fifo.json is a FIFO, not a regular file"),
    "endless_model": (["predict", "{d}/zero.json", "{d}/two.csv"],
                      "zero.json is a character device, not a regular file"),
    "stream_not_parquet": (["fit", "{d}/two.csv", "--formula", FORMULA, "--stream"],
                           "--stream reads Parquet"),
    "select_unknown_column": (["select", "{d}/two.csv", "--formula", "y ~ z", "-k", "1-2"],
                              "'z'"),
    "demo_bad_out": (["demo", "--out", "{d}/no/such/dir/demo.png"], "cannot write"),
}


@pytest.fixture(scope="module")
def error_runs(data_dir):
    def run(args: list[str]) -> subprocess.CompletedProcess:
        full = [a.replace("{d}", str(data_dir)) for a in args]
        return subprocess.run(_python(full), capture_output=True, text=True, timeout=300,
                              env=_env(), stdin=subprocess.DEVNULL)

    with ThreadPoolExecutor(max_workers=3) as pool:
        yield {name: pool.submit(run, args) for name, (args, _) in ERRORS.items()}


@pytest.mark.parametrize("name", list(ERRORS))
def test_error_of_every_command_is_one_line_with_status_2(error_runs, name):
    proc = error_runs[name].result()
    lines = _output_lines(proc.stderr)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert ERRORS[name][1] in lines[0]
    assert proc.stdout == ""


# ---------------------------------------------------------------------- in-process
def _invoke(args: list[str]):
    from click.testing import CliRunner

    from regmix.cli import main

    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_an_unexpected_exception_is_one_line_naming_it(data_dir, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("something regmix did not foresee\nsecond line")

    monkeypatch.setattr(RegressionMixture, "fit", broken)
    result = _invoke(["fit", str(data_dir / "two.csv"), "--formula", FORMULA])
    assert result.exit_code == 2
    assert result.stderr == "error: RuntimeError: something regmix did not foresee\n"


def test_an_exception_after_ctrl_c_is_reported_as_the_interruption(data_dir, monkeypatch):
    """numba, interrupted while it compiles, raises RuntimeError("no compiled object
    yet") instead of KeyboardInterrupt; the handler has recorded the Ctrl-C."""
    import regmix.interrupts as interrupts

    def compiling(self, *args, **kwargs):
        interrupts._state["requested"] = True  # what the SIGINT handler records
        raise RuntimeError("no compiled object yet")

    monkeypatch.setitem(interrupts._state, "requested", False)
    monkeypatch.setattr(RegressionMixture, "fit", compiling)
    result = _invoke(["fit", str(data_dir / "two.csv"), "--formula", FORMULA])
    assert (result.exit_code, result.stderr) == (130, "error: interrupted\n")


def test_ctrl_c_while_the_options_are_parsed_is_one_line(data_dir, monkeypatch):
    from regmix.cli import ComponentRange

    def interrupted(self, value, param, ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(ComponentRange, "convert", interrupted)
    result = _invoke(["select", str(data_dir / "two.csv"), "--formula", FORMULA, "-k", "1-2"])
    assert (result.exit_code, result.stderr) == (130, "error: interrupted\n")


def test_out_of_memory_is_one_line(data_dir, monkeypatch):
    def too_big(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(RegressionMixture, "fit", too_big)
    result = _invoke(["fit", str(data_dir / "two.csv"), "--formula", FORMULA])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: out of memory") and result.stderr.count("\n") == 1
