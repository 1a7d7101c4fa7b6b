"""Launchers: hand a list of jobs to an executor. Each job trains one run and writes its record;
a failure inside a run is a ``failed`` record, never a lost sweep."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Sequence

from benchmark.records import write_record
from benchmark.sweep import Job


def run_job(job: Job, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train ``job`` and write its record atomically; returns a short summary."""
    from benchmark import train  # torch is imported only where a run happens

    record = train.run(job.cfg, job.results_dir, log=log)
    write_record(job.record_path, record)
    return {"path": str(job.record_path), "status": record["status"], "test_map": record.get("test_map"),
            "error": (record.get("error") or {}).get("message")}


class InlineLauncher:
    """Runs jobs one after the other in this process, with a progress bar over runs."""

    name = "inline"

    def launch(self, jobs: Sequence[Job], verbose: bool = True) -> list[dict[str, Any]]:
        from tqdm import tqdm

        results = []
        bar = tqdm(total=len(jobs), desc="runs", unit="run", file=sys.stderr, disable=not verbose or not jobs)
        log = (lambda msg: bar.write(msg, file=sys.stderr)) if verbose else None
        for job in jobs:
            t0 = time.time()
            summary = run_job(job, log)
            results.append(summary)
            if summary["status"] != "done":
                bar.write(f"[{job.cfg.label()}] FAILED: {summary['error']}", file=sys.stderr)
            elif verbose:
                bar.write(f"[{job.cfg.label()}] done: test mAP {summary['test_map']:.2f} ({time.time() - t0:.1f}s)", file=sys.stderr)
            bar.update(1)
        bar.close()
        return results


LAUNCHERS: dict[str, Callable[..., Any]] = {"inline": InlineLauncher}
