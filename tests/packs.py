"""Helpers of the packing tests (local and SLURM): the run processes of a pack, found by the
run id on their command line, and inline reference runs at a given torch thread count."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import run_all
from benchmark.records import iter_records
from benchmark.run.environment import torch_threads


def run_processes(run_id: str) -> list[int]:
    """Pids of live ``python -m benchmark.sweep.packing ... RUN_ID`` processes."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"benchmark.sweep.packing" in argv and run_id.encode() in argv:
            pids.append(int(proc.name))
    return pids


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def wait_until(predicate: Callable[[], Any], seconds: float, what: str, poll: float = 0.2) -> Any:
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


def inline_records(argv: Sequence[str], results: Path, threads: int) -> dict[str, dict]:
    """``run_all.py ARGV`` inline with ``threads`` torch threads: run id → record."""
    with torch_threads(threads):
        assert run_all.main([*argv, "--results-dir", str(results), "--quiet", "--no-leaderboard"]) == 0
    return {r["run_id"]: r for _, r in iter_records(results)}
