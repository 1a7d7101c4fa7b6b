"""A sweep's unit of work: one run and where its record goes (planning is in ``status``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.records import RecordCheck, checkpoint_path, inspect_record, record_path
from benchmark.spec.config import RunConfig


@dataclass(frozen=True)
class Job:
    """One run of a sweep, where its record goes, and the tuning study it belongs to, if any
    (written into its record; not part of what the run is, so not compared)."""

    cfg: RunConfig
    results_dir: Path
    #: ``--tensorboard DIR``: the run also logs its epochs as TensorBoard events under DIR
    tensorboard_dir: Path | None = None
    study: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def record_path(self) -> Path:
        c = self.cfg
        return record_path(self.results_dir, c.dataset, c.method, c.labels, c.seed, c.run_id())

    @property
    def checkpoint_path(self) -> Path:
        """The run's last epoch-end checkpoint, while the run is unfinished."""
        return checkpoint_path(self.results_dir, self.cfg.run_id())

    def identity(self) -> dict[str, Any]:
        """The fields a record at ``record_path`` must carry to be this run's."""
        c = self.cfg
        return {"run_id": c.run_id(), "method": c.method, "dataset": c.dataset, "labels": c.labels, "seed": c.seed}

    def check(self) -> RecordCheck:
        """What is at ``record_path``: this run's record, a corrupt file (and why), or nothing."""
        return inspect_record(self.record_path, self.identity(), verify=True)  # a tampered record is corrupt

    @property
    def status(self) -> str | None:
        """``done``/``failed``/``diverged``, ``corrupt``, or ``None`` where there is no record."""
        return self.check().status
