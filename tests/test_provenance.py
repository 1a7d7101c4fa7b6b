"""Provenance identifies the code: the checkout's commit and dirty flag (an untracked plugin file
counts, new result files do not), no commit at all where the code is not our checkout, and always
a content hash of the code's sources that two installs of the same code share."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.core import provenance
from benchmark.run import environment

REPO = Path(__file__).resolve().parent.parent
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True, capture_output=True
    )


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed git checkout shaped like ours, taken as the code root."""
    root = _tree(
        tmp_path / "repo",
        {
            "benchmark/__init__.py": "",
            "methods/__init__.py": "",
            "methods/an.py": "A = 1\n",
            "leaderboard/__init__.py": "",
            "pyproject.toml": "",
            ".gitignore": "__pycache__/\n*.ckpt\n",
            "results/digits/old.json": "{}",
        },
    )
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "init")
    monkeypatch.setattr(provenance, "CODE_ROOT", root.resolve())
    provenance.git_commit.cache_clear()
    yield root
    provenance.git_commit.cache_clear()


@needs_git
def test_a_clean_checkout_gives_its_commit(checkout: Path) -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True).stdout.strip()
    assert provenance.git_commit() == {"commit": head, "dirty": False}


@needs_git
@pytest.mark.parametrize(
    "change,dirty",
    [
        ({"methods/weak_neg.py": "class W: ...\n"}, True),  # a new, uncommitted plugin: the case
        ({"methods/an.py": "A = 2\n"}, True),  # an edited tracked file
        ({"pyproject.toml": "[project]\n"}, True),
        ({"results/digits/new.json": "{}", "results/digits/new.epochs.csv": "epoch\n"}, False),  # results are not code
        ({"notes.txt": "todo\n"}, False),  # outside the code
        ({"methods/__pycache__/an.cpython-311.pyc": "x", "model.ckpt": "x"}, False),  # ignored files
    ],
)
def test_dirty_means_the_code_differs_from_the_commit(checkout: Path, change: dict[str, str], dirty: bool) -> None:
    _tree(checkout, change)
    assert provenance.git_commit()["dirty"] is dirty


@needs_git
def test_a_deleted_code_file_is_dirty(checkout: Path) -> None:
    (checkout / "methods" / "an.py").unlink()
    assert provenance.git_commit()["dirty"] is True


@needs_git
def test_code_inside_another_repository_has_no_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed copy in a venv that lives inside some repository: that repository's commit
    describes other code, so none is recorded."""
    outer = _tree(tmp_path / "outer", {"README": "x"})
    _git(outer, "init", "-q")
    _git(outer, "add", ".")
    _git(outer, "commit", "-q", "-m", "x")
    site = _tree(outer / "venv" / "site-packages", {"benchmark/__init__.py": ""})
    monkeypatch.setattr(provenance, "CODE_ROOT", site.resolve())
    provenance.git_commit.cache_clear()
    try:
        assert provenance.git_commit() == {"commit": None, "dirty": None}
    finally:
        provenance.git_commit.cache_clear()


def test_no_git_checkout_gives_no_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provenance, "CODE_ROOT", _tree(tmp_path, {"benchmark/__init__.py": ""}).resolve())
    provenance.git_commit.cache_clear()
    try:
        assert provenance.git_commit() == {"commit": None, "dirty": None}
    finally:
        provenance.git_commit.cache_clear()


# -- the content hash ---------------------------------------------------------------------------
FILES = {"benchmark/__init__.py": "", "benchmark/run/train.py": "x = 1\n", "methods/an.py": "class AN: ...\n"}


def _hash(root: Path) -> tuple[str, int]:
    return provenance.code_hash({name: root / name for name in ("benchmark", "methods")})


def test_the_same_sources_give_the_same_hash_wherever_they_lie(tmp_path: Path) -> None:
    a = _tree(tmp_path / "a", FILES)
    b = _tree(tmp_path / "b", dict(reversed(FILES.items())))  # other location, other creation order
    _tree(b, {"benchmark/__pycache__/train.cpython-311.pyc": "bytecode", "methods/README.md": "not code"})
    assert _hash(a) == _hash(b)
    assert _hash(a)[1] == 3


@pytest.mark.parametrize(
    "change",
    [
        {"benchmark/run/train.py": "x = 2\n"},  # one edited byte
        {"methods/weak_neg.py": ""},  # one more (even empty) file
        {"benchmark/sub/train.py": "x = 1\n"},  # the same content at another path
    ],
)
def test_any_change_to_the_sources_changes_the_hash(tmp_path: Path, change: dict[str, str]) -> None:
    a = _tree(tmp_path / "a", FILES)
    b = _tree(tmp_path / "b", FILES)
    _tree(b, change)
    if "benchmark/sub/train.py" in change:
        (b / "benchmark" / "run" / "train.py").unlink()
    assert _hash(a)[0] != _hash(b)[0]


def test_moving_bytes_between_files_changes_the_hash(tmp_path: Path) -> None:
    a = _tree(tmp_path / "a", {"methods/a.py": "xy", "methods/b.py": ""})
    b = _tree(tmp_path / "b", {"methods/a.py": "x", "methods/b.py": "y"})
    assert provenance.code_hash({"methods": a / "methods"}) != provenance.code_hash({"methods": b / "methods"})


def test_the_code_identity_covers_the_three_packages_of_this_checkout() -> None:
    ident = provenance.code_identity()
    assert ident["packages"] == ["benchmark", "leaderboard", "methods"]
    roots = {name: REPO / name for name in provenance.CODE_PACKAGES}
    assert (ident["sha256"], ident["files"]) == provenance.code_hash(roots)
    assert ident["files"] == sum(len(provenance.source_files(r)) for r in roots.values())


def test_provenance_is_computed_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    environment.provenance(torch.device("cpu"), {})  # warm
    calls: list[object] = []
    monkeypatch.setattr(provenance.subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(provenance, "code_hash", lambda roots: calls.append(roots))
    first = environment.provenance(torch.device("cpu"), {})
    assert environment.provenance(torch.device("cpu"), {}) == first
    assert calls == []
    assert set(first["code"]) >= {"sha256", "files"} and set(first["git"]) == {"commit", "dirty"}


def test_version_names_the_code_without_importing_torch() -> None:
    script = (
        "import sys; from benchmark.cli import main; code = main(['--version']); "
        "assert 'torch' not in sys.modules, 'torch imported'; raise SystemExit(code)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("spml-bench 0.1.0 (code sha256 ")
    assert provenance.code_identity()["sha256"][:16] in proc.stdout
