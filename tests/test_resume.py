"""A sweep killed after an epoch and started again ends with the records of an uninterrupted one.

``run_all.py`` is killed (SIGKILL, no chance to clean up) once the epoch-1 checkpoint exists, in
the middle of epoch 2; ``--status`` then calls the run interrupted, and the same command resumes it
from that checkpoint. (The SLURM requeue path is in test_slurm.py.)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import run_all
from benchmark.records import comparable, read_record
from benchmark.run import train
from tests.runs_compare import assert_same_run, sweep_jobs

REPO = Path(__file__).resolve().parent.parent
# small and quick: 2 epochs, large batches; patience 0 so no early stop cuts the run short
SWEEP = ["--methods", "an", "--seeds", "0", "--epochs", "2", "--batch-size", "256", "--patience", "0"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> dict:
    """The uninterrupted run, through run_all.py inline."""
    results = tmp_path_factory.mktemp("uninterrupted")
    assert (
        run_all.main(
            [*SWEEP, "--results-dir", str(results), "--data-root", str(data_root), "--quiet", "--no-leaderboard"]
        )
        == 0
    )
    (path,) = (results / "digits").glob("*.json")
    return read_record(path)


def test_killed_sweep_started_again_resumes_and_equals_uninterrupted(
    tmp_path: Path, data_root: Path, reference: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    args = [*SWEEP, "--results-dir", str(results), "--data-root", str(data_root), "--quiet", "--no-leaderboard"]
    (job,) = sweep_jobs(args, results)
    ckpt = train.checkpoint_path(results, job.cfg)
    proc = subprocess.Popen(
        [sys.executable, "run_all.py", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 120
        while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        said = proc.stderr.read().decode()[-2000:] if not ckpt.exists() and proc.poll() is not None else "still running"
        assert ckpt.exists(), f"no checkpoint appeared; run_all said: {said}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not job.record_path.exists(), "the run finished before it was killed: the test interrupted nothing"

    capsys.readouterr()
    assert run_all.main([*args, "--status"]) == 0
    status = capsys.readouterr().out
    # done diverged failed corrupt running interrupted missing total
    assert status.splitlines()[-1].split() == ["all", "0", "0", "0", "0", "0", "1", "0", "1"], status

    assert run_all.main([a for a in args if a != "--quiet"]) == 0
    assert re.search(r"resumed after epoch [12]", capsys.readouterr().err)
    assert_same_run(read_record(job.record_path), reference)
    assert not ckpt.exists()


def test_a_cpu_run_resumed_under_another_thread_count_ends_on_the_count_it_started_with(
    tmp_path: Path, data_root: Path
) -> None:
    from benchmark.run.environment import torch_threads
    from benchmark.run.train import Trainer
    from tests.test_method_hooks_in_loop import Interrupted, stop_at

    (job,) = sweep_jobs([*SWEEP, "--epochs", "3", "--data-root", str(data_root)], tmp_path)
    cfg = job.cfg
    with torch_threads(2):
        reference = Trainer(cfg, tmp_path / "whole.pt").run()
        with pytest.raises(Interrupted):
            Trainer(cfg, tmp_path / "cut.pt", observers=[stop_at(2)]).run()
    said: list[str] = []
    with torch_threads(1):
        resumed = Trainer(cfg, tmp_path / "cut.pt", log=said.append).run()
        assert torch.get_num_threads() == 1  # the caller's count is given back
    assert any("continues on the 2 torch thread(s) it started with" in line for line in said), said
    assert resumed["provenance"]["torch_threads"] == 2
    assert comparable(resumed) == comparable(reference)
