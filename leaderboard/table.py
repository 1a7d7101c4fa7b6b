"""The leaderboard's numbers: cells (mean, sample std, count and 95% interval over seeds) in the
paper's order, the published figure and the difference beside each, each row's rank interval and which rows are
bold (the 95% confidence set for the best ``1p`` row), and which seed axes each cell's spread
includes. Pure pandas; rendering is elsewhere."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from leaderboard.published import literature_figure, literature_table, paper_figure
from leaderboard.records import CELL, Records
from leaderboard.stats import LEVEL, best_set, t_interval, variance_components

# fmt: off
#: the paper's row order (Zhou et al. 2022, main table)
PAPER_ORDER = [
    "bce", "an", "dw", "l1r", "l2r", "ls", "nls", "entmin", "focal", "asl", "role", "role_li", "em", "em_apl",
]
# fmt: on
#: methods published after the paper, grouped under "since the paper" in this order
SINCE_PAPER = ["epr", "ll_r", "ll_ct", "ll_cp", "hill", "splc", "boostlu_ll_r", "gr_loss"]
#: row groups: the paper's rows, then the methods since the paper, then any other (a user's plugin,
#: alphabetically)
GROUPS = ("paper", "since", "other")
GROUP_TITLES = {"paper": "the paper's rows", "since": "since the paper", "other": "other methods"}
#: the oracle regimes first (the paper's top rows), then the SPML regime, then missing-label fractions
REGIME_ORDER = ["full", "1p_all_n", "1p", "frac80", "frac50", "frac20"]
#: the regimes of the paper's main table: one table; the best set is among its ``1p`` rows only
PAPER_REGIMES = ("full", "1p_all_n", "1p")
ORACLE_REGIMES = ("full", "1p_all_n")
DATASET_ORDER = ["voc", "coco", "nuswide", "cub", "digits"]
PROTOCOL_ORDER = ["finetune", "linear"]
#: decimals shown for mAP
DECIMALS = 2
BASELINE = "an"  # the paper's gains and the probability of improvement are over the AN loss


def rank(key: str, order: list[str]) -> tuple[int, str]:
    return (order.index(key), key) if key in order else (len(order), key)


def ordered(keys: Iterable[str], order: list[str]) -> list[str]:
    return sorted(set(keys), key=lambda k: rank(k, order))


def method_group(method: str) -> str:
    if method in PAPER_ORDER:
        return "paper"
    return "since" if method in SINCE_PAPER else "other"


def method_rank(method: str) -> tuple[int, int, str]:
    group = method_group(method)
    within = {"paper": PAPER_ORDER, "since": SINCE_PAPER}.get(group, [])
    return GROUPS.index(group), within.index(method) if method in within else 0, method


def row_key(method: str, labels: str, variant: str = "") -> tuple:
    """Oracle rows on top (``full`` then ``1p_all_n``), then the paper's methods, the methods since
    the paper and other methods, each method's main row followed by its variants."""
    oracle = labels in ORACLE_REGIMES
    return (
        not oracle,
        rank(labels, REGIME_ORDER) if oracle else (0, ""),
        method_rank(method),
        rank(labels, REGIME_ORDER),
        variant != "",
        variant,
    )


def row_keys(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The frame's (method, labels, variant) rows, in the table's order."""
    return sorted(set(zip(frame["method"], frame["labels"], frame["variant"])), key=lambda k: row_key(*k))


def by_cell(frame: pd.DataFrame) -> dict[tuple[str, str, str, str], pd.Series]:
    """(method, labels, variant, dataset) → its row, for a frame of one protocol's cells."""
    return {(r["method"], r["labels"], r["variant"], r["dataset"]): r for _, r in frame.iterrows()}


def table_group(labels: str) -> str:
    """The table a regime's rows go to: the paper's main table, or one table per other regime."""
    return "paper" if labels in PAPER_REGIMES else labels


def table_groups(labels: object) -> list[str]:
    """The tables the given regimes fill, the paper's first, then the other regimes in order."""
    groups = {table_group(label) for label in labels}  # type: ignore[attr-defined]
    return sorted(groups, key=lambda g: (g != "paper", rank(g, REGIME_ORDER)))


def stats(long: pd.DataFrame, value: str, by: list[str] = CELL) -> pd.DataFrame:
    """Mean, sample std (ddof=1; NaN for a single run), count and sorted seeds of ``value`` per
    group, NaN values left out."""
    present = long.dropna(subset=[value])
    if present.empty:
        return pd.DataFrame(columns=[*by, "mean", "std", "n", "seeds"])
    g = present.groupby(by, sort=True)
    out = g[value].agg(mean="mean", std=lambda s: s.std(ddof=1), n="count")
    out["seeds"] = g["seed"].agg(lambda s: tuple(sorted(int(x) for x in s)))
    return out.reset_index()


def sort_by(df: pd.DataFrame, keys: list[tuple]) -> pd.DataFrame:
    """``df``'s rows in the order of ``keys`` (one per row; stable), numbered from 0."""
    return df.assign(_k=keys).sort_values("_k", kind="stable").drop(columns="_k").reset_index(drop=True)


def sort_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Protocols, then rows in the paper's order, then datasets in the paper's order."""
    cells = zip(df["protocol"], df["method"], df["labels"], df["variant"], df["dataset"])
    return sort_by(df, [(rank(p, PROTOCOL_ORDER), row_key(*r), rank(d, DATASET_ORDER)) for p, *r, d in cells])


def published_figure(
    protocol: str, method: str, labels: str, dataset: str, variant: str = ""
) -> tuple[float, float, str]:
    """(mean, std, source) of the published figure for a cell; NaN and '' where none. The published
    numbers are end-to-end fine-tuning at the authors' hyper-parameters, so a linear-probe cell and
    a variant row have none."""
    if protocol != "finetune" or variant:
        return math.nan, math.nan, ""
    paper = paper_figure(method, labels, dataset)
    if paper is not None:
        return paper[0], paper[1], "paper"
    if labels == "1p":
        lit = literature_figure(method, dataset)
        if lit is not None:
            return lit, math.nan, "literature"
    return math.nan, math.nan, ""


def mark_bold(cells: pd.DataFrame, value: str = "mean", level: float = LEVEL) -> pd.DataFrame:
    """The page's one rule for the best rows (the sweep summary calls it on the rows it shows):
    among the main rows with two runs or more of each column of each table (the ``1p`` rows of the
    paper's table: the oracles are references), ``best``: the highest mean; ``rank_low``/``rank_high``:
    the rank interval (``stats.best_set``); ``bold``: the confidence set for the best at ``level``
    (rank can be 1). A column needs two such rows; rows of one run have no spread, hence no rank,
    and are never bold; variant rows are shown beside their method, never bold."""
    best = pd.Series(False, index=cells.index)
    bold = pd.Series(False, index=cells.index)
    low = pd.Series(0, index=cells.index)
    high = pd.Series(0, index=cells.index)
    rows = cells[(~cells["labels"].isin(ORACLE_REGIMES)) & (cells["variant"] == "") & (cells["n"] >= 2)]
    for _, g in rows.groupby([rows["protocol"], rows["labels"].map(table_group), rows["dataset"]]):
        if len(g) < 2:
            continue
        best[g[value].idxmax()] = True
        ranks = best_set(g[value].tolist(), g["eff_std"].tolist(), g["eff_n"].tolist(), level)
        for i, (lo, hi) in zip(g.index, ranks):
            low[i], high[i], bold[i] = lo, hi, lo == 1
    return cells.assign(best=best, rank_low=low, rank_high=high, bold=bold)


def fmt_rank(low: int, high: int) -> str:
    return "—" if low <= 0 else (f"{low}" if low == high else f"{low}–{high}")


def designs(records: Records) -> pd.DataFrame:
    """Per cell: the seed design of its runs (``stats.DESIGNS``) and, where crossed, the variance
    components ``var_model``, ``var_data``, ``var_residual``."""
    rows = []
    for key, g in records.done.groupby(CELL, sort=True):  # data_seed -1 (the fixed draw) is one value like any
        c = variance_components(g["test_map"].tolist(), g["seed"].tolist(), g["data_seed"].tolist())
        rows.append((*key, c["design"], *[c.get(k) for k in ("model", "data", "residual", "var_mean", "df_mean")]))
    return pd.DataFrame(rows, columns=[*CELL, "design", "var_model", "var_data", "var_residual", "var_mean", "df_mean"])


def main_cells(records: Records) -> pd.DataFrame:
    """One row per cell that has a record (main and variant rows; tuning trials are in
    ``tuning``): protocol, labels, method, variant, dataset, group, mean, std, n, seeds, ci_low,
    ci_high (95%, t over seeds), failed, diverged (counts, never averaged), excluded (why a cell is
    left out, or ""), published_mean, published_std, published_source, delta (mean minus published
    mean), outside_2sigma (|delta| > 2 published std), design (the seed axes its runs vary), var_model,
    var_data, var_residual, var_mean, df_mean (crossed designs), eff_std, eff_n (what the interval and the
    ranks use), best, rank_low, rank_high (0: no rank), bold."""
    table = records.table
    cells = stats(records.done, "test_map")
    counts = table.assign(failed=table["status"] == "failed", diverged=table["status"] == "diverged")
    counts = counts.groupby(CELL)[["failed", "diverged"]].sum().reset_index()
    cells = cells.merge(counts, on=CELL, how="outer")
    bad = pd.DataFrame([(*c.key, c.problem) for c in records.bad_cells if not c.trial], columns=[*CELL, "excluded"])
    cells = cells.merge(bad.drop_duplicates(CELL), on=CELL, how="outer")
    cells["excluded"] = cells["excluded"].fillna("").astype(str)
    cells["n"] = cells["n"].fillna(0).astype(int)
    for col in ("failed", "diverged"):
        cells[col] = cells[col].fillna(0).astype(int)
    cells["seeds"] = cells["seeds"].apply(lambda s: s if isinstance(s, tuple) else ())
    cells[["mean", "std"]] = cells[["mean", "std"]].astype(float)
    cells["group"] = cells["method"].map(method_group)
    cells = cells.merge(designs(records), on=CELL, how="left")
    # what the interval and the tests use: the runs' std and count, or for a crossed cell (runs sharing
    # seeds) the std and count that give its mean's variance and Satterthwaite df (s²/n, n − 1)
    crossed = cells["design"] == "crossed"
    cells["eff_n"] = cells["n"].astype(float).where(~crossed, cells["df_mean"].astype(float) + 1)
    cells["eff_std"] = cells["std"].where(~crossed, (cells["var_mean"].astype(float) * cells["eff_n"]) ** 0.5)
    ci = [t_interval(m, s, n) for m, s, n in zip(cells["mean"], cells["eff_std"], cells["eff_n"])]
    cells["ci_low"] = [c[0] for c in ci]
    cells["ci_high"] = [c[1] for c in ci]
    pub = [
        published_figure(*k)
        for k in cells[["protocol", "method", "labels", "dataset", "variant"]].itertuples(index=False)
    ]
    cells["published_mean"] = [p[0] for p in pub]
    cells["published_std"] = [p[1] for p in pub]
    cells["published_source"] = [p[2] for p in pub]
    cells["delta"] = cells["mean"] - cells["published_mean"]
    cells["outside_2sigma"] = (cells["delta"].abs() > 2 * cells["published_std"]).fillna(False).astype(bool)
    return mark_bold(sort_rows(cells))


def literature_rows(run_methods: set[str]) -> pd.DataFrame:
    """Later published rows for methods not run here (labelled as such in every rendering)."""
    lit = literature_table()
    return lit[~lit["method"].isin(run_methods)].reset_index(drop=True)
