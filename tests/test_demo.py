"""The main job: `regmix demo` as a real console script."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from regmix.demo import make_demo_data, run_demo

SCRIPT = Path(sys.executable).with_name("regmix")


def test_demo_data_follow_the_seed_recipe():
    X, y = make_demo_data(0)
    assert X.shape == (100, 1)
    # residuals of the two generating lines are unit normal noise
    resid = np.concatenate([y[:50] - X[:50, 0], y[50:] - 3 * X[50:, 0]])
    assert abs(resid.std() - 1) < 0.2
    assert 5 < X.std() < 15


def test_demo_recovers_the_two_lines():
    result = run_demo(0)
    slopes = np.sort(result.model.coef_[:, 0])
    np.testing.assert_allclose(slopes, [1.0, 3.0], atol=0.05)
    assert result.model.converged_
    assert "slope" in result.table and "sigma" in result.table


@pytest.mark.parametrize("argv", [[str(SCRIPT)], [sys.executable, "-m", "regmix"]])
def test_demo_command_writes_png(tmp_path, argv):
    out = tmp_path / "demo.png"
    proc = subprocess.run([*argv, "demo", "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "estimate" in proc.stdout and "slope" in proc.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000


def test_demo_plot_content(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from regmix.plotting import plot_fit, plot_history

    result = run_demo(0)
    fig, (a, b) = plt.subplots(1, 2)
    plot_fit(result.model, result.X, result.y, ax=a)
    plot_history(result.model, ax=b)
    assert len(a.lines) == 2  # one fitted line per component
    assert len(a.collections[0].get_offsets()) == 100
    assert len(b.lines[0].get_ydata()) == len(result.model.log_likelihood_history_)
    plt.close(fig)


def test_demo_unwritable_output_exits_2(tmp_path):
    proc = subprocess.run([str(SCRIPT), "demo", "--out", str(tmp_path / "no" / "such.png")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot write" in proc.stderr
    assert "Traceback" not in proc.stderr
