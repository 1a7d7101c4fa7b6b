"""What two records of the same run must share, whatever interrupted or launched them: the record
contract's ``comparable`` numbers, and the run's identity and sizes."""

from __future__ import annotations

from typing import Any

from benchmark.records import comparable as numbers

IDENTITY_FIELDS = ("run_id", "config", "num_train", "num_val", "num_test")


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    # identity and thread count first: a mismatch there explains any difference in the numbers
    out: dict[str, Any] = {k: record.get(k) for k in IDENTITY_FIELDS}
    out["torch_threads"] = (record.get("provenance") or {}).get("torch_threads")
    return {**out, **numbers(record)}


def assert_same_run(a: dict[str, Any], b: dict[str, Any]) -> None:
    ca, cb = comparable(a), comparable(b)
    assert ca.get("status") == "done", a.get("error")
    assert cb.get("status") == "done", b.get("error")
    for key in ca:
        assert ca[key] == cb[key], f"records differ in '{key}': {ca[key]!r} != {cb[key]!r}"
