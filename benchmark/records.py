"""Run records: one JSON file per run, the single source of truth between running and reporting.

Written atomically (a temporary file in the same folder, fsync, rename), so concurrent jobs never
leave a half-written record and a reader sees either nothing or a whole file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

RECORD_SUFFIX = ".json"


def record_path(results_dir: str | Path, dataset: str, method: str, labels: str, seed: int, run_id: str) -> Path:
    return Path(results_dir) / dataset / f"{method}__{labels}__seed{seed}__{run_id}{RECORD_SUFFIX}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
