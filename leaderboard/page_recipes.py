"""The page section "The authors' recipes beside the common protocol": per dataset and method, the
common-protocol cell, the authors'-recipe cell (``--recipe authors``) and the published figure, the
recipe gap (authors − common) with its Welch t interval, and whether the ranking changes between
the recipes (Kendall τ between the two recipes' row orders).

The main tables hold the common recipe only (``Records.table``); an authors'-recipe run is a cell
of its own (its row's variant reads ``recipe=authors``), never pooled with the common protocol's.
A method whose authors used the common protocol has no authors'-recipe runs (``--recipe authors``
runs it on the common protocol, as the same run): in the ranking it keeps its common row.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import kendalltau

from leaderboard.mdutil import DASH, fmt_cell, fmt_ci, fmt_published, table
from leaderboard.records import Records
from leaderboard.stats import welch_interval
from leaderboard.table import DATASET_ORDER, method_rank, ordered, published_figure

AUTHORS = "recipe=authors"


def recipe_cells(records: Records) -> pd.DataFrame:
    """Mean, std and runs per (dataset, method, labels, recipe) of the default-configuration
    single-positive fine-tuning runs of good cells, both recipes."""
    f = records.frame
    f = f[(f["role"] != "trial") & (f["excluded"] == "") & (f["status"] == "done") & (f["protocol"] == "finetune")]
    f = f[f["variant"].isin(["", AUTHORS]) & (f["labels"] == "1p")]  # the single-positive rows
    return (
        f.groupby(["dataset", "method", "labels", "recipe"])["test_map"]
        .agg(mean="mean", std="std", n="count")
        .reset_index()
    )


def _gap(common: pd.Series | None, authors: pd.Series | None) -> tuple[float, tuple[float, float]]:
    if common is None or authors is None:
        return math.nan, (math.nan, math.nan)
    a, c = (authors["mean"], authors["std"], int(authors["n"])), (common["mean"], common["std"], int(common["n"]))
    return a[0] - c[0], welch_interval(*a, *c)


def recipes_section(records: Records) -> list[str]:
    cells = recipe_cells(records)
    if not (cells["recipe"] == "authors").any():
        return []
    lines = [
        "## The authors' recipes beside the common protocol",
        "",
        "Each later method also trained on its authors' recipe (`--recipe authors`: batch size, the head's "
        "learning-rate multiplier, scheduler, weight decay, stopping rule, augmentations, epochs, each with its "
        "source in the plugin; on the embedded set their embedded-scale equivalents, `benchmark/spec/recipes.py`). "
        "Gap: authors − common, with its 95% Welch t interval. A method without authors'-recipe runs declares "
        "the common protocol as its authors' recipe (or was not run so); the main tables are the common recipe.",
        "",
    ]
    for dataset in ordered(cells["dataset"], DATASET_ORDER):
        part = cells[cells["dataset"] == dataset]
        rows: list[list[str]] = []
        orders: dict[str, dict[tuple[str, str], float]] = {"common": {}, "authors": {}}
        keys = sorted({(m, lab) for m, lab in zip(part["method"], part["labels"])}, key=lambda k: method_rank(k[0]))
        for method, labels in keys:
            mine = part[(part["method"] == method) & (part["labels"] == labels)].set_index("recipe")
            common = mine.loc["common"] if "common" in mine.index else None
            authors = mine.loc["authors"] if "authors" in mine.index else None
            if common is not None:
                orders["common"][method, labels] = common["mean"]
                orders["authors"][method, labels] = (authors if authors is not None else common)["mean"]
            pm, ps, src = published_figure("finetune", method, labels, dataset)
            gap, (low, high) = _gap(common, authors)
            rows.append(
                [
                    method if labels == "1p" else f"{method} ({labels})",
                    DASH if common is None else fmt_cell(common["mean"], common["std"], int(common["n"])),
                    DASH if authors is None else fmt_cell(authors["mean"], authors["std"], int(authors["n"])),
                    fmt_published(pm, ps, src),
                    DASH if math.isnan(gap) else f"{gap:+.2f}",
                    fmt_ci(low, high),
                ]
            )
        lines += [f"### {dataset}", ""]
        lines += [table(["method", "common", "authors' recipe", "published", "gap", "gap 95% CI"], rows), ""]
        lines += [ranking_line(orders["common"], orders["authors"]), ""]
    return lines


def ranking_line(common: dict[tuple[str, str], float], authors: dict[tuple[str, str], float]) -> str:
    """Kendall τ between the rows' order under each recipe, and the rows whose rank moves."""
    keys = list(common)
    if len(keys) < 2:
        return "Ranking: fewer than two rows."
    tau = kendalltau([common[k] for k in keys], [authors[k] for k in keys]).statistic

    def ranks(values: dict[tuple[str, str], float]) -> dict[tuple[str, str], int]:
        return {k: i + 1 for i, k in enumerate(sorted(keys, key=lambda k: -values[k]))}

    rc, ra = ranks(common), ranks(authors)
    moved = [f"{m} {rc[m, lab]}→{ra[m, lab]}" for m, lab in keys if rc[m, lab] != ra[m, lab]]
    change = "the ranking changes: " + ", ".join(moved) if moved else "the ranking does not change"
    return f"Ranking between the recipes: Kendall τ = {tau:.2f} over {len(keys)} rows; {change}."


__all__ = ["ranking_line", "recipe_cells", "recipes_section"]
