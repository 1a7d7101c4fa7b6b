"""Run records: one JSON file per run, the single source of truth between running and reporting.

Written atomically (a temporary file in the same folder, fsync, rename), so concurrent jobs never
leave a half-written record and a reader sees either nothing or a whole file.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

RECORD_SUFFIX = ".json"


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


def write_record(path: Path, record: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(record, indent=1, sort_keys=False, default=str) + "\n").encode())


def read_record(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def iter_records(results_dir: str | Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    root = Path(results_dir)
    if not root.is_dir():
        return
    for path in sorted(root.rglob(f"*{RECORD_SUFFIX}")):
        if path.name.startswith(".") or any(part.startswith("_") for part in path.relative_to(root).parts):
            continue
        yield path, read_record(path)


def record_status(path: Path) -> str | None:
    """``done``/``failed`` of an existing record, ``None`` where there is none."""
    if not path.exists():
        return None
    try:
        return str(read_record(path).get("status"))
    except (OSError, json.JSONDecodeError):
        return None
