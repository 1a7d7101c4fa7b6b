"""The paths a leaderboard command reads and writes, checked before anything heavy is imported: a
results folder that exists and can be read (never created), an output file whose folder exists and
can be written. Each problem is a ``LeaderboardError`` with one line naming the path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from benchmark.core.cli import check_path
from benchmark.records.layout import LEADERBOARD
from leaderboard.errors import LeaderboardError

HERE = Path(__file__).resolve().parent
REPO_RESULTS = HERE.parent / "results"


def _checked(what: str, path: Path, kind: Literal["folder", "file"], hint: str = "", **how: Any) -> Path:
    """``core.cli.check_path``'s verdict as a ``LeaderboardError`` (with ``hint`` appended)."""
    try:
        check_path(what, path, kind, **how)
    except ValueError as exc:
        raise LeaderboardError(f"{exc}{hint}") from None
    return path


def check_results_dir(results_dir: str | Path) -> Path:
    """The results folder, if it exists and can be read; never creates it."""
    path = Path(results_dir)
    hint = "" if path.exists() else "; run a sweep first (spml-bench run) or point --results-dir at a folder of records"
    return _checked("results folder", path, "folder", hint, exist=True)


def check_out(out: str | Path, *, create_parents: bool = False, results_dir: str | Path | None = None) -> Path:
    """An output file that can be written: its folder exists (or, with ``create_parents``, can be
    made) and files can be created in it; an existing one is a regular file (not a link, FIFO or
    device). With ``results_dir``, the output is outside that folder — except in its generated
    ``_leaderboard/`` folder, where the default output goes — so no record is ever overwritten."""
    path = Path(out)
    guard = None
    if results_dir is not None and not _under(path, Path(results_dir) / LEADERBOARD):
        guard = Path(results_dir)
    if create_parents and not path.parent.is_dir():
        return _checked("output", path.parent, "folder", write=True, not_under=guard) / path.name
    return _checked("output", path, "file", write=True, not_under=guard)


def _under(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def default_out(results_dir: str | Path) -> Path:
    """Where the markdown goes by default: the committed ``leaderboard/README.md`` for the
    repository's own ``results/``; for any other results folder (a scratch sweep, a test),
    ``<results_dir>/_leaderboard/README.md``, so it never overwrites the committed leaderboard
    (a ``_`` folder is not read as records)."""
    if Path(results_dir).resolve() == REPO_RESULTS:
        return HERE / "README.md"
    return Path(results_dir) / LEADERBOARD / "README.md"
