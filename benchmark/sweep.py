"""Sweep planning: which runs of a sweep still need running, judged from the records alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.config import RunConfig, SweepConfig
from benchmark.records import record_path, record_status


@dataclass(frozen=True)
class Job:
    """One run of a sweep and where its record goes."""

    cfg: RunConfig
    results_dir: Path

    @property
    def record_path(self) -> Path:
        c = self.cfg
        return record_path(self.results_dir, c.dataset, c.method, c.labels, c.seed, c.run_id())

    @property
    def status(self) -> str | None:
        return record_status(self.record_path)


def plan(sweep: SweepConfig, results_dir: Path, *, force: bool = False, retry_failed: bool = False) -> tuple[list[Job], list[Job]]:
    """(to run, skipped): a run is skipped when its ``done`` record exists (or ``failed`` one,
    unless ``retry_failed``); ``force`` runs everything."""
    todo: list[Job] = []
    skipped: list[Job] = []
    for cfg in sweep.runs():
        job = Job(cfg, Path(results_dir))
        status = None if force else job.status
        if status == "done" or (status == "failed" and not retry_failed):
            skipped.append(job)
        else:
            todo.append(job)
    return todo, skipped
