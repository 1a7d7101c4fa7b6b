"""Running a sweep's jobs through submitit: SLURM job arrays, or local processes.

Each run is one submitit job calling ``RunTask``; with ``--runs-per-gpu K`` each job (array task)
holds one GPU and trains K runs at once, one process each (``PackTask``, see
``benchmark.sweep.packing``). Both are ``Checkpointable``: when SLURM signals a time-out or a
preemption, submitit resubmits the same call (requeue) and every run resumes from its last epoch
checkpoint (``benchmark.run.train``), so the requeued job ends with the records an uninterrupted one
writes.

A job that dies without a record (``scancel``, out of memory, node failure) is noticed from the
scheduler's state and each of its runs without a record gets a ``failed`` one: it is reported,
never waited on forever. That needs SLURM's accounting (``sacct``); without it submitit sees
every state as UNKNOWN.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import submitit
import torch
from submitit.core.utils import FailedJobError, UncompletedJobError

from benchmark.core.provenance import CODE_ROOT
from benchmark.sweep.checks import check_jobs, check_packing
from benchmark.sweep.launch import (
    ExecutorUnavailableError,
    LaunchOptions,
    Progress,
    job_log,
    launch_info,
    record_job_failure,
    run_job,
    summary_of,
)
from benchmark.sweep.packing import Pack, available_cpus, job_layout, threads_per_run
from benchmark.sweep.plan import Job
from benchmark.sweep.status import Submission, record_submissions


class RunTask(submitit.helpers.Checkpointable):
    """One run as a submitit job. On requeue the inherited ``checkpoint`` resubmits this same
    call; training resumes from the run's checkpoint on disk, so nothing else needs saving.
    ``threads``: torch threads for the run (the local executor shares the CPUs among its
    processes); ``None`` keeps torch's default (every CPU the job may use). ``announce``: the job's
    log says when the run starts and ends (a SLURM log); the local launcher says that itself and
    relays the rest (the epoch lines) from the job's log."""

    def __init__(self, job: Job, threads: int | None = None, announce: bool = True) -> None:
        self.job, self.threads, self.announce = job, threads, announce

    def __call__(self) -> dict[str, Any]:
        job = self.job
        # requeued after its record was written (the signal came late): the run is finished
        record = job.check().record
        if (
            record is not None
            and record["status"] == "done"
            and record.get("launch", {}).get("job_id") == launch_info()["job_id"]
        ):
            return summary_of(job, record)
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        return run_job(job, log=job_log, announce=self.announce)


class PackTask(submitit.helpers.Checkpointable):
    """K runs in one job on its one GPU, each in its own process (``benchmark.sweep.packing.Pack``).
    On requeue the run processes are stopped first; the job started again resumes each run from
    its checkpoint and skips the runs it had finished. ``threads``: torch threads per run,
    ``None``: the job's CPUs over ``runs_per_gpu``."""

    def __init__(self, jobs: Sequence[Job], runs_per_gpu: int, threads: int | None = None, mps: bool = False) -> None:
        self.jobs, self.runs_per_gpu, self.threads, self.mps = list(jobs), runs_per_gpu, threads, mps
        self._pack: Pack | None = None

    def __call__(self) -> list[dict[str, Any]]:
        env = submitit.JobEnvironment()
        threads = self.threads or threads_per_run(available_cpus(), self.runs_per_gpu)
        self._pack = Pack(
            self.jobs, self.runs_per_gpu, threads, Path(env.paths.folder), launch_info(), self.mps, job_log
        )
        return self._pack.run()

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        if self._pack is not None:
            self._pack.stop()
        return super().checkpoint(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pack": None}  # the run processes stay with this job


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
    """A submitted job: its runs (one, or a pack), its submitit job, and when it was submitted."""

    def __init__(self, jobs: Sequence[Job], sjob: submitit.Job, executor: str, gpu_ids: Sequence[int] = ()) -> None:
        self.jobs, self.sjob, self.executor = list(jobs), sjob, executor
        self.gpu_ids = list(gpu_ids)  # local executor: the GPUs this job holds
        self.t0 = time.time()
        self._read = 0  # bytes of the job's stdout already relayed
        self._partial = b""  # a line not yet ended

    def new_lines(self) -> list[str]:
        """The run lines (``[label] ...``: start, epochs, end) the job printed since the last call;
        submitit's own lines are left out."""
        try:
            with open(self.sjob.paths.stdout, "rb") as f:
                f.seek(self._read)
                data = f.read()
        except OSError:  # not created yet
            return []
        self._read += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        return [text for text in (line.decode("utf-8", "replace").rstrip() for line in lines) if text.startswith("[")]

    @property
    def job(self) -> Job:
        """The run of a one-run job (a pack has several: ``jobs``)."""
        if len(self.jobs) != 1:
            raise AttributeError(f"a job of {len(self.jobs)} packed runs has no single run: use .jobs")
        return self.jobs[0]

    def outcome(self, force: bool = False) -> list[dict[str, Any]] | None:
        """The summary of each of its runs once the job has ended, else ``None``."""
        sjob = self.sjob
        if not sjob.paths.result_pickle.exists() and not sjob.done(force_check=force):
            return None
        state = sjob.state
        # a completed job's result file may show up late on a network file system: result() waits
        if sjob.paths.result_pickle.exists() or state.upper() in ("COMPLETED", "FINISHED"):
            try:
                result = sjob.result()
                return result if isinstance(result, list) else [result]
            except (FailedJobError, UncompletedJobError) as exc:
                # an error outside train.run's own handling (e.g. the record could not be written)
                return self._failed(type(exc).__name__, str(exc))
        stderr = (sjob.stderr() or "").strip().splitlines()[-15:]
        message = f"{self.executor} job {sjob.job_id} ended in state {state} without writing a record"
        if stderr:
            message += "; end of its stderr:\n" + "\n".join(stderr)
        return self._failed("JobEndedWithoutRecord", message)

    def _failed(self, error_type: str, message: str) -> list[dict[str, Any]]:
        """A failed record for each run of the job that has none (a run of a pack that finished
        before the job died keeps its record)."""
        launch = {"executor": self.executor, "job_id": str(self.sjob.job_id), "logs": str(self.sjob.paths.folder)}
        return [record_job_failure(job, error_type, message, launch) for job in self.jobs]


def pin_gpus(ex: submitit.AutoExecutor, ids: list[int]) -> None:
    """Make ``ex``'s next local job see the GPUs ``ids`` (``CUDA_VISIBLE_DEVICES``). submitit's
    ``LocalExecutor`` takes ``visible_gpus``, but ``AutoExecutor`` refuses it (submitit 1.5: the
    local executor declares only ``setup`` to it), so it goes to the wrapped executor."""
    ex._executor.update_parameters(visible_gpus=ids)


class SubmititLauncher:
    """Shared by the SLURM and local launchers: build the executor, cut the sweep into jobs (a
    run each, or packs of ``runs_per_gpu``), record submissions in the ledger, wait for the jobs."""

    cluster = ""
    #: print the runs' epoch lines from the jobs' logs as they come (local jobs; SLURM jobs log on their nodes)
    relay = False

    def __init__(self, options: LaunchOptions) -> None:
        check_packing(options.runs_per_gpu, self.cluster, options.gpus, options.mps)
        self.options = options

    def executor(self, gpus: int) -> submitit.AutoExecutor:
        o = self.options
        ex = submitit.AutoExecutor(
            folder=o.sweep_dir / "%j",
            cluster=self.cluster,
            slurm_max_num_timeout=o.max_timeouts,
            local_max_num_timeout=o.max_timeouts,
            **({"slurm_python": o.node_python()} if self.cluster == "slurm" else {}),
        )
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
            if o.setup:
                params["slurm_setup"] = list(o.setup)
            if o.max_parallel is not None:
                params["slurm_array_parallelism"] = o.max_parallel
        ex.update_parameters(**params)
        return ex

    def _gpus(self, job: Job) -> int:
        return 0 if job.cfg.device == "cpu" else self.options.gpus

    def jobs_of(self, jobs: Sequence[Job]) -> list[list[Job]]:
        """The runs of each job to submit: one each, or packs of ``runs_per_gpu`` of one
        resource shape."""
        return job_layout(jobs, self.options.runs_per_gpu, self._gpus)

    def task(self, runs: Sequence[Job], threads: int | None = None) -> RunTask | PackTask:
        o = self.options
        if o.runs_per_gpu == 1:
            return RunTask(runs[0], threads, announce=not self.relay)
        return PackTask(runs, o.runs_per_gpu, threads, o.mps)

    def _record(self, handles: Sequence[Handle]) -> None:
        now, host, name = time.time(), launch_info()["host"], f"spml-{self.options.sweep_dir.name}"
        record_submissions(
            self.options.sweep_dir,
            [
                Submission(job.cfg.run_id(), job.cfg.label(), self.cluster, str(h.sjob.job_id), host, now, name)
                for h in handles
                for job in h.jobs
            ],
        )

    def _poll(
        self, active: list[Handle], progress: Progress, results: list[dict[str, Any]], last: list[float]
    ) -> list[Handle]:
        """Collect the outcomes of every ended job in ``active`` (returned); ask the scheduler for
        states at most every ``poll_s`` (the result files are checked on every call)."""
        force = time.time() - last[0] >= self.options.poll_s
        if force:
            last[0] = time.time()
        ended = []
        for h in list(active):
            summaries = h.outcome(force=force)
            if self.relay and progress.verbose:
                for line in h.new_lines():
                    progress.write(line)
            if summaries is not None:
                active.remove(h)
                ended.append(h)
                for summary in summaries:
                    results.append(summary)
                    progress.finished(summary, time.time() - h.t0)
        return ended


class SlurmLauncher(SubmititLauncher):
    """One SLURM job array per resource shape, at most ``max_parallel`` tasks of it at once; a
    task is one run, or a pack of ``runs_per_gpu`` runs on its one GPU."""

    name = cluster = "slurm"

    def __init__(self, options: LaunchOptions) -> None:
        missing = [tool for tool in ("sbatch", "srun", "sacct") if shutil.which(tool) is None]
        if missing:
            raise ExecutorUnavailableError(
                f"--executor slurm needs the SLURM client programs; not found: {', '.join(missing)} "
                "(a single-node test cluster: scripts/slurm/start_cluster.sh)"
            )
        super().__init__(options)

    def submit(self, jobs: Sequence[Job]) -> list[Handle]:
        check_jobs(jobs, self.name)
        shapes: dict[int, list[list[Job]]] = {}
        for runs in self.jobs_of(jobs):
            shapes.setdefault(self._gpus(runs[0]), []).append(runs)
        handles: list[Handle] = []
        with _code_on_path():
            for gpus, group in shapes.items():
                ex = self.executor(gpus)
                with ex.batch():
                    sjobs = [ex.submit(self.task(runs)) for runs in group]
                shape = [Handle(runs, sjob, self.cluster) for runs, sjob in zip(group, sjobs)]
                self._record(shape)
                handles += shape
        return handles

    def wait(self, handles: Sequence[Handle], verbose: bool = True) -> list[dict[str, Any]]:
        progress = Progress(sum(len(h.jobs) for h in handles), verbose)
        active, last = list(handles), [0.0]
        results: list[dict[str, Any]] = []
        while active:
            self._poll(active, progress, results, last)
            if active:
                time.sleep(1.0)
        progress.close()
        return results

    def launch(self, jobs: Sequence[Job], verbose: bool = True) -> list[dict[str, Any]]:
        return self.wait(self.submit(jobs), verbose) if jobs else []


def visible_gpus() -> list[int]:
    """The GPU indices this process may hand out (``CUDA_VISIBLE_DEVICES`` is renumbered from 0
    by CUDA); none without CUDA."""
    try:
        return list(range(torch.cuda.device_count()))
    except Exception:  # noqa: BLE001 - a broken CUDA install means no GPU to hand out
        return []


class LocalLauncher(SubmititLauncher):
    """Local processes through submitit's local executor, which starts whatever it is given at
    once: this launcher submits a job only while fewer than the cap run. The cap: ``max_parallel``,
    else, for GPU jobs, the GPUs over ``--gpus`` (each GPU job gets GPUs of its own), for CPU jobs
    the CPUs over ``--cpus`` (or over the runs of a job). Each run gets the CPUs over the processes
    at once as torch threads: a fixed share, so a run's thread count, and with it its numbers, do
    not depend on what else is queued."""

    name = cluster = "local"
    relay = True

    def cap(self, gpus: int, free_gpus: int) -> int:
        o = self.options
        if o.max_parallel is not None:
            return o.max_parallel
        if gpus > 0 and free_gpus > 0:
            return max(1, free_gpus // gpus)
        # CPU jobs: --cpus each, else a CPU for each of a job's runs
        return max(1, available_cpus() // (o.cpus or o.runs_per_gpu))

    def threads(self, cap: int) -> int:
        """Torch threads per run: the job's CPUs (``--cpus``, else this machine's over the jobs
        at once) over the runs of a job."""
        o = self.options
        per_job = o.cpus if o.cpus is not None else available_cpus() // cap
        return threads_per_run(per_job, o.runs_per_gpu)

    def launch(self, jobs: Sequence[Job], verbose: bool = True) -> list[dict[str, Any]]:
        check_jobs(jobs, self.name)
        queue = self.jobs_of(jobs)
        gpu_jobs = any(self._gpus(runs[0]) > 0 for runs in queue)
        free = visible_gpus() if gpu_jobs else []
        managed = bool(free)  # else submitit's default: every GPU job sees GPU 0 onwards
        wanted = max((self._gpus(r[0]) for r in queue), default=0)
        if managed and wanted > len(free):
            raise ExecutorUnavailableError(f"--gpus {wanted} per job, but this machine has {len(free)} GPU(s)")
        cap = self.cap(wanted, len(free))
        threads = self.threads(cap)
        executors: dict[int, submitit.AutoExecutor] = {}
        progress = Progress(sum(len(runs) for runs in queue), verbose)
        active: list[Handle] = []
        results: list[dict[str, Any]] = []
        last = [0.0]
        try:
            while queue or active:
                while queue and len(active) < cap:
                    gpus = self._gpus(queue[0][0])
                    if gpus and managed and len(free) < gpus:
                        break  # wait for a job to give its GPUs back
                    runs = queue.pop(0)
                    ex = executors.get(gpus) or executors.setdefault(gpus, self.executor(gpus))
                    ids = free[:gpus] if managed else []
                    del free[: len(ids)]
                    if ids:
                        pin_gpus(ex, ids)
                    with _code_on_path():
                        handle = Handle(runs, ex.submit(self.task(runs, threads)), self.cluster, ids)
                    self._record([handle])
                    for job in runs:
                        progress.started(job.cfg.label())
                    active.append(handle)
                for handle in self._poll(active, progress, results, last):
                    free = sorted(free + handle.gpu_ids)
                if active:
                    time.sleep(0.5)
        finally:
            self._remove_placeholder()
        progress.close()
        return results

    def _remove_placeholder(self) -> None:
        """submitit's local controller makes the executor's folder as written, a literal ``%j``
        (the logs go to the folder named by the job id): remove it once empty."""
        placeholder = self.options.sweep_dir / "%j"
        try:
            placeholder.rmdir()
        except OSError:
            pass


__all__ = ["CODE_ROOT", "Handle", "LocalLauncher", "PackTask", "RunTask", "SlurmLauncher", "pin_gpus", "visible_gpus"]
