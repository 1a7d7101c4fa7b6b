"""The layers hold: import-linter's contracts (pyproject.toml, ``[tool.importlinter]``) pass, and
fail when a forbidden import is added; and the module import graph, built from every import
statement (module level and inside functions, relative ones resolved), has no cycle."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "methods", "leaderboard")
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    if LINT is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]' (import-linter)")
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(
        [LINT, "--no-cache"], cwd=where, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_contracts_pass() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout, result.stdout


@pytest.mark.parametrize(
    "module, line",
    [
        ("leaderboard/stats.py", "import torch"),  # the leaderboard is torch-free
        (
            "benchmark/records/schema.py",
            "def _f() -> None:\n    from benchmark.run import train  # noqa\n",
        ),  # inside a function
        ("benchmark/data/protocol.py", "from benchmark.spec import config  # noqa\n"),  # an arrow pointing up
        ("benchmark/sweep/plan.py", "import leaderboard.stats  # noqa\n"),  # siblings are independent
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, line: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / module, "a", encoding="utf-8") as fh:
        fh.write("\n" + line + "\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout + result.stderr


# -- the import graph, from every import statement -------------------------------------------------
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports anywhere in its file (an imported name that is a
    submodule counts as that module; one that is an attribute, as the module holding it)."""
    mods = modules()

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in mods.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - (node.level - 1)]
                    base = ".".join([*parts, *([node.module] if node.module else [])])
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for target in targets:
                found = known(target)
                if found is not None and found != module:
                    graph[module].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50, "the graph was not built"  # the check below must not pass on an empty graph
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


#: the flags every entry point shares, each defined once in benchmark.core.cli (one default, one meaning)
SHARED_FLAGS = {"--device", "--seeds", "--data-root", "--methods", "--json", "--threads", "--channels-last"}
TOOLKIT = ROOT / "benchmark" / "core" / "cli.py"


def flag_definitions(source: str) -> set[str]:
    """The shared flags that ``source`` defines with ``add_argument("--flag", ...)``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            found |= {a.value for a in node.args if isinstance(a, ast.Constant) and a.value in SHARED_FLAGS}
    return found


def test_shared_flags_are_defined_only_in_the_cli_toolkit() -> None:
    assert flag_definitions(TOOLKIT.read_text()) == SHARED_FLAGS  # the toolkit defines each one
    elsewhere = {
        str(path.relative_to(ROOT)): flags
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path != TOOLKIT and "_site" not in path.parts and (flags := flag_definitions(path.read_text()))
    }
    assert elsewhere == {}, f"define these through benchmark.core.cli's add_* helpers instead: {elsewhere}"


def test_the_flag_scan_finds_a_second_definition() -> None:
    assert flag_definitions('p.add_argument("--seeds", nargs="+", type=int)') == {"--seeds"}
    assert flag_definitions('p.add_argument("--epochs", type=int)') == set()
