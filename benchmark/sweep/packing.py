"""Several protocol runs on one GPU (``--runs-per-gpu K``): one job, or one array task, holding
one GPU runs K runs at once, one process per run.

Why processes. A run at the protocol's batch of 8 or 16 uses a fraction of a modern GPU (on one
H200: 332 training images/s at batch 8 against 1,477 at batch 64 compiled). K processes on the
same GPU, each with its own CUDA context, are time-sliced by the GPU (or run side by side under
CUDA MPS, ``--mps``). Each process trains one ordinary run (``benchmark.sweep.launch.run_job``): its
own record, checkpoint and resume, bit for bit the run it would be alone, so packing changes
the cost of the table and nothing in it. One process dying (out of memory, killed) ends only its
run: the others go on, and the dead run gets a ``failed`` record naming how it died; its
checkpoint stays, so ``--retry-failed`` resumes it. A job that is requeued (time-out,
preemption) stops its K processes and, started again, resumes all K from their checkpoints;
runs that this job already finished are not run twice.

CPU threads. Every run process gets ``available CPUs // K`` torch threads (the CPUs of the job:
``os.sched_getaffinity``), so K processes do not fight over the cores. A CPU run's numbers
depend on its torch thread count in the last bits: a packed record equals the same run alone with
the same number of torch threads (``provenance.torch_threads`` in every record) on the same
machine. ``OMP_NUM_THREADS`` is left alone: it would change numpy's BLAS threads too, and with
them the last bits of the record's analyses.

A run process is ``python -m benchmark.sweep.packing SPEC SLOT RUN_ID``: it reads the pack's pickled
jobs from SPEC and trains the one at SLOT (the run id is there only for ``ps``).
"""

from __future__ import annotations

import ctypes
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmark.records import read_record
from benchmark.sweep.launch import job_log, record_job_failure, run_job, summary_of
from benchmark.sweep.plan import Job

Log = Callable[[str], None]
#: a run process's environment: its place in the pack, as JSON; ``launch_info`` copies it into the record
PACK_ENV = "SPML_PACK"
MPS_CONTROL = "nvidia-cuda-mps-control"
#: signals a run process ignores: SLURM sends them to every process of a job step ahead of a
#: time-out or preemption; the pack's own process handles them (requeue) and stops its runs
IGNORED_IN_RUNS = (signal.SIGUSR2, signal.SIGTERM)


def available_cpus() -> int:
    """The CPUs this process may run on (a SLURM job's allocation where SLURM binds tasks)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_run(cpus: int, processes: int) -> int:
    """Torch threads for each of ``processes`` runs sharing ``cpus`` CPUs: at least one."""
    return max(1, cpus // max(1, processes))


def pack_jobs(jobs: Sequence[Job], runs_per_gpu: int) -> list[list[Job]]:
    """The sweep's runs in packs of at most ``runs_per_gpu``, in sweep order, one dataset per
    pack (runs of a pack then take about as long, and the GPU is not left to one of them)."""
    if runs_per_gpu < 1:
        raise ValueError(f"runs per GPU must be at least 1, got {runs_per_gpu}")
    by_dataset: dict[str, list[Job]] = {}
    for job in jobs:
        by_dataset.setdefault(job.cfg.dataset, []).append(job)
    return [group[i : i + runs_per_gpu] for group in by_dataset.values() for i in range(0, len(group), runs_per_gpu)]


def job_layout(jobs: Sequence[Job], runs_per_gpu: int, gpus_of: Callable[[Job], int]) -> list[list[Job]]:
    """The runs of each job a launcher submits: packs of ``runs_per_gpu`` runs (one each for 1)
    of one resource shape (GPUs per job) and one dataset."""
    by_shape: dict[int, list[Job]] = {}
    for job in jobs:
        by_shape.setdefault(gpus_of(job), []).append(job)
    return [pack for group in by_shape.values() for pack in pack_jobs(group, runs_per_gpu)]


# -- CUDA MPS -------------------------------------------------------------------------------------
@contextmanager
def mps_daemon(job_id: str, log: Log) -> Iterator[dict[str, str]]:
    """A CUDA MPS control daemon for this job alone (its own pipe and log folders, so jobs
    sharing a node do not share a daemon); yields the environment its clients need, ``{}`` when
    MPS is not available here (the runs then share the GPU by time-slicing)."""
    binary = shutil.which(MPS_CONTROL)
    if binary is None:
        log(f"--mps: {MPS_CONTROL} not found on PATH; the runs share the GPU by time-slicing")
        yield {}
        return
    # a Unix socket path must stay short: a fresh folder under the node's /tmp
    root = Path(tempfile.mkdtemp(prefix=f"spml-mps-{job_id.replace('/', '_')}-"))
    env = {"CUDA_MPS_PIPE_DIRECTORY": str(root / "pipe"), "CUDA_MPS_LOG_DIRECTORY": str(root / "log")}
    for folder in env.values():
        Path(folder).mkdir()
    full_env = {**os.environ, **env}
    try:
        started = subprocess.run([binary, "-d"], env=full_env, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        started = subprocess.CompletedProcess([binary, "-d"], 1, "", str(exc))
    if started.returncode != 0:
        log(
            f"--mps: '{MPS_CONTROL} -d' failed (exit {started.returncode}: "
            f"{(started.stderr or started.stdout).strip()[:200]}); the runs share the GPU by time-slicing"
        )
        shutil.rmtree(root, ignore_errors=True)
        yield {}
        return
    log(f"--mps: CUDA MPS control daemon started for job {job_id} (pipes in {env['CUDA_MPS_PIPE_DIRECTORY']})")
    try:
        yield env
    finally:
        try:
            subprocess.run([binary], input="quit\n", env=full_env, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            log(f"--mps: stopping the MPS daemon failed: {exc}")
        shutil.rmtree(root, ignore_errors=True)


# -- the pack -----------------------------------------------------------------------------------
def _run_process_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    for sig in IGNORED_IN_RUNS:
        signal.signal(sig, signal.SIG_IGN)  # inherited through exec
    try:  # die with the pack's process, so no run is left behind when it is killed
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _how_it_ended(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory, or killed)" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exited with status {code}"


@dataclass
class Pack:
    """K runs of one job, each in its own process, on the job's GPU (``CUDA_VISIBLE_DEVICES`` is
    inherited); ``run`` returns one summary per run, in order."""

    jobs: list[Job]
    runs_per_gpu: int  # K of the sweep: the thread count follows it, not this pack's size
    threads: int
    folder: Path  # this job's log folder: the pickled jobs go there
    launch: dict[str, Any]  # launch_info() of this job
    mps: bool = False
    log: Log = print

    def __post_init__(self) -> None:
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def _ours(self, job: Job) -> dict[str, Any] | None:
        """The run's record when this job wrote it (before a requeue, say), else ``None``."""
        try:
            record = read_record(job.record_path)
        except (OSError, ValueError):
            return None
        launch = record.get("launch") or {}
        if launch.get("job_id") == self.launch["job_id"] and launch.get("host") == self.launch["host"]:
            return record
        return None

    def _pack_info(self, slot: int, mps: bool) -> dict[str, Any]:
        return {
            "runs_per_gpu": self.runs_per_gpu,
            "runs": len(self.jobs),
            "slot": slot,
            "threads": self.threads,
            "mps": mps,
        }

    def run(self) -> list[dict[str, Any]]:
        summaries: dict[int, dict[str, Any]] = {}
        todo = []
        for slot, job in enumerate(self.jobs):
            record = self._ours(job)
            if record is not None:  # finished before this job was requeued
                summaries[slot] = summary_of(job, record)
            else:
                todo.append(slot)
        if todo:
            self.folder.mkdir(parents=True, exist_ok=True)
            spec = self.folder / f"pack-{self.launch['job_id']}.pkl"
            spec.write_bytes(pickle.dumps({"jobs": self.jobs, "threads": self.threads}))
            context: AbstractContextManager[dict[str, str]] = (
                mps_daemon(self.launch["job_id"], self.log) if self.mps else nullcontext({})
            )
            with context as mps_env:
                for slot in todo:
                    self._start(spec, slot, mps_env)
                for slot in todo:
                    code = self.procs[slot].wait()
                    summaries[slot] = self._outcome(slot, code, bool(mps_env))
        return [summaries[slot] for slot in range(len(self.jobs))]

    def _start(self, spec: Path, slot: int, mps_env: dict[str, str]) -> None:
        job = self.jobs[slot]
        # torch's threads only (set in the run process): OMP_NUM_THREADS would also change numpy's
        # BLAS threads, and with them the last bits of the record's analyses against the run alone
        env = {**os.environ, **mps_env, PACK_ENV: json.dumps(self._pack_info(slot, bool(mps_env)))}
        cmd = [sys.executable, "-m", "benchmark.sweep.packing", str(spec), str(slot), job.cfg.run_id()]
        self.procs[slot] = subprocess.Popen(cmd, env=env, preexec_fn=_run_process_setup)
        self.log(
            f"[{job.cfg.label()}] started in process {self.procs[slot].pid} "
            f"(slot {slot + 1} of {len(self.jobs)}, {self.threads} torch thread(s){', MPS' if mps_env else ''})"
        )

    def _outcome(self, slot: int, code: int, mps: bool) -> dict[str, Any]:
        job = self.jobs[slot]
        record = self._ours(job)
        if record is not None:
            return summary_of(job, record)
        # the process died before writing its record (out of memory, killed, a crash in C code)
        message = (
            f"the run's process {self.procs[slot].pid} {_how_it_ended(code)} before writing a record "
            f"(packed {len(self.jobs)} on one GPU; the job's log is in {self.folder})"
        )
        self.log(f"[{job.cfg.label()}] FAILED: {message}")
        launch = {**self.launch, "pack": self._pack_info(slot, mps)}
        return record_job_failure(job, "RunProcessDied", message, launch)

    def stop(self, grace_s: float = 10.0) -> None:
        """End every run process (the job is being requeued): each resumes from its last epoch
        checkpoint when the job starts again. They ignore SIGTERM (see ``IGNORED_IN_RUNS``): SIGKILL."""
        self.stopping = True
        live = [p for p in self.procs.values() if p.poll() is None]
        for proc in live:
            proc.kill()
        deadline = time.time() + grace_s
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass


# -- a run process ------------------------------------------------------------------------------
def worker_main(argv: Sequence[str]) -> int:
    """Train the run at SLOT of the pack in SPEC and write its record."""
    if len(argv) < 2:
        print("usage: python -m benchmark.sweep.packing SPEC SLOT [RUN_ID]", file=sys.stderr)
        return 2
    spec = pickle.loads(Path(argv[0]).read_bytes())
    job: Job = spec["jobs"][int(argv[1])]
    torch.set_num_threads(int(spec["threads"]))
    run_job(job, log=job_log)
    return 0


__all__ = [
    "PACK_ENV",
    "Pack",
    "available_cpus",
    "job_layout",
    "mps_daemon",
    "pack_jobs",
    "threads_per_run",
    "worker_main",
]

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
