"""Launchers: hand a list of jobs to an executor. Each job trains one run and writes its record;
a failure inside a run is a ``failed`` record, never a lost sweep. A record that cannot be written
(disk full, no permission) stops an inline sweep with ``SweepStopped``, naming the path and the runs
not run: every later run would lose its record the same way.

``inline`` runs here, one after the other; ``local`` (local processes) and ``slurm`` (job arrays)
go through submitit, see ``benchmark.sweep.executors``. Every launcher appends what it started to the
sweep's ledger, so ``run_all.py --status`` sees live runs from another shell.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import shlex
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmark.records import epochs_csv_path, read_record, write_record
from benchmark.run import train
from benchmark.run.epochlog import EpochCSV, TensorBoardLog, tensorboard_run_dir
from benchmark.run.record import failed_record
from benchmark.run.train import EpochObserver
from benchmark.spec.config import RunConfig
from benchmark.sweep.checks import check_jobs, check_packing
from benchmark.sweep.plan import Job
from benchmark.sweep.status import Submission, record_submissions

Log = Callable[[str], None]


def job_log(msg: str) -> None:
    """A line of a job's log: its stdout, flushed at once (the local launcher relays it as it comes)."""
    print(msg, flush=True)


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
    #: runs packed into one job holding one GPU (``benchmark.sweep.packing``); 1: a job per run
    runs_per_gpu: int = 1
    #: start a CUDA MPS daemon in each packed job (where ``nvidia-cuda-mps-control`` exists)
    mps: bool = False
    #: slurm: shell lines each job runs before Python starts (activate the environment, load modules)
    setup: list[str] = field(default_factory=list)
    #: slurm: the interpreter command on the nodes; default: ``python`` after ``setup``, else this one
    python: str | None = None

    def node_python(self) -> str:
        """The interpreter a SLURM job starts: ``python`` as given, else ``python`` from the PATH the
        setup lines leave, else the submitting process's own (then it must be on a shared file system)."""
        if self.python is not None:
            return self.python
        return "python" if self.setup else shlex.quote(sys.executable)


#: the default of ``--slurm-setup``: one shell line, e.g. ``source /shared/env/bin/activate``
SETUP_ENV = "SPML_SLURM_SETUP"


def slurm_setup(given: Sequence[str] | None) -> list[str]:
    """The setup lines of a SLURM job: those given, else ``$SPML_SLURM_SETUP``'s, else none;
    ``ValueError`` for an empty line."""
    from_env = os.environ.get(SETUP_ENV, "")
    lines = list(given) if given is not None else ([from_env] if from_env.strip() else [])
    if any(not line.strip() for line in lines):
        raise ValueError(
            '--slurm-setup expects a shell command, e.g. "source /shared/env/bin/activate"; got an empty one'
        )
    return lines


def launch_info() -> dict[str, Any]:
    """Where this process runs: submitit sets ``SUBMITIT_EXECUTOR`` in its jobs (and a packed
    run's process inherits it from its job, so both name the same job); a packed run adds its
    place in the pack (``benchmark.sweep.packing``)."""
    executor = os.environ.get("SUBMITIT_EXECUTOR")
    job_id = str(os.getpid())
    if executor:
        import submitit  # why: only a submitit job gets here; an inline sweep never imports submitit

        job_id = str(submitit.JobEnvironment().job_id)
    info: dict[str, Any] = {"executor": executor or "inline", "job_id": job_id, "host": socket.gethostname()}
    pack = os.environ.get("SPML_PACK")  # benchmark.sweep.packing.PACK_ENV (not imported: launch stays light)
    if pack:
        info["pack"] = json.loads(pack)
    return info


#: errors of the storage the records go to: every later run would fail to keep its record too
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


class RecordWriteError(RuntimeError):
    """A run's record could not be written; the message names the path and the reason."""

    def __init__(self, path: Path, exc: OSError) -> None:
        super().__init__(f"cannot write the record {path}: {exc.strerror or exc}")
        self.path, self.errno = path, exc.errno


class SweepStopped(RuntimeError):
    """The sweep cannot go on (its records cannot be written); ``not_run`` are the jobs it did not
    finish, ``results`` the summaries of those it did."""

    def __init__(self, message: str, not_run: Sequence[Job], results: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.not_run = list(not_run)
        self.results = list(results)


def summary_of(job: Job, record: dict[str, Any]) -> dict[str, Any]:
    error = (record.get("error") or {}).get("message")
    if record["status"] == "diverged":
        error = (record.get("divergence") or {}).get("reason")
    return {
        "path": str(job.record_path),
        "label": job.cfg.label(),
        "status": record["status"],
        "test_map": record.get("test_map"),
        "error": error,
        "errno": (record.get("error") or {}).get("errno"),
    }


def write_job_record(job: Job, record: dict[str, Any]) -> None:
    """``write_record`` at the job's path; ``RecordWriteError`` naming the path when it fails."""
    try:
        write_record(job.record_path, record)
    except OSError as exc:
        raise RecordWriteError(job.record_path, exc) from exc


def end_line(summary: dict[str, Any], seconds: float | None = None) -> str:
    """The one line that says how a run ended, with its label."""
    took = f" in {seconds:.1f}s" if seconds is not None else ""
    if summary["status"] == "done":
        return f"[{summary['label']}] done: test mAP {summary['test_map']:.2f}{took}"
    why = summary.get("error") or summary.get("reason") or "see its record"
    return f"[{summary['label']}] {str(summary['status']).upper()}{took}: {why}"


def epoch_observers(job: Job) -> list[EpochObserver]:
    """The run's per-epoch logs: the CSV beside its record, and TensorBoard events if asked for."""
    observers: list[EpochObserver] = [EpochCSV(epochs_csv_path(job.record_path))]
    if job.tensorboard_dir is not None:
        observers.append(TensorBoardLog(tensorboard_run_dir(Path(job.tensorboard_dir), job.record_path)))
    return observers


def train_and_record(job: Job, log: Log | None = None) -> dict[str, Any]:
    """Train ``job``, logging its epochs as they end (``epoch_observers``), and write its record
    atomically; returns the record."""
    observers = epoch_observers(job)
    try:
        record = train.run(job.cfg, job.results_dir, log=log, observers=observers, study=job.study)
    finally:
        for observer in observers:
            getattr(observer, "close", lambda: None)()
    record["launch"] = launch_info()
    write_job_record(job, record)
    record = read_record(job.record_path)  # as written: sealed, in its JSON form
    # only now that the record is on disk may the checkpoint go: a record that could not be
    # written leaves the run resumable, not lost (a failed run keeps it for --retry-failed)
    if record["status"] in ("done", "diverged") and job.cfg.checkpoint and not job.cfg.keep_checkpoint:
        job.checkpoint_path.unlink(missing_ok=True)
    return record


def run_and_record(
    cfg: RunConfig, results_dir: str | Path, *, log: Log | None = None, tensorboard_dir: str | Path | None = None
) -> dict[str, Any]:
    """Train one run and write its record: the Python API of ``spml-bench run`` for one config.

    The record lands at ``<results_dir>/<dataset>/<method>__<labels>__seed<seed>__<run id>.json``
    (``benchmark.sweep.plan.Job(cfg, results_dir).record_path``), the epoch log beside it
    (``.epochs.csv``); a run that fails is written as a ``failed`` record and returned, never
    raised. ``log`` receives the run's progress lines; ``tensorboard_dir`` adds TensorBoard events.
    A run interrupted earlier resumes from its checkpoint under ``<results_dir>/_checkpoints``.
    Returns the record as written.

    Refused up front, with ``PreRunError`` and nothing written, whatever the CLI refuses before a
    run (``benchmark.sweep.checks.check_jobs``): a results folder that is a file or cannot be
    written, a data root that is a file, a real dataset not prepared there, a device this machine
    lacks, TensorBoard logging without the package."""
    job = Job(cfg, Path(results_dir), Path(tensorboard_dir) if tensorboard_dir is not None else None)
    check_jobs([job], "inline", results_flag="results_dir", data_flag="data_root")
    return train_and_record(job, log)


def run_job(job: Job, log: Log | None = None, *, announce: bool = True) -> dict[str, Any]:
    """Train ``job`` and write its record; returns a short summary. With ``log``, the run's lines
    go there: its start and end (unless ``announce`` is off: the caller says them) and each epoch."""
    t0 = time.time()
    if log is not None and announce:
        log(f"[{job.cfg.label()}] started")
    summary = summary_of(job, train_and_record(job, log))
    if log is not None and announce:
        log(end_line(summary, time.time() - t0))
    return summary


def record_job_failure(job: Job, error_type: str, message: str, launch: dict[str, Any]) -> dict[str, Any]:
    """A ``failed`` record for a job that died without writing one (cancelled, killed, out of
    memory), so the failure is reported and kept; an existing record is never overwritten (a
    corrupt file is: it is no record). The run's checkpoint stays: ``--retry-failed`` resumes from it.
    When the record cannot be written either (a full disk), the summary says so and the sweep goes on."""
    check = job.check()
    if check.record is not None:
        return summary_of(job, check.record)
    record = failed_record(job.cfg, job.study, {"type": error_type, "message": message}, launch=launch)
    try:
        write_job_record(job, record)
    except RecordWriteError as exc:
        record["error"]["message"] += f"; its failed record could not be written: {exc}"
    return summary_of(job, record)


class Progress:
    """What a sweep says on stderr while it runs. On a terminal: a progress bar over runs, with the
    run and epoch lines printed above it. Anywhere else (a file, a pipe, a SLURM log): no bar and no
    carriage return, one line per run start, per epoch and per run end, each with the run's label.
    Not ``verbose`` (``--quiet``): only the runs that did not end ``done``."""

    def __init__(self, total: int, verbose: bool) -> None:
        self.stream = sys.stderr
        self.total, self.begun, self.ended = total, 0, 0
        self.verbose = verbose
        self.bar: Any = None
        if verbose and total and _isatty(self.stream):
            self.bar = tqdm(total=total, desc="runs", unit="run", file=self.stream)

    def write(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=self.stream)
        else:
            print(msg, file=self.stream, flush=True)

    def started(self, label: str) -> None:
        self.begun += 1
        if self.verbose:
            self.write(f"[{label}] started (run {self.begun} of {self.total})")

    def finished(self, summary: dict[str, Any], seconds: float | None = None) -> None:
        self.ended += 1
        if summary["status"] != "done" or self.verbose:
            self.write(f"{end_line(summary, seconds)} ({self.ended}/{self.total} ended)")
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


class InlineLauncher:
    """Runs jobs one after the other in this process, with a progress bar over runs."""

    name = "inline"

    def __init__(self, options: LaunchOptions | None = None) -> None:
        if options is not None:
            check_packing(options.runs_per_gpu, self.name, options.gpus, options.mps)
        self.options = options

    def launch(self, jobs: Sequence[Job], verbose: bool = True) -> list[dict[str, Any]]:
        check_jobs(jobs, self.name)
        if self.options is not None:
            me = launch_info()
            record_submissions(
                self.options.sweep_dir,
                [
                    Submission(j.cfg.run_id(), j.cfg.label(), "inline", me["job_id"], me["host"], time.time())
                    for j in jobs
                ],
            )
        progress = Progress(len(jobs), verbose)
        log = progress.write if verbose else None
        results: list[dict[str, Any]] = []
        try:
            for i, job in enumerate(jobs):
                t0 = time.time()
                progress.started(job.cfg.label())
                try:
                    summary = run_job(job, log, announce=False)
                except RecordWriteError as exc:
                    raise SweepStopped(str(exc), jobs[i:], results) from exc
                results.append(summary)
                progress.finished(summary, time.time() - t0)
                if summary.get("errno") in STORAGE_ERRNOS:
                    raise SweepStopped(
                        f"{job.cfg.label()} failed for lack of storage: {summary['error']}", jobs[i + 1 :], results
                    )
        finally:
            progress.close()
        return results


def local_suggestion(jobs: Sequence[Job], cpus: int) -> str | None:
    """One line suggesting ``--executor local`` to an inline sweep of ``jobs`` on a machine whose
    process may use ``cpus`` cores, with the measured speed-up; ``None`` for fewer than
    ``SUGGEST_LOCAL_FROM`` CPU runs or a single core. Inline stays the default: a CPU run's last bits
    depend on its torch thread count, and the committed records were made inline at the machine's."""
    import torch  # why: already loaded by the run layer; named here for the one CUDA question

    cuda = torch.cuda.is_available()
    cpu_runs = sum(1 for j in jobs if j.cfg.device == "cpu" or (j.cfg.device == "auto" and not cuda))
    if cpus < 2 or cpu_runs < SUGGEST_LOCAL_FROM:
        return None
    from benchmark.sweep.cost import local_speedups  # why: the cost model is not needed by a sweep that runs

    measured = local_speedups()
    if measured:
        low, high = measured[0], measured[-1]
        gain = (
            f"{low[0]:.1f}x" if low is high else f"{low[0]:.1f}-{high[0]:.1f}x"
        ) + f" faster on a 2-core machine ({', '.join(m[2] for m in measured)} in results/_bench)"
    else:
        gain = "usually several times faster"
    return (
        f"tip: --executor local runs {cpus} runs at once, 1 torch thread each: {gain}; inline stays the default "
        f"because a CPU run's last bits depend on its thread count (the committed records were made inline)"
    )


#: the fewest pending CPU runs for which an inline sweep suggests the local executor
SUGGEST_LOCAL_FROM = 4

#: executor name → "module:class"; imported on use, so inline sweeps never import submitit
LAUNCHERS: dict[str, str] = {
    "inline": "benchmark.sweep.launch:InlineLauncher",
    "local": "benchmark.sweep.executors:LocalLauncher",
    "slurm": "benchmark.sweep.executors:SlurmLauncher",
}


def make_launcher(name: str, options: LaunchOptions | None = None) -> Any:
    if name not in LAUNCHERS:
        raise ValueError(f"unknown executor '{name}'; expected one of {sorted(LAUNCHERS)}")
    module, cls = LAUNCHERS[name].split(":")
    return getattr(importlib.import_module(module), cls)(options)
