"""A bench study's runs, trained by the sweep machinery and read back through the records: the
runs of a ``SweepConfig`` as jobs for the inline launcher (records in a folder of the study's),
then ``leaderboard.records.read_records`` over that folder."""

from __future__ import annotations

from pathlib import Path

from benchmark.spec.config import SweepConfig
from benchmark.sweep.launch import InlineLauncher
from benchmark.sweep.plan import Job
from leaderboard.records import Records, read_records


def run_sweep(sweep: SweepConfig, results: Path) -> Records:
    """Train every run of ``sweep`` here, one after the other, its records under ``results``, and
    read them back (strictly: a study averages nothing it cannot trust); ``RuntimeError`` naming
    the first run that did not end ``done``."""
    jobs = [Job(run.cfg, results, study=run.study) for run in sweep.planned()]
    for summary in InlineLauncher().launch(jobs):
        if summary["status"] != "done":
            raise RuntimeError(f"{summary['label']} {summary['status']}: {summary['error']}")
    return read_records(results, strict=True)
