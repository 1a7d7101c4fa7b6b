"""``--executor local``: runs as local processes through submitit, never more at once than
``--max-parallel`` (submitit's local executor itself would start them all together)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import run_all
from benchmark.records import iter_records
from benchmark.status import LEDGER


def test_local_executor_runs_each_run_in_its_own_process_one_at_a_time(tmp_path: Path) -> None:
    results = tmp_path / "results"
    args = ["--methods", "an", "--seeds", "0", "1", "--epochs", "1", "--batch-size", "256", "--results-dir", str(results),
            "--data-root", str(tmp_path / "data"), "--quiet", "--no-leaderboard"]
    assert run_all.main([*args, "--executor", "local", "--max-parallel", "1", "--time", "10"]) == 0

    records = sorted((r for _, r in iter_records(results)), key=lambda r: r["started_at"])
    assert [r["status"] for r in records] == ["done", "done"], [r.get("error") for r in records]
    assert [r["seed"] for r in records] == [0, 1]
    assert {r["launch"]["executor"] for r in records} == {"local"}
    (ledger,) = (results / "_logs").glob(f"*/{LEDGER}")
    pids = [json.loads(line)["job_id"] for line in ledger.read_text().splitlines()]
    assert len(set(pids)) == 2 and {r["launch"]["job_id"] for r in records} == set(pids)
    # the cap: the second run started only once the first had finished
    first_end = datetime.fromisoformat(records[0]["finished_at"])
    assert datetime.fromisoformat(records[1]["started_at"]) >= first_end
    # submitit's logs of each job sit in the sweep's folder
    assert len(list(ledger.parent.glob("*/*_log.out"))) == 2

    # everything is recorded: a second call submits nothing
    assert run_all.main([*args, "--executor", "local"]) == 0
    assert len(list((results / "_logs").iterdir())) == 1
