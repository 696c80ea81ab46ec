"""Every benchmark script still imports after a refactor (they reach into the library: a moved name
breaks them silently, since no other test runs all of them), and the scripts import one another
without circles."""

from __future__ import annotations

import ast
import importlib.util
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted([*BENCHMARKS.glob("*.py"), *BENCHMARKS.glob("groundtruth/*.py")])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(BENCHMARKS)))
def test_benchmark_script_imports(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(script.parent))  # the scripts import their neighbours by name
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"_bench_{script.stem}", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # module level only: every script runs its work under __main__


def neighbours(script: Path, names: set[str]) -> set[str]:
    """The benchmark modules ``script`` imports by name, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return (found & names) - {script.stem}


def test_the_benchmark_scripts_import_one_another_without_a_circle() -> None:
    scripts = {p.stem: p for p in BENCHMARKS.glob("*.py")}
    graph = {name: neighbours(path, set(scripts)) for name, path in scripts.items()}
    assert graph["gpu_trainer"] >= {"gpu_proxy", "gpu_context"}  # the walk sees imports inside functions too (gpu_proxy)

    try:
        TopologicalSorter(graph).prepare()
    except CycleError as e:  # its second argument is the circle, a name repeated at both ends
        pytest.fail(f"the benchmark scripts import one another in a circle: {e.args[1]}")
