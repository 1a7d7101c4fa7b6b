"""The page's analysis sections: per-class AP, unannotated positives vs negatives, the training loss
of annotated labels, threshold metrics."""

from __future__ import annotations

import math

import pandas as pd

from leaderboard.figures import BASELINE, FigureSpec, class_names, series_label
from leaderboard.mdutil import DASH, escape, fmt_cell, table
from leaderboard.records import Records, analysis_frame, per_class_frame, threshold_frame
from leaderboard.table import DATASET_ORDER, DECIMALS, PROTOCOL_ORDER, by_cell, ordered, row_keys, stats

SPML = "1p"  # the regime whose rows compete for bold in the per-class and analysis tables
THRESHOLD_METRICS = [
    ("f1_macro", "CF1"),
    ("precision_macro", "CP"),
    ("recall_macro", "CR"),
    ("f1_micro", "OF1"),
    ("precision_micro", "OP"),
    ("recall_micro", "OR"),
]
Series = tuple[str, str, str]  # method, labels, variant


def _figure(f: FigureSpec, note: str = "") -> list[str]:
    """A figure and its caption (with ``note``) below it."""
    return [f"![{f.caption}](figures/{f.name})", "", f"*{f.caption}{note}.*", ""]


def _competes(s: Series) -> bool:
    return s[1] == SPML and s[2] == ""


def per_class_section(records: Records, figures: list[FigureSpec], gain_method: str) -> list[str]:
    pcf = per_class_frame(records)
    if pcf.empty:
        return []
    out = [
        "## Per-class test AP",
        "",
        "Mean over seeds of each class's test AP (%); bold: the highest `1p` main row of each class (a plain maximum "
        "of means, no test). The last row is the mean over classes (the mAP).",
        "",
    ]
    for protocol in ordered(pcf["protocol"], PROTOCOL_ORDER):
        for dataset in ordered(pcf[pcf["protocol"] == protocol]["dataset"], DATASET_ORDER):
            sel = pcf[(pcf["protocol"] == protocol) & (pcf["dataset"] == dataset)]
            mean = sel.groupby(["method", "labels", "variant", "class"])["ap"].mean()
            cols = row_keys(sel)
            classes = class_names(records, dataset)
            rows = []
            for cls in classes:
                vals = {c: mean.get((*c, cls), math.nan) for c in cols}
                spml = [v for c, v in vals.items() if _competes(c) and not math.isnan(v)]
                top = max(round(v, DECIMALS) for v in spml) if len(spml) > 1 else None
                row = [escape(cls)]
                for c, v in vals.items():
                    text = DASH if math.isnan(v) else f"{v:.2f}"
                    bold = top is not None and _competes(c) and not math.isnan(v) and round(v, DECIMALS) == top
                    row.append(f"**{text}**" if bold else text)
                rows.append(row)
            rows.append(["*mean*", *[f"{mean.xs(c, level=('method', 'labels', 'variant')).mean():.2f}" for c in cols]])
            out += [
                f"### {dataset} ({protocol})",
                "",
                f"<details><summary>per-class AP table ({len(classes)} classes × {len(cols)} rows)</summary>",
                "",
                table(["class", *[escape(series_label(*c)) for c in cols]], rows),
                "",
                "</details>",
                "",
            ]
            gains = [f for f in figures if f.kind == "gain" and (f.dataset, f.protocol) == (dataset, protocol)]
            for f in gains:
                out += _figure(
                    f, "; sorted by gain; error bars: ±1 standard error of the difference of the two means over seeds"
                )
            if not gains:
                out += [f"*No class-wise gain figure: needs `1p` runs of both `{gain_method}` and `{BASELINE}`.*", ""]
    return out


def _grid_by_dataset(long: pd.DataFrame, value: str, decimals: int) -> list[str]:
    """A rows × datasets table of ``mean ± std (n)`` of ``value``, the highest ``1p`` main row bold."""
    cells = stats(long, value)
    out = []
    for protocol in ordered(cells["protocol"], PROTOCOL_ORDER):
        part = cells[cells["protocol"] == protocol]
        datasets = ordered(part["dataset"], DATASET_ORDER)
        best = {}
        for d in datasets:
            spml = part[(part["dataset"] == d) & (part["labels"] == SPML) & (part["variant"] == "")]
            if len(spml) > 1:
                best[d] = spml["mean"].round(decimals).max()
        rows = []
        found = by_cell(part)
        for s in row_keys(part):
            row = [escape(series_label(*s))]
            for d in datasets:
                r = found.get((*s, d))
                if r is None:
                    row.append(DASH)
                    continue
                bold = _competes(s) and d in best and round(r["mean"], decimals) == best[d]
                row.append(fmt_cell(r["mean"], r["std"], int(r["n"]), decimals=decimals, bold=bold))
            rows.append(row)
        out += [f"*{protocol}*", "", table(["row", *datasets], rows), ""]
    return out


def analysis_section(records: Records, figures: list[FigureSpec]) -> list[str]:
    ana = analysis_frame(records)
    ana = ana[(ana["num_pos"] > 0) & (ana["num_neg"] > 0)]
    dens = [f for f in figures if f.kind == "density"]
    if ana.empty and not dens:
        return []
    out = [
        "## Unannotated positives vs unannotated negatives",
        "",
        "The paper's analysis: on the model of the best validation epoch, the predicted probabilities of the "
        "training labels that were not annotated, split by their true value. A method that separates the two "
        "distributions (a large Wasserstein distance) recovers the unannotated positives instead of "
        "suppressing them. Regimes without unannotated positives *and* negatives (`full`, `1p_all_n`) have none.",
        "",
        "Wasserstein distance between the two distributions (`scipy.stats.wasserstein_distance`), mean ± sample "
        "std over seeds; bold: the largest `1p` value.",
        "",
    ]
    out += _grid_by_dataset(ana, "wasserstein", decimals=3)
    for f in dens:
        out += _figure(f, "; every panel on one shared square-root y-scale")
    return out


def loss_section(figures: list[FigureSpec]) -> list[str]:
    loss = [f for f in figures if f.kind == "loss"]
    if not loss:
        return []
    out = [
        "## Training loss of annotated labels",
        "",
        "Mean `-log p` over the observed positive labels in each training epoch: how fast a method fits the labels it "
        "was given. Runs stop early at different epochs; each point is the mean over the seeds that ran that epoch, "
        "and hollow markers flag the epochs that fewer than all of a row's seeds reached.",
        "",
    ]
    for f in loss:
        out += _figure(f)
    return out


def threshold_section(records: Records) -> list[str]:
    thr = threshold_frame(records)
    if thr.empty:
        return []
    out = [
        "## Threshold metrics",
        "",
        "At the best validation epoch, on the test set, predictions thresholded at 0.5 and at 0.75 (the EM "
        "authors advise 0.75 for EM). CP/CR/CF1: per-class precision, recall, F1 averaged over classes; "
        "OP/OR/OF1: over all test labels. Mean over seeds, %.",
        "",
    ]
    thresholds = sorted(thr["threshold"].unique(), key=float)
    mean = thr.groupby(["protocol", "dataset", "method", "labels", "variant", "threshold", "metric"])["value"].mean()
    for protocol in ordered(thr["protocol"], PROTOCOL_ORDER):
        for dataset in ordered(thr[thr["protocol"] == protocol]["dataset"], DATASET_ORDER):
            sel = thr[(thr["protocol"] == protocol) & (thr["dataset"] == dataset)]
            headers = ["method", "labels", *[f"{short}@{t}" for t in thresholds for _, short in THRESHOLD_METRICS]]
            rows = []
            for method, labels, variant in row_keys(sel):
                row = [escape(series_label(method, "1p", variant)), labels]
                for t in thresholds:
                    for metric, _ in THRESHOLD_METRICS:
                        v = mean.get((protocol, dataset, method, labels, variant, t, metric), math.nan)
                        row.append(DASH if math.isnan(v) else f"{v:.2f}")
                rows.append(row)
            out += [f"### {dataset} ({protocol})", "", table(headers, rows), ""]
    return out
