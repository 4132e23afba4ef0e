"""The package's import graph runs one way, down the layers, with no cycles.

Every ``import`` statement of every module is read from the source (those inside
functions included), so a cycle cannot hide behind a deferred import. A module may
import from its own subpackage and from the layers below it, never from a layer above
or beside it; the top-level modules (the user's entry points) may import from every
layer. ``docs/architecture.md`` draws the same layers: its picture is checked here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "regmix"
ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

# Bottom to top. Subpackages on one line share a layer and must not import each other.
LAYERS = [
    ("core",),
    ("compiled",),
    ("sources", "families", "mixing"),
    ("engine",),
    ("fitting",),
    ("inference",),
    ("estimator",),
]
TOP = len(LAYERS)  # the top-level modules: cli, plotting, selection, persistence, ...
# Optional dependencies that a module may import only inside a function.
HEAVY = {"numba", "matplotlib", "pyarrow", "dask", "distributed"}
# The one internal import allowed inside a function: the command tree imports the
# commands' bodies when a command runs, so that ``regmix --help`` stays light.
DEFERRED = {("regmix.cli", "regmix.cli_commands")}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import of ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = set()  # run when the module is imported: not inside a def or class
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        top_level.add(id(node))
        pending.extend(ast.iter_child_nodes(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno, id(node) in top_level))
            # "from regmix.core import params" imports the module regmix.core.params
            for a in node.names:
                found.append((f"{target}.{a.name}", node.lineno, id(node) in top_level))
    return found


def internal_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {m: set() for m in known}
    for m, path in known.items():
        for target, _, _ in imports(path):
            if target in known and target != m:
                graph[m].add(target)
    return graph


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return TOP + 1  # the package itself
    if len(parts) == 2 and not (PACKAGE / parts[1]).is_dir():
        return TOP
    for rank, names in enumerate(LAYERS):
        if parts[1] in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add its subpackage to LAYERS")


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (PACKAGE / parts[-1]).is_dir() else ""


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        colour[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if colour.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in colour and (cycle := visit(t)):
                return cycle
        stack.pop()
        colour[m] = 2
        return None

    for m in sorted(graph):
        if m not in colour and (cycle := visit(m)):
            return cycle
    return None


def test_every_subpackage_is_in_a_layer():
    for m in modules():
        layer(m)


def test_no_import_cycles():
    assert find_cycle(internal_graph()) is None, " -> ".join(find_cycle(internal_graph()))


def test_imports_run_down_the_layers():
    wrong = []
    for m, targets in internal_graph().items():
        for t in targets:
            if t == "regmix" or t.startswith("regmix.") and t in modules() and (
                    PACKAGE / t.split(".")[-1]).is_dir() and len(t.split(".")) == 2:
                # importing a subpackage's __init__ counts as importing that subpackage
                pass
            same = subpackage(m) and subpackage(m) == subpackage(t)
            if same:
                continue
            if layer(t) >= layer(m) and not (layer(m) == TOP and layer(t) == TOP):
                wrong.append(f"{m} imports {t}")
    assert not wrong, "\n".join(sorted(wrong))


def test_internal_imports_are_at_module_level():
    """Deferred imports are for heavy optional dependencies only."""
    inner = []
    for m, path in modules().items():
        for target, line, at_top in imports(path):
            if any(m == a and (target == b or target.startswith(b + "."))
                   for a, b in DEFERRED):
                continue
            if not at_top and target.split(".")[0] not in HEAVY and target.split(".")[0] != "":
                if target.startswith("regmix"):
                    inner.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}")
    assert not inner, "\n".join(inner)


def test_detector_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_architecture_doc_lists_the_layers():
    """The layer picture in docs/architecture.md names the same subpackages, top down."""
    text = ARCHITECTURE.read_text()
    start = text.index("<!-- layers -->")
    stop = text.index("<!-- /layers -->")
    picture = text[start:stop]
    named = [line.split()[0].rstrip("/") for line in picture.splitlines()[2:-1]
             if line.strip() and not line.startswith(("```", " ", "|"))]
    expected = ["regmix"] + ["/".join(names) for names in reversed(LAYERS)]
    assert named == expected, named


@pytest.mark.parametrize("name", ["cli", "cli_commands", "cli_errors", "plotting",
                                  "selection", "persistence", "datasets", "parquet",
                                  "dask_source", "demo"])
def test_entry_points_are_top_level_modules(name):
    assert (PACKAGE / f"{name}.py").is_file()


def test_public_paths():
    """The public API keeps its paths: the package, ParquetData and DaskData."""
    import regmix
    from regmix.dask_source import DaskData
    from regmix.parquet import ParquetData
    from regmix.sources.dask import DaskData as dask_impl
    from regmix.sources.parquet import ParquetData as parquet_impl

    assert ParquetData is parquet_impl and DaskData is dask_impl
    for name in regmix.__all__:
        assert hasattr(regmix, name), name
    assert sorted(regmix.__all__) == sorted(regmix._PUBLIC)  # the lazily loaded names


def test_importing_the_package_loads_nothing_heavy():
    """``import regmix`` loads its public names on first use: the command line is ready
    for Ctrl-C before numpy and the rest are imported."""
    import subprocess
    import sys

    code = ("import sys, regmix; heavy = {'numpy', 'pandas', 'sklearn', 'click', "
            "'regmix.estimator'} & set(sys.modules); print(sorted(heavy)); "
            "regmix.RegressionMixture; print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(PACKAGE.parent)}).stdout
    assert out.split("\n")[:2] == ["[]", "True"]


def test_architecture_doc_names_what_exists():
    """Every module path and dotted name the architecture doc writes in backticks exists."""
    import importlib
    import re

    text = ARCHITECTURE.read_text()
    missing = []
    for path in set(re.findall(r"`([\w/]+\.py)`", text)):
        candidates = [PACKAGE / path, PACKAGE.parent / path, PACKAGE.parents[1] / path,
                      *PACKAGE.rglob(path)]
        if not any(c.is_file() for c in candidates):
            missing.append(path)
    for dotted in set(re.findall(r"`((?:regmix\.)?[a-z_]+\.[a-z_]+\.?\w*)`", text)):
        parts = dotted.removeprefix("regmix.").split(".")
        if parts[-1] == "py" or not (PACKAGE / parts[0]).exists() and not (
                PACKAGE / f"{parts[0]}.py").exists():
            continue
        module = importlib.import_module("regmix." + ".".join(parts[:2]))
        if len(parts) == 3 and not hasattr(module, parts[2]):
            missing.append(dotted)
    assert not missing, missing


def test_the_help_of_every_command_loads_nothing_heavy():
    """``regmix --help`` and ``regmix <command> --help`` build the command tree from
    click and the standard library alone: no numpy, pandas, scikit-learn, scipy, nor the
    estimator or the commands' bodies."""
    import json
    import subprocess
    import sys

    code = ("import sys, json; before = set(sys.modules); import regmix.__main__; "
            "from regmix.cli import main; found = {}\n"
            "for name in ['', *sorted(main.commands)]:\n"
            "    args = [name, '--help'] if name else ['--help']\n"
            "    try:\n"
            "        main(args, prog_name='regmix')\n"
            "    except SystemExit:\n"
            "        pass\n"
            "    new = set(sys.modules) - before\n"
            "    found[name] = sorted(m for m in new if m.split('.')[0] not in "
            "sys.stdlib_module_names | {'click', 'regmix'} or m in ("
            "'regmix.estimator', 'regmix.cli_commands', 'regmix.families.registry'))\n"
            "print(json.dumps(found))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(PACKAGE.parent)}).stdout
    found = json.loads(out.splitlines()[-1])
    assert set(found) == {"", "fit", "select", "predict", "margins", "demo"}
    assert found == {name: [] for name in found}
