"""The one place a run's record is started: the fields every record carries whatever became of
the run (its identity, variant, study and a ``failed`` status until the run says otherwise). The
trainer (``benchmark.run.train.run``) fills in what the run measured; a launcher whose run died
without writing a record (``benchmark.sweep.launch.record_job_failure``) closes it as ``failed``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from benchmark.spec.config import RunConfig
from benchmark.spec.variants import variant


def now() -> str:
    """A record's time stamps: UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_head(cfg: RunConfig, study: dict[str, Any] | None) -> dict[str, Any]:
    """The fields a record starts with: ``failed`` with no test mAP until the run ends otherwise.
    ``variant``: the hyper-parameters that differ from the method's defaults for the dataset
    (``{}``: its main row); ``study`` tags a run of a tuning study, ``None`` otherwise."""
    r = cfg.resolve()
    return {
        "method": r.method,
        "dataset": r.dataset,
        "labels": r.labels,
        "seed": r.seed,
        "protocol": r.protocol,
        "run_id": cfg.run_id(),
        "variant": variant(r.method, r.dataset, r.hparams),
        "study": study,
        "status": "failed",
        "test_map": None,
    }


def failed_record(cfg: RunConfig, study: dict[str, Any] | None, error: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The whole record of a run that failed without its trainer recording it (cancelled, killed,
    out of memory): ``error`` (``type``, ``message``), the resolved config and ``fields``."""
    return {
        **record_head(cfg, study),
        "error": error,
        "config": cfg.resolve().model_dump(),
        **fields,
        "finished_at": now(),
    }


__all__ = ["failed_record", "now", "record_head"]
