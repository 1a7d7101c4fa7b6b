"""A sweep's unit of work: one run and where its record goes (planning is in ``status``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.config import RunConfig
from benchmark.records import record_path, record_status


@dataclass(frozen=True)
class Job:
    """One run of a sweep and where its record goes."""

    cfg: RunConfig
    results_dir: Path
    #: ``--tensorboard DIR``: the run also logs its epochs as TensorBoard events under DIR
    tensorboard_dir: Path | None = None

    @property
    def record_path(self) -> Path:
        c = self.cfg
        return record_path(self.results_dir, c.dataset, c.method, c.labels, c.seed, c.run_id())

    @property
    def status(self) -> str | None:
        return record_status(self.record_path)

