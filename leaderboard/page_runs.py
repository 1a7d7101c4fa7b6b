"""The page's lists of runs and files kept out of every mean: failed runs, diverged runs, files that
are not run records, cells whose records cannot be averaged together."""

from __future__ import annotations

import json

import pandas as pd

from benchmark.records import is_number
from leaderboard.mdutil import DASH, clip, escape, plural, table
from leaderboard.records import Records, row_label

SORT = ["dataset", "protocol", "method", "variant", "labels", "seed", "path"]
#: the leading columns of the failed and diverged tables
RUN = ["method", "labels", "dataset", "protocol", "seed"]


def _run(r: pd.Series) -> list[str]:
    """A failed or diverged run's cells under ``RUN``."""
    return [escape(row_label(r["method"], r["variant"])), r["labels"], r["dataset"], r["protocol"], str(r["seed"])]


def failed_section(records: Records) -> list[str]:
    failed = records.failed
    if failed.empty:
        return []
    rows = [[*_run(r), escape(clip(r["error"])), f"`{r['path']}`"] for _, r in failed.sort_values(SORT).iterrows()]
    return [
        f"## Failed runs ({len(failed)})",
        "",
        "Counted apart: never averaged into a cell. Rerun them with `python run_all.py --retry-failed`.",
        "",
        table([*RUN, "error", "record"], rows),
        "",
    ]


def _evidence(ev: object) -> str:
    if not isinstance(ev, dict) or not ev:
        return DASH
    return escape(clip(json.dumps(ev, sort_keys=True, default=str), 120))


def diverged_section(records: Records) -> list[str]:
    div = records.diverged
    if div.empty:
        return []
    rows = []
    for i, r in div.sort_values(SORT).iterrows():
        rec = records.raw[i]
        d = rec.get("divergence") if isinstance(rec.get("divergence"), dict) else {}
        tm = rec.get("test_map")
        rows.append(
            [
                *_run(r),
                escape(str(d.get("rule") or "unknown")),
                escape(clip(str(d.get("reason") or "no reason recorded"))),
                _evidence(d.get("evidence")),
                f"{tm:.2f}" if is_number(tm) else DASH,
                f"`{r['path']}`",
            ]
        )
    return [
        f"## Diverged runs ({len(div)})",
        "",
        "Runs whose predictions carry no information (the harness's divergence rule, named with its evidence): listed "
        "apart and never averaged into a cell; the test mAP they recorded is shown for inspection only. "
        "`python run_all.py --retry-failed` reruns them.",
        "",
        table([*RUN, "rule", "reason", "evidence", "test mAP (not used)", "record"], rows),
        "",
    ]


def left_out_section(records: Records) -> list[str]:
    if not records.invalid and not records.bad_cells:
        return []
    files, cells = len(records.invalid), len(records.bad_cells)
    out = [
        f"## Records left out ({plural(files, 'file')}, {plural(cells, 'cell')})",
        "",
    ]
    if records.invalid:
        out += [
            "Files under the results folder that are not run records the leaderboard can use (each also named on "
            "stderr); nothing of them enters a table. Move them out of the results folder, or rerun the run they "
            "belonged to.",
            "",
            table(
                ["file", "problem"], [[f"`{escape(x.path)}`", escape(clip(x.problem, 300))] for x in records.invalid]
            ),
            "",
        ]
    if records.bad_cells:
        out += [
            "Cells whose records cannot share a mean (they must differ in their seed only); all their records are "
            "left out, the rest of the table is built.",
            "",
            table(
                ["cell", "problem", "records"],
                [
                    [f"`{escape(c.name)}`", escape(clip(c.problem, 300)), ", ".join(f"`{p}`" for p in c.paths)]
                    for c in records.bad_cells
                ],
            ),
            "",
        ]
    return out
