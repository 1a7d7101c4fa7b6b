"""Provenance written into every record, torch-free: which code ran (git commit and dirty flag where
the code is a git checkout, and always a content hash of the code itself) and package versions; the
machine and device are added where a run happens (``benchmark.run.environment``).

The content hash makes two records tell their code apart without git: a ``pip install .`` has no
``.git``, and a checkout's commit says nothing of uncommitted edits. It covers every ``.py`` file of
the ``benchmark``, ``methods`` and ``leaderboard`` packages *as imported* (an installed copy or the
checkout), in a stable order, so the same sources give the same hash in a wheel and in a clone.
Both are computed once per process (a sweep's records all carry the code its process imported).
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmark.core.version import __version__

PACKAGES = ("torch", "torchvision", "timm", "numpy", "pydantic", "spml-bench")
#: the packages whose sources identify the code of a run (the record's ``code.sha256``)
CODE_PACKAGES = ("benchmark", "methods", "leaderboard")
#: beside the packages in a checkout: what else decides a run's numbers or how it is installed
CODE_FILES = ("pyproject.toml", "run_all.py")
#: the folder holding the ``benchmark`` package: a checkout's root, or site-packages once installed
CODE_ROOT = Path(__file__).resolve().parents[2]
GIT_TIMEOUT_S = 5


def package_dir(name: str) -> Path | None:
    """Where ``name`` is imported from, without importing it (``leaderboard`` pulls in pandas)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def source_files(root: Path) -> list[Path]:
    """The ``.py`` files under ``root``, caches excluded, sorted by their path relative to it."""
    files = (p for p in root.rglob("*.py") if "__pycache__" not in p.relative_to(root).parts)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def code_hash(roots: dict[str, Path]) -> tuple[str, int]:
    """sha256 over (package-relative path, content) of every source file, packages in the order
    given; the path is hashed too, so moving code between files changes it. Returns the hex digest
    and the number of files."""
    digest, count = hashlib.sha256(), 0
    for name, root in roots.items():
        for path in source_files(root):
            rel = f"{name}/{path.relative_to(root).as_posix()}".encode()
            data = path.read_bytes()
            # lengths delimit the fields, so no two file sets hash the same stream
            digest.update(len(rel).to_bytes(8, "big") + rel + len(data).to_bytes(8, "big") + data)
            count += 1
    return digest.hexdigest(), count


@lru_cache(maxsize=1)
def code_identity() -> dict[str, Any]:
    """``sha256`` and ``files`` of the imported code packages (see ``code_hash``) and the version
    it declares; computed once per process."""
    roots = {name: path for name in CODE_PACKAGES if (path := package_dir(name)) is not None}
    sha, files = code_hash(roots)
    return {"sha256": sha, "files": files, "packages": sorted(roots), "version": __version__}


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=CODE_ROOT, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=True
    ).stdout


@lru_cache(maxsize=1)
def git_commit() -> dict[str, Any]:
    """The commit of the checkout the code was imported from and whether its code differs from it
    (modified, staged, deleted or untracked non-ignored files under the code packages or
    ``CODE_FILES``: a new plugin file counts). ``None`` for both where the code is not a git
    checkout, e.g. an installed wheel — also one installed into a venv that sits inside some other
    repository, whose commit would describe other code. Results written into a checkout (new
    records) are not code and do not make it dirty. Computed once per process."""
    none: dict[str, Any] = {"commit": None, "dirty": None}
    try:
        top = Path(_git("rev-parse", "--show-toplevel").strip()).resolve()
        if top != CODE_ROOT:
            return none
        _git("ls-files", "--error-unmatch", "benchmark/__init__.py")  # tracked here: this is our checkout
        commit = _git("rev-parse", "HEAD").strip()
        changed = _git("status", "--porcelain", "--untracked-files=all", "--", *CODE_PACKAGES, *CODE_FILES)
    except (OSError, subprocess.SubprocessError):
        return none
    return {"commit": commit, "dirty": bool(changed.strip())}


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
