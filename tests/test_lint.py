"""The contributor's checks (CONTRIBUTING.md, "Linters and type checks"), so that ``pytest`` alone
catches a regression: ruff's lint rules and formatting, and mypy on the library packages, all
configured in pyproject.toml and clean. Skipped with a reason where a tool is not installed (both
come with the ``test`` extra)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (tomllib is in the stdlib from 3.11)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["benchmark", "methods", "leaderboard"]


def _tool(module: str) -> list[str]:
    """``python -m <module>`` of this interpreter, or a skip naming the extra that installs it."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: pip install -e '.[test]'")
    return [sys.executable, "-m", module]


def _run(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def test_config_is_in_pyproject() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    assert tool["ruff"]["line-length"] == 120 and tool["ruff"]["target-version"] == "py310"
    assert {"E", "F", "W", "I", "UP", "B", "SIM", "RUF"} <= set(tool["ruff"]["lint"]["select"])
    assert "format" in tool["ruff"]
    mypy = tool["mypy"]
    assert mypy["packages"] == PACKAGES and mypy["python_version"] == "3.10"
    assert mypy["check_untyped_defs"] and mypy["warn_unused_ignores"]
    # one configuration: no second file that ruff or mypy would read instead of pyproject.toml
    assert not [
        p.name
        for p in (ROOT / n for n in ("ruff.toml", ".ruff.toml", "mypy.ini", ".mypy.ini", "setup.cfg"))
        if p.exists()
    ]


def test_ruff_reads_the_project_config(tmp_path: Path) -> None:
    ruff = _tool("ruff")
    line = "x = " + repr("a" * 120)  # 126 characters: over the project's 120
    (tmp_path / "long.py").write_text(line + "\n")
    result = _run(
        [
            *ruff,
            "check",
            "--no-cache",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--select",
            "E501",
            str(tmp_path / "long.py"),
        ]
    )
    assert result.returncode == 1 and "E501" in result.stdout, result.stdout + result.stderr


def test_ruff_check_is_clean() -> None:
    result = _run([*_tool("ruff"), "check", "--no-cache", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run([*_tool("ruff"), "format", "--check", "--no-cache", "."])
    assert result.returncode == 0, "run `ruff format .`:\n" + result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    result = _run(_tool("mypy"))  # the packages and options: pyproject.toml, [tool.mypy]
    assert result.returncode == 0 and result.stdout.startswith("Success"), result.stdout + result.stderr
