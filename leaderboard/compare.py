"""Comparisons across rows, from the records: the probability that a method's run beats AN's
(rliable-style, with a stratified-bootstrap interval) and how many seeds resolve a given difference
at the spread the records show."""

from __future__ import annotations

import math

import pandas as pd

from leaderboard.records import Records
from leaderboard.stats import ALPHA, poi_interval, pooled_std, seeds_for_power
from leaderboard.table import BASELINE, DATASET_ORDER, PROTOCOL_ORDER, main_cells, ordered, row_key

POI_COLUMNS = ["protocol", "method", "dataset", "poi", "low", "high", "n", "n_baseline"]
ALL = "all"  # the row of the probability over every dataset (the mean of the per-dataset ones)
#: the differences (mAP points) the page gives seed counts for; the command line takes any
POWER_DELTAS = (0.5, 1.0, 2.0)
POWER = 0.8


def _estimate(x_by_task: list[list[float]], y_by_task: list[list[float]]) -> tuple[float, float, float]:
    """The probability and its interval; no interval where a side has a single run on some dataset
    (resampling one run shows none of its spread: the interval would be a point)."""
    est, lo, hi = poi_interval(x_by_task, y_by_task)
    if min(len(v) for v in [*x_by_task, *y_by_task]) < 2:
        return est, math.nan, math.nan
    return est, lo, hi


def poi_frame(records: Records, labels: str = "1p") -> pd.DataFrame:
    """P(method's run > AN's run) per protocol, method and dataset over the main ``labels`` rows,
    with its 95% interval (none where a side has one run); dataset ``all``: the mean over the
    datasets both ran (two or more), its interval from the bootstrap stratified by dataset."""
    done = records.done
    done = done[(done["labels"] == labels) & (done["variant"] == "")]
    rows = []
    for protocol in ordered(done["protocol"], PROTOCOL_ORDER):
        part = done[done["protocol"] == protocol]
        base = {d: g["test_map"].tolist() for d, g in part[part["method"] == BASELINE].groupby("dataset")}
        methods = sorted(set(part["method"]) - {BASELINE}, key=lambda m: row_key(m, labels))
        for method in methods:
            mine = {d: g["test_map"].tolist() for d, g in part[part["method"] == method].groupby("dataset")}
            shared = ordered([d for d in mine if d in base], DATASET_ORDER)
            for d in shared:
                est, lo, hi = _estimate([mine[d]], [base[d]])
                rows.append((protocol, method, d, est, lo, hi, len(mine[d]), len(base[d])))
            if len(shared) >= 2:
                est, lo, hi = _estimate([mine[d] for d in shared], [base[d] for d in shared])
                rows.append(
                    (
                        protocol,
                        method,
                        ALL,
                        est,
                        lo,
                        hi,
                        sum(len(mine[d]) for d in shared),
                        sum(len(base[d]) for d in shared),
                    )
                )
    return pd.DataFrame(rows, columns=POI_COLUMNS)


def power_frame(
    records: Records, deltas: tuple[float, ...] = POWER_DELTAS, power: float = POWER, alpha: float = ALPHA
) -> pd.DataFrame:
    """Per protocol and dataset: the rows with two runs or more (``rows``), their runs, the pooled
    seed std over those rows (``pooled_std``, with ``dof`` degrees of freedom), the largest row std,
    and for each Δ in ``deltas`` the seeds per row (``seeds_<Δ>``) that a two-sided two-sample t-test
    at ``alpha`` needs to resolve a difference of Δ mAP with probability ``power``."""
    cells = main_cells(records)
    cells = cells[cells["n"] >= 2]
    rows = []
    for (protocol, dataset), g in cells.groupby(["protocol", "dataset"], sort=False):
        sigma, dof = pooled_std(g["std"].tolist(), g["n"].tolist())
        row = {
            "protocol": protocol,
            "dataset": dataset,
            "rows": len(g),
            "runs": int(g["n"].sum()),
            "pooled_std": sigma,
            "dof": dof,
            "max_std": float(g["std"].max()),
        }
        for delta in deltas:
            row[f"seeds_{delta:g}"] = seeds_for_power(sigma, delta, alpha, power)
        rows.append(row)
    out = pd.DataFrame(
        rows,
        columns=[
            "protocol",
            "dataset",
            "rows",
            "runs",
            "pooled_std",
            "dof",
            "max_std",
            *[f"seeds_{d:g}" for d in deltas],
        ],
    )
    key = (
        out.apply(
            lambda r: (
                PROTOCOL_ORDER.index(r["protocol"]) if r["protocol"] in PROTOCOL_ORDER else 9,
                DATASET_ORDER.index(r["dataset"]) if r["dataset"] in DATASET_ORDER else 9,
                r["protocol"],
                r["dataset"],
            ),
            axis=1,
        )
        if len(out)
        else []
    )
    return out.assign(_k=key).sort_values("_k").drop(columns="_k").reset_index(drop=True) if len(out) else out
