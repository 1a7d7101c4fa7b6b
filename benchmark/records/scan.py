"""Reading records: one file strictly (``read_record``), what is at a run's path (``inspect_record``),
and every record of a results folder (``record_files``, ``iter_records``, ``invalid_records``).

A file that is there but cannot serve as the record of its run — unreadable, truncated, empty, not a
JSON object, a status the harness never writes, a non-finite number, a missing or wrong field — is
``corrupt``: ``inspect_record`` says why in one line, the same line for the sweep, ``--status`` and
the leaderboard.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.core.jsonio import read_json
from benchmark.records.identity import record_problem
from benchmark.records.layout import RECORD_SUFFIX
from benchmark.records.schema import RecordInvalid, check_record


def read_record(path: str | Path) -> Any:
    """The parsed JSON of ``path`` (whatever its shape); ``RecordInvalid`` naming the file and the
    reason when it cannot be read (``benchmark.core.jsonio.read_json``): strict, so ``NaN`` is refused."""
    return read_json(path, RecordInvalid, "a run record")


@dataclass(frozen=True)
class RecordCheck:
    """What is at a record's path: ``status`` is a record status, ``"corrupt"`` (``reason`` says why,
    ``problem`` is the same prefixed with the path) or ``None`` (no file)."""

    status: str | None
    problem: str = ""
    record: dict[str, Any] | None = None
    reason: str = ""


def inspect_record(path: Path, expect: Mapping[str, Any] | None = None, verify: bool = False) -> RecordCheck:
    """The state of the record file at ``path`` (see ``RecordCheck``), never raising for its content.
    ``verify``: also check the record against itself and its file name (``identity.record_problem``:
    run id, name, variant, metrics, seal); a record that fails is ``corrupt`` with the reason."""
    if not os.path.lexists(path):
        return RecordCheck(None)
    try:
        rec = check_record(read_record(path), RecordInvalid, expect)
        problem = record_problem(rec, Path(path)) if verify else None
        if problem is not None:
            raise RecordInvalid(problem)
    except RecordInvalid as exc:
        reason = str(exc).removeprefix(f"{path}: ")  # the reader names the file; the checker does not
        return RecordCheck("corrupt", f"{path}: {reason}", reason=reason)
    return RecordCheck(str(rec["status"]), record=rec)


def record_files(results_dir: str | Path) -> Iterator[Path]:
    """Every file under ``results_dir`` where a record may be, sorted: ``*.json`` outside the ``_``
    folders (``layout``), not an unfinished write (``.*``)."""
    root = Path(results_dir)
    for path in sorted(root.rglob(f"*{RECORD_SUFFIX}")) if root.is_dir() else []:
        if not path.name.startswith(".") and not any(p.startswith("_") for p in path.relative_to(root).parts):
            yield path


def iter_records(results_dir: str | Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, record) of every run record under ``results_dir``; the other files are skipped here
    (``invalid_records`` names them)."""
    for path in record_files(results_dir):
        check = inspect_record(path)
        if check.record is not None:
            yield path, check.record


def invalid_records(results_dir: str | Path, skip: set[Path] | None = None) -> list[tuple[Path, str]]:
    """(path, one line naming it and why) of every file under ``results_dir`` that a reader of
    records must ignore: not a run record. ``skip``: paths already checked."""
    out = []
    for path in record_files(results_dir):
        if skip and path in skip:
            continue
        check = inspect_record(path)
        if check.status == "corrupt":
            out.append((path, check.problem))
    return out
