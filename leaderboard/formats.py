"""The main table in machine-readable and paper-ready forms — CSV and JSON (full precision, one row
per cell) and LaTeX (as printed, bold as on the page) — and every run as one row (``runs``: CSV,
``runs-jsonl``: JSON lines)."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pandas as pd

from leaderboard.compare import poi_frame, power_frame
from leaderboard.published import DATASET_COLUMNS
from leaderboard.records import Records, records_runs, row_label
from leaderboard.table import (
    DATASET_ORDER,
    DECIMALS,
    GROUP_TITLES,
    ORACLE_REGIMES,
    PAPER_REGIMES,
    PROTOCOL_ORDER,
    by_cell,
    main_cells,
    method_group,
    ordered,
    published_figure,
    row_keys,
    table_group,
    table_groups,
)
from leaderboard.tuning import tuned_frame

# fmt: off
CSV_COLUMNS = [
    "protocol", "labels", "method", "variant", "dataset", "group",  # the cell
    "mean", "std", "n", "seeds", "ci_low", "ci_high", "failed", "diverged", "excluded",  # its runs
    "published_mean", "published_std", "published_source", "delta", "outside_2sigma",  # against the paper
    "design", "var_model", "var_data", "var_residual",  # the seed design and its variance components
    "best", "rank_low", "rank_high", "bold",  # the confidence set for the best row
]
# fmt: on


def _cells(records: Records) -> pd.DataFrame:
    cells = main_cells(records)
    cells["seeds"] = cells["seeds"].apply(lambda s: " ".join(str(x) for x in s))
    return cells[CSV_COLUMNS]


def to_csv(records: Records) -> str:
    buf = io.StringIO()
    _cells(records).to_csv(buf, index=False, float_format="%.10g", lineterminator="\n")
    return buf.getvalue()


def _jsonable(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):  # numpy scalars
        return _jsonable(v.item())
    return v


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def to_json(records: Records) -> str:
    keys = ["protocol", "labels", "method", "variant", "dataset", "seed", "path"]
    failed = [{k: _jsonable(r[k]) for k in [*keys, "error"]} for _, r in records.failed.iterrows()]
    diverged = []
    for i, r in records.diverged.iterrows():
        d = records.raw[i].get("divergence")
        diverged.append({**{k: _jsonable(r[k]) for k in keys}, "divergence": d if isinstance(d, dict) else None})
    meta = {
        "metric": "test mAP (%) at the best validation epoch",
        "std": "sample standard deviation over seeds (ddof=1); null for a single run",
        "interval": "95% Student-t interval of the mean over seeds (ci_low, ci_high); null for a single run",
        "bold": "best: the highest mean among main rows with n >= 2 of the column; rank_low/rank_high: the rank "
        "interval from one-sided Welch t-tests at 5%/(k-1) between every two such rows (0: no rank); bold: the 95% "
        "confidence set for the best row (rank_low == 1)",
        "design": "the seed axes a cell's runs vary: model (data seed fixed), paired, crossed (var_*: two-way "
        "random-effects ANOVA components), mixed",
        "probability_of_improvement": "vs an: diff of means with two-sided Welch p (p_diff) and Holm-adjusted over "
        "the methods of a dataset; poi: P(run of the method > run of an) over all seed pairs, ties 1/2, with the exact "
        "one-sided Mann-Whitney p (p_mw) and Holm-adjusted; low/high: 95% stratified-bootstrap interval, null below "
        "5 runs a side",
        "power": "each ranked row vs the best: seeds_<delta> per row for 80% power to resolve delta mAP by the Welch "
        "test of the bold rule, from both rows' stds; _low/_high: both stds at their 95% chi-square limits",
        "records": len(records.frame),
        "done": int((records.frame["status"] == "done").sum()),
        "failed": len(records.failed),
        "diverged": len(records.diverged),
        "invalid_files": len(records.invalid),
        "cells_left_out": len(records.bad_cells),
        "seeds": sorted(int(s) for s in records.done["seed"].unique()),
        "commits": sorted({str(c) for c in records.frame["commit"].dropna()}),
    }
    data = {
        "meta": meta,
        "cells": _rows(_cells(records)),
        "tuned": _rows(tuned_frame(records)),
        "probability_of_improvement": _rows(poi_frame(records)),
        "power": _rows(power_frame(records)),
        "failed_runs": failed,
        "diverged_runs": diverged,
        "invalid_files": [{"path": x.path, "problem": x.problem} for x in records.invalid],
        "cells_left_out": [{"cell": c.name, "problem": c.problem, "records": list(c.paths)} for c in records.bad_cells],
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def _tex(text: str) -> str:
    # the backslash first; its own braces, escaped by the later steps, are restored last
    text = text.replace("\\", r"\textbackslash{}")
    for c in "_%&#${}":
        text = text.replace(c, "\\" + c)
    return text.replace(r"\textbackslash\{\}", r"\textbackslash{}")


def to_latex(records: Records) -> str:
    """One ``tabular`` per protocol and table (the paper's regimes together, other regimes apart)."""
    cells = main_cells(records)
    out = [
        "% generated by `python -m leaderboard --format latex`: test mAP (%), mean $\\pm$ sample std over seeds;",
        "% bold: the 95% confidence set for the best SPML (1p) row with n >= 2 per column (no row above it by a "
        "one-sided Welch t-test at 5%/(k-1)); $^\\dagger$: |ours - published| > 2 published std",
    ]
    for protocol in ordered(cells["protocol"], PROTOCOL_ORDER):
        part_p = cells[cells["protocol"] == protocol]
        for group in table_groups(part_p["labels"]):
            part = part_p[part_p["labels"].map(table_group) == group]
            datasets = ordered(part["dataset"], DATASET_ORDER)
            compare = protocol == "finetune" and group == "paper"
            pub = {d: compare and d in DATASET_COLUMNS for d in datasets}  # a paper column where one can exist
            cols = "ll" + "".join("rr" if pub[d] else "r" for d in datasets)
            head = ["Method", "Labels"]
            for d in datasets:
                head += [_tex(d), "paper"] if pub[d] else [_tex(d)]
            out += [
                f"% {protocol}, {'labels ' + group if group != 'paper' else 'regimes ' + ', '.join(PAPER_REGIMES)}",
                f"\\begin{{tabular}}{{{cols}}}",
                "\\toprule",
                " & ".join(head) + " \\\\",
                "\\midrule",
            ]
            shown_group = "paper"
            found = by_cell(part)
            for method, labels, variant in row_keys(part):
                g = method_group(method)
                if g != shown_group and labels not in ORACLE_REGIMES:
                    out += ["\\midrule", f"\\multicolumn{{{len(cols)}}}{{l}}{{\\emph{{{GROUP_TITLES[g]}}}}} \\\\"]
                    shown_group = g
                row = [_tex(row_label(method, variant)), _tex(labels)]
                for d in datasets:
                    r = found.get((method, labels, variant, d))
                    pm = published_figure(protocol, method, labels, d, variant)[0]
                    if r is None or r["n"] == 0:
                        row.append("--")
                    else:
                        text = f"{r['mean']:.{DECIMALS}f}" + ("" if r["n"] == 1 else f" $\\pm$ {r['std']:.{DECIMALS}f}")
                        if r["bold"]:
                            text = f"\\textbf{{{text}}}"
                        if r["outside_2sigma"]:
                            text += "$^\\dagger$"
                        row.append(text)
                    if pub[d]:
                        row.append("--" if math.isnan(pm) else f"{pm:.2f}")
                out.append(" & ".join(row) + " \\\\")
            out += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(out)


def to_runs_csv(records: Records) -> str:
    buf = io.StringIO()
    records_runs(records).to_csv(buf, index=False, float_format="%.10g", lineterminator="\n")
    return buf.getvalue()


def to_runs_jsonl(records: Records) -> str:
    rows = _rows(records_runs(records))
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)


FORMATS = {"csv": to_csv, "json": to_json, "latex": to_latex, "runs": to_runs_csv, "runs-jsonl": to_runs_jsonl}
