"""Sweep state: which runs of a sweep are done, diverged, failed, corrupt, running, interrupted or
missing.

The records, the ledger of submitted jobs and the checkpoints decide, in this order:

1. a ``done`` or ``diverged`` record (``benchmark.run.train``: a run whose predictions carry no
   information): that status;
2. the ledger of submitted jobs (``<log dir>/<sweep id>/submitted.jsonl``, appended to by every
   launcher), checked against the scheduler: a queued or running job makes its run ``running``
   (a failed run being retried included);
3. a ``failed`` record, or a SLURM job that ended without writing a record (cancelled, killed,
   out of memory): ``failed``; a file at the record's path that is not this run's record
   (unreadable, truncated, not a record, another run's): ``corrupt``, named with the reason;
4. a checkpoint without a live job: ``interrupted`` (it resumes when submitted again);
5. anything else: ``missing``.

Only the latest submission of a run counts. Runs are identified by ``RunConfig.run_id()``, so the
ledgers of all sweeps under one log dir are read together.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmark.records.layout import LOGS
from benchmark.sweep.plan import Job

STATES = ("done", "diverged", "failed", "corrupt", "running", "interrupted", "missing")
LEDGER = "submitted.jsonl"
# fmt: off
#: SLURM states of a job that is still going to run or is running (squeue's long names)
SLURM_ACTIVE = frozenset({
    "PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING", "SUSPENDED",
    "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "SPECIAL_EXIT",
})
# fmt: on


def default_log_dir(results_dir: str | Path) -> Path:
    """Inside the results dir, in a folder record readers skip (it starts with ``_``)."""
    return Path(results_dir) / LOGS


def new_sweep_dir(log_root: str | Path) -> Path:
    """A fresh folder name for one submission of a sweep (its submitit logs and its ledger);
    made on the first submission, so a sweep that fails before submitting leaves nothing."""
    root = Path(log_root)
    while True:
        path = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        if not path.exists():
            return path


# -- the ledger ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Submission:
    """One run handed to an executor: where it runs and under which job id."""

    run_id: str
    label: str
    executor: str  # inline | local | slurm
    job_id: str  # SLURM job id ("123" or "123_4"), or the process id for inline/local
    host: str
    submitted_at: float
    job_name: str | None = None


def record_submissions(sweep_dir: Path, entries: Iterable[Submission]) -> None:
    """Append to the sweep's ledger in one ``O_APPEND`` write, so concurrent appends never
    interleave within a line."""
    data = "".join(json.dumps(asdict(e)) + "\n" for e in entries).encode()
    if not data:
        return
    sweep_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(sweep_dir / LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_submissions(log_root: str | Path) -> dict[str, Submission]:
    """The latest submission of each run over every sweep's ledger under ``log_root``. A line cut
    short by a crash is skipped: it names no job that could still be found."""
    latest: dict[str, Submission] = {}
    root = Path(log_root)
    for ledger in sorted(root.glob(f"*/{LEDGER}")) if root.is_dir() else []:
        for line in ledger.read_text(encoding="utf-8").splitlines():
            try:
                sub = Submission(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue
            prev = latest.get(sub.run_id)
            if prev is None or sub.submitted_at >= prev.submitted_at:
                latest[sub.run_id] = sub
    return latest


# -- the scheduler --------------------------------------------------------------------------------
def _run(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def slurm_states(job_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``job id → (state, job name)`` for the SLURM jobs the scheduler still knows: squeue for
    queued and running ones (array tasks listed one by one), sacct for ended ones. Ids that
    neither knows (purged, or no SLURM here) are absent."""
    wanted = set(job_ids)
    if not wanted:
        return {}
    found: dict[str, tuple[str, str]] = {}
    out = _run(["squeue", "-h", "-r", "-o", "%i|%T|%j"])
    for line in (out or "").splitlines():
        jid, _, rest = line.strip().partition("|")
        state, _, name = rest.partition("|")
        if jid in wanted:
            found[jid] = (state, name)
    ended = wanted - set(found)
    if ended:
        bases = sorted({j.split("_")[0] for j in ended})
        out = _run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,JobName", *[a for b in bases for a in ("-j", b)]])
        for line in (out or "").splitlines():
            parts = line.strip().split("|")
            if len(parts) == 3 and parts[0] in ended:
                # "CANCELLED by 0" → CANCELLED
                found[parts[0]] = (parts[1].split()[0] if parts[1] else "UNKNOWN", parts[2])
    return found


def _process_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


# -- the state of each run ------------------------------------------------------------------------
@dataclass(frozen=True)
class RunState:
    job: Job
    state: str  # one of STATES
    detail: str = ""


def sweep_state(jobs: Sequence[Job], log_root: str | Path) -> list[RunState]:
    """The state of each of ``jobs``, in order (see the module docstring for the rules)."""
    submissions = read_submissions(log_root)
    latest = {job.cfg.run_id(): submissions.get(job.cfg.run_id()) for job in jobs}
    slurm = slurm_states(s.job_id for s in latest.values() if s is not None and s.executor == "slurm")
    host, me = socket.gethostname(), str(os.getpid())
    out: list[RunState] = []
    for job in jobs:
        sub = latest[job.cfg.run_id()]
        live, ended = "", ""
        if sub is not None and sub.executor == "slurm" and sub.job_id in slurm:
            state, name = slurm[sub.job_id]
            # a job id reused after a cluster reset belongs to another job
            if sub.job_name is None or name == sub.job_name:
                if state in SLURM_ACTIVE:
                    live = f"slurm job {sub.job_id} {state}"
                else:
                    ended = f"slurm job {sub.job_id} ended {state} without a record"
        elif sub is not None and sub.executor != "slurm" and sub.host == host and sub.job_id != me:
            live = f"{sub.executor} process {sub.job_id}" if _process_alive(sub.job_id) else ""
        check = job.check()
        status = check.status
        if status == "done":
            out.append(RunState(job, "done"))
        elif status == "diverged":
            out.append(
                RunState(job, "diverged", _first_line(((check.record or {}).get("divergence") or {}).get("reason")))
            )
        elif live:
            out.append(RunState(job, "running", live))
        elif status == "failed":
            out.append(RunState(job, "failed", _first_line(((check.record or {}).get("error") or {}).get("message"))))
        elif status == "corrupt":
            out.append(RunState(job, "corrupt", check.problem))
        elif ended:
            out.append(RunState(job, "failed", ended))
        elif job.checkpoint_path.exists():
            out.append(RunState(job, "interrupted", "a checkpoint and no live job: resumes when submitted"))
        else:
            out.append(RunState(job, "missing"))
    return out


def _first_line(text: object) -> str:
    return str(text).strip().splitlines()[0] if isinstance(text, str) and text.strip() else ""


def shipped_records_hint(states: Sequence[RunState], results_dir: Path) -> str | None:
    """When none of the sweep's runs has a record in ``results_dir`` but the repository's own
    ``results/`` (an editable checkout: ``CODE_ROOT``) holds some: one line saying where they are
    and how to use them; else ``None``."""
    from benchmark.core.provenance import CODE_ROOT  # why: torch-free, asked only here

    shipped = CODE_ROOT / "results"
    if (
        any(s.state != "missing" for s in states)
        or not shipped.is_dir()
        or Path(results_dir).resolve() == shipped.resolve()
    ):
        return None
    there = sum(Job(s.job.cfg, shipped).record_path.exists() for s in states)
    if not there:
        return None
    return (
        f"no records of these runs in {results_dir}; the repository's shipped records ({shipped}) hold {there} "
        f"of these {len(states)} runs: add --results-dir {shipped} to use them (only what is missing there runs)"
    )


def plan(
    states: Sequence[RunState], *, force: bool = False, retry_failed: bool = False
) -> tuple[list[Job], list[RunState]]:
    """(to submit, left alone). Missing and interrupted runs are submitted, and so are corrupt ones
    (the caller names each file it replaces); failed and diverged ones with ``retry_failed``; done
    ones with ``force``. A running run is never submitted twice."""
    todo: list[Job] = []
    left: list[RunState] = []
    for s in states:
        submit = (
            s.state in ("missing", "interrupted", "corrupt")
            or (s.state in ("failed", "diverged") and (retry_failed or force))
            or (s.state == "done" and force)
        )
        (todo.append(s.job) if submit else left.append(s))
    return todo, left


def state_counts(states: Sequence[RunState]) -> str:
    """How many runs are in each state, ``2 done, 1 failed``; ``none`` for no runs."""
    return ", ".join(f"{n} {state}" for state, n in sorted(Counter(s.state for s in states).items())) or "none"


def format_status(states: Sequence[RunState], max_failures: int = 20) -> str:
    """A table of counts per dataset × method, then the diverged, failed, corrupt and running runs
    with their reasons."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    for s in states:
        counts.setdefault((s.job.cfg.dataset, s.job.cfg.method), Counter())[s.state] += 1
    header = ["dataset", "method", *STATES, "total"]
    rows = [[d, m, *[str(c[k]) for k in STATES], str(sum(c.values()))] for (d, m), c in counts.items()]
    total = Counter(s.state for s in states)
    rows.append(["all", "", *[str(total[k]) for k in STATES], str(len(states))])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    lines = [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
    sections = (
        ("diverged", "diverged runs ({n}: their predictions carry no information; --retry-failed reruns them):"),
        ("failed", "failed runs ({n}; --retry-failed resubmits them):"),
        ("corrupt", "corrupt records ({n}; the next sweep replaces each, naming it):"),
        ("running", "running ({n}):"),
    )
    for state, title in sections:
        picked = [s for s in states if s.state == state]
        if not picked:
            continue
        lines += ["", title.format(n=len(picked))]
        if state == "corrupt":
            lines += [f"  {s.detail}" for s in picked[:max_failures]]
        else:
            lines += [f"  {s.job.cfg.label()}: {s.detail or 'see its record'}" for s in picked[:max_failures]]
        if len(picked) > max_failures:
            lines.append(f"  ... and {len(picked) - max_failures} more")
    return "\n".join(lines)


__all__ = [
    "LEDGER",
    "STATES",
    "RunState",
    "Submission",
    "default_log_dir",
    "format_status",
    "new_sweep_dir",
    "plan",
    "read_submissions",
    "record_submissions",
    "shipped_records_hint",
    "slurm_states",
    "state_counts",
    "sweep_state",
]
