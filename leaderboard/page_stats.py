"""The page's statistical sections: what the current seeds resolve (the headline), each method against
AN, how many seeds each comparison with the best row needs, and the sources of the seed variance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from leaderboard.compare import (
    ALL,
    MIN_BOOTSTRAP_RUNS,
    POWER,
    POWER_DELTAS,
    poi_frame,
    power_frame,
    variance_frame,
)
from leaderboard.figures import FigureSpec
from leaderboard.mdutil import DASH, plural, table
from leaderboard.records import Records
from leaderboard.stats import BOOTSTRAP_REPS, DESIGNS, MAX_SEEDS
from leaderboard.table import BASELINE, DATASET_ORDER, PROTOCOL_ORDER, main_cells, ordered

POWER_METHOD = (
    "the Welch t-test of the bold rule (one-sided at 5%/(k − 1), k the ranked rows of the column) between the "
    "row and the best row, from the two rows' own stds, power from the noncentral t distribution (noncentrality "
    "Δ/√((s₁² + s₂²)/n), Welch degrees of "
    "freedom); in brackets the seeds needed with both stds at their lower and at their upper 95% chi-square "
    "limits, the range the uncertainty of the variance estimates leaves"
)
VARIANCE_RULE = (
    "A spread over runs whose data seed is fixed (`data_seed` unset: the protocol's one draw of the split and "
    "of the single positive labels) holds the model seed's variance only; where each model seed ran with its "
    "own data seed (paired) it holds both, which cannot be told apart; where every model seed ran with every "
    "data seed (crossed) a two-way random-effects ANOVA (method of moments, clipped at 0) separates the "
    "model-seed, data-seed and residual (model × data interaction) variances."
)


def fmt_seeds(n: int) -> str:
    if n <= 0:
        return DASH
    return f"> {MAX_SEEDS}" if n > MAX_SEEDS else str(n)


def fmt_p(p: float) -> str:
    return DASH if not math.isfinite(p) else ("< 0.0001" if p < 1e-4 else f"{p:.4f}")


def figure_lines(figures: list[FigureSpec], kind: str) -> list[str]:
    return [line for f in figures if f.kind == kind for line in (f"![{f.caption}](figures/{f.name})", "")]


def headline(records: Records, figures: list[FigureSpec]) -> list[str]:
    """One line per protocol and dataset: the rows in the best set, and the difference from the best
    that the current seeds resolve (the median over the rows, and the range); the headline figures."""
    power = power_frame(records)
    if power.empty:
        return []
    cells = main_cells(records)
    out = ["**What these seeds resolve.**", ""]
    for (protocol, dataset), g in power.groupby(["protocol", "dataset"], sort=False):
        bold = cells[(cells["protocol"] == protocol) & (cells["dataset"] == dataset) & cells["bold"]]
        ns = sorted({*g["n"], *g["best_n"]})
        seeds = str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"
        out.append(
            f"- {dataset} ({protocol}, {seeds} seeds a row): a row {np.median(g['resolves']):.1f} mAP below the "
            f"best leaves the bold set with {POWER:.0%} probability (the median over the rows; "
            f"{g['resolves'].min():.1f}–{g['resolves'].max():.1f} by their spreads); smaller gaps are not "
            "resolved. Bold (95% set for the best): " + ", ".join(f"`{m}`" for m in bold["method"]) + "."
        )
    return [*out, "", *figure_lines(figures, "headline")]


#: the columns of ``POI_HEADERS`` shown bold where this Holm-adjusted p is below 0.05
POI_BOLD = {2: "p_diff_holm", 5: "p_mw_holm"}


def poi_row(r: pd.Series) -> tuple[list[str], list[bool]]:
    """A method's cells under ``POI_HEADERS`` (the markdown page and the site), and which are bold."""
    texts = [
        r["method"],
        f"{r['n']} vs {r['n_baseline']}",
        DASH if math.isnan(r["diff"]) else f"{r['diff']:+.2f}",
        fmt_p(r["p_diff"]),
        fmt_p(r["p_diff_holm"]),
        f"{r['poi']:.2f}",
        fmt_p(r["p_mw"]),
        fmt_p(r["p_mw_holm"]),
        DASH if math.isnan(r["low"]) else f"[{r['low']:.2f}, {r['high']:.2f}]",
    ]
    return texts, [i in POI_BOLD and bool(r[POI_BOLD[i]] < 0.05) for i in range(len(texts))]


POI_HEADERS = [
    "method",
    "runs (vs AN)",
    "Δ mean",
    "Welch p",
    "Holm p",
    f"P(X > {BASELINE.upper()})",
    "Mann–Whitney p",
    "Holm p (MW)",
    "95% bootstrap interval",
]


def poi_section(records: Records, figures: list[FigureSpec]) -> list[str]:
    poi = poi_frame(records)
    if poi.empty:
        return []
    out = [
        f"## Against the baseline {BASELINE.upper()}",
        "",
        f"Each `1p` main row against `{BASELINE}` on the same dataset and protocol. Δ mean: the difference of "
        "the mean test mAPs, with the two-sided Welch t-test's p and its Holm adjustment over the methods of the "
        f"dataset (**bold**: Holm p < 0.05). P(X > {BASELINE.upper()}): the fraction of seed pairs in which the "
        "method's run beats AN's (a tie counts one half; the Mann–Whitney U over n·m, as in rliable, Agarwal et "
        "al., NeurIPS 2021), with the exact one-sided Mann–Whitney p and its Holm adjustment (**bold**: Holm p < "
        "0.05). With 3 runs a side the smallest possible p is 1/20 = 0.05, so no probability is bold there, "
        f"however separated the runs. The 95% interval (a stratified bootstrap, {BOOTSTRAP_REPS} seeded resamples "
        f"of each side's runs) is shown only where each side has at least {MIN_BOOTSTRAP_RUNS} runs on each "
        "dataset: with fewer, a resample takes one of a handful of multisets and fully separated runs give a "
        f"degenerate [1.00, 1.00]. `{ALL}`: the mean probability over the datasets both ran.",
        "",
    ]
    for protocol in ordered(poi["protocol"], PROTOCOL_ORDER):
        part = poi[poi["protocol"] == protocol]
        for d in ordered(part["dataset"], [*DATASET_ORDER, ALL]):
            title = f"{ALL} datasets" if d == ALL else d
            sel = part[part["dataset"] == d]
            rows = [[f"**{t}**" if bold else t for t, bold in zip(*poi_row(r))] for _, r in sel.iterrows()]
            out += [f"*{title}, {protocol}*", "", table(POI_HEADERS, rows), ""]
    return out + figure_lines(figures, "poi")


def seeds_range(r: pd.Series, delta: float) -> str:
    key = f"seeds_{delta:g}"
    return f"{fmt_seeds(int(r[key]))} [{fmt_seeds(int(r[key + '_low']))}–{fmt_seeds(int(r[key + '_high']))}]"


SEEDS_HEADERS = ["method", "n", "std", "best row (n, std)", "gap to the best", "resolved at this n"]


def power_row(r: pd.Series, deltas: tuple[float, ...] = POWER_DELTAS) -> list[str]:
    """A row's cells under ``SEEDS_HEADERS`` and the seeds for each Δ (the markdown page and the site)."""
    return [
        r["method"],
        str(r["n"]),
        f"{r['std']:.2f}",
        f"{r['best_method']} ({r['best_n']}, {r['best_std']:.2f})",
        f"{r['gap']:.2f}",
        DASH if math.isnan(r["resolves"]) else f"{r['resolves']:.2f}",
        *[seeds_range(r, d) for d in deltas],
    ]


def power_table(power: pd.DataFrame, deltas: tuple[float, ...] = POWER_DELTAS) -> str:
    rows = [power_row(r, deltas) for _, r in power.iterrows()]
    return table([*SEEDS_HEADERS, *[f"seeds for Δ = {d:g}" for d in deltas]], rows)


def power_section(records: Records, deltas: tuple[float, ...] = POWER_DELTAS) -> list[str]:
    power = power_frame(records, deltas)
    if power.empty:
        return []
    out = [
        "## How many seeds are enough",
        "",
        f"Each ranked row against the best row of its column: the difference the current seeds resolve with "
        f"{POWER:.0%} power, and the seeds per row that resolve a difference of Δ mAP: {POWER_METHOD}. Use it to "
        "choose `--seeds`; `python -m leaderboard --power [--delta D]` prints it for any results folder.",
        "",
    ]
    for (protocol, dataset), part in power.groupby(["protocol", "dataset"], sort=False):
        out += [f"*{dataset}, {protocol}*", "", power_table(part, deltas), ""]
    return out


def variance_table(variance: pd.DataFrame) -> str:
    std = lambda v: DASH if not math.isfinite(v) else f"{v:.2f}"  # noqa: E731
    rows = [
        [
            r["protocol"],
            r["dataset"],
            str(r["cells"]),
            str(r["runs"]),
            r["designs"],
            std(r["total_std"]),
            std(r["model_std"]),
            std(r["data_std"]),
            std(r["residual_std"]),
        ]
        for _, r in variance.iterrows()
    ]
    headers = ["protocol", "dataset", "cells", "runs", "seed designs", "pooled std", "model seed", "data seed"]
    return table([*headers, "residual"], rows)


def variance_section(records: Records) -> list[str]:
    variance = variance_frame(records)
    if variance.empty:
        return []
    designs = "; ".join(f"`{k}`: {v}" for k, v in DESIGNS.items())
    return [
        "## Sources of variance",
        "",
        f"{VARIANCE_RULE} Per dataset, over the cells with two runs or more: their seed designs ({designs}), the "
        "std pooled over them, and the std of each component — from the crossed cells (the square root of the mean "
        "component); without crossed cells, the model seed's is the pooled std of the cells whose data seed is "
        f"fixed, and the data seed's is unknown ({DASH}).",
        "",
        variance_table(variance),
        "",
    ]


def spread_line(cells: pd.DataFrame) -> str:
    """Which sources of variance the spreads of a table's cells include, by their seed designs."""
    counts = cells["design"].dropna().value_counts()
    if counts.empty:
        return ""
    parts = [f"{DESIGNS[k]} ({plural(v, 'cell')})" for k, v in counts.items()]
    return "Spreads and intervals include: " + "; ".join(parts) + " (see *Sources of variance*)."
