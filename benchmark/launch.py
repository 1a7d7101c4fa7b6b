"""Launchers: hand a list of jobs to an executor. Each job trains one run and writes its record;
a failure inside a run is a ``failed`` record, never a lost sweep.

``inline`` runs here, one after the other; ``local`` (local processes) and ``slurm`` (job arrays)
go through submitit, see ``benchmark.executors``. Every launcher appends what it started to the
sweep's ledger, so ``run_all.py --status`` sees live runs from another shell.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmark.records import read_record, record_status, write_record
from benchmark.status import Submission, record_submissions
from benchmark.sweep import Job
from benchmark.variants import variant

Log = Callable[[str], None]


class ExecutorUnavailableError(RuntimeError):
    """The chosen executor cannot run here (e.g. no SLURM client); the message says what is missing."""


@dataclass
class LaunchOptions:
    """Where a sweep's logs go and what its jobs ask of the scheduler (ignored inline)."""

    sweep_dir: Path  # this submission's log folder (submitit logs, ledger)
    max_parallel: int | None = None  # slurm: array parallelism; local: processes at once
    partition: str | None = None
    gpus: int = 0  # per job; a run on device "cpu" asks for none
    cpus: int | None = None  # per job
    mem_gb: float | None = None
    time_min: int = 24 * 60
    account: str | None = None
    qos: str | None = None
    sbatch: dict[str, str] = field(default_factory=dict)  # extra #SBATCH options, KEY=VALUE
    #: requeues after a time-out before the run is recorded failed (preemptions are not counted)
    max_timeouts: int = 10
    #: seconds between scheduler state queries while waiting
    poll_s: float = 5.0


def launch_info() -> dict[str, Any]:
    """Where this process runs: submitit sets ``SUBMITIT_EXECUTOR`` in its jobs."""
    executor = os.environ.get("SUBMITIT_EXECUTOR")
    job_id = str(os.getpid())
    if executor:
        import submitit

        job_id = str(submitit.JobEnvironment().job_id)
    return {"executor": executor or "inline", "job_id": job_id, "host": socket.gethostname()}


def summary_of(job: Job, record: dict[str, Any]) -> dict[str, Any]:
    return {"path": str(job.record_path), "label": job.cfg.label(), "status": record["status"],
            "test_map": record.get("test_map"), "error": (record.get("error") or {}).get("message")}


def run_job(job: Job, log: Log | None = None) -> dict[str, Any]:
    """Train ``job`` and write its record atomically; returns a short summary."""
    from benchmark import train  # torch is imported only where a run happens

    record = train.run(job.cfg, job.results_dir, log=log, study=job.study)
    record["launch"] = launch_info()
    write_record(job.record_path, record)
    return summary_of(job, record)


def record_job_failure(job: Job, error_type: str, message: str, launch: dict[str, Any]) -> dict[str, Any]:
    """A ``failed`` record for a job that died without writing one (cancelled, killed, out of
    memory), so the failure is reported and kept; an existing record is never overwritten.
    The run's checkpoint stays: ``--retry-failed`` resumes from it."""
    existing = record_status(job.record_path)
    if existing is not None:
        return summary_of(job, read_record(job.record_path))
    cfg = job.cfg.resolve()
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = {
        "method": cfg.method, "dataset": cfg.dataset, "labels": cfg.labels, "seed": cfg.seed,
        "protocol": cfg.protocol, "run_id": job.cfg.run_id(),
        "variant": variant(cfg.method, cfg.dataset, cfg.hparams), "study": job.study,
        "status": "failed", "test_map": None,
        "error": {"type": error_type, "message": message}, "config": cfg.model_dump(),
        "launch": launch, "finished_at": now,
    }
    write_record(job.record_path, record)
    return summary_of(job, record)


class Progress:
    """A progress bar over runs and one line per finished run."""

    def __init__(self, total: int, verbose: bool) -> None:
        from tqdm import tqdm

        self.verbose = verbose
        self.bar = tqdm(total=total, desc="runs", unit="run", file=sys.stderr, disable=not verbose or not total)

    def write(self, msg: str) -> None:
        self.bar.write(msg, file=sys.stderr)

    def finished(self, summary: dict[str, Any], seconds: float | None = None) -> None:
        took = f" ({seconds:.1f}s)" if seconds is not None else ""
        if summary["status"] != "done":
            self.write(f"[{summary['label']}] FAILED: {summary['error']}")
        elif self.verbose:
            self.write(f"[{summary['label']}] done: test mAP {summary['test_map']:.2f}{took}")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class InlineLauncher:
    """Runs jobs one after the other in this process, with a progress bar over runs."""

    name = "inline"

    def __init__(self, options: LaunchOptions | None = None) -> None:
        self.options = options

    def launch(self, jobs: Sequence[Job], verbose: bool = True) -> list[dict[str, Any]]:
        if self.options is not None:
            me = launch_info()
            record_submissions(self.options.sweep_dir, [
                Submission(j.cfg.run_id(), j.cfg.label(), "inline", me["job_id"], me["host"], time.time()) for j in jobs
            ])
        progress = Progress(len(jobs), verbose)
        log = progress.write if verbose else None
        results = []
        for job in jobs:
            t0 = time.time()
            summary = run_job(job, log)
            results.append(summary)
            progress.finished(summary, time.time() - t0)
        progress.close()
        return results


#: executor name → "module:class"; imported on use, so inline sweeps never import submitit
LAUNCHERS: dict[str, str] = {
    "inline": "benchmark.launch:InlineLauncher",
    "local": "benchmark.executors:LocalLauncher",
    "slurm": "benchmark.executors:SlurmLauncher",
}


def make_launcher(name: str, options: LaunchOptions | None = None) -> Any:
    import importlib

    if name not in LAUNCHERS:
        raise ValueError(f"unknown executor '{name}'; expected one of {sorted(LAUNCHERS)}")
    module, cls = LAUNCHERS[name].split(":")
    return getattr(importlib.import_module(module), cls)(options)
