"""A sweep's unit of work: one run and where its record goes (planning is in ``status``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.config import RunConfig
from benchmark.records import record_path, record_status


@dataclass(frozen=True)
class Job:
    """One run of a sweep, where its record goes, and the tuning study it belongs to, if any
    (written into its record; not part of what the run is, so not compared)."""

    cfg: RunConfig
    results_dir: Path
    study: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def record_path(self) -> Path:
        c = self.cfg
        return record_path(self.results_dir, c.dataset, c.method, c.labels, c.seed, c.run_id())

    @property
    def status(self) -> str | None:
        return record_status(self.record_path)

