"""What the bench scripts share: a study's runs, trained by the sweep machinery and read back
through the records (the runs of a ``SweepConfig`` as jobs for the inline launcher, records in a
temporary folder of the study's, then ``leaderboard.records.read_records`` over that folder), the
flags and run settings of the CPU studies, a study's table of methods beside AN, and the shape of
a script's ``main``."""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.core.cli import add_data_root, add_json, add_threads, guarded, user_error
from benchmark.run.environment import torch_threads
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


def beside_an(means: pd.DataFrame, columns: Sequence[str]) -> list[list[str]]:
    """A study's table body: per method (the index of ``means``), each column's mean test mAP and its
    difference from AN's (nan without an AN row)."""
    an = means.loc["an"] if "an" in means.index else pd.Series(math.nan, index=means.columns)
    return [[m, *(f"{means.at[m, c]:.2f} ({means.at[m, c] - an[c]:+.2f})" for c in columns)] for m in means.index]


def add_study_flags(p: argparse.ArgumentParser) -> None:
    """The flags every sweep study ends with: ``--data-root``, ``--json``, ``--threads``."""
    add_data_root(p)
    add_json(p)
    add_threads(p)


@contextmanager
def study_folder(args: argparse.Namespace) -> Iterator[Path]:
    """A temporary folder for a study's records, with torch at ``--threads`` (the caller's count
    restored after: a study's ``main`` is called in-process by the tests)."""
    with torch_threads(args.threads), tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def cpu_overrides(args: argparse.Namespace, /, **more: Any) -> dict[str, Any]:
    """The ``RunConfig`` fields every run of a CPU study shares: no checkpoints, ``--data-root``."""
    return {"device": "cpu", "checkpoint": False, "data_root": str(args.data_root), **more}


def command(
    prog: str,
    argv: list[str] | None,
    parse: Callable[[list[str] | None, str], argparse.Namespace],
    check: Callable[[argparse.Namespace], None],
    work: Callable[[argparse.Namespace], Any],
    report: Callable[[argparse.Namespace, Any], str],
) -> int:
    """A bench script's ``main``: the flags parsed and checked first (a user's mistake, ``KeyError``
    or ``ValueError`` from ``check``, is one line and exit 2 before minutes of measuring), then
    ``work`` measures and returns what ``--json`` writes, after ``report`` of it is printed; Ctrl-C
    is one line and exit 130."""

    def body(argv: list[str] | None) -> int:
        args = parse(argv, prog)
        try:
            check(args)
        except (KeyError, ValueError) as exc:
            return user_error(prog, exc)
        result = work(args)
        print(report(args, result))
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
            print(f"wrote {args.json}")
        return 0

    return guarded(prog, body, argv)
