"""``--executor local``: runs as local processes through submitit, never more at once than
``--max-parallel`` (submitit's local executor itself would start them all together), each with
the CPUs over the processes at once as torch threads, logs in a folder per job id.
(``tests/test_packing.py``: several runs per job.)"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

import run_all
from benchmark.records import iter_records
from benchmark.sweep.packing import available_cpus
from benchmark.sweep.status import LEDGER


def test_local_executor_runs_each_run_in_its_own_process_one_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    args = [
        "--methods",
        "an",
        "--seeds",
        "0",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "256",
        "--results-dir",
        str(results),
        "--data-root",
        str(tmp_path / "data"),
        "--no-leaderboard",
    ]
    assert run_all.main([*args, "--executor", "local", "--max-parallel", "1", "--time", "10"]) == 0
    # the jobs' run lines come through as they are printed, as inline: start, each epoch, end
    err = capsys.readouterr().err
    for seed in (0, 1):
        label = f"[digits/an/1p/seed{seed}/data{seed}]"  # the embedded set pairs data seeds
        assert f"{label} started" in err and f"{label} epoch 1:" in err and f"{label} done: test mAP" in err, err

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
    # submitit's logs of each job sit in the sweep's folder, in a folder named by its job id
    logs = sorted(ledger.parent.glob("*/*_log.out"))
    assert len(logs) == 2 and {p.parent.name for p in logs} == set(pids)
    assert not (ledger.parent / "%j").exists(), "a literal %j folder"
    # one process at a time: it gets every CPU
    assert {r["provenance"]["torch_threads"] for r in records} == {available_cpus()}

    # everything is recorded: a second call submits nothing
    assert run_all.main([*args, "--executor", "local"]) == 0
    assert len(list((results / "_logs").iterdir())) == 1


def test_parallel_local_runs_share_the_cpus(tmp_path: Path) -> None:
    """Two processes at once on this machine: each gets half the CPUs as torch threads (two
    processes with every CPU each ran 4x slower than inline on 2 cores)."""
    results = tmp_path / "results"
    args = [
        "--methods",
        "an",
        "--seeds",
        "0",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "256",
        "--results-dir",
        str(results),
        "--data-root",
        str(tmp_path / "data"),
        "--quiet",
        "--no-leaderboard",
    ]
    assert run_all.main([*args, "--executor", "local", "--max-parallel", "2", "--time", "10"]) == 0
    records = [r for _, r in iter_records(results)]
    assert [r["status"] for r in records] == ["done", "done"], [r.get("error") for r in records]
    assert {r["provenance"]["torch_threads"] for r in records} == {max(1, available_cpus() // 2)}
    assert not list((results / "_logs").glob("*/%j"))


def test_a_local_gpu_job_sees_the_gpus_it_was_given(tmp_path: Path) -> None:
    """The launcher hands each local GPU job its own GPUs; submitit's AutoExecutor refuses
    ``visible_gpus`` (found on an H200: every GPU job of ``--executor local`` failed), so this
    submits through the real submitit and reads the job's ``CUDA_VISIBLE_DEVICES``. No GPU is
    needed: submitit only sets the variable."""
    import os

    from benchmark.sweep.executors import LocalLauncher, pin_gpus
    from benchmark.sweep.launch import LaunchOptions

    ex = LocalLauncher(LaunchOptions(sweep_dir=tmp_path / "sweep", time_min=5)).executor(gpus=1)
    pin_gpus(ex, [1])
    assert ex.submit(os.getenv, "CUDA_VISIBLE_DEVICES").result() == "1"
