"""``--runs-per-gpu K``: one job trains K runs at once, one process each, with their own records and
checkpoints; one run dying never stops the others; a requeued job resumes all K. Here with the
local executor on the CPU (``tests/test_slurm.py`` does the same through a real SLURM); packed
records are compared bit for bit with the same runs done inline at the same torch thread count.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

import run_all
from benchmark.records import iter_records, read_record
from benchmark.run import train
from benchmark.spec.config import RunConfig
from benchmark.sweep.packing import Pack, available_cpus, job_layout, mps_daemon, pack_jobs, threads_per_run
from benchmark.sweep.plan import Job
from benchmark.sweep.status import LEDGER
from tests.clirun import assert_user_error, run_cli
from tests.packs import inline_records, parent_of, run_processes, wait_until
from tests.runs_compare import assert_same_run, sweep_jobs

SWEEP = ["--methods", "an", "--seeds", "0", "1", "--batch-size", "256", "--patience", "0"]
LOCAL = ["--executor", "local", "--max-parallel", "1", "--runs-per-gpu", "2", "--time", "10"]


@pytest.fixture(scope="module")
def ready_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded set and its pretrained backbone, built once by one inline run before any pack
    starts. (Built by two runs at once, the backbone's pretraining starts from the initial weights
    of whichever run builds it: the file then depends on which seed won the race.)"""
    root = tmp_path_factory.mktemp("data")
    argv = ["--methods", "an", "--seeds", "0", "--epochs", "1", "--batch-size", "256", "--data-root", str(root)]
    inline_records(argv, tmp_path_factory.mktemp("warm"), 1)
    return root


def _job(dataset: str, seed: int, results: Path = Path("r")) -> Job:
    return Job(RunConfig(dataset=dataset, method="an", seed=seed), results)


# -- the layout -----------------------------------------------------------------------------------
def test_packs_keep_sweep_order_one_dataset_each() -> None:
    jobs = [_job("digits", 0), _job("voc", 0), _job("digits", 1), _job("digits", 2), _job("voc", 1)]
    packs = pack_jobs(jobs, 2)
    assert [[(j.cfg.dataset, j.cfg.seed) for j in p] for p in packs] == [
        [("digits", 0), ("digits", 1)],
        [("digits", 2)],
        [("voc", 0), ("voc", 1)],
    ]
    assert [[j.cfg.seed for j in p] for p in pack_jobs(jobs, 1)] == [[0], [1], [2], [0], [1]]
    with pytest.raises(ValueError, match="at least 1"):
        pack_jobs(jobs, 0)


def test_layout_never_packs_runs_of_different_resource_shapes() -> None:
    jobs = [_job("digits", s) for s in range(4)]
    layout = job_layout(jobs, 4, lambda j: 0 if j.cfg.seed % 2 else 1)
    assert [[j.cfg.seed for j in p] for p in layout] == [[0, 2], [1, 3]]


@pytest.mark.parametrize(("cpus", "processes", "threads"), [(2, 2, 1), (2, 4, 1), (16, 4, 4), (16, 3, 5), (1, 1, 1)])
def test_threads_are_the_cpus_over_the_processes(cpus: int, processes: int, threads: int) -> None:
    assert threads_per_run(cpus, processes) == threads


# -- user errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        (["--runs-per-gpu", "0", "--executor", "local"], ["--runs-per-gpu", "at least 1", "0"]),
        (["--runs-per-gpu", "2"], ["--runs-per-gpu", "--executor local or slurm"]),
        (["--runs-per-gpu", "2", "--executor", "slurm", "--gpus", "2"], ["--gpus 1", "--gpus 2"]),
        (["--mps", "--executor", "local"], ["--mps", "--runs-per-gpu 2"]),
    ],
)
def test_packing_flags_that_cannot_work_are_refused(tmp_path: Path, flags: list[str], needles: list[str]) -> None:
    proc = run_cli("run_all", [*flags, "--results-dir", str(tmp_path / "results"), "--no-leaderboard"])
    assert_user_error(proc, *needles)
    assert not (tmp_path / "results").exists()


# -- MPS ------------------------------------------------------------------------------------------
def _fake_mps(folder: Path, log: Path, start_status: int = 0) -> None:
    """An ``nvidia-cuda-mps-control`` that logs its arguments, pipe folder and stdin."""
    folder.mkdir(exist_ok=True)
    script = folder / "nvidia-cuda-mps-control"
    script.write_text(
        f"#!/bin/sh\nin=''\n[ \"$1\" = -d ] || in=$(cat)\n"
        f'echo "args=$* pipe=$CUDA_MPS_PIPE_DIRECTORY log=$CUDA_MPS_LOG_DIRECTORY stdin=$in" >> {log}\n'
        f'[ "$1" = -d ] && exit {start_status}\nexit 0\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_mps_daemon_is_started_for_the_job_alone_and_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "mps.log"
    _fake_mps(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    said: list[str] = []
    with mps_daemon("123_4", said.append) as env:
        pipe = Path(env["CUDA_MPS_PIPE_DIRECTORY"])
        assert pipe.is_dir() and "123_4" in str(pipe) and Path(env["CUDA_MPS_LOG_DIRECTORY"]).is_dir()
    start, stop = log.read_text().splitlines()
    assert start.startswith("args=-d ") and f"pipe={pipe}" in start
    assert stop.startswith("args= ") and f"pipe={pipe}" in stop and stop.endswith("stdin=quit")
    assert not pipe.exists(), "the job's MPS folders are removed"
    assert "started" in said[0]


@pytest.mark.parametrize("broken", ["missing", "fails"])
def test_without_a_working_mps_daemon_the_runs_share_the_gpu_anyway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    if broken == "fails":
        _fake_mps(tmp_path / "bin", tmp_path / "mps.log", start_status=3)
        monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    else:
        monkeypatch.setenv("PATH", str(tmp_path))
    said: list[str] = []
    with mps_daemon("7", said.append) as env:
        assert env == {}
    assert len(said) == 1 and "time-slicing" in said[0] and ("not found" in said[0] or "exit 3" in said[0]), said


# -- packed runs through the local executor ------------------------------------------------------
def test_local_pack_trains_two_runs_in_one_job_identical_to_inline(
    tmp_path: Path, ready_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mps_log = tmp_path / "mps.log"
    _fake_mps(tmp_path / "bin", mps_log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    results = tmp_path / "results"
    argv = [*SWEEP, "--epochs", "2", "--data-root", str(ready_root)]
    assert run_all.main([*argv, *LOCAL, "--mps", "--results-dir", str(results), "--quiet", "--no-leaderboard"]) == 0

    records = sorted((r for _, r in iter_records(results)), key=lambda r: r["seed"])
    assert [r["status"] for r in records] == ["done", "done"], [r.get("error") for r in records]
    threads = threads_per_run(available_cpus(), 2)  # one job at once, two runs in it
    assert {r["launch"]["job_id"] for r in records} == {records[0]["launch"]["job_id"]}
    assert [r["launch"]["pack"] for r in records] == [
        {"runs_per_gpu": 2, "runs": 2, "slot": s, "threads": threads, "mps": True} for s in (0, 1)
    ]
    assert {r["provenance"]["torch_threads"] for r in records} == {threads}
    (ledger,) = (results / "_logs").glob(f"*/{LEDGER}")
    assert [json.loads(line)["job_id"] for line in ledger.read_text().splitlines()] == [
        records[0]["launch"]["job_id"]
    ] * 2
    assert not list((results / "_logs").glob("*/%j")), "no literal %j folder"
    # one MPS daemon for the job, started before and stopped after its runs
    assert [line.split()[0] for line in mps_log.read_text().splitlines()] == ["args=-d", "args="]

    reference = inline_records(argv, tmp_path / "inline", threads)
    for record in records:
        assert_same_run(record, reference[record["run_id"]])


def _job_log(results: Path) -> str:
    return "\n".join(p.read_text() for p in sorted((results / "_logs").glob("*/*/*_log.out")))


def _sweep_in_thread(argv: list[str]) -> tuple[threading.Thread, list[int]]:
    code: list[int] = []
    thread = threading.Thread(target=lambda: code.append(run_all.main(argv)), daemon=True)
    thread.start()
    return thread, code


def test_a_killed_run_fails_alone_and_resumes_on_retry(tmp_path: Path, ready_root: Path) -> None:
    results = tmp_path / "results"
    argv = [
        *SWEEP,
        "--epochs",
        "6",
        "--data-root",
        str(ready_root),
        *LOCAL,
        "--results-dir",
        str(results),
        "--quiet",
        "--no-leaderboard",
    ]
    victim = next(job for job in sweep_jobs(argv, results) if job.cfg.seed == 1)
    ckpt = train.checkpoint_path(results, victim.cfg)
    thread, code = _sweep_in_thread(argv)
    wait_until(ckpt.exists, 180, "the victim's first checkpoint")
    (pid,) = wait_until(lambda: run_processes(victim.cfg.run_id()), 30, "the victim's process")
    os.kill(pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    thread.join(300)
    assert not thread.is_alive() and code == [1], code

    by_seed = {r["seed"]: r for _, r in iter_records(results)}
    assert by_seed[0]["status"] == "done", by_seed[0].get("error")
    failed = by_seed[1]
    assert failed["status"] == "failed" and failed["error"]["type"] == "RunProcessDied", failed["error"]
    assert "SIGKILL" in failed["error"]["message"] and failed["launch"]["pack"]["slot"] == 1
    assert ckpt.exists(), "the dead run's checkpoint stays for --retry-failed"

    assert run_all.main([*argv, "--retry-failed"]) == 0
    assert read_record(victim.record_path)["status"] == "done"
    assert re.search(r"\[digits/an/1p/seed1/data1\] resumed after epoch [1-5]", _job_log(results))
    assert not ckpt.exists()


def test_a_requeued_pack_resumes_both_runs(tmp_path: Path, ready_root: Path) -> None:
    results = tmp_path / "results"
    argv = [*SWEEP, "--epochs", "5", "--data-root", str(ready_root)]
    jobs = sweep_jobs(argv, results)
    ckpts = [train.checkpoint_path(results, j.cfg) for j in jobs]
    thread, code = _sweep_in_thread([*argv, *LOCAL, "--results-dir", str(results), "--quiet", "--no-leaderboard"])
    wait_until(lambda: all(c.exists() for c in ckpts), 180, "both runs' first checkpoints")
    worker = wait_until(lambda: run_processes(jobs[0].cfg.run_id()), 30, "a run process")[0]
    os.kill(parent_of(worker), signal.SIGUSR2)  # what SLURM sends ahead of a time-out or preemption
    thread.join(300)
    assert not thread.is_alive() and code == [0], code

    log = _job_log(results)
    assert "Requeued job" in log or "requeue" in log.lower(), log[-3000:]
    for seed in (0, 1):
        assert re.search(rf"\[digits/an/1p/seed{seed}/data{seed}\] resumed after epoch [1-4]", log), log[-3000:]
    records = {r["run_id"]: r for _, r in iter_records(results)}
    reference = inline_records(argv, tmp_path / "inline", threads_per_run(available_cpus(), 2))
    assert sorted(records) == sorted(reference)
    for run_id, record in records.items():
        assert_same_run(record, reference[run_id])


# -- shared data built by whichever run comes first ---------------------------------------------------
def test_building_the_image_cache_leaves_the_global_rng_alone(tmp_path: Path) -> None:
    """The run that builds a decoded-image cache must get the numbers of a run that reads it: with
    K runs starting together, which one builds it is a race. (Iterating a DataLoader draws a seed
    from torch's global RNG, between the run's seeding and its model's initialisation.)"""
    import numpy as np
    import torch

    from benchmark.data.cache import build_cache
    from benchmark.data.store import ArrayImages

    store = ArrayImages(np.arange(5 * 3 * 4 * 4, dtype=np.uint8).reshape(5, 3, 4, 4))
    torch.manual_seed(0)
    before = torch.get_rng_state()
    build_cache(store, tmp_path / "cache.npy", chunk_size=2)
    assert torch.equal(torch.get_rng_state(), before)
    assert np.array_equal(np.load(tmp_path / "cache.npy"), store.array)


# -- the GPU check's CPU-side parts ---------------------------------------------------------------------
def test_gpu_check_script_parses() -> None:
    import subprocess

    script = Path(__file__).resolve().parent.parent / "scripts" / "gpu_check.sh"
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_pack_bench_writes_a_devkit_that_prepare_accepts_and_reads_throughput(tmp_path: Path) -> None:
    from benchmark.bench.packing import prepare, throughput, write_voc
    from benchmark.data import load as load_dataset

    write_voc(tmp_path / "raw", pool=12, test=6, unique=4)
    prepare(tmp_path / "raw", tmp_path / "data", tmp_path / "prepare.log")
    ds = load_dataset("voc", tmp_path / "data", image_size=16)
    assert ds.num_classes == 20
    history = [
        {"images_per_second": 10.0, "seconds": 3.0, "train_seconds": 2.0},
        {"images_per_second": 30.0, "seconds": 2.0, "train_seconds": 1.0},
    ]
    record = {
        "status": "done",
        "seed": 0,
        "history": history,
        "num_train": 8,
        "num_val": 2,
        "num_test": 6,
        "provenance": {"torch_threads": 1, "device_name": "x"},
        "launch": {"pack": {"mps": False}},
    }
    t = throughput([record, {**record, "seed": 1}], wall=4.0)
    # epochs from the second on (the first holds the autotuning), summed over the runs
    assert t["aggregate_train_images_per_s"] == 60.0 and t["per_run_train_images_per_s"] == [30.0, 30.0]
    assert t["end_to_end_train_images_per_s"] == 2 * 8 * 2 / 4.0 and t["eval_images_per_s"] == 8.0


def test_a_dead_run_whose_failed_record_cannot_be_written_is_still_summarised(tmp_path: Path) -> None:
    # the results "folder" is a file: the failed record cannot be written either (as on a full disk)
    results = tmp_path / "results"
    results.write_text("not a folder")
    pack = Pack([_job("digits", 0, results)], 1, 1, tmp_path, {"job_id": "7", "host": "node"}, log=lambda _: None)
    pack.procs[0] = SimpleNamespace(pid=4242)  # type: ignore[assignment]  # only its pid is read
    summary = pack._outcome(0, -signal.SIGKILL, mps=False)
    assert summary["status"] == "failed"
    assert "killed by SIGKILL" in summary["error"] and "its failed record could not be written" in summary["error"]
