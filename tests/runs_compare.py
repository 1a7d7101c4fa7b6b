"""What two records of the same run must share, whatever interrupted or launched them: the record
contract's ``comparable`` numbers, and the run's identity and sizes; and the jobs a sweep command
makes, for the tests that interrupt, pack or plant files at those runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.cli.run import parse_args
from benchmark.cli.sweep_args import sweep_from_args
from benchmark.records import comparable as numbers
from benchmark.sweep.plan import Job

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


def sweep_jobs(argv: Sequence[str], results: Path) -> list[Job]:
    """The jobs ``run_all.py ARGV --results-dir RESULTS`` runs, planned by the CLI's own code, so a
    test aims at the very runs the sweep makes (its seed design included) instead of a copy of them."""
    return [Job(run.cfg, results) for run in sweep_from_args(parse_args(list(argv))).planned()]
