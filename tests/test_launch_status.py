"""Sweep state and submission without training: the ledger, the state rules, the plan, and the
sbatch scripts the SLURM launcher writes — against stand-in ``squeue``/``sacct``/``sbatch``
programs on PATH, so these run everywhere (the real cluster is in test_slurm.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import run_all
from benchmark.records import write_record
from benchmark.run import train
from benchmark.spec.config import RunConfig
from benchmark.sweep.launch import LaunchOptions
from benchmark.sweep.plan import Job
from benchmark.sweep.status import (
    LEDGER,
    Submission,
    format_status,
    plan,
    read_submissions,
    record_submissions,
    sweep_state,
)


def _jobs(results: Path, n: int = 6, **overrides) -> list[Job]:
    return [
        Job(RunConfig(dataset="digits", method="bce", labels="1p", seed=s, epochs=1, **overrides), results)
        for s in range(n)
    ]


def _record(job: Job, status: str, **fields) -> dict:
    """A record as the harness writes it for ``job`` (identity fields and status), plus ``fields``."""
    c = job.cfg
    return {
        "method": c.method,
        "dataset": c.dataset,
        "labels": c.labels,
        "seed": c.seed,
        "run_id": c.run_id(),
        "status": status,
        "test_map": 1.0 if status == "done" else None,
        **fields,
    }


def _fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_ledger_keeps_the_latest_submission_and_skips_a_torn_line(tmp_path: Path) -> None:
    a, b = tmp_path / "sweep-a", tmp_path / "sweep-b"
    record_submissions(
        a, [Submission("r1", "x", "slurm", "5_0", "h", 1.0), Submission("r2", "y", "slurm", "5_1", "h", 1.0)]
    )
    record_submissions(b, [Submission("r1", "x", "slurm", "9", "h", 2.0)])
    with open(b / LEDGER, "a") as fh:
        fh.write('{"run_id": "r3", "label"')  # a submitter that died mid-line
    subs = read_submissions(tmp_path)
    assert {k: v.job_id for k, v in subs.items()} == {"r1": "9", "r2": "5_1"}


def test_state_rules_done_diverged_failed_corrupt_running_ended_interrupted_missing(
    tmp_path: Path, fake_bin: Path
) -> None:
    results, logs = tmp_path / "results", tmp_path / "results" / "_logs"
    jobs = _jobs(results, 9)
    write_record(jobs[0].record_path, _record(jobs[0], "done"))
    write_record(
        jobs[1].record_path, _record(jobs[1], "failed", error={"message": "out of memory at epoch 3\ntraceback"})
    )
    # 2: queued on SLURM; 3: ended on SLURM without a record; 4: a checkpoint and nothing live; 5: nothing
    train.checkpoint_path(results, jobs[4].cfg).parent.mkdir(parents=True)
    train.checkpoint_path(results, jobs[4].cfg).write_bytes(b"")
    # 6: diverged; 7: a truncated record; 8: another run's record copied to its path
    write_record(jobs[6].record_path, _record(jobs[6], "diverged", divergence={"rule": "r", "reason": "loss is nan"}))
    jobs[7].record_path.write_text(json.dumps(_record(jobs[7], "done"))[:-20])
    write_record(jobs[8].record_path, _record(jobs[0], "done"))
    name = "spml-sweep"
    record_submissions(
        logs / "sweep",
        [Submission(jobs[i].cfg.run_id(), jobs[i].cfg.label(), "slurm", f"7_{i}", "h", 1.0, name) for i in range(6)],
    )
    _fake(fake_bin, "squeue", f"echo '7_2|PENDING|{name}'\necho '7_5|RUNNING|someone-else'\n")
    _fake(fake_bin, "sacct", f"echo '7_3|CANCELLED by 0|{name}'\necho '7_4|COMPLETED|other'\n")
    states = sweep_state(jobs, logs)
    assert [s.state for s in states] == [
        "done",
        "failed",
        "running",
        "failed",
        "interrupted",
        "missing",
        "diverged",
        "corrupt",
        "corrupt",
    ]
    assert states[1].detail == "out of memory at epoch 3"
    assert "7_3 ended CANCELLED" in states[3].detail
    assert states[6].detail == "loss is nan"
    assert str(jobs[7].record_path) in states[7].detail and "not valid JSON (truncated?)" in states[7].detail
    assert str(jobs[8].record_path) in states[8].detail and "field 'run_id'" in states[8].detail
    table = format_status(states)
    # done diverged failed corrupt running interrupted missing total
    assert table.splitlines()[2].split() == ["digits", "bce", "1", "1", "2", "2", "1", "1", "1", "9"]
    assert "diverged runs (1" in table and "corrupt records (2" in table and str(jobs[7].record_path) in table

    todo, _ = plan(states)
    assert [j.cfg.seed for j in todo] == [4, 5, 7, 8], "corrupt records are replaced (the caller names them)"
    todo, _ = plan(states, retry_failed=True)
    assert [j.cfg.seed for j in todo] == [1, 3, 4, 5, 6, 7, 8], "--retry-failed reruns failed and diverged runs"
    todo, _ = plan(states, force=True)
    assert [j.cfg.seed for j in todo] == [0, 1, 3, 4, 5, 6, 7, 8], "a running run is never submitted twice"


def test_a_live_local_process_is_running_until_it_ends(tmp_path: Path) -> None:
    results = tmp_path / "results"
    (job,) = _jobs(results, 1)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record_submissions(
            results / "_logs" / "s",
            [Submission(job.cfg.run_id(), job.cfg.label(), "local", str(proc.pid), os.uname().nodename, 1.0)],
        )
        assert sweep_state([job], results / "_logs")[0].state == "running"
    finally:
        proc.kill()
        proc.wait()
    assert sweep_state([job], results / "_logs")[0].state == "missing"


def test_slurm_launcher_writes_one_array_per_resource_shape(tmp_path: Path, fake_bin: Path) -> None:
    from benchmark.sweep.executors import SlurmLauncher

    # a stand-in sbatch: keeps each script and answers with the next job id
    _fake(
        fake_bin,
        "sbatch",
        f"n=$(( $(cat {tmp_path}/n 2>/dev/null || echo 40) + 1 )); echo $n > {tmp_path}/n\n"
        f'cp "$1" {tmp_path}/script_$n.sh\necho "Submitted batch job $n"\n',
    )
    _fake(fake_bin, "srun", "exit 0\n")
    _fake(fake_bin, "sacct", "exit 0\n")
    results = tmp_path / "results"
    gpu_jobs = _jobs(results, 3)
    cpu_jobs = _jobs(results, 2, device="cpu", lr=1e-3)
    options = LaunchOptions(
        sweep_dir=results / "_logs" / "sweep",
        max_parallel=2,
        partition="gpu",
        gpus=1,
        cpus=4,
        mem_gb=8,
        time_min=30,
        account="lab",
        qos="high",
        sbatch={"constraint": "a100"},
    )
    handles = SlurmLauncher(options).submit(gpu_jobs + cpu_jobs)
    assert [h.sjob.job_id for h in handles] == ["41_0", "41_1", "41_2", "42_0", "42_1"]
    gpu_script = (tmp_path / "script_41.sh").read_text()
    for flag in (
        "--array=0-2%2",
        "--partition=gpu",
        "--gpus-per-node=1",
        "--cpus-per-task=4",
        "--mem=8GB",
        "--time=30",
        "--account=lab",
        "--qos=high",
        "--constraint=a100",
        "--job-name=spml-sweep",
    ):
        assert f"#SBATCH {flag}\n" in gpu_script, (flag, gpu_script)
    assert str(options.sweep_dir) in gpu_script, "submitit's logs go in the sweep's folder"
    cpu_script = (tmp_path / "script_42.sh").read_text()
    assert "#SBATCH --array=0-1%2\n" in cpu_script and "#SBATCH --gpus-per-node=0\n" in cpu_script
    ledger = [json.loads(line) for line in (options.sweep_dir / LEDGER).read_text().splitlines()]
    assert [(e["run_id"], e["job_id"]) for e in ledger] == [(h.job.cfg.run_id(), h.sjob.job_id) for h in handles]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--executor", "inline", "--no-wait"], "--no-wait needs --executor slurm"),
        (["--sbatch", "constraint"], "--sbatch expects KEY=VALUE"),
        (["--max-parallel", "0"], "--max-parallel must be at least 1"),
    ],
)
def test_run_all_rejects_bad_launch_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert run_all.main(["--seeds", "0", "--methods", "bce", "--results-dir", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "_logs").exists(), "nothing is submitted, so no log folder is made"


def test_slurm_executor_without_slurm_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    argv = ["--seeds", "0", "--methods", "bce", "--results-dir", str(tmp_path / "results"), "--executor", "slurm"]
    assert run_all.main(argv) == 2
    assert "not found: sbatch, srun, sacct" in capsys.readouterr().err
    assert not (tmp_path / "results" / "_logs").exists()
