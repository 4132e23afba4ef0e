"""The README's Python examples run as written (with fewer bootstrap replicates)."""

import re
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
        if "Client(" in block or "big.parquet" in block:  # data files and a cluster: see
            # test_dask.py and test_parquet.py
            continue
        block = block.replace("n_boot=99", "n_boot=9").replace("n_boot=200", "n_boot=20")
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    assert namespace["sel"].best_n_components_ == 2
    assert namespace["same"].predict(namespace["df"]).tolist() == \
        namespace["model"].predict(namespace["df"]).tolist()
