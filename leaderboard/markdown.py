"""The leaderboard as markdown (``leaderboard/README.md``): deterministic for given records —
no timestamps, sorted order, figure links relative to the markdown file."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from tabulate import tabulate

from leaderboard import published
from leaderboard.figures import BASELINE, FigureSpec, class_names, row_label
from leaderboard.records import Records, analysis_frame, per_class_frame, threshold_frame
from leaderboard.table import (
    DATASET_ORDER, DECIMALS, ORACLE_REGIMES, PROTOCOL_ORDER, literature_rows, main_cells,
    ordered, published_figure, row_key, stats, table_group, table_groups,
)

DASH = "—"
WARN = "⚠"
LIT = "‡"
PROTOCOL_TITLES = {"finetune": "fine-tuned end to end", "linear": "linear probe on a frozen backbone"}
#: PROTOCOL.md marks these definitions as the project's own (no reference code): say so beside the numbers
ADOPTED = {
    "l1r": "L1 penalty on the trainable parameters added to AN",
    "l2r": "L2 penalty on the trainable parameters added to AN",
    "nls": "negative label smoothing, rate r = -0.1",
    "entmin": "entropy minimised on unannotated labels, α as EM's",
    "focal": "γ = 2, no α-balancing",
    "asl": "γ+ = 0, γ- = 4, margin 0.05",
}
SPML = "1p"  # the regime whose rows compete for bold in the per-class and analysis tables
THRESHOLD_METRICS = [("f1_macro", "CF1"), ("precision_macro", "CP"), ("recall_macro", "CR"),
                     ("f1_micro", "OF1"), ("precision_micro", "OP"), ("recall_micro", "OR")]


def _table(headers: Sequence[str], rows: list[list[str]]) -> str:
    return tabulate(rows, headers=list(headers), tablefmt="github", disable_numparse=True)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def fmt_cell(mean: float, std: float, n: int, failed: int = 0, decimals: int = DECIMALS, bold: bool = False) -> str:
    """``mean ± std (n=k)``; one run: ``mean (n=1)``, no std; no done run: the failures."""
    if n == 0:
        return f"{DASH} ({failed} failed)" if failed else DASH
    text = f"{mean:.{decimals}f} (n=1)" if n == 1 else f"{mean:.{decimals}f} ± {std:.{decimals}f} (n={n})"
    return f"**{text}**" if bold else text


def _fmt_published(mean: float, std: float, source: str) -> str:
    if source == "paper":
        return f"{mean:.2f} ± {std:.2f}"
    if source == "literature":
        return f"{mean:.2f} {LIT}"
    return DASH


def _fmt_delta(delta: float, outside: bool) -> str:
    if math.isnan(delta):
        return DASH
    return f"{delta:+.2f}" + (f" {WARN}" if outside else "")


def _literature_label(lit: pd.Series, not_run: bool) -> str:
    extra = "" if str(lit["extra_model"]).lower() == "none" else f"; uses {lit['extra_model']}"
    return f"*{lit['method']}* ({lit['venue']}{extra}{', published only, not run here' if not_run else ''})"


def _main_section(cells: pd.DataFrame, protocol: str, group: str) -> list[str]:
    part = cells[(cells["protocol"] == protocol) & (cells["labels"].map(table_group) == group)]
    datasets = ordered(part["dataset"], DATASET_ORDER)
    # the published figures are end-to-end fine-tuning under the paper's regimes
    compare = protocol == "finetune" and group == "paper"
    headers = ["method", "labels"]
    for d in datasets:
        headers += [d, f"{d} paper", f"{d} Δ"] if compare else [d]
    rows = []
    keys = sorted({(m, l) for m, l in zip(part["method"], part["labels"])}, key=lambda ml: row_key(*ml))
    for method, labels in keys:
        row = [method, labels]
        for d in datasets:
            c = part[(part["method"] == method) & (part["labels"] == labels) & (part["dataset"] == d)]
            if c.empty:
                pm, ps, src = published_figure(protocol, method, labels, d)
                row += [DASH, _fmt_published(pm, ps, src), DASH] if compare else [DASH]
                continue
            r = c.iloc[0]
            row.append(fmt_cell(r["mean"], r["std"], r["n"], r["failed"], bold=bool(r["best"])))
            if compare:
                row += [_fmt_published(r["published_mean"], r["published_std"], r["published_source"]),
                        _fmt_delta(r["delta"], bool(r["outside_2sigma"]))]
        rows.append(row)
    published_datasets = [d for d in datasets if d in published.DATASET_COLUMNS]
    if compare and published_datasets:
        for _, lit in literature_rows(set(part["method"])).iterrows():
            row = [_literature_label(lit, not_run=True), "1p"]
            for d in datasets:
                shown = f"{lit[d]:.2f} {LIT}" if d in published.DATASET_COLUMNS else DASH
                row += ["not run", shown, DASH]
            rows.append(row)
    if group == "paper":
        title = f"### Single positive labels (`1p`), with the oracles (`{'`, `'.join(ORACLE_REGIMES)}`) on top"
        bold = "bold: the best `1p` row of each column (the oracle rows are references)."
    else:
        title = f"### Labels `{group}`"
        bold = "bold: the best row of each column."
    legend = [f"Test mAP (%), mean ± sample std over seeds (n = runs); {bold}", ""]
    if compare:
        legend += [f"`paper`: Zhou et al., ECCV 2022, main table (mean ± std); {LIT}: a later paper's single "
                   f"published number; Δ = ours − published, {WARN} where |Δ| > 2 published σ; {DASH}: no published figure.", ""]
    elif protocol != "finetune":
        legend += ["No published figures beside these: the published tables fine-tune end to end.", ""]
    return [title, "", _table(headers, rows), "", *legend]


def _published_only_section(run_datasets: set[str]) -> list[str]:
    """The published figures of the paper's datasets that no record covers yet."""
    missing = [d for d in published.DATASET_COLUMNS if d not in run_datasets]
    if not missing:
        return []
    headers = ["method", "labels", *[f"{d} ({published.DATASET_NAMES[d]})" for d in missing]]
    rows = []
    paper = published.paper_table()
    for _, r in paper.iterrows():
        rows.append([r["method"], r["labels"], *[f"{r[f'{d}_mean']:.2f} ± {r[f'{d}_std']:.2f}" for d in missing]])
    for _, r in published.literature_table().iterrows():
        rows.append([_literature_label(r, not_run=False), "1p", *[f"{r[d]:.2f} {LIT}" for d in missing]])
    return [
        "## Published figures for datasets not run here", "",
        "Not reproduced by these records; shown so that this benchmark's numbers can be read against them once those datasets are run.", "",
        _table(headers, rows), "",
        *[f"- {line}" for line in published.source_lines(published.PAPER_CSV)],
        f"- {LIT} " + " ".join(published.source_lines(published.LITERATURE_CSV)), "",
    ]


def _per_method_columns(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted({(m, l) for m, l in zip(frame["method"], frame["labels"])}, key=lambda ml: row_key(*ml))


def _per_class_section(records: Records, figures: list[FigureSpec], gain_method: str) -> list[str]:
    pcf = per_class_frame(records)
    if pcf.empty:
        return []
    out = ["## Per-class test AP", "",
           "Mean over seeds of each class's test AP (%); bold: the best `1p` method of each class. "
           "The last row is the mean over classes (the mAP).", ""]
    for protocol in ordered(pcf["protocol"], PROTOCOL_ORDER):
        for dataset in ordered(pcf[pcf["protocol"] == protocol]["dataset"], DATASET_ORDER):
            sel = pcf[(pcf["protocol"] == protocol) & (pcf["dataset"] == dataset)]
            mean = sel.groupby(["method", "labels", "class"])["ap"].mean()
            cols = _per_method_columns(sel)
            classes = class_names(records, dataset)
            rows = []
            for cls in classes:
                vals = {c: mean.get((c[0], c[1], cls), math.nan) for c in cols}
                spml = [v for c, v in vals.items() if c[1] == SPML and not math.isnan(v)]
                top = max(round(v, DECIMALS) for v in spml) if len(spml) > 1 else None
                row = [_escape(cls)]
                for c, v in vals.items():
                    text = DASH if math.isnan(v) else f"{v:.2f}"
                    bold = top is not None and c[1] == SPML and not math.isnan(v) and round(v, DECIMALS) == top
                    row.append(f"**{text}**" if bold else text)
                rows.append(row)
            rows.append(["*mean*", *[f"{mean.xs((c[0], c[1]), level=('method', 'labels')).mean():.2f}" for c in cols]])
            out += [f"### {dataset} ({protocol})", "", "<details><summary>per-class AP table "
                    f"({len(classes)} classes × {len(cols)} methods)</summary>", "",
                    _table(["class", *[row_label(*c) for c in cols]], rows), "", "</details>", ""]
            gains = [f for f in figures if f.kind == "gain" and (f.dataset, f.protocol) == (dataset, protocol)]
            for f in gains:
                out += [f"![{f.caption}](figures/{f.name})", "", f"*{f.caption}; sorted by gain.*", ""]
            if not gains:
                out += [f"*No class-wise gain figure: needs `1p` runs of both `{gain_method}` and `{BASELINE}`.*", ""]
    return out


def _grid_by_dataset(long: pd.DataFrame, value: str, decimals: int, higher: bool = True) -> list[str]:
    """A methods × datasets table of ``mean ± std (n)`` of ``value``, best ``1p`` row bold."""
    cells = stats(long, value)
    out = []
    for protocol in ordered(cells["protocol"], PROTOCOL_ORDER):
        part = cells[cells["protocol"] == protocol]
        datasets = ordered(part["dataset"], DATASET_ORDER)
        best = {}
        for d in datasets:
            spml = part[(part["dataset"] == d) & (part["labels"] == SPML)]
            if len(spml) > 1:
                shown = spml["mean"].round(decimals)
                best[d] = shown.max() if higher else shown.min()
        rows = []
        for method, labels in _per_method_columns(part):
            row = [method, labels]
            for d in datasets:
                c = part[(part["method"] == method) & (part["labels"] == labels) & (part["dataset"] == d)]
                if c.empty:
                    row.append(DASH)
                    continue
                r = c.iloc[0]
                bold = labels == SPML and d in best and round(r["mean"], decimals) == best[d]
                row.append(fmt_cell(r["mean"], r["std"], int(r["n"]), decimals=decimals, bold=bold))
            rows.append(row)
        out += [f"*{protocol}*", "", _table(["method", "labels", *datasets], rows), ""]
    return out


def _analysis_section(records: Records, figures: list[FigureSpec]) -> list[str]:
    ana = analysis_frame(records)
    ana = ana[(ana["num_pos"] > 0) & (ana["num_neg"] > 0)]
    dens = [f for f in figures if f.kind == "density"]
    if ana.empty and not dens:
        return []
    out = ["## Unannotated positives vs unannotated negatives", "",
           "The paper's analysis: on the model of the best validation epoch, the predicted probabilities of the "
           "training labels that were not annotated, split by their true value. A method that separates the two "
           "distributions (a large Wasserstein distance) recovers the unannotated positives instead of "
           "suppressing them. Regimes without unannotated positives *and* negatives (`full`, `1p_all_n`) have none.", "",
           "Wasserstein distance between the two distributions (`scipy.stats.wasserstein_distance`), mean ± sample "
           "std over seeds; bold: the largest `1p` value.", ""]
    out += _grid_by_dataset(ana, "wasserstein", decimals=3)
    for f in dens:
        out += [f"![{f.caption}](figures/{f.name})", "", f"*{f.caption}.*", ""]
    return out


def _loss_section(figures: list[FigureSpec]) -> list[str]:
    loss = [f for f in figures if f.kind == "loss"]
    if not loss:
        return []
    out = ["## Training loss of annotated labels", "",
           "Mean `-log p` over the observed positive labels in each training epoch (mean over seeds): how fast a "
           "method fits the labels it was given. Dashed: the oracle regimes.", ""]
    for f in loss:
        out += [f"![{f.caption}](figures/{f.name})", "", f"*{f.caption}.*", ""]
    return out


def _threshold_section(records: Records) -> list[str]:
    thr = threshold_frame(records)
    if thr.empty:
        return []
    out = ["## Threshold metrics", "",
           "At the best validation epoch, on the test set, predictions thresholded at 0.5 and at 0.75 (the EM "
           "authors advise 0.75 for EM). CP/CR/CF1: per-class precision, recall, F1 averaged over classes; "
           "OP/OR/OF1: over all test labels. Mean over seeds, %.", ""]
    thresholds = sorted(thr["threshold"].unique(), key=float)
    mean = thr.groupby([*["protocol", "dataset", "method", "labels"], "threshold", "metric"])["value"].mean()
    for protocol in ordered(thr["protocol"], PROTOCOL_ORDER):
        for dataset in ordered(thr[thr["protocol"] == protocol]["dataset"], DATASET_ORDER):
            sel = thr[(thr["protocol"] == protocol) & (thr["dataset"] == dataset)]
            headers = ["method", "labels", *[f"{short}@{t}" for t in thresholds for _, short in THRESHOLD_METRICS]]
            rows = []
            for method, labels in _per_method_columns(sel):
                row = [method, labels]
                for t in thresholds:
                    for metric, _ in THRESHOLD_METRICS:
                        v = mean.get((protocol, dataset, method, labels, t, metric), math.nan)
                        row.append(DASH if math.isnan(v) else f"{v:.2f}")
                rows.append(row)
            out += [f"### {dataset} ({protocol})", "", _table(headers, rows), ""]
    return out


def _failed_section(records: Records) -> list[str]:
    failed = records.failed
    if failed.empty:
        return []
    rows = [[r["method"], r["labels"], r["dataset"], r["protocol"], str(r["seed"]),
             _escape(r["error"][:200] + ("…" if len(r["error"]) > 200 else "")), f"`{r['path']}`"]
            for _, r in failed.sort_values(["dataset", "protocol", "method", "labels", "seed", "path"]).iterrows()]
    return [f"## Failed runs ({len(failed)})", "",
            "Counted apart: never averaged into a cell. Rerun them with `python run_all.py --retry-failed`.", "",
            _table(["method", "labels", "dataset", "protocol", "seed", "error", "record"], rows), ""]


def _commits(records: Records) -> str:
    f = records.frame
    parts = []
    for (commit, dirty), g in f.fillna({"commit": "unknown"}).groupby(["commit", "dirty"], dropna=False, sort=True):
        flag = " (uncommitted changes)" if dirty is True else ""
        parts.append(f"`{str(commit)[:12]}`{flag}: {len(g)} record{'s' if len(g) != 1 else ''}")
    return "; ".join(parts) or DASH


def _notes(records: Records) -> list[str]:
    f = records.frame
    done = records.done
    seeds = ", ".join(str(s) for s in sorted(done["seed"].unique())) or DASH
    adopted = [m for m in ordered(f["method"], list(ADOPTED)) if m in ADOPTED]
    out = ["## Notes", "",
           "- **std**: sample standard deviation over seeds (pandas `std(ddof=1)`); a cell with one run shows `n=1` and no std.",
           "- **mAP**: mean over classes of scikit-learn average precision, × 100, on the test split at the epoch of "
           "the best validation mAP (clean validation labels).",
           f"- **seeds** (model seeds; split and observed labels fixed by data seed 1200): {seeds}.",
           f"- **code**: {_commits(records)}.",
           f"- **records**: {len(f)} ({len(done)} done, {len(records.failed)} failed and not averaged in).",
           "- Rows follow the paper's order: the oracles (`bce` under `full`, then `1p_all_n`) on top, then "
           "an, dw, l1r, l2r, ls, nls, entmin, focal, asl, role, role_li, em, em_apl; methods after the paper follow "
           "alphabetically."]
    if adopted:
        out.append("- **adopted definitions** (no reference code; PROTOCOL.md): "
                   + "; ".join(f"`{m}`: {ADOPTED[m]}" for m in adopted) + ".")
    lit = published.literature_table()
    out += [f"- Published figures: `leaderboard/published/` — {published.source_lines(published.PAPER_CSV)[0]}",
            f"- {LIT} {published.source_lines(published.LITERATURE_CSV)[0]} Sources: "
            + "; ".join(f"`{r['method']}`: {r['source']}" for _, r in lit.iterrows()) + ".",
            "", "Regenerate with `python -m leaderboard` (also run at the end of `run_all.py`).", ""]
    return out


def render(records: Records, figures: list[FigureSpec], gain_method: str = "em") -> str:
    lines = ["# SPML leaderboard", "",
             "<!-- generated by `python -m leaderboard` from the run records alone; edits by hand are overwritten -->", ""]
    f = records.frame
    if f.empty:
        lines += ["No run records yet: run `python run_all.py`, then `python -m leaderboard`.", ""]
        return "\n".join(lines + _published_only_section(set()) + _notes(records)).rstrip("\n") + "\n"
    cells = main_cells(records)
    for protocol in ordered(cells["protocol"], PROTOCOL_ORDER):
        lines += [f"## Test mAP — {protocol} ({PROTOCOL_TITLES.get(protocol, protocol)})", ""]
        for group in table_groups(cells[cells["protocol"] == protocol]["labels"]):
            lines += _main_section(cells, protocol, group)
    lines += _failed_section(records)
    lines += _published_only_section(set(f["dataset"]))
    lines += _per_class_section(records, figures, gain_method)
    lines += _analysis_section(records, figures)
    lines += _loss_section(figures)
    lines += _threshold_section(records)
    lines += _notes(records)
    return "\n".join(lines).rstrip("\n") + "\n"
