"""The README's Python examples run as written, top to bottom (with fewer bootstrap
replicates)."""

import re
import warnings
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    for block in blocks:
        block = block.replace("n_boot=99", "n_boot=9").replace("n_boot=200", "n_boot=20")
        with warnings.catch_warnings():
            if "common_coef=" in block:  # the constrained fits converge without a warning
                warnings.simplefilter("error")
            exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    assert namespace["sel"].best_n_components_ == 2
    assert namespace["on_cluster"].log_likelihood_ == pytest.approx(
        namespace["streamed"].log_likelihood_, rel=1e-10)
    assert namespace["same"].predict(namespace["df"]).tolist() == \
        namespace["model"].predict(namespace["df"]).tolist()
