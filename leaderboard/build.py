"""Build the leaderboard tables from the run records."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tabulate import tabulate

from leaderboard.records import load_records

HERE = Path(__file__).resolve().parent
#: the paper's row order (Zhou et al. 2022, main table); unknown methods follow alphabetically
PAPER_ORDER = ["bce", "an", "dw", "l1r", "l2r", "ls", "nls", "entmin", "focal", "asl", "role", "role_li", "em", "em_apl"]
REGIME_ORDER = ["full", "1p_all_n", "1p", "frac80", "frac50", "frac20"]


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """mean, sample std (ddof=1) and count of ``test_map`` over seeds, done runs only."""
    done = df[df["status"] == "done"]
    grouped = done.groupby(["protocol", "labels", "method", "dataset"])["test_map"]
    return grouped.agg(mean="mean", std=lambda s: s.std(ddof=1), n="count").reset_index()


def _cell(mean: float, std: float, n: int) -> str:
    return f"{mean:.2f} ± {std:.2f} ({n})" if n > 1 else f"{mean:.2f} (n=1)"


def _order(keys: list[str], order: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))


def markdown(results_dir: str | Path) -> str:
    df = load_records(results_dir)
    lines = ["# Leaderboard", ""]
    if df.empty:
        return "\n".join(lines + [f"No run records in `{results_dir}` yet.", ""])
    agg = aggregate(df)
    for protocol in sorted(agg["protocol"].unique()):
        for labels in _order(list(agg[agg["protocol"] == protocol]["labels"].unique()), REGIME_ORDER):
            part = agg[(agg["protocol"] == protocol) & (agg["labels"] == labels)]
            datasets = list(dict.fromkeys(part["dataset"]))
            rows = []
            for method in _order(list(part["method"].unique()), PAPER_ORDER):
                row = [method]
                for d in datasets:
                    cell = part[(part["method"] == method) & (part["dataset"] == d)]
                    row.append(_cell(*cell[["mean", "std", "n"]].iloc[0]) if len(cell) else "")
                rows.append(row)
            lines += [f"## {protocol} · labels `{labels}`", "",
                      tabulate(rows, headers=["method", *datasets], tablefmt="github"), ""]
    failed = int((df["status"] != "done").sum())
    lines += [
        "Cells: test mAP (%) at the best validation epoch, mean ± sample std (ddof=1) over seeds, "
        "with the number of runs in parentheses.",
        f"Records: {len(df)} ({failed} failed, not averaged in).", "",
    ]
    return "\n".join(lines)


def write_leaderboard(results_dir: str | Path, out: str | Path = HERE / "README.md") -> str:
    text = markdown(results_dir)
    Path(out).write_text(text, encoding="utf-8")
    return text
