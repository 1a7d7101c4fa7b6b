"""Against a real SLURM (``scripts/slurm/start_cluster.sh`` starts a single-node one; ``.ci/run``
does so before the tests): a sweep lands every record exactly once and equal to inline runs, a
requeued run resumes and ends as an uninterrupted one, a cancelled job is reported failed. With
``--runs-per-gpu 2`` an array task trains two runs at once with records equal to inline ones (at
the same torch thread count), a requeued task resumes both, and a run killed in a pack fails alone.

Skipped, saying why, where no SLURM with accounting is reachable. Jobs run ``sys.executable``:
run these with the project's venv python.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import run_all
from benchmark.data import load as load_dataset
from benchmark.records import iter_records, read_record
from benchmark.run import train
from benchmark.spec.config import RunConfig
from benchmark.sweep.executors import SlurmLauncher
from benchmark.sweep.launch import LaunchOptions
from benchmark.sweep.plan import Job
from benchmark.sweep.status import LEDGER, new_sweep_dir, plan, sweep_state
from tests.packs import inline_records as inline_records_at
from tests.packs import run_processes, wait_until
from tests.runs_compare import assert_same_run, sweep_jobs

FAST = ["--epochs", "2", "--batch-size", "256", "--patience", "0"]


def _unreachable() -> str | None:
    """Why SLURM cannot be used here, or None."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM client here (sinfo/sbatch not found); start one with scripts/slurm/start_cluster.sh"
    try:
        info = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo failed: {exc}"
    if info.returncode != 0:
        return f"sinfo failed: {info.stderr.strip()}"
    if not re.search(r"^(idle|mixed|allocated|completing)", info.stdout, re.M):
        return f"no SLURM node is up (sinfo: {info.stdout.split()})"
    acct = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True, timeout=20)
    if acct.returncode != 0:
        return f"SLURM has no accounting (sacct: {acct.stderr.strip()}); submitit could not see a job that died"
    return None


REASON = _unreachable()
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared with the jobs (same machine); built once here so no two jobs build it together."""
    root = tmp_path_factory.mktemp("data")
    load_dataset("digits", root)
    return root


@pytest.fixture(scope="module")
def inline_records(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> dict[str, dict]:
    """Seed 0 of the swept methods, run inline: run id → record."""
    results = tmp_path_factory.mktemp("inline")
    argv = [
        "--methods",
        "an",
        "em",
        "--seeds",
        "0",
        *FAST,
        "--results-dir",
        str(results),
        "--data-root",
        str(data_root),
    ]
    assert run_all.main([*argv, "--quiet", "--no-leaderboard"]) == 0
    return {r["run_id"]: r for _, r in iter_records(results)}


def _squeue_state(job_id: str) -> str:
    out = subprocess.run(
        ["squeue", "-h", "-r", "-j", job_id.split("_")[0], "-o", "%i %T"], capture_output=True, text=True
    ).stdout
    return dict(line.split() for line in out.splitlines() if line.strip()).get(job_id, "")


def test_sweep_lands_every_record_once_equal_to_inline(
    tmp_path: Path, data_root: Path, inline_records: dict[str, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    argv = [
        "--methods",
        "an",
        "em",
        "--seeds",
        "0",
        "1",
        *FAST,
        "--results-dir",
        str(results),
        "--data-root",
        str(data_root),
    ]
    assert (
        run_all.main(
            [*argv, "--executor", "slurm", "--max-parallel", "2", "--time", "10", "--quiet", "--no-leaderboard"]
        )
        == 0
    )

    # the records, each with its epoch log beside it, and nothing else (no temporary file)
    files = sorted(f for f in (results / "digits").iterdir() if not f.name.endswith(".epochs.csv"))
    assert len(files) == 4 and all(f.suffix == ".json" and not f.name.startswith(".") for f in files), files
    assert all(f.with_name(f.stem + ".epochs.csv").is_file() for f in files)
    records = [read_record(f) for f in files]
    assert all(r["status"] == "done" for r in records), [r.get("error") for r in records]
    assert sorted((r["method"], r["seed"]) for r in records) == [("an", 0), ("an", 1), ("em", 0), ("em", 1)]
    # one array, each task wrote one record
    job_ids = sorted(r["launch"]["job_id"] for r in records)
    assert {r["launch"]["executor"] for r in records} == {"slurm"}
    assert len(set(job_ids)) == 4 and len({j.split("_")[0] for j in job_ids}) == 1, job_ids
    (ledger,) = (results / "_logs").glob(f"*/{LEDGER}")
    assert sorted(line.split('"job_id": "')[1].split('"')[0] for line in ledger.read_text().splitlines()) == job_ids

    # bit-identical to the same runs done inline (CPU determinism, same thread count)
    compared = [r for r in records if r["run_id"] in inline_records]
    assert len(compared) == 2
    for record in compared:
        assert_same_run(record, inline_records[record["run_id"]])

    # state: all done; a second submission submits nothing; the leaderboard builds from records alone
    capsys.readouterr()
    assert run_all.main([*argv, "--status"]) == 0
    # done diverged failed corrupt running interrupted missing total
    assert capsys.readouterr().out.splitlines()[-1].split() == ["all", "4", "0", "0", "0", "0", "0", "0", "4"]
    assert run_all.main([*argv, "--executor", "slurm", "--no-leaderboard"]) == 0
    assert "0 runs to do" in capsys.readouterr().err
    assert len(list((results / "_logs").iterdir())) == 1
    board = subprocess.run(
        [sys.executable, "-m", "leaderboard", "--results-dir", str(results), "--out", str(tmp_path / "board.md")],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
    )
    assert board.returncode == 0, board.stderr
    assert "an" in (tmp_path / "board.md").read_text()


def test_requeued_run_resumes_and_equals_an_uninterrupted_one(tmp_path: Path, data_root: Path) -> None:
    cfg = RunConfig(
        dataset="digits", method="an", seed=1, epochs=3, batch_size=256, patience=0, data_root=str(data_root)
    )
    job = Job(cfg, tmp_path / "results")
    ckpt = train.checkpoint_path(job.results_dir, cfg)
    launcher = SlurmLauncher(
        LaunchOptions(sweep_dir=new_sweep_dir(tmp_path / "results" / "_logs"), time_min=10, poll_s=2)
    )
    (handle,) = launcher.submit([job])

    wait_until(ckpt.exists, 120, "the first epoch checkpoint")
    assert not job.record_path.exists()
    handle.sjob._interrupt(timeout=True)  # what SLURM sends ahead of a time-out
    # while SLURM requeues the job (~30 s here), the uninterrupted reference runs inline
    reference = train.run(cfg, None)
    assert sweep_state([job], job.results_dir / "_logs")[0].state in ("running", "done")

    result = launcher.wait([handle], verbose=False)[0]
    assert result["status"] == "done", result
    stdout = handle.sjob.stdout() or ""
    assert re.search(r"resumed after epoch [12]", stdout), stdout[-3000:]
    assert not ckpt.exists()
    assert_same_run(read_record(job.record_path), reference)


def test_cancelled_job_is_reported_failed_not_waited_on(tmp_path: Path, data_root: Path) -> None:
    cfg = RunConfig(
        dataset="digits", method="an", seed=0, epochs=50, batch_size=256, patience=0, data_root=str(data_root)
    )
    job = Job(cfg, tmp_path / "results")
    logs = tmp_path / "results" / "_logs"
    launcher = SlurmLauncher(LaunchOptions(sweep_dir=new_sweep_dir(logs), time_min=10, poll_s=2))
    (handle,) = launcher.submit([job])
    wait_until(lambda: _squeue_state(handle.sjob.job_id) == "RUNNING", 60, "the job to start")
    assert sweep_state([job], logs)[0].state == "running"
    subprocess.run(["scancel", handle.sjob.job_id], check=True)

    # without waiting: the ledger and sacct say failed
    state = wait_until(lambda: (s := sweep_state([job], logs)[0]).state == "failed" and s, 60, "status to say failed")
    assert "CANCELLED" in state.detail

    # waiting: the launcher returns promptly with a failed record, it does not wait forever
    out: list = []
    waiter = threading.Thread(target=lambda: out.extend(launcher.wait([handle], verbose=False)), daemon=True)
    waiter.start()
    waiter.join(timeout=90)
    assert not waiter.is_alive(), "the launcher is still waiting on a cancelled job"
    assert out[0]["status"] == "failed" and "CANCELLED" in out[0]["error"], out
    record = read_record(job.record_path)
    assert record["status"] == "failed" and record["error"]["type"] == "JobEndedWithoutRecord"
    states = sweep_state([job], logs)
    assert states[0].state == "failed"
    assert plan(states)[0] == [] and plan(states, retry_failed=True)[0] == [job]


# -- several runs per GPU (--runs-per-gpu): one array task trains a pack of runs, one process each --
def _pack_argv(data_root: Path, epochs: int) -> list[str]:
    """Two seeds of one run. (The tests using them ask for ``inline_records`` so that the embedded
    set's pretrained backbone is built before two runs could race to build it.)"""
    argv = ["--methods", "an", "--seeds", "0", "1", "--epochs", str(epochs), "--batch-size", "256", "--patience", "0"]
    return [*argv, "--data-root", str(data_root)]


def test_packed_sweep_runs_two_per_task_equal_to_inline(
    tmp_path: Path, data_root: Path, inline_records: dict[str, dict]
) -> None:
    results = tmp_path / "results"
    argv = ["--methods", "an", "em", "--seeds", "0", "1", *FAST, "--data-root", str(data_root)]
    assert (
        run_all.main(
            [
                *argv,
                "--results-dir",
                str(results),
                "--executor",
                "slurm",
                "--runs-per-gpu",
                "2",
                "--max-parallel",
                "2",
                "--time",
                "10",
                "--quiet",
                "--no-leaderboard",
            ]
        )
        == 0
    )

    records = [r for _, r in iter_records(results)]
    assert len(records) == 4 and all(r["status"] == "done" for r in records), [r.get("error") for r in records]
    by_task: dict[str, list[dict]] = {}
    for r in records:
        by_task.setdefault(r["launch"]["job_id"], []).append(r)
    # one array of two tasks, each task trained one method's two seeds, one run per slot
    assert len(by_task) == 2 and len({j.split("_")[0] for j in by_task}) == 1, sorted(by_task)
    for task in by_task.values():
        assert len({r["method"] for r in task}) == 1 and sorted(r["launch"]["pack"]["slot"] for r in task) == [0, 1]
    threads = {r["provenance"]["torch_threads"] for r in records}
    assert threads == {r["launch"]["pack"]["threads"] for r in records} and len(threads) == 1
    (ledger,) = (results / "_logs").glob(f"*/{LEDGER}")
    assert len(ledger.read_text().splitlines()) == 4

    # bit-identical to the same runs inline at the same torch thread count
    reference = inline_records_at(argv, tmp_path / "inline", threads.pop())
    assert sorted(reference) == sorted(r["run_id"] for r in records)
    for record in records:
        assert_same_run(record, reference[record["run_id"]])


def test_requeued_pack_resumes_both_runs(tmp_path: Path, data_root: Path, inline_records: dict[str, dict]) -> None:
    argv = _pack_argv(data_root, epochs=4)
    jobs = sweep_jobs(argv, tmp_path / "results")
    ckpts = [train.checkpoint_path(j.results_dir, j.cfg) for j in jobs]
    launcher = SlurmLauncher(
        LaunchOptions(sweep_dir=new_sweep_dir(tmp_path / "results" / "_logs"), time_min=10, poll_s=2, runs_per_gpu=2)
    )
    (handle,) = launcher.submit(jobs)
    wait_until(lambda: all(c.exists() for c in ckpts), 120, "both runs' first checkpoints")
    assert not any(j.record_path.exists() for j in jobs)
    handle.sjob._interrupt(timeout=True)  # what SLURM sends ahead of a time-out

    results = launcher.wait([handle], verbose=False)
    assert [r["status"] for r in results] == ["done", "done"], results
    stdout = handle.sjob.stdout() or ""
    for seed in (0, 1):
        assert re.search(rf"\[digits/an/1p/seed{seed}/data{seed}\] resumed after epoch [1-3]", stdout), stdout[-3000:]
    assert not any(c.exists() for c in ckpts)
    records = [read_record(j.record_path) for j in jobs]
    threads = records[0]["provenance"]["torch_threads"]
    reference = inline_records_at(argv, tmp_path / "inline", threads)
    for record in records:
        assert_same_run(record, reference[record["run_id"]])


def test_a_run_killed_in_a_pack_fails_alone(tmp_path: Path, data_root: Path, inline_records: dict[str, dict]) -> None:
    jobs = sweep_jobs(_pack_argv(data_root, epochs=6), tmp_path / "results")
    victim = jobs[1]
    launcher = SlurmLauncher(
        LaunchOptions(sweep_dir=new_sweep_dir(tmp_path / "results" / "_logs"), time_min=10, poll_s=2, runs_per_gpu=2)
    )
    (handle,) = launcher.submit(jobs)
    wait_until(train.checkpoint_path(victim.results_dir, victim.cfg).exists, 120, "the victim's first checkpoint")
    (pid,) = wait_until(lambda: run_processes(victim.cfg.run_id()), 30, "the victim's process")
    os.kill(pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does

    results = {r["label"]: r for r in launcher.wait([handle], verbose=False)}
    assert results[jobs[0].cfg.label()]["status"] == "done", results
    assert results[victim.cfg.label()]["status"] == "failed" and "SIGKILL" in results[victim.cfg.label()]["error"]
    record = read_record(victim.record_path)
    assert record["status"] == "failed" and record["error"]["type"] == "RunProcessDied"
    assert read_record(jobs[0].record_path)["status"] == "done"
    # once SLURM has let go of the task (it may still be COMPLETING): the status says failed, not running
    logs = tmp_path / "results" / "_logs"
    wait_until(lambda: [s.state for s in sweep_state(jobs, logs)] == ["done", "failed"], 60, "status done + failed")
