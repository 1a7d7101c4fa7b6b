"""Run records: one JSON file per run, the single source of truth between running and reporting.

Written atomically (a temporary file in the same folder, fsync, rename), so concurrent jobs never
leave a half-written record and a reader sees either nothing or a whole file. Written as strict
JSON: a non-finite number is written as ``null`` (``NaN`` is not JSON and other readers reject it).

A file that is there but cannot serve as the record of its run — unreadable, truncated, empty, not a
JSON object, a status the harness never writes, a non-finite number, a missing or wrong identity
field — is ``corrupt``: ``inspect_record`` says why in one line, so the sweep and ``--status`` can
name it instead of calling the run missing.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

RECORD_SUFFIX = ".json"
#: what ``benchmark.run.train.run`` writes: a finished run, a crash, a run whose predictions carry no information
RECORD_STATUSES = ("done", "failed", "diverged")
#: fields every record has, as the harness writes them, and what each must be
IDENTITY_FIELDS = ("method", "dataset", "labels", "seed")


def record_path(results_dir: str | Path, dataset: str, method: str, labels: str, seed: int, run_id: str) -> Path:
    return Path(results_dir) / dataset / f"{method}__{labels}__seed{seed}__{run_id}{RECORD_SUFFIX}"


@contextmanager
def atomic_path(path: Path, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on a clean exit it is fsynced, given
    ``mode`` (mkstemp makes 0600; caches are shared by every user of a data root) and renamed
    over ``path``; on an error it is removed. Readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_record(path: Path, record: dict[str, Any]) -> None:
    text = json.dumps(_finite(record), indent=1, sort_keys=False, default=str, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


class RecordReadError(ValueError):
    """A record file that cannot be read as JSON; the message names the file and says why."""


def _reject_constant(token: str) -> Any:
    raise ValueError(f"holds the non-finite number {token}")


def read_record(path: Path) -> Any:
    """The parsed JSON of ``path`` (whatever its shape); ``RecordReadError`` naming the file and
    the reason when it cannot be read: unreadable, empty, truncated, not UTF-8, ``NaN``/``Infinity``
    (not JSON), nested too deeply to parse."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RecordReadError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not data.strip():
        raise RecordReadError(f"{path}: is empty ({len(data)} bytes), expected a JSON run record")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise RecordReadError(f"{path}: is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(data.rstrip()) - 1 or exc.msg.startswith("Unterminated")
        raise RecordReadError(f"{path}: is not valid JSON{' (truncated?)' if cut else ''}: {exc.msg} "
                              f"(line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise RecordReadError(f"{path}: is nested too deeply to be a run record") from None
    except ValueError as exc:  # _reject_constant
        raise RecordReadError(f"{path}: {exc}; records are strict JSON") from None


def _kind(value: Any) -> str:
    return {dict: "a JSON object", list: "a JSON list", str: "a JSON string", bool: "a JSON boolean",
            type(None): "JSON null"}.get(type(value), "a JSON number")


def record_problem(rec: Any, expect: Mapping[str, Any] | None = None) -> str | None:
    """Why ``rec`` (parsed JSON) is not a usable run record, in a few words; ``None`` when it is.
    ``expect``: fields the record must have with exactly these values (a run's own identity)."""
    if not isinstance(rec, dict):
        return f"is {_kind(rec)}, expected a JSON object (a run record)"
    status = rec.get("status")
    if status not in RECORD_STATUSES:
        return f"field 'status' is {json.dumps(status, default=str)[:40]}, expected one of {', '.join(RECORD_STATUSES)}"
    for key in IDENTITY_FIELDS:
        value = rec.get(key)
        ok = isinstance(value, int) and not isinstance(value, bool) if key == "seed" else isinstance(value, str) and value
        if not ok:
            return f"field '{key}' is {json.dumps(value, default=str)[:40]}, expected " + (
                "an integer" if key == "seed" else "a non-empty string")
    test_map = rec.get("test_map")
    if status == "done" and (isinstance(test_map, bool) or not isinstance(test_map, (int, float))):
        return f"is a done record whose field 'test_map' is {json.dumps(test_map, default=str)[:40]}, expected a number"
    for key, value in (expect or {}).items():
        if rec.get(key) != value:
            return f"field '{key}' is {json.dumps(rec.get(key), default=str)[:40]}, but this file is the record of {key} {value!r}"
    return None


@dataclass(frozen=True)
class RecordCheck:
    """What is at a record's path: ``status`` is a record status, ``"corrupt"`` (``problem`` says
    why) or ``None`` (no file)."""

    status: str | None
    problem: str = ""
    record: dict[str, Any] | None = None


def inspect_record(path: Path, expect: Mapping[str, Any] | None = None) -> RecordCheck:
    """The state of the record file at ``path`` (see ``RecordCheck``), never raising for its content."""
    if not os.path.lexists(path):
        return RecordCheck(None)
    try:
        rec = read_record(path)
    except RecordReadError as exc:
        return RecordCheck("corrupt", str(exc))
    problem = record_problem(rec, expect)
    if problem is not None:
        return RecordCheck("corrupt", f"{path}: {problem}")
    return RecordCheck(str(rec["status"]), record=rec)


def record_status(path: Path, expect: Mapping[str, Any] | None = None) -> str | None:
    """``done``/``failed``/``diverged`` of a usable record, ``corrupt`` for a file that is not one,
    ``None`` where there is none."""
    return inspect_record(path, expect).status


def record_files(results_dir: str | Path) -> Iterator[Path]:
    """Every record file under ``results_dir``: ``*.json`` outside folders starting with ``_``
    (checkpoints, logs, leaderboards) and not starting with ``.`` (unfinished writes)."""
    root = Path(results_dir)
    if not root.is_dir():
        return
    for path in sorted(root.rglob(f"*{RECORD_SUFFIX}")):
        if path.name.startswith(".") or any(part.startswith("_") for part in path.relative_to(root).parts):
            continue
        yield path


def iter_records(results_dir: str | Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, record) of every file under ``results_dir`` that parses as a JSON object; the others
    are skipped here (``invalid_records`` names them)."""
    for path in record_files(results_dir):
        try:
            rec = read_record(path)
        except RecordReadError:
            continue
        if isinstance(rec, dict):
            yield path, rec


def invalid_records(results_dir: str | Path, skip: set[Path] | None = None) -> list[tuple[Path, str]]:
    """(path, one line naming it and why) of every file under ``results_dir`` that a reader of
    records must ignore: not a run record (``record_problem``). ``skip``: paths already checked."""
    out = []
    for path in record_files(results_dir):
        if skip and path in skip:
            continue
        check = inspect_record(path)
        if check.status == "corrupt":
            out.append((path, check.problem))
    return out
