"""What a record claims about itself, checked against its own content: torch-free, so the leaderboard and
``--status`` judge records by the same rules without importing the spec or training code.

- ``config_run_id``: the run id, a hash of a resolved config's identity fields (``benchmark.spec.config``
  uses this one function, so the id a run is written under and the id a reader recomputes agree).
- ``seal``: a digest of a record's own content, written at creation (``benchmark.records.store``) as
  ``record["digest"]``. A record without one (written before seals existed, e.g. the committed
  records) is *unsealed*: accepted, and checked on everything else.
- ``record_problem``: the first way a record contradicts itself or its file name, in one line, or
  ``None``: its identity fields against its config, its run id recomputed from its config, its file
  name (``<dataset>/<method>__<labels>__seed<seed>__<run id>.json``), its variant tag against its
  hyper-parameters, its test mAP against the mean of its per-class AP (within 1e-6 relative), every
  AP in [0, 100], and its seal.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.records.layout import RECORD_SUFFIX
from benchmark.records.schema import IDENTITY_DEFAULTS, NON_IDENTITY_FIELDS, is_number

#: the record field holding the digest of the rest of the record
SEAL_FIELD = "digest"
#: the fields a record repeats from its config (its place in the tables)
REPEATED = ("method", "dataset", "labels", "seed", "protocol")
#: how far test mAP may be from the mean of the per-class AP, relative (rounding of float32 sums)
MAP_TOLERANCE = 1e-6


def config_run_id(config: Mapping[str, Any]) -> str:
    """The run id of a resolved config (``RunConfig.resolve().model_dump()`` or a record's ``config``):
    sha256 of the JSON (sorted keys) of its identity fields, first 16 hex digits; a field at its
    ``IDENTITY_DEFAULTS`` value is left out, as if the config predated it."""
    identity = {
        k: v
        for k, v in config.items()
        if k not in NON_IDENTITY_FIELDS and not (k in IDENTITY_DEFAULTS and _same(v, IDENTITY_DEFAULTS[k]))
    }
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def canonical(value: Any) -> str:
    """The canonical JSON text a seal is computed over: sorted keys, no spaces, strict."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)


def seal(record: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``record`` without its ``digest`` field."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != SEAL_FIELD}).encode()).hexdigest()


def record_name(rec: Mapping[str, Any]) -> str:
    """The file name the harness writes ``rec`` under (``benchmark.records.layout.record_path``)."""
    return f"{rec['method']}__{rec['labels']}__seed{rec['seed']}__{rec.get('run_id')}{RECORD_SUFFIX}"


def _same(a: Any, b: Any) -> bool:
    """Equal as the run id sees values: by their JSON text (so 1 and 1.0 differ, as they do in the id)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _identity_problem(rec: Mapping[str, Any], path: Path | None) -> str | None:
    config = rec.get("config")
    if isinstance(config, dict):
        for key in REPEATED:
            if key in config and not _same(rec.get(key), config[key]):
                return (
                    f"field '{key}' is {json.dumps(rec.get(key))} but its config says {json.dumps(config[key])}; "
                    "an edited record"
                )
        recomputed = config_run_id(config)
        if rec.get("run_id") != recomputed:
            return (
                f"run id {rec.get('run_id')!r} is not the hash of its config ({recomputed}); an edited record, or "
                "one written by another version of the run id"
            )
    if path is not None:
        expected = record_name(rec)
        if path.name != expected:
            return f"its fields name the file {expected}, not {path.name}; a renamed or copied record"
        if path.parent.name != rec.get("dataset"):
            return f"a record of dataset {rec.get('dataset')!r} in folder {path.parent.name!r}"
    return None


def _variant_problem(rec: Mapping[str, Any]) -> str | None:
    variant = rec.get("variant") or {}
    hparams = (rec.get("config") or {}).get("hparams")
    if not isinstance(hparams, dict):
        return None
    for name, value in variant.items():
        if name not in hparams:
            return f"variant names hyper-parameter {name!r}, which its config's hparams lack"
        if not _same(hparams[name], value):
            return (
                f"variant says {name}={json.dumps(value)} but its config's hparams say "
                f"{name}={json.dumps(hparams[name])}"
            )
    return None


def _metrics_problem(rec: Mapping[str, Any]) -> str | None:
    test_map = rec.get("test_map")
    if is_number(test_map) and not 0 <= test_map <= 100:
        return f"test_map {test_map} is outside [0, 100]"
    pca = rec.get("per_class_ap")
    if not isinstance(pca, dict) or not pca:
        return None
    aps = [v for v in pca.values() if is_number(v)]
    bad = next((f"{k}: {v}" for k, v in pca.items() if is_number(v) and not 0 <= v <= 100), None)
    if bad is not None:
        return f"per_class_ap has an AP outside [0, 100] ({bad})"
    if rec.get("status") == "done" and is_number(test_map) and len(aps) == len(pca):
        mean = math.fsum(aps) / len(aps)
        if abs(test_map - mean) > MAP_TOLERANCE * max(abs(mean), 1.0):
            return f"test_map {test_map} is not the mean of its per_class_ap ({mean:.6f}); an edited record"
    return None


def record_problem(rec: Mapping[str, Any], path: Path | None = None) -> str | None:
    """The first way ``rec`` (a record ``check_record`` accepted) contradicts itself or its file name
    ``path``, or ``None`` (see the module docstring)."""
    stored = rec.get(SEAL_FIELD)
    if stored is not None and stored != seal(rec):
        return f"its content does not match its digest {str(stored)[:16]}...; edited after it was written"
    return _identity_problem(rec, path) or _variant_problem(rec) or _metrics_problem(rec)


def is_sealed(rec: Mapping[str, Any]) -> bool:
    return rec.get(SEAL_FIELD) is not None


__all__ = [
    "MAP_TOLERANCE",
    "SEAL_FIELD",
    "canonical",
    "config_run_id",
    "is_sealed",
    "record_name",
    "record_problem",
    "seal",
]
