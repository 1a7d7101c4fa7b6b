"""Writing a record: strict JSON (a non-finite number is written as ``null``, the schema's NaN rule),
atomically (``benchmark.core.atomic``), so concurrent jobs never leave a half-written record and a
reader sees either nothing or a whole file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmark.core.atomic import atomic_write_text
from benchmark.records.identity import SEAL_FIELD, seal


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
    """Write ``record`` sealed: ``digest`` is the sha256 of its canonical JSON (``identity.seal``),
    computed over the JSON as it will be read back, so a reader can tell an edited record."""
    plain = json.loads(
        json.dumps(_finite({k: v for k, v in record.items() if k != SEAL_FIELD}), default=str, allow_nan=False)
    )
    plain[SEAL_FIELD] = seal(plain)
    atomic_write_text(path, json.dumps(plain, indent=1, allow_nan=False) + "\n")
