"""The leaderboard's numbers: cells (mean, sample std and count over seeds) in the paper's order,
with the published figure and the difference beside each. Pure pandas; rendering is elsewhere."""

from __future__ import annotations

import math

import pandas as pd

from leaderboard.published import literature_figure, literature_table, paper_figure
from leaderboard.records import CELL, Records

#: the paper's row order (Zhou et al. 2022, main table); unknown methods follow alphabetically
PAPER_ORDER = ["bce", "an", "dw", "l1r", "l2r", "ls", "nls", "entmin", "focal", "asl", "role", "role_li", "em", "em_apl"]
#: the oracle regimes first (the paper's top rows), then the SPML regime, then missing-label fractions
REGIME_ORDER = ["full", "1p_all_n", "1p", "frac80", "frac50", "frac20"]
#: the regimes of the paper's main table: one table; the best is bold among its ``1p`` rows only
PAPER_REGIMES = ("full", "1p_all_n", "1p")
ORACLE_REGIMES = ("full", "1p_all_n")
DATASET_ORDER = ["voc", "coco", "nuswide", "cub", "digits"]
PROTOCOL_ORDER = ["finetune", "linear"]
#: decimals shown for mAP; ties for the best are judged at this precision
DECIMALS = 2


def rank(key: str, order: list[str]) -> tuple[int, str]:
    return (order.index(key), key) if key in order else (len(order), key)


def ordered(keys: object, order: list[str]) -> list[str]:
    return sorted(set(keys), key=lambda k: rank(k, order))  # type: ignore[arg-type]


def row_key(method: str, labels: str) -> tuple:
    return (rank(labels, REGIME_ORDER), rank(method, PAPER_ORDER))


def table_group(labels: str) -> str:
    """The table a regime's rows go to: the paper's main table, or one table per other regime."""
    return "paper" if labels in PAPER_REGIMES else labels


def table_groups(labels: object) -> list[str]:
    """The tables the given regimes fill, the paper's first, then the other regimes in order."""
    groups = {table_group(l) for l in labels}  # type: ignore[attr-defined]
    return sorted(groups, key=lambda g: (g != "paper", rank(g, REGIME_ORDER)))


def stats(long: pd.DataFrame, value: str, by: list[str] = CELL) -> pd.DataFrame:
    """Mean, sample std (ddof=1; NaN for a single run), count and sorted seeds of ``value`` per
    group, NaN values left out."""
    present = long.dropna(subset=[value])
    g = present.groupby(by, sort=True)
    out = g[value].agg(mean="mean", std=lambda s: s.std(ddof=1), n="count")
    out["seeds"] = g["seed"].agg(lambda s: tuple(sorted(int(x) for x in s)))
    return out.reset_index()


def sort_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Protocols, then rows in the paper's order, then datasets in the paper's order."""
    key = df.apply(lambda r: (rank(r["protocol"], PROTOCOL_ORDER), row_key(r["method"], r["labels"]),
                              rank(r["dataset"], DATASET_ORDER)), axis=1)
    return df.assign(_k=key).sort_values("_k", kind="stable").drop(columns="_k").reset_index(drop=True)


def published_figure(protocol: str, method: str, labels: str, dataset: str) -> tuple[float, float, str]:
    """(mean, std, source) of the published figure for a cell; NaN and '' where none. The published
    numbers are end-to-end fine-tuning, so a linear-probe cell has none."""
    if protocol != "finetune":
        return math.nan, math.nan, ""
    paper = paper_figure(method, labels, dataset)
    if paper is not None:
        return paper[0], paper[1], "paper"
    if labels == "1p":
        lit = literature_figure(method, dataset)
        if lit is not None:
            return lit, math.nan, "literature"
    return math.nan, math.nan, ""


def _mark_best(cells: pd.DataFrame, value: str = "mean", higher: bool = True, decimals: int = DECIMALS) -> pd.Series:
    """True for the best cell of each column of each table: among the ``1p`` rows of the paper's
    table (the oracles are references, never bold), among all rows of the other tables; only where
    at least two rows compete, ties judged at the shown precision."""
    best = pd.Series(False, index=cells.index)
    candidates = cells[(~cells["labels"].isin(ORACLE_REGIMES)) & cells[value].notna()]
    groups = candidates.assign(_t=candidates["labels"].map(table_group)).groupby(["protocol", "_t", "dataset"])
    for _, g in groups:
        if len(g) < 2:
            continue
        shown = g[value].round(decimals)
        top = shown.max() if higher else shown.min()
        best[g.index[shown == top]] = True
    return best


def main_cells(records: Records) -> pd.DataFrame:
    """One row per cell that has a record: protocol, labels, method, dataset, mean, std, n,
    seeds, failed (count), published_mean, published_std, published_source, delta (mean minus
    published mean), outside_2sigma (|delta| > 2 published std), best (bold)."""
    done = records.done
    cells = stats(done, "test_map") if len(done) else pd.DataFrame(columns=[*CELL, "mean", "std", "n", "seeds"])
    failed = records.failed.groupby(CELL).size().rename("failed").reset_index()
    cells = cells.merge(failed, on=CELL, how="outer")
    cells["n"] = cells["n"].fillna(0).astype(int)
    cells["failed"] = cells["failed"].fillna(0).astype(int)
    cells["seeds"] = cells["seeds"].apply(lambda s: s if isinstance(s, tuple) else ())
    cells[["mean", "std"]] = cells[["mean", "std"]].astype(float)
    pub = [published_figure(*k) for k in cells[["protocol", "method", "labels", "dataset"]].itertuples(index=False)]
    cells["published_mean"] = [p[0] for p in pub]
    cells["published_std"] = [p[1] for p in pub]
    cells["published_source"] = [p[2] for p in pub]
    cells["delta"] = cells["mean"] - cells["published_mean"]
    cells["outside_2sigma"] = (cells["delta"].abs() > 2 * cells["published_std"]).fillna(False).astype(bool)
    cells = sort_rows(cells)
    cells["best"] = _mark_best(cells)
    return cells


def literature_rows(run_methods: set[str]) -> pd.DataFrame:
    """Later published rows for methods not run here (labelled as such in every rendering)."""
    lit = literature_table()
    return lit[~lit["method"].isin(run_methods)].reset_index(drop=True)
