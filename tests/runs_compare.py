"""What two records of the same run must share, whatever interrupted or launched them: every
number except timings, and the analyses."""

from __future__ import annotations

from typing import Any

#: per-epoch history fields that measure time, not learning
TIMING_FIELDS = frozenset({"train_seconds", "seconds", "images_per_second"})
NUMBER_FIELDS = ("status", "test_map", "val_map", "best_epoch", "epochs_run", "per_class_ap", "thresholds", "analysis",
                 "run_id", "config", "num_train", "num_val", "num_test")


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    out = {k: record.get(k) for k in NUMBER_FIELDS}
    out["history"] = [{k: v for k, v in h.items() if k not in TIMING_FIELDS} for h in record.get("history", [])]
    out["torch_threads"] = (record.get("provenance") or {}).get("torch_threads")
    return out


def assert_same_run(a: dict[str, Any], b: dict[str, Any]) -> None:
    ca, cb = comparable(a), comparable(b)
    assert ca["status"] == "done", a.get("error")
    assert cb["status"] == "done", b.get("error")
    for key in ca:
        assert ca[key] == cb[key], f"records differ in '{key}': {ca[key]!r} != {cb[key]!r}"
