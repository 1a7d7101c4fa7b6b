"""The paths a leaderboard command reads and writes, checked before anything heavy is imported: a
results folder that exists and can be read (never created), an output file whose folder exists and
can be written. Each problem is a ``LeaderboardError`` with one line naming the path."""

from __future__ import annotations

import os
from pathlib import Path

from benchmark.records.layout import LEADERBOARD
from leaderboard.errors import LeaderboardError

HERE = Path(__file__).resolve().parent
REPO_RESULTS = HERE.parent / "results"


def check_results_dir(results_dir: str | Path) -> Path:
    """The results folder, if it exists and can be read; never creates it."""
    path = Path(results_dir)
    if not path.exists():
        raise LeaderboardError(f"results folder {path} does not exist; run a sweep first (spml-bench run) "
                               "or point --results-dir at a folder of run records")
    if not path.is_dir():
        raise LeaderboardError(f"results folder {path} is not a folder; expected the folder of run records")
    if not os.access(path, os.R_OK | os.X_OK):
        raise LeaderboardError(f"results folder {path} cannot be read (permission denied)")
    return path


def check_out(out: str | Path, *, create_parents: bool = False) -> Path:
    """An output file that can be written: its folder exists (or may be created) and is writable."""
    path = Path(out)
    if path.is_dir():
        raise LeaderboardError(f"output {path} is a folder; expected a file path such as {path / 'README.md'}")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise LeaderboardError(f"output folder {parent} is not a folder")
    if not parent.exists():
        if not create_parents:
            raise LeaderboardError(f"output folder {parent} does not exist; create it or choose another --out")
        return path
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise LeaderboardError(f"output {path} cannot be written (permission denied)")
    return path


def default_out(results_dir: str | Path) -> Path:
    """Where the markdown goes by default: the committed ``leaderboard/README.md`` for the
    repository's own ``results/``; for any other results folder (a scratch sweep, a test),
    ``<results_dir>/_leaderboard/README.md``, so it never overwrites the committed leaderboard
    (a ``_`` folder is not read as records)."""
    if Path(results_dir).resolve() == REPO_RESULTS:
        return HERE / "README.md"
    return Path(results_dir) / LEADERBOARD / "README.md"
