"""Write the site: ``index.html`` (the main tables per protocol and table, charts of the means and
intervals, the tuned tables, the statistics, the runs left out of the means, the figures) and
``cell/<cell>.html`` per cell (its runs with configuration, provenance and per-epoch curves).

Every number comes from the frames the markdown page uses (``table.main_cells``, ``tuning.tuned_frame``,
``compare.poi_frame`` / ``power_frame``) and is written by the markdown's formatters; nothing is
recomputed here. Deterministic for given records (no timestamps)."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from plotly.offline import get_plotlyjs

from benchmark.records import is_number
from leaderboard.compare import MIN_BOOTSTRAP_RUNS, POWER, POWER_DELTAS, poi_frame, power_frame
from leaderboard.errors import LeaderboardError
from leaderboard.figures import FigureSpec
from leaderboard.markdown import PROTOCOL_TITLES
from leaderboard.mdutil import DASH, LIT, WARN, cell_texts
from leaderboard.page_main import BOLD_RULE, TUNED_COLUMNS, tuned_row
from leaderboard.page_stats import POI_HEADERS, POWER_METHOD, SEEDS_HEADERS, poi_row, power_row
from leaderboard.records import CELL, Records, cell_name, row_label
from leaderboard.site.html import Cell, Row, esc, page, para, section, table
from leaderboard.table import (
    BASELINE,
    DATASET_ORDER,
    DECIMALS,
    GROUP_TITLES,
    ORACLE_REGIMES,
    PROTOCOL_ORDER,
    by_cell,
    fmt_rank,
    literature_rows,
    main_cells,
    method_group,
    ordered,
    row_key,
    row_keys,
    sort_by,
    table_group,
    table_groups,
)
from leaderboard.tuning import MAIN_RULE, STUDY, tuned_frame

STATIC = Path(__file__).resolve().parent / "static"
#: the row kinds the filter toggles (a row is also a variant or not)
KINDS = {
    "oracle": "oracles",
    "paper": "the paper's rows",
    "since": GROUP_TITLES["since"],
    "other": GROUP_TITLES["other"],
    "variant": "variants",
}


def cell_file(key: tuple[str, ...]) -> str:
    """A cell page's file name: readable, safe on any file system, unique (a hash of the cell's name)."""
    name = cell_name(key)
    safe = re.sub(r"[^A-Za-z0-9._=-]+", "_", name).strip("._")[:80]
    return f"{safe}-{hashlib.sha1(name.encode()).hexdigest()[:8]}.html"


def _num(v: Any) -> float:
    return float(v) if v is not None and not pd.isna(v) else math.nan


#: the values the cells of the tuned, POI and power tables sort by (None: by their text)
TUNED_SORTS = (None, None, None, "val_mean", "margin", "mean", "ci_low", "default_mean", "delta")
POI_SORTS = (None, None, "diff", "p_diff", "p_diff_holm", "poi", "p_mw", "p_mw_holm", None)
POWER_SORTS = (None, "n", "std", None, "gap", "resolves", *[f"seeds_{d:g}" for d in POWER_DELTAS])


def _cells(r: pd.Series, sorts: Sequence[str | None], texts: list[str], bold: Sequence[bool] = ()) -> list[Cell | str]:
    """``texts`` as cells that sort by the named values of ``r``, bold where ``bold`` says."""
    bold = bold or [False] * len(texts)
    return [Cell(t, None if s is None else _num(r[s]), cls="bold" if b else "") for t, s, b in zip(texts, sorts, bold)]


# -- the main tables -------------------------------------------------------------------------------
def _kind(method: str, labels: str) -> str:
    return "oracle" if labels in ORACLE_REGIMES else method_group(method)


def _main_table(part: pd.DataFrame, protocol: str, group: str, charts: dict[str, Any]) -> str:
    datasets = ordered(part["dataset"], DATASET_ORDER)
    pub = {
        d: protocol == "finetune"
        and group == "paper"
        and bool(part.loc[part["dataset"] == d, "published_source"].ne("").any())
        for d in datasets
    }
    headers = ["#", "method", "labels", "group"]
    for d in datasets:
        headers += [d, f"{d} 95% CI", f"{d} paper", f"{d} Δ"] if pub[d] else [d, f"{d} 95% CI"]
    found = by_cell(part)
    rows: list[Row] = []
    for i, (method, labels, variant) in enumerate(row_keys(part)):
        kind = _kind(method, labels)
        label = row_label(method, variant)
        cells: list[Cell | str] = [
            Cell(str(i + 1), float(i)),
            Cell(label, cls="method"),
            labels,
            KINDS[kind] + (", variant" if variant else ""),
        ]
        for d in datasets:
            r = found.get((method, labels, variant, d))
            if r is None:
                cells += [DASH, DASH, DASH, DASH] if pub[d] else [DASH, DASH]
                continue
            mean, ci, paper, delta = cell_texts(r)
            cells += [
                Cell(
                    mean,
                    _num(r["mean"]),
                    f"cell/{cell_file((protocol, labels, method, variant, d))}",
                    "bold" if r["bold"] else "",
                    "" if r["rank_low"] <= 0 else f"rank {fmt_rank(r['rank_low'], r['rank_high'])}",
                ),
                Cell(ci, _num(r["ci_low"])),
            ]
            if pub[d]:
                warn = "warn" if r["outside_2sigma"] else ""
                cells += [Cell(paper, _num(r["published_mean"])), Cell(delta, _num(r["delta"]), cls=warn)]
        rows.append(({"kind": kind, "variant": "1" if variant else "0", "name": label.lower()}, cells))
    for d in datasets:
        c = part[(part["dataset"] == d) & (part["n"] > 0)]
        c = sort_by(c, [row_key(m, lab, v) for m, lab, v in zip(c["method"], c["labels"], c["variant"])])
        charts[f"{protocol}/{group}/{d}"] = {
            "title": f"{d} — test mAP, mean and 95% CI",
            "rows": [
                {
                    "label": row_label(r["method"], r["variant"])
                    + ("" if r["labels"] == "1p" else f" [{r['labels']}]"),
                    "kind": _kind(r["method"], r["labels"]),
                    "variant": bool(r["variant"]),
                    "mean": r["mean"],
                    "n": r["n"],
                    "lo": r["ci_low"],
                    "hi": r["ci_high"],
                    "published": r["published_mean"],
                    "href": f"cell/{cell_file(tuple(r[k] for k in CELL))}",
                }
                for _, r in c.iterrows()
            ],
        }
    divs = "".join(f'<div class="chart" data-chart="{esc(f"{protocol}/{group}/{d}")}"></div>' for d in datasets)
    legend = (
        "Test mAP (%), mean ± sample std over seeds (n = runs; failed and diverged runs are named beside n and "
        "never averaged); 95% CI: the Student-t interval of the mean over seeds. " + BOLD_RULE.replace("**", "")
    )
    if any(pub.values()):
        legend += (
            f" paper: Zhou et al., ECCV 2022 (mean ± std); {LIT}: a later paper's single published number; "
            f"Δ = ours − published, {WARN} where |Δ| > 2 published σ."
        )
    title = "Single positive labels (1p), with the oracles on top" if group == "paper" else f"Labels {group}"
    return section(
        title,
        para(legend),
        table(headers, rows, "main"),
        f'<div class="charts">{divs}</div>',
        _published_only(part, datasets) if any(pub.values()) else "",
        level=3,
    )


def _published_only(part: pd.DataFrame, datasets: list[str]) -> str:
    lit = literature_rows(set(part.loc[part["variant"] == "", "method"]))
    shown = [d for d in datasets if d in lit.columns]
    if lit.empty or not shown:
        return ""
    rows: list[Row] = [
        ({}, [f"{r['method']} ({r['venue']})", *[Cell(f"{r[d]:.2f} {LIT}", _num(r[d])) for d in shown]])
        for _, r in lit.iterrows()
    ]
    return section(
        "Published only (not run here)", table(["method", *[f"{d} published" for d in shown]], rows), level=4
    )


# -- the other sections ----------------------------------------------------------------------------
def _tuned(records: Records) -> str:
    tuned = tuned_frame(records)
    if tuned.empty:
        return ""
    parts = [
        para(
            "Each method drew its configurations from its declared search space (trial 0: its defaults), each "
            "on the same seeds; chosen: the eligible trial with the best mean clean-validation mAP, whose test "
            "mAP is then read once, on the report seeds. Won by: its mean validation mAP minus the runner-up's "
            "(standard error of the difference). Δ = tuned − defaults; 95% CI: Student t over seeds. " + MAIN_RULE
        )
    ]
    for (study, trials, _, picks), s in tuned.groupby(STUDY, sort=False):
        where = f"chosen on seeds {picks}, reported on {s['report_seeds'].iloc[0]}" if picks else "chosen = reported"
        for (protocol, labels, dataset), g in s.groupby(["protocol", "labels", "dataset"], sort=False):
            rows: list[Row] = [({}, _cells(r, TUNED_SORTS, tuned_row(r, trials, str))) for _, r in g.iterrows()]
            title = f"Study {study} ({where}): {dataset}, {labels} ({protocol})"
            parts.append(section(title, table(TUNED_COLUMNS, rows), level=3))
    return section("Tuned tables", *parts, anchor="tuned")


def _stats(records: Records) -> str:
    parts = []
    poi_note = para(
        "Bold: Holm-adjusted p < 0.05 (Welch for the difference of means, exact Mann–Whitney for "
        f"P(X > {BASELINE.upper()})); the bootstrap interval only from {MIN_BOOTSTRAP_RUNS} runs a side."
    )
    for (protocol, dataset), g in poi_frame(records).groupby(["protocol", "dataset"], sort=False):
        rows: list[Row] = [({}, _cells(r, POI_SORTS, *poi_row(r))) for _, r in g.iterrows()]
        parts.append(
            section(f"Against {BASELINE.upper()}: {dataset} ({protocol})", poi_note, table(POI_HEADERS, rows), level=3)
        )
    for (protocol, dataset), g in power_frame(records).groupby(["protocol", "dataset"], sort=False):
        power_rows: list[Row] = [({}, _cells(r, POWER_SORTS, power_row(r))) for _, r in g.iterrows()]
        title = f"How many seeds are enough: {dataset} ({protocol})"
        note = para(f"Each ranked row against the best row, {POWER:.0%} power: {POWER_METHOD}.")
        headers = [*SEEDS_HEADERS, *[f"seeds for Δ = {d:g}" for d in POWER_DELTAS]]
        parts.append(section(title, note, table(headers, power_rows), level=3))
    return section("Statistics", *parts, anchor="stats") if parts else ""


def _left_out(records: Records) -> str:
    rows: list[Row] = []
    for _, r in pd.concat([records.failed, records.diverged]).sort_values("path").iterrows():
        key = tuple(r[c] for c in CELL)
        href = "" if r["role"] == "trial" else f"cell/{cell_file(key)}"
        rows.append(({}, [Cell(cell_name(key), href=href), str(r["seed"]), r["status"], r["error"] or DASH, r["path"]]))
    parts = [table(["cell", "seed", "status", "error", "record"], rows)] if rows else []
    if records.invalid:
        parts.append(table(["file", "problem"], [({}, [x.path, x.problem]) for x in records.invalid]))
    if records.bad_cells:
        parts.append(table(["cell", "problem"], [({}, [c.name, c.problem]) for c in records.bad_cells]))
    if not parts:
        return ""
    note = para(
        "Failed and diverged runs are never averaged; files that are not "
        "run records and cells that cannot be averaged are left out."
    )
    return section("Runs not in the means", note, *parts, anchor="left-out")


def _figures(specs: list[FigureSpec], figures: Path, out: Path) -> str:
    shown = [s for s in specs if (figures / s.name).is_file()]
    (out / "figures").mkdir(exist_ok=True)
    for old in (out / "figures").glob("*.png"):
        if old.name not in {s.name for s in shown}:
            old.unlink()
    items = []
    for s in shown:
        shutil.copyfile(figures / s.name, out / "figures" / s.name)
        items.append(
            f'<figure><a href="figures/{esc(s.name)}"><img src="figures/{esc(s.name)}" alt="{esc(s.caption)}">'
            f"</a><figcaption>{esc(s.caption)}</figcaption></figure>"
        )
    return section("Figures", f'<div class="figures">{"".join(items)}</div>', anchor="figures") if items else ""


RUN_HEADERS = ["seed", "status", "test mAP", "val mAP", "best epoch", "epochs", "wall s", "commit", "run id", "record"]


# -- one page per cell -----------------------------------------------------------------------------
def _pre(value: Any) -> str:
    return f"<pre>{esc(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


def _cell_page(records: Records, r: pd.Series) -> str:
    key = tuple(r[c] for c in CELL)
    f = records.frame
    runs = f[(f["role"] != "trial") & (f[CELL] == pd.Series(key, index=CELL)).all(axis=1)].sort_values(["seed", "path"])
    rows: list[Row] = []
    details: list[str] = []
    curves: list[dict[str, Any]] = []
    for i, run in runs.iterrows():
        rec = records.raw[i]
        git = (rec.get("provenance") or {}).get("git") or {}
        commit = f"{str(git.get('commit'))[:12]}{' (uncommitted changes)' if git.get('dirty') else ''}"
        wall = rec.get("wall_seconds")
        cells: list[Cell | str] = [
            Cell(str(run["seed"]), float(run["seed"])),
            run["status"],
            *[Cell(DASH if math.isnan(run[k]) else f"{run[k]:.{DECIMALS}f}", run[k]) for k in ("test_map", "val_map")],
            *[str(rec.get(k, DASH)) for k in ("best_epoch", "epochs_run")],
            Cell(f"{wall:.1f}" if isinstance(wall, (int, float)) else DASH, _num(wall)),
            commit,
            run["run_id"],
            run["path"],
        ]
        rows.append(({}, cells))
        label = f"seed {run['seed']} ({run['status']})"
        details.append(
            f"<details><summary>{esc(label)}: {esc(run['path'])}</summary>"
            + (f'<p class="warn">{esc(run["error"])}</p>' if run["error"] else "")
            + "<h4>configuration</h4>"
            + _pre(rec.get("config") or {})
            + "<h4>provenance</h4>"
            + _pre({k: rec.get(k) for k in ("provenance", "data", "launch", "started_at", "finished_at") if k in rec})
            + "</details>"
        )
        curves.append({"label": label, "history": rec.get("history") or []})
    # (a valid record holds finite numbers only)
    names = {k for c in curves for h in c["history"] for k, v in h.items() if k != "epoch" and is_number(v)}
    metrics = sorted(names, key=lambda k: (k not in ("val_map", "test_map", "train_loss"), k))
    mean, ci, paper, delta = cell_texts(r)
    summary = (
        mean
        + ("" if r["excluded"] else f"; 95% CI {ci}")
        + (f"; published {paper}, Δ {delta}" if r["published_source"] else "")
    )
    body = (
        f"<h1>{esc(cell_name(key))}</h1>\n"
        + para(f"Test mAP: {summary}")
        + (f'<p class="warn">{WARN} left out: {esc(r["excluded"])}</p>' if r["excluded"] else "")
        + section(
            "Runs",
            table(RUN_HEADERS, rows),
        )
        + section(
            "Per-epoch curves",
            '<label>metric <select id="metric"></select></label><div id="curves" class="chart wide"></div>'
            if metrics
            else para("The records hold no per-epoch history."),
        )
        + section("Configuration and provenance", *details)
    )
    return page(cell_name(key), body, depth=1, data={"curves": curves, "metrics": metrics}, charts=bool(metrics))


# -- the whole site --------------------------------------------------------------------------------
def _index(records: Records, cells: pd.DataFrame, specs: list[FigureSpec], figures: Path, out: Path) -> str:
    charts: dict[str, Any] = {}
    tables = []
    for protocol in ordered(cells["protocol"], PROTOCOL_ORDER):
        part = cells[cells["protocol"] == protocol]
        groups = [
            _main_table(part[part["labels"].map(table_group) == g], protocol, g, charts)
            for g in table_groups(part["labels"])
        ]
        tables.append(
            section(
                f"Test mAP — {protocol} ({PROTOCOL_TITLES.get(protocol, protocol)})",
                *groups,
                anchor=f"protocol-{protocol}",
            )
        )
    boxes = "".join(f'<label><input type="checkbox" value="{k}" checked> {esc(v)}</label>' for k, v in KINDS.items())
    done = records.done
    intro = para(
        f"{len(records.frame)} valid records ({len(done)} done and in the tables, {len(records.failed)} failed, "
        f"{len(records.diverged)} diverged), seeds {', '.join(str(s) for s in sorted(done['seed'].unique())) or DASH}. "
        "Click a column header to sort (again to reverse); click a mean to open its cell's runs."
    )
    nav = (
        "<nav>"
        + "".join(
            f'<a href="#{a}">{t}</a>'
            for a, t in (("tuned", "tuned"), ("stats", "statistics"), ("left-out", "left out"), ("figures", "figures"))
        )
        + "</nav>"
    )
    body = (
        f"<h1>SPML leaderboard</h1>\n{nav}{intro}\n"
        f'<div id="filters" class="filters"><span>show:</span>{boxes}'
        '<input id="search" type="search" placeholder="filter methods…" aria-label="filter methods"></div>\n'
        + "".join(tables)
        + _tuned(records)
        + _stats(records)
        + _left_out(records)
        + _figures(specs, figures, out)
    )
    return page("SPML leaderboard", body, data={"charts": charts}, charts=bool(charts))


def write_site(records: Records, specs: list[FigureSpec], figures: Path, out: str | Path) -> Path:
    """Write the site to ``out`` (created; pages of cells that no longer exist are removed) from
    records already read and the figures drawn under ``figures``; returns ``out/index.html``.
    Raises only ``LeaderboardError``."""
    out = Path(out)
    cells = main_cells(records)
    try:
        if out.exists() and not out.is_dir():
            raise LeaderboardError(f"site folder {out} is a file; choose another --site")
        (out / "assets").mkdir(parents=True, exist_ok=True)
        (out / "cell").mkdir(exist_ok=True)
        for name in ("site.css", "site.js"):
            shutil.copyfile(STATIC / name, out / "assets" / name)
        plotly_js = get_plotlyjs()
        target = out / "assets" / "plotly.min.js"
        if not target.is_file() or target.stat().st_size != len(plotly_js.encode()):
            target.write_text(plotly_js, encoding="utf-8")
        pages = {cell_file(tuple(r[c] for c in CELL)): _cell_page(records, r) for _, r in cells.iterrows()}
        for old in (out / "cell").glob("*.html"):
            if old.name not in pages:
                old.unlink()
        for name, text in pages.items():
            (out / "cell" / name).write_text(text, encoding="utf-8")
        (out / "index.html").write_text(_index(records, cells, specs, figures, out), encoding="utf-8")
    except OSError as exc:
        raise LeaderboardError(f"cannot write the site under {out}: {exc.strerror or exc}") from None
    return out / "index.html"
