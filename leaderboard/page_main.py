"""The page's main tables: test mAP per row and dataset with its interval, the published figure and
the difference; the published-only rows; the tuned table of each tuning study."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection

import pandas as pd
from scipy.stats import kendalltau

from leaderboard import published
from leaderboard.cells import cell_name, row_label
from leaderboard.mdutil import DASH, LIT, WARN, cell_texts, escape, fmt_cell, fmt_ci, fmt_published, table
from leaderboard.page_stats import spread_line
from leaderboard.table import (
    DATASET_ORDER,
    DECIMALS,
    GROUP_TITLES,
    ORACLE_REGIMES,
    PROTOCOL_ORDER,
    by_cell,
    fmt_rank,
    literature_rows,
    method_group,
    ordered,
    published_figure,
    row_keys,
    table_group,
)
from leaderboard.tuning import MAIN_RULE, STUDY, won_by

#: the tuned table's columns, on the markdown page and the web page alike
TUNED_COLUMNS = [
    "method",
    "trials (eligible/run)",
    "chosen trial: values",
    "val mAP",
    "won by (SE)",
    "test mAP (tuned)",
    "95% CI",
    "test mAP (defaults)",
    "Δ",
]

BOLD_RULE = (
    "**bold**: the 95% confidence set for the best row of the column — the rows whose rank interval starts at "
    "1; `rank a–b`: every two rows with n ≥ 2 are compared by a one-sided Welch t-test at 5%/(k − 1) for the k "
    "such rows (Hsu's multiple comparisons with the best, Bonferroni form), and a row ranks below each row "
    "significantly above it and above each row significantly below it. The truly best row is bold with "
    "probability ≥ 95%; a bold row is one these seeds cannot rule out as the best, not one shown to be tied. "
    "Rows with n=1 have no spread, no rank and are never bold; variant rows are never bold."
)


def literature_label(lit: pd.Series) -> str:
    extra = "" if str(lit["extra_model"]).lower() == "none" else f"; uses {lit['extra_model']}"
    return f"*{lit['method']}* ({lit['venue']}{extra})"


def main_section(cells: pd.DataFrame, protocol: str, group: str, mixed_code: Collection[str] = ()) -> list[str]:
    """``mixed_code``: names of the cells pooled across code versions (``--allow-mixed-code``),
    marked in the cell itself so that no reader takes them for one version's numbers."""
    part = cells[(cells["protocol"] == protocol) & (cells["labels"].map(table_group) == group)]
    datasets = ordered(part["dataset"], DATASET_ORDER)
    # the published figures are end-to-end fine-tuning under the paper's regimes
    compare = protocol == "finetune" and group == "paper"
    # a paper / Δ column only where a published figure can exist (not beside the embedded set's)
    pub = {d: compare and d in published.DATASET_COLUMNS for d in datasets}
    headers = ["method", "labels"]
    for d in datasets:
        headers += [d, f"{d} 95% CI", f"{d} rank"] + ([f"{d} paper", f"{d} Δ"] if pub[d] else [])
    rows: list[list[str]] = []
    shown_group = "paper"
    found = by_cell(part)
    for method, labels, variant in row_keys(part):
        g = method_group(method)
        if g != shown_group and labels not in ORACLE_REGIMES:
            rows.append([f"*{GROUP_TITLES[g]}*", *[""] * (len(headers) - 1)])
            shown_group = g
        row = [escape(row_label(method, variant)), labels]
        for d in datasets:
            r = found.get((method, labels, variant, d))
            if r is None:
                pm, ps, src = published_figure(protocol, method, labels, d, variant)
                row += [DASH, DASH, DASH] + ([fmt_published(pm, ps, src), DASH] if pub[d] else [])
                continue
            mean, ci, paper, delta = cell_texts(r, bold=bool(r["bold"]))
            if cell_name((protocol, labels, method, variant, d)) in mixed_code:
                mean += f" {WARN} mixed code"
            row += [mean, ci, fmt_rank(r["rank_low"], r["rank_high"])] + ([paper, delta] if pub[d] else [])
        rows.append(row)
    if group == "paper":
        title = f"### Single positive labels (`1p`), with the oracles (`{'`, `'.join(ORACLE_REGIMES)}`) on top"
        scope = "Among the `1p` rows (the oracle rows are references): "
    else:
        title = f"### Labels `{group}`"
        scope = ""
    legend = [
        "Test mAP (%), mean ± sample std over seeds (n = runs; failed and diverged runs are named beside n and "
        "never averaged); 95% CI: the Student-t interval of the mean over seeds. " + scope + BOLD_RULE,
        "",
        spread_line(part),
        "",
    ]
    if any(pub.values()):
        legend += [
            f"`paper`: Zhou et al., ECCV 2022, main table (mean ± std); {LIT}: a later paper's single "
            f"published number; Δ = ours − published, {WARN} where |Δ| > 2 published σ; {DASH}: no published "
            "figure (variant rows have none: the published figures are at the authors' hyper-parameters).",
            "",
        ]
    elif protocol != "finetune":
        legend += ["No published figures beside these: the published tables fine-tune end to end.", ""]
    elif compare:
        legend += [
            f"No published figures beside these: the published tables are of {', '.join(published.DATASET_COLUMNS)}.",
            "",
        ]
    if mixed_code and any(name.startswith(f"{protocol}/") for name in mixed_code):
        legend += [f"{WARN} mixed code: the cell pools runs of different code versions; see below.", ""]
    if (part["excluded"] != "").any():
        legend += [
            f"{WARN} left out: the cell's records cannot be averaged together; see *Records left out* below.",
            "",
        ]
    out = [title, "", table(headers, rows), "", *legend]
    if compare:
        out += published_only_rows(part, datasets)
    return out


def published_only_rows(part: pd.DataFrame, datasets: list[str]) -> list[str]:
    """Later published rows whose method has no run here, for the paper's datasets in this table;
    a method leaves this list once it is run."""
    shown = [d for d in datasets if d in published.DATASET_COLUMNS]
    if not shown:
        return []
    lit = literature_rows(set(part.loc[part["variant"] == "", "method"]))
    if lit.empty:
        return []
    rows = [[literature_label(r), "1p", *[f"{r[d]:.2f} {LIT}" for d in shown]] for _, r in lit.iterrows()]
    return [
        "#### Published only (not run here)",
        "",
        table(["method", "labels", *[f"{d} published" for d in shown]], rows),
        "",
        f"{LIT}: the single number a later paper publishes (no std); see the notes for the sources.",
        "",
    ]


def published_elsewhere_section(run_datasets: set[str]) -> list[str]:
    """The published figures of the paper's datasets that no record covers yet."""
    missing = [d for d in published.DATASET_COLUMNS if d not in run_datasets]
    if not missing:
        return []
    headers = ["method", "labels", *[f"{d} ({published.DATASET_NAMES[d]})" for d in missing]]
    rows = []
    for _, r in published.paper_table().iterrows():
        rows.append([r["method"], r["labels"], *[f"{r[f'{d}_mean']:.2f} ± {r[f'{d}_std']:.2f}" for d in missing]])
    for _, r in published.literature_table().iterrows():
        rows.append([literature_label(r), "1p", *[f"{r[d]:.2f} {LIT}" for d in missing]])
    return [
        "## Published figures for datasets not run here",
        "",
        "Not reproduced by these records; shown so that this benchmark's numbers can be read against them "
        "once those datasets are run.",
        "",
        table(headers, rows),
        "",
        *[f"- {line}" for line in published.source_lines(published.PAPER_CSV)],
        f"- {LIT} " + " ".join(published.source_lines(published.LITERATURE_CSV)),
        "",
    ]


# -- tuning studies --------------------------------------------------------------------------------
def _ranking(names: list[str], values: list[float]) -> list[str]:
    return [n for _, n in sorted(zip(values, names), key=lambda vn: (-vn[0], vn[1]))]


def _ranking_line(part: pd.DataFrame) -> str:
    """The order of the paper's rows under the defaults and after tuning, and Kendall's τ between."""
    paper = part[(part["method"].map(method_group) == "paper") & ~part["labels"].isin(ORACLE_REGIMES)]
    paper = paper[paper["n"].gt(0) & paper["default_n"].gt(0)]
    if len(paper) < 2:
        return ""
    names = paper["method"].tolist()
    before, after = _ranking(names, paper["default_mean"].tolist()), _ranking(names, paper["mean"].tolist())
    tau = kendalltau([before.index(n) for n in names], [after.index(n) for n in names]).statistic
    moved = [n for n in names if before.index(n) != after.index(n)]
    change = f"{len(moved)} of {len(names)} rows change rank" if moved else "the ranking is unchanged"
    return (
        f"Ranking of the paper's rows by mean test mAP — defaults: {' > '.join(before)}; tuned: "
        f"{' > '.join(after)}; Kendall τ = {tau:.2f}, {change} (differences within the seed noise can reorder rows)."
    )


def tuned_row(r: pd.Series, trials: int, quote: Callable[[str], str] = escape) -> list[str]:
    """One study's cell as the ``TUNED_COLUMNS`` show it; ``quote``: how the chosen values are escaped."""
    return [
        r["method"],
        f"{r['eligible']}/{r['trials_seen']} of {trials}",
        DASH if r["chosen_trial"] < 0 else f"{r['chosen_trial']}: {quote(r['chosen_values'])}",
        DASH if math.isnan(r["val_mean"]) else f"{r['val_mean']:.{DECIMALS}f}",
        won_by(r["margin"], r["margin_se"]),
        fmt_cell(r["mean"], r["std"], r["n"]),
        fmt_ci(r["ci_low"], r["ci_high"]),
        fmt_cell(r["default_mean"], r["default_std"], r["default_n"]),
        DASH if math.isnan(r["delta"]) else f"{r['delta']:+.{DECIMALS}f}",
    ]


def tuned_sections(tuned: pd.DataFrame) -> list[str]:
    if tuned.empty:
        return []
    out = [MAIN_RULE, ""]
    for (study, trials, space_seed, picks), s in tuned.groupby([*STUDY], sort=False):
        seed = f", search-space seed {space_seed}" if space_seed >= 0 else ""
        shown = s["report_seeds"].iloc[0]
        where = (
            f"chosen on seeds {picks}, its test mAP read on fresh seeds {shown}"
            if picks
            else f"chosen and reported on the same seeds {shown} (an older study: the choice inflates its figure)"
        )
        out += [
            f"## Tuned ({trials} trials each): study `{study}`{seed}, {where}",
            "",
            f"Each method drew {trials} configurations from its declared search space (trial 0: its defaults); "
            "each ran on the same seeds. Chosen per method and dataset: the eligible trial (every seed `done`) "
            "with the best mean **clean-validation** mAP, ties to the lower trial number; the test mAP is then "
            "read once. `won by`: its mean validation mAP minus the runner-up's, with the standard error of that "
            "difference (paired over seeds) — a margin within about 2 SE is no evidence the choice is better. "
            "`defaults`: trial 0 on the report seeds; Δ = tuned − defaults. 95% CI: Student t over seeds.",
            "",
        ]
        for protocol in ordered(s["protocol"], PROTOCOL_ORDER):
            for (labels, dataset), part in sorted(
                s[s["protocol"] == protocol].groupby(["labels", "dataset"]),
                key=lambda kv: (
                    kv[0][0] != "1p",
                    DATASET_ORDER.index(kv[0][1]) if kv[0][1] in DATASET_ORDER else 99,
                    kv[0],
                ),
            ):
                rows = [tuned_row(r, trials) for _, r in part.iterrows()]
                out += [f"### {dataset}, `{labels}` ({protocol})", "", table(TUNED_COLUMNS, rows), ""]
                line = _ranking_line(part)
                out += [line, ""] if line else []
    return out
