"""Comparisons across rows, from the records: each method against AN (the difference of means with a
Holm-corrected Welch p, the probability that its run beats AN's with the exact Mann–Whitney p and,
from ``MIN_BOOTSTRAP_RUNS`` runs a side, a stratified-bootstrap interval), the seeds each row needs to
be told from the best row, and the variance components of the seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as st

from leaderboard.records import Records
from leaderboard.stats import (
    LEVEL,
    holm,
    mann_whitney_p,
    poi_interval,
    pooled_std,
    resolvable_delta,
    seeds_for_power,
    sigma_limits,
)
from leaderboard.table import BASELINE, DATASET_ORDER, PROTOCOL_ORDER, main_cells, ordered, rank, row_key, table_group

POI_COLUMNS = [
    *["protocol", "method", "dataset", "n", "n_baseline", "diff", "p_diff", "p_diff_holm"],
    *["poi", "p_mw", "p_mw_holm", "low", "high"],
]
ALL = "all"  # the row of the probability over every dataset (the mean of the per-dataset ones)
#: the bootstrap interval of P(improvement) is shown only where each side has this many runs on each
#: dataset: with 3 runs a side a resample takes one of 10 multisets, and fully separated runs give
#: [1.00, 1.00] whatever the spread; from 5 the resamples number 126 a side and the interval moves
#: with the overlap of the runs (it stays a percentile interval, optimistic at small n)
MIN_BOOTSTRAP_RUNS = 5
#: the differences (mAP points) the page gives seed counts for; the command line takes any
POWER_DELTAS = (0.5, 1.0, 2.0)
POWER = 0.8


def _welch_p(x: list[float], y: list[float]) -> float:
    """Two-sided Welch p of a difference of means; NaN where a side has fewer than two runs or
    neither has any spread."""
    if min(len(x), len(y)) < 2 or np.var(x) + np.var(y) == 0:
        return math.nan
    return float(st.ttest_ind(x, y, equal_var=False).pvalue)


def _interval(x_by_task: list[list[float]], y_by_task: list[list[float]]) -> tuple[float, float, float]:
    est, lo, hi = poi_interval(x_by_task, y_by_task)
    if min(len(v) for v in [*x_by_task, *y_by_task]) < MIN_BOOTSTRAP_RUNS:
        return est, math.nan, math.nan
    return est, lo, hi


def poi_frame(records: Records, labels: str = "1p") -> pd.DataFrame:
    """Each main ``labels`` row against AN, per protocol and dataset: the runs a side, ``diff`` (mean
    minus AN's) with its two-sided Welch p and the Holm-adjusted one (the family: the methods of the
    protocol and dataset), P(method's run > AN's run) with its exact one-sided Mann–Whitney p (and
    Holm-adjusted), and the 95% bootstrap interval where each side has ``MIN_BOOTSTRAP_RUNS`` runs.
    Dataset ``all``: the mean probability over the datasets both ran (two or more), its interval from
    the bootstrap stratified by dataset; no p."""
    done = records.done
    done = done[(done["labels"] == labels) & (done["variant"] == "")]
    rows = []
    for protocol in ordered(done["protocol"], PROTOCOL_ORDER):
        part = done[done["protocol"] == protocol]
        base = {d: g["test_map"].tolist() for d, g in part[part["method"] == BASELINE].groupby("dataset")}
        for method in sorted(set(part["method"]) - {BASELINE}, key=lambda m: row_key(m, labels)):
            mine = {d: g["test_map"].tolist() for d, g in part[part["method"] == method].groupby("dataset")}
            shared = ordered([d for d in mine if d in base], DATASET_ORDER)
            for d in shared:
                x, y = mine[d], base[d]
                est, lo, hi = _interval([x], [y])
                diff, pd_, pm = float(np.mean(x) - np.mean(y)), _welch_p(x, y), mann_whitney_p(x, y)
                rows.append([protocol, method, d, len(x), len(y), diff, pd_, math.nan, est, pm, math.nan, lo, hi])
            if len(shared) >= 2:
                est, lo, hi = _interval([mine[d] for d in shared], [base[d] for d in shared])
                n, nb = sum(len(mine[d]) for d in shared), sum(len(base[d]) for d in shared)
                rows.append(
                    [protocol, method, ALL, n, nb, math.nan, math.nan, math.nan, est, math.nan, math.nan, lo, hi]
                )
    out = pd.DataFrame(rows, columns=POI_COLUMNS)
    for _, g in out.groupby(["protocol", "dataset"]):
        out.loc[g.index, "p_diff_holm"] = holm(g["p_diff"].tolist())
        out.loc[g.index, "p_mw_holm"] = holm(g["p_mw"].tolist())
    return out


def power_frame(records: Records, deltas: tuple[float, ...] = POWER_DELTAS, power: float = POWER) -> pd.DataFrame:
    """Each competing row (those ``table.mark_bold`` ranks) against the best row of its column: the
    gap, ``resolves`` — the difference at which the current seeds (the smaller n of the two) put the
    row out of the best set with probability ``power``: the Welch test of ``stats.best_set``, one-sided
    at (1 − LEVEL)/(k − 1) (the two-sided power at twice that), from the two rows' own stds —
    and per Δ in ``deltas`` the seeds per row needed (``seeds_<Δ>``), with ``seeds_<Δ>_low`` /
    ``_high`` from both stds at their lower / upper 95% chi-square limits."""
    cells = main_cells(records)
    ranked = cells[cells["rank_low"] > 0]
    rows = []
    for (protocol, _, dataset), g in ranked.groupby(
        [ranked["protocol"], ranked["labels"].map(table_group), ranked["dataset"]], sort=False
    ):
        b, alpha = g[g["best"]].iloc[0], 2 * (1 - LEVEL) / (len(g) - 1)
        for _, r in g[~g["best"]].iterrows():
            n = int(min(r["n"], b["n"]))
            lows, highs = sigma_limits(r["std"], int(r["n"])), sigma_limits(b["std"], int(b["n"]))
            row = {
                **{"protocol": protocol, "dataset": dataset, "method": r["method"], "n": int(r["n"])},
                **{"std": r["std"], "best_method": b["method"], "best_n": int(b["n"]), "best_std": b["std"]},
                **{"gap": b["mean"] - r["mean"], "resolves": resolvable_delta(n, r["std"], b["std"], alpha, power)},
            }
            for delta in deltas:
                row[f"seeds_{delta:g}"] = seeds_for_power(r["std"], delta, alpha, power, b["std"])
                row[f"seeds_{delta:g}_low"] = seeds_for_power(lows[0], delta, alpha, power, highs[0])
                row[f"seeds_{delta:g}_high"] = seeds_for_power(lows[1], delta, alpha, power, highs[1])
            rows.append(row)
    columns = ["protocol", "dataset", "method", "n", "std", "best_method", "best_n", "best_std", "gap", "resolves"]
    columns += [f"seeds_{d:g}{s}" for d in deltas for s in ("", "_low", "_high")]
    return pd.DataFrame(rows, columns=columns)


def _root_mean(cells: pd.DataFrame, column: str) -> float:
    return math.sqrt(max(0.0, cells[column].mean())) if len(cells) else math.nan


def variance_frame(records: Records) -> pd.DataFrame:
    """Per protocol and dataset, over the cells with two runs or more: their seed designs
    (``stats.DESIGNS``, counted), the pooled std of every cell (``total_std``), and the seed std
    components: from the crossed cells the square roots of the mean ANOVA components (``model_std``,
    ``data_std``, ``residual_std``); without crossed cells, ``model_std`` is the pooled std of the
    cells whose data seed is fixed and the data seed's is unknown."""
    cells = main_cells(records)
    cells = cells[cells["n"] >= 2]
    rows = []
    for (protocol, dataset), g in cells.groupby(["protocol", "dataset"], sort=False):
        counts = g["design"].value_counts()
        crossed, fixed = g[g["design"] == "crossed"], g[g["design"] == "model"]
        rows.append(
            {
                **{"protocol": protocol, "dataset": dataset, "cells": len(g), "runs": int(g["n"].sum())},
                "designs": ", ".join(f"{k} × {v}" for k, v in counts.items()),
                "total_std": pooled_std(g["std"].tolist(), g["n"].tolist())[0],
                "model_std": _root_mean(crossed, "var_model")
                if len(crossed)
                else pooled_std(fixed["std"].tolist(), fixed["n"].tolist())[0],
                "data_std": _root_mean(crossed, "var_data"),
                "residual_std": _root_mean(crossed, "var_residual"),
            }
        )
    columns = ["protocol", "dataset", "cells", "runs", "designs", "total_std", "model_std", "data_std", "residual_std"]
    out = pd.DataFrame(rows, columns=columns)
    key = [(rank(p, PROTOCOL_ORDER), rank(d, DATASET_ORDER)) for p, d in zip(out["protocol"], out["dataset"])]
    return out.assign(_k=key).sort_values("_k").drop(columns="_k").reset_index(drop=True)
