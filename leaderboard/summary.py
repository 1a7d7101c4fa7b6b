"""The end-of-sweep summary (contract 5): the cells a sweep touched, on one screen.

``spml-bench run`` prints ``sweep_summary(results_dir, run_ids)`` at the end of a sweep, then the
path of the full leaderboard; the whole table is printed only on request."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from leaderboard.errors import LeaderboardError
from leaderboard.mdutil import DASH, LIT, WARN, runs_aside
from leaderboard.records import CELL, Records, read_records, row_label
from leaderboard.table import DATASET_ORDER, DECIMALS, by_cell, main_cells, mark_bold, ordered, row_keys
from leaderboard.tuning import tuned_frame

#: rows shown at most (a screen); the rest is counted, and is on the full leaderboard
MAX_ROWS = 30
WIDTH = 150  # characters of a table line; more datasets go to a second table below


def _cell(r: pd.Series) -> str:
    if r["excluded"]:
        return f"left out {WARN}"
    aside = runs_aside(r["failed"], r["diverged"])
    if r["n"] == 0:
        return f"{DASH} ({aside})" if aside else DASH
    text = f"{r['mean']:.{DECIMALS}f}" + ("" if r["n"] == 1 else f" ± {r['std']:.{DECIMALS}f}") + f" ({r['n']})"
    if r["bold"]:
        text = f"*{text}"
    if aside:
        text += f" +{aside}"
    if not math.isnan(r["published_mean"]):
        mark = LIT if r["published_source"] == "literature" else ""
        text += f"  pub {r['published_mean']:.2f}{mark} Δ {r['delta']:+.2f}" + (
            f" {WARN}" if r["outside_2sigma"] else ""
        )
    return text


def _chunks(datasets: list[str], texts: dict[tuple[str, ...], str]) -> list[list[str]]:
    """The datasets in groups whose columns fit ``WIDTH`` characters side by side (one table each)."""
    width = {d: max([len(d)] + [len(t) for k, t in texts.items() if k[-1] == d]) + 2 for d in datasets}
    chunks: list[list[str]] = [[]]
    used = 30  # the method and labels columns
    for d in datasets:
        if chunks[-1] and used + width[d] > WIDTH:
            chunks.append([])
            used = 30
        chunks[-1].append(d)
        used += width[d]
    return chunks


def _tuned_lines(records: Records, mine: pd.DataFrame) -> list[str]:
    """One line per tuned cell this sweep touched: the chosen trial against the defaults."""
    studies = {(s, t, p) for s, t, p in zip(mine["study"], mine["trials"], mine["space_seed"]) if s}
    if not studies:
        return []
    tuned = tuned_frame(records)
    touched = {tuple(k) for k in mine[["protocol", "labels", "method", "dataset"]].itertuples(index=False)}
    keys = tuned[["study", "trials", "space_seed", "protocol", "labels", "method", "dataset"]]
    tuned = tuned[[k[:3] in studies and k[3:] in touched for k in keys.itertuples(index=False, name=None)]]
    out = ["", "tuned (chosen by mean validation mAP on the selection seeds): test mAP of the choice vs the defaults"]
    for _, r in tuned.head(MAX_ROWS).iterrows():
        chosen = (
            "no eligible trial"
            if r["chosen_trial"] < 0
            else (
                f"trial {r['chosen_trial']} ({r['chosen_values']}): {r['mean']:.{DECIMALS}f} ({r['n']}) "
                f"vs {r['default_mean']:.{DECIMALS}f}"
            )
        )
        out.append(
            f"  {r['study']}/{r['protocol']}/{r['dataset']}/{r['labels']} {r['method']}: {chosen} "
            f"[{r['eligible']}/{r['trials']} trials eligible]"
        )
    if len(tuned) > MAX_ROWS:
        out.append(f"  … and {len(tuned) - MAX_ROWS} more")
    return out


def sweep_summary(results_dir: str | Path, run_ids: Iterable[str]) -> str:
    """A compact text (≤ one screen) of the cells that hold any of ``run_ids``: per row and dataset,
    test mAP mean ± std (n) over every record of the cell (not only this sweep's), the published
    figure and Δ where there is one; failed, diverged and left-out runs named. Raises only
    ``LeaderboardError``; invalid files elsewhere in the folder are not its business (the full
    leaderboard lists them)."""
    ids = {str(r) for r in run_ids}
    try:
        records = read_records(results_dir)
    except OSError as exc:
        raise LeaderboardError(f"cannot read the records under {results_dir}: {exc.strerror or exc}") from None
    f = records.frame
    mine = f[f["run_id"].isin(ids)]
    if mine.empty:
        return "no record of this sweep's runs under " + str(results_dir) + "\n"
    status = mine["status"].value_counts()
    head = f"this sweep: {len(mine)} runs — " + ", ".join(
        f"{int(status.get(s, 0))} {s}" for s in ("done", "failed", "diverged") if status.get(s, 0)
    )
    trials = mine[mine["role"] == "trial"]
    touched = {tuple(k) for k in mine[mine["role"] != "trial"][CELL].itertuples(index=False)}
    cells = main_cells(records)
    cells = cells[[tuple(k) in touched for k in cells[CELL].itertuples(index=False)]]
    lines = [head]
    if len(trials):
        lines.append(f"{len(trials)} of them tuning trials (not in the defaults' table below)")
    for protocol, part in cells.groupby("protocol", sort=False):
        datasets = ordered(part["dataset"], DATASET_ORDER)
        rows = row_keys(part)
        # the star: the page's best-set rule among the rows shown here (not the whole leaderboard's rows)
        shown = set(rows[:MAX_ROWS])
        part = mark_bold(part[[k in shown for k in zip(part["method"], part["labels"], part["variant"])]])
        found = by_cell(part)
        keys = [(m, lab, v, d) for m, lab, v in rows for d in datasets]
        texts: dict[tuple[str, ...], str] = {k: _cell(found[k]) if k in found else "" for k in keys}
        lines += [
            "",
            f"test mAP (%), {protocol}: mean ± std (n seeds); * = in the 95% confidence set for the best of these rows "
            "(the leaderboard's rule)"
            + ("; pub = published, Δ = ours − pub" if part["published_mean"].notna().any() else ""),
        ]
        for chunk in _chunks(datasets, texts):
            body = [[row_label(m, v), lab, *[texts[(m, lab, v, d)] for d in chunk]] for m, lab, v in rows[:MAX_ROWS]]
            lines.append(tabulate(body, headers=["method", "labels", *chunk], tablefmt="simple", disable_numparse=True))
        if len(rows) > MAX_ROWS:
            lines.append(f"… and {len(rows) - MAX_ROWS} more rows")
    lines += _tuned_lines(records, mine)
    return "\n".join(lines) + "\n"
