"""Running a sweep's jobs through submitit: SLURM job arrays, or local processes.

Each run is one submitit job calling ``RunTask``. ``RunTask`` is ``Checkpointable``: when SLURM
signals a time-out or a preemption, submitit resubmits the same call (requeue) and the run
resumes from its last epoch checkpoint (``benchmark.train``), so the requeued job ends with the
record an uninterrupted run writes.

A job that dies without a record (``scancel``, out of memory, node failure) is noticed from the
scheduler's state and gets a ``failed`` record: it is reported, never waited on forever. That
needs SLURM's accounting (``sacct``); without it submitit sees every state as UNKNOWN.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import submitit
from submitit.core.utils import FailedJobError, UncompletedJobError

import benchmark
from benchmark.launch import ExecutorUnavailableError, LaunchOptions, Progress, launch_info, record_job_failure, run_job, summary_of
from benchmark.records import read_record, record_status
from benchmark.status import Submission, record_submissions
from benchmark.sweep import Job

#: the folder holding the ``benchmark`` and ``methods`` packages this sweep was started from
CODE_ROOT = Path(benchmark.__file__).resolve().parent.parent


class RunTask(submitit.helpers.Checkpointable):
    """One run as a submitit job. On requeue the inherited ``checkpoint`` resubmits this same
    call; training resumes from the run's checkpoint on disk, so nothing else needs saving."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def __call__(self) -> dict[str, Any]:
        job = self.job
        # requeued after its record was written (the signal came late): the run is finished
        if record_status(job.record_path) == "done":
            record = read_record(job.record_path)
            if record.get("launch", {}).get("job_id") == launch_info()["job_id"]:
                return summary_of(job, record)
        return run_job(job, log=lambda msg: print(msg, flush=True))


@contextmanager
def _code_on_path() -> Iterator[None]:
    """Jobs unpickle ``RunTask`` by module name: put this code first on their ``PYTHONPATH``
    (SLURM and the local executor pass the submitting environment on)."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(CODE_ROOT), *([old] if old else [])])
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


class Handle:
    """A submitted run: its job, its submitit job, and when it was submitted."""

    def __init__(self, job: Job, sjob: submitit.Job, executor: str) -> None:
        self.job, self.sjob, self.executor = job, sjob, executor
        self.t0 = time.time()

    def outcome(self, force: bool = False) -> dict[str, Any] | None:
        """The run's summary once its job has ended, else ``None``."""
        sjob = self.sjob
        if not sjob.paths.result_pickle.exists() and not sjob.done(force_check=force):
            return None
        state = sjob.state
        # a completed job's result file may show up late on a network file system: result() waits
        if sjob.paths.result_pickle.exists() or state.upper() in ("COMPLETED", "FINISHED"):
            try:
                return sjob.result()
            except (FailedJobError, UncompletedJobError) as exc:
                # an error outside train.run's own handling (e.g. the record could not be written)
                return self._failed(type(exc).__name__, str(exc))
        stderr = (sjob.stderr() or "").strip().splitlines()[-15:]
        message = f"{self.executor} job {sjob.job_id} ended in state {state} without writing a record"
        if stderr:
            message += "; end of its stderr:\n" + "\n".join(stderr)
        return self._failed("JobEndedWithoutRecord", message)

    def _failed(self, error_type: str, message: str) -> dict[str, Any]:
        launch = {"executor": self.executor, "job_id": str(self.sjob.job_id), "logs": str(self.sjob.paths.folder)}
        return record_job_failure(self.job, error_type, message, launch)


class SubmititLauncher:
    """Shared by the SLURM and local launchers: build the executor, record submissions in the
    ledger, wait for the jobs."""

    cluster = ""

    def __init__(self, options: LaunchOptions) -> None:
        self.options = options

    def executor(self, gpus: int) -> submitit.AutoExecutor:
        o = self.options
        ex = submitit.AutoExecutor(folder=o.sweep_dir / "%j", cluster=self.cluster,
                                  slurm_max_num_timeout=o.max_timeouts, local_max_num_timeout=o.max_timeouts)
        params: dict[str, Any] = {"name": f"spml-{o.sweep_dir.name}", "timeout_min": o.time_min, "gpus_per_node": gpus}
        if o.cpus is not None:
            params["cpus_per_task"] = o.cpus
        if self.cluster == "slurm":
            if o.mem_gb is not None:
                params["mem_gb"] = o.mem_gb
            for key in ("partition", "account", "qos"):
                if getattr(o, key) is not None:
                    params[f"slurm_{key}"] = getattr(o, key)
            if o.sbatch:
                params["slurm_additional_parameters"] = dict(o.sbatch)
            if o.max_parallel is not None:
                params["slurm_array_parallelism"] = o.max_parallel
        ex.update_parameters(**params)
        return ex

    def _gpus(self, job: Job) -> int:
        return 0 if job.cfg.device == "cpu" else self.options.gpus

    def _record(self, handles: Sequence[Handle]) -> None:
        now = time.time()
        record_submissions(self.options.sweep_dir, [
            Submission(h.job.cfg.run_id(), h.job.cfg.label(), self.cluster, str(h.sjob.job_id), launch_info()["host"],
                       now, f"spml-{self.options.sweep_dir.name}")
            for h in handles
        ])

    def _poll(self, active: list[Handle], progress: Progress, results: list[dict[str, Any]], last: list[float]) -> None:
        """Collect the outcome of every ended job in ``active``; ask the scheduler for states at
        most every ``poll_s`` (the result files are checked on every call)."""
        force = time.time() - last[0] >= self.options.poll_s
        if force:
            last[0] = time.time()
        for h in list(active):
            summary = h.outcome(force=force)
            if summary is not None:
                active.remove(h)
                results.append(summary)
                progress.finished(summary, time.time() - h.t0)


class SlurmLauncher(SubmititLauncher):
    """One SLURM job array per resource shape, at most ``max_parallel`` tasks of it at once."""

    name = cluster = "slurm"

    def __init__(self, options: LaunchOptions) -> None:
        missing = [tool for tool in ("sbatch", "srun", "sacct") if shutil.which(tool) is None]
        if missing:
            raise ExecutorUnavailableError(
                f"--executor slurm needs the SLURM client programs; not found: {', '.join(missing)} "
                "(a single-node test cluster: scripts/slurm/start_cluster.sh)")
        super().__init__(options)

    def submit(self, jobs: Sequence[Job]) -> list[Handle]:
        shapes: dict[int, list[Job]] = {}
        for job in jobs:
            shapes.setdefault(self._gpus(job), []).append(job)
        handles: list[Handle] = []
        with _code_on_path():
            for gpus, group in shapes.items():
                ex = self.executor(gpus)
                with ex.batch():
                    sjobs = [ex.submit(RunTask(job)) for job in group]
                shape = [Handle(job, sjob, self.cluster) for job, sjob in zip(group, sjobs)]
                self._record(shape)
                handles += shape
        return handles

    def wait(self, handles: Sequence[Handle], verbose: bool = True) -> list[dict[str, Any]]:
        progress = Progress(len(handles), verbose)
        active, results, last = list(handles), [], [0.0]
        while active:
            self._poll(active, progress, results, last)
            if active:
                time.sleep(1.0)
        progress.close()
        return results

    def launch(self, jobs: Sequence[Job], verbose: bool = True) -> list[dict[str, Any]]:
        return self.wait(self.submit(jobs), verbose) if jobs else []


class LocalLauncher(SubmititLauncher):
    """Local processes through submitit's local executor, which starts whatever it is given at
    once: this launcher submits a job only while fewer than ``max_parallel`` run."""

    name = cluster = "local"

    def launch(self, jobs: Sequence[Job], verbose: bool = True) -> list[dict[str, Any]]:
        cap = self.options.max_parallel or max(1, (os.cpu_count() or 1) // (self.options.cpus or 1))
        executors: dict[int, submitit.AutoExecutor] = {}
        queue = list(jobs)
        progress = Progress(len(queue), verbose)
        active: list[Handle] = []
        results: list[dict[str, Any]] = []
        last = [0.0]
        while queue or active:
            while queue and len(active) < cap:
                job = queue.pop(0)
                gpus = self._gpus(job)
                ex = executors.get(gpus) or executors.setdefault(gpus, self.executor(gpus))
                with _code_on_path():
                    handle = Handle(job, ex.submit(RunTask(job)), self.cluster)
                self._record([handle])
                active.append(handle)
            self._poll(active, progress, results, last)
            if active:
                time.sleep(0.5)
        progress.close()
        return results


__all__ = ["CODE_ROOT", "Handle", "LocalLauncher", "RunTask", "SlurmLauncher"]
