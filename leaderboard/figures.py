"""The leaderboard's figures (PNG, matplotlib's Agg canvas, no display): the paper's analyses drawn
from the records.

``plan`` decides which figures exist from the records alone, without importing matplotlib, so the
markdown that links them is built fast and identically whether or not they are drawn; ``draw``
writes them.

- ``density``: densities of the predicted probabilities of unannotated training entries that are
  truly positive vs truly negative, at the best epoch, one panel per method (mean of the seeds'
  densities); per class on demand.
- ``loss``: training loss of the annotated labels (``-log p`` on observed positives) per epoch, as
  small multiples: the rows in groups of at most ``PER_PANEL`` (in the table's order), one panel
  each on one shared y-scale, AN drawn in every panel as the reference; within a panel no two
  series share a colour, so 25 series and more stay legible.
- ``gain``: class-wise test-AP gain of one method over AN (mean over seeds).
- ``headline``: every competing ``1p`` row's test mAP mean with its 95% interval, sorted, the rows of
  the 95% confidence set for the best filled and named with their rank interval.
- ``poi``: P(method's run > AN's run) per method and dataset with its interval where there is one,
  in the style of rliable's probability-of-improvement plot.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leaderboard.compare import ALL, MIN_BOOTSTRAP_RUNS, poi_frame
from leaderboard.records import Records, history_frame, per_class_frame, variant_label
from leaderboard.table import (
    BASELINE,
    DATASET_ORDER,
    ORACLE_REGIMES,
    PROTOCOL_ORDER,
    fmt_rank,
    main_cells,
    ordered,
    row_key,
    row_keys,
)

#: a series is told apart by colour (tab10), marker and line style: series i takes colour i % 10,
#: marker i % 9 and line style i // 10, so the first 40 series never share all three, and two series
#: of one colour always differ in their line style
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">"]
LINESTYLES = ["-", "--", ":", "-."]
Series = tuple[str, str, str]  # method, labels, variant
#: series per panel of the loss figure (tab10 has 10 colours; fewer keep a panel readable)
PER_PANEL = 6


@dataclass(frozen=True)
class FigureSpec:
    kind: str  # density | loss | gain | headline | poi
    dataset: str
    protocol: str
    name: str  # file name under the figures folder
    caption: str
    class_name: str | None = None
    method: str | None = None  # the gain method


def series_label(method: str, labels: str, variant: str = "") -> str:
    """How a (method, regime, variant) row is named in figures and per-row columns: the SPML main
    rows by their method, the others with their variant and regime in brackets."""
    extra = "; ".join(p for p in (variant, "" if labels == "1p" else labels) if p)
    return f"{method} ({extra})" if extra else method


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _suffix(protocol: str) -> str:
    return "" if protocol == "finetune" else f"_{_safe(protocol)}"


def _series(rec: dict) -> Series:
    return rec["method"], rec["labels"], variant_label(rec["variant"])


def density_rows(records: Records, dataset: str, protocol: str) -> list[Series]:
    """(method, labels, variant) of the cells whose runs have both unannotated positives and negatives."""
    out = set()
    for i in records.done.index:
        rec = records.raw[i]
        ana = rec.get("analysis") or {}
        if (
            (rec["dataset"], rec["protocol"]) == (dataset, protocol)
            and ana.get("num_unannotated_pos")
            and ana.get("num_unannotated_neg")
        ):
            out.add(_series(rec))
    return sorted(out, key=lambda s: row_key(*s))


def class_names(records: Records, dataset: str) -> list[str]:
    """The dataset's classes in the order the records list them."""
    for i in records.done.index:
        if records.raw[i]["dataset"] == dataset and records.raw[i].get("per_class_ap"):
            return [str(c) for c in records.raw[i]["per_class_ap"]]
    return []


def _main_1p(frame: pd.DataFrame, dataset: str, protocol: str) -> pd.DataFrame:
    """The ``1p`` main rows of one dataset and protocol."""
    here = (frame["dataset"] == dataset) & (frame["protocol"] == protocol)
    return frame[here & (frame["labels"] == "1p") & (frame["variant"] == "")]


def plan(records: Records, gain_method: str = "em", class_name: str | None = None) -> list[FigureSpec]:
    """The figures the records support, in a fixed order."""
    done = records.done
    specs: list[FigureSpec] = []
    pcf = per_class_frame(records)
    hist = history_frame(records)
    ranked = main_cells(records).query("rank_low > 0 and labels == '1p'")
    poi = poi_frame(records)
    for protocol in ordered(done["protocol"], PROTOCOL_ORDER):
        if (poi["protocol"] == protocol).any():
            name, what = f"poi_vs_{BASELINE}{_suffix(protocol)}.png", f"Probability of improvement over {BASELINE}"
            specs.append(FigureSpec("poi", "", protocol, name, f"{what} ({protocol})"))
        for dataset in ordered(done[done["protocol"] == protocol]["dataset"], DATASET_ORDER):
            here, sfx, where = (dataset, protocol), f"{_safe(dataset)}{_suffix(protocol)}", f"{dataset}, {protocol}"
            if ((ranked["protocol"] == protocol) & (ranked["dataset"] == dataset)).any():
                what = "Test mAP of every 1p row with its 95% interval; the 95% set for the best filled"
                specs.append(FigureSpec("headline", *here, f"headline_{sfx}.png", f"{what} ({where})"))
            if density_rows(records, dataset, protocol):
                what = "Predicted probabilities of unannotated training labels at the best epoch"
                specs.append(FigureSpec("density", *here, f"density_{sfx}.png", f"{what} ({where})"))
                if class_name is not None and class_name in class_names(records, dataset):
                    name = f"density_{sfx}_class-{_safe(class_name)}.png"
                    what = f"Predicted probabilities of unannotated '{class_name}' labels ({where})"
                    specs.append(FigureSpec("density", *here, name, what, class_name=class_name))
            if len(hist[(hist["dataset"] == dataset) & (hist["protocol"] == protocol)]):
                what = f"Training loss of annotated labels per epoch ({where})"
                specs.append(FigureSpec("loss", *here, f"loss_{sfx}.png", what))
            if gain_method != BASELINE and {gain_method, BASELINE} <= set(_main_1p(pcf, *here)["method"]):
                name = f"gain_{_safe(gain_method)}_vs_{BASELINE}_{sfx}.png"
                what = f"Class-wise test-AP gain of {gain_method} over {BASELINE} ({where})"
                specs.append(FigureSpec("gain", *here, name, what, method=gain_method))
    return specs


# -- drawing ---------------------------------------------------------------------------------------
def styles(rows: list[Series]) -> dict[Series, dict]:
    """Colour, marker and line style of each series, in the rows' order (see ``MARKERS``)."""
    from matplotlib import colormaps  # why: matplotlib loads only when figures are drawn, not for tables

    cmap = colormaps["tab10"]
    ordered_rows = sorted(rows, key=lambda s: row_key(*s))
    return {
        r: {
            "color": cmap(i % 10),
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[(i // 10) % len(LINESTYLES)],
        }
        for i, r in enumerate(ordered_rows)
    }


def panel_groups(rows: list[Series], per_panel: int = PER_PANEL) -> list[list[Series]]:
    """The rows (baseline AN left out: it is drawn in every panel) in the table's order, cut into
    near-equal groups of at most ``per_panel``; ``[[]]`` when only the baseline is there."""
    others = [r for r in sorted(rows, key=lambda s: row_key(*s)) if r != (BASELINE, "1p", "")]
    if not others:
        return [[]]
    count = math.ceil(len(others) / per_panel)
    size = math.ceil(len(others) / count)
    return [others[i : i + size] for i in range(0, len(others), size)]


def panel_styles(group: list[Series]) -> dict[Series, dict]:
    """Colour, marker and line style within one panel: a colour of its own for each series (AN,
    drawn in black, is not among them)."""
    from matplotlib import colormaps  # why: matplotlib loads only when figures are drawn, not for tables

    cmap = colormaps["tab10"]
    assert len(group) <= 10, "a panel holds at most 10 series (tab10's colours)"
    return {r: {"color": cmap(i), "marker": MARKERS[i % len(MARKERS)], "linestyle": "-"} for i, r in enumerate(group)}


def _densities(records: Records, spec: FigureSpec, row: Series) -> dict:
    """Bin edges, the mean over seeds of the positive and negative densities, and the seeds' mean
    Wasserstein distance and mean probabilities. Seeds whose histograms have another number of bins
    than the first seed's are left out of the mean (the record check keeps each record consistent)."""
    pos: list[np.ndarray] = []
    neg: list[np.ndarray] = []
    scalars: dict[str, list[float]] = {"wasserstein": [], "pos_mean": [], "neg_mean": []}
    bins = None
    cls_index = class_names(records, spec.dataset).index(spec.class_name) if spec.class_name else None
    for i in records.done.index:
        rec = records.raw[i]
        if (rec["dataset"], rec["protocol"]) != (spec.dataset, spec.protocol) or _series(rec) != row:
            continue
        ana = rec.get("analysis") or {}
        if not ana.get("bins") or (bins is not None and ana["bins"] != bins):
            continue
        per_class = ana.get("per_class") or []
        part = ana if cls_index is None else (per_class[cls_index] if cls_index < len(per_class) else {})
        bins = int(ana["bins"])
        for store, key in ((pos, "pos_hist"), (neg, "neg_hist")):
            h = np.asarray(part.get(key) or [0] * bins, dtype=float)
            if h.sum() > 0:
                store.append(h * bins / h.sum())  # a density: integrates to 1 over [0, 1]
        for key, values in scalars.items():
            if isinstance(part.get(key), (int, float)):
                values.append(float(part[key]))
    edges = np.linspace(0.0, 1.0, (bins or 1) + 1)
    mean = lambda xs: np.mean(xs, axis=0) if xs else np.zeros(len(edges) - 1)  # noqa: E731
    out = {"edges": edges, "pos": mean(pos), "neg": mean(neg), "n": max(len(pos), len(neg))}
    out.update({k: float(np.mean(v)) if v else math.nan for k, v in scalars.items()})
    return out


DENSITY_TICKS = [0, 1, 2, 5, 10, 20, 50, 100, 200]


def _figure(width: float, height: float) -> Any:
    """A new matplotlib Figure, its layout constrained."""
    from matplotlib.figure import Figure  # why: matplotlib loads only when figures are drawn, not for tables

    return Figure(figsize=(width, height), layout="constrained")


def _sqrt(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(x, 0, None))


def _num(v: float, fmt: str = ".3f") -> str:
    return "n/a" if math.isnan(v) else format(v, fmt)


def _draw_density(records: Records, spec: FigureSpec):  # a matplotlib Figure
    rows = density_rows(records, spec.dataset, spec.protocol)
    ncols = min(4, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    fig = _figure(3.4 * ncols + 0.4, 2.6 * nrows + 1.0)
    # one y-scale for every panel, so a panel's height can be read against any other's
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    dens = [_densities(records, spec, row) for row in rows]
    top = max([float(max(d["pos"].max(initial=0), d["neg"].max(initial=0))) for d in dens] + [1e-9])
    for ax, row, d in zip(axes, rows, dens):
        for values, colour, label in (
            (d["neg"], "tab:blue", "unannotated true negatives"),
            (d["pos"], "tab:orange", "unannotated true positives"),
        ):
            ax.stairs(values, d["edges"], fill=True, alpha=0.3, color=colour, label=label)
            ax.stairs(values, d["edges"], color=colour, lw=1.3)
        ax.set_xlim(0, 1)
        # one square-root scale for every panel: heights compare across panels, and a collapse to one
        # bin (a density of 50) does not flatten the other methods' shapes to nothing
        ax.set_yscale("function", functions=(_sqrt, np.square))
        ax.set_ylim(0, top * 1.05)
        ax.set_yticks([t for t in DENSITY_TICKS if t <= top * 1.05 and not (t == 2 and top > 20)])
        ax.yaxis.set_major_formatter("{x:g}")
        ax.set_title(f"{series_label(*row)}  (n={d['n']})", fontsize=10)
        # the note goes on the side of the panel where the densities are low
        half = len(d["pos"]) // 2
        right = max(d["pos"][half:].max(initial=0), d["neg"][half:].max(initial=0)) <= max(
            d["pos"][:half].max(initial=0), d["neg"][:half].max(initial=0)
        )
        ax.text(
            0.97 if right else 0.03,
            0.95,
            f"W = {_num(d['wasserstein'])}\nmean p: pos {_num(d['pos_mean'], '.2f')}, neg {_num(d['neg_mean'], '.2f')}",
            transform=ax.transAxes,
            ha="right" if right else "left",
            va="top",
            fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5},
        )
        ax.tick_params(labelsize=8, labelleft=True)
        ax.grid(alpha=0.3)
    for ax in axes[len(rows) :]:
        ax.set_visible(False)
    for ax in axes[max(0, len(rows) - ncols) : len(rows)]:
        ax.tick_params(labelbottom=True)
        ax.set_xlabel("predicted probability", fontsize=9)
    for ax in axes[::ncols]:
        ax.set_ylabel("density (√ scale)", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    what = f"class '{spec.class_name}'" if spec.class_name else "all classes"
    fig.suptitle(
        f"{spec.dataset} ({spec.protocol}): predicted probabilities of unannotated training labels\n"
        f"at the best epoch, {what}; mean of the seeds' densities; all panels share one square-root y-scale",
        fontsize=10,
    )
    return fig


def _draw_loss(records: Records, spec: FigureSpec):
    hist = history_frame(records)
    hist = hist[(hist["dataset"] == spec.dataset) & (hist["protocol"] == spec.protocol)]
    curves = hist.groupby(["method", "labels", "variant", "epoch"])["value"].agg(["mean", "count"]).reset_index()
    rows = row_keys(curves)
    groups = panel_groups(rows)
    ncols = min(2, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig = _figure(6.4 * ncols + 0.6, 3.6 * nrows + 1.0)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    reference = (BASELINE, "1p", "")
    black = {"color": "black", "marker": "", "linestyle": "--"}

    def curve(ax: Any, row: Series, st: dict) -> None:
        c = curves[(curves["method"] == row[0]) & (curves["labels"] == row[1]) & (curves["variant"] == row[2])]
        mine = (hist["method"] == row[0]) & (hist["labels"] == row[1]) & (hist["variant"] == row[2])
        seeds = int(hist[mine]["seed"].nunique())
        ax.plot(
            c["epoch"],
            c["mean"],
            color=st["color"],
            linestyle=st["linestyle"],
            lw=1.5 if st["marker"] else 1.2,
            label=series_label(*row) + (" (reference)" if row == reference else ""),
        )
        if not st["marker"]:
            return
        # filled markers: every seed ran that epoch; hollow: some seeds had already stopped early
        full = c["count"] >= seeds
        dots = {"linestyle": "none", "marker": st["marker"], "ms": 4.5}
        ax.plot(c["epoch"][full], c["mean"][full], color=st["color"], **dots)
        ax.plot(c["epoch"][~full], c["mean"][~full], markerfacecolor="white", markeredgecolor=st["color"], **dots)

    for ax, group in zip(axes, groups):
        style = panel_styles(group)
        for row in group:
            curve(ax, row, style[row])
        if reference in rows:
            curve(ax, reference, black)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8, labelleft=True, labelbottom=True)
        ax.xaxis.get_major_locator().set_params(integer=True)
        # the legend under its panel: it never covers a curve
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3, fontsize=8, frameon=False)
    for ax in axes[len(groups) :]:
        ax.set_visible(False)
    axes[0].set_ylim(0, None)
    for ax in axes[::ncols]:
        ax.set_ylabel("mean -log p on observed positives", fontsize=9)
    for ax in axes[: len(groups)]:
        ax.set_xlabel("epoch", fontsize=9)
    fig.suptitle(
        f"{spec.dataset} ({spec.protocol}): training loss of annotated labels, {len(rows)} rows in "
        f"{len(groups)} panel(s), {BASELINE} dashed in each\neach point: mean over the seeds that ran that "
        "epoch (runs stop early at different epochs); hollow marker: fewer than all seeds",
        fontsize=10,
    )
    return fig


def gain_frame(records: Records, spec: FigureSpec) -> pd.DataFrame:
    """Per class: the gain method's and AN's mean test AP over seeds (``1p`` main rows), their
    difference, and its standard error √(s²ₘ/nₘ + s²_AN/n_AN) over seeds (NaN where a side has one run)."""
    sel = _main_1p(per_class_frame(records), spec.dataset, spec.protocol)
    agg = sel.groupby(["method", "class_index", "class"])["ap"].agg(["mean", lambda s: s.var(ddof=1), "count"])
    agg.columns = ["mean", "var", "n"]
    agg = agg.reset_index()
    a = agg[agg["method"] == spec.method].set_index(["class_index", "class"])
    b = agg[agg["method"] == BASELINE].set_index(["class_index", "class"])
    out = pd.DataFrame(
        {"method_ap": a["mean"], "baseline_ap": b["mean"], "se": np.sqrt(a["var"] / a["n"] + b["var"] / b["n"])}
    )
    out = out.dropna(subset=["method_ap", "baseline_ap"]).reset_index()
    out["gain"] = out["method_ap"] - out["baseline_ap"]
    return out


def _draw_gain(records: Records, spec: FigureSpec):
    g = gain_frame(records, spec).sort_values(["gain", "class_index"], ascending=[False, True], kind="stable")
    n = len(g)
    fig = _figure(min(max(6.5, 0.22 * n + 1.5), 40.0), 4.0)
    ax = fig.subplots()
    x = np.arange(n)
    colours = ["tab:green" if v >= 0 else "tab:red" for v in g["gain"]]
    ax.bar(x, g["gain"], color=colours, width=0.8)
    if g["se"].notna().any():
        ax.errorbar(
            x,
            g["gain"],
            yerr=g["se"].fillna(0).to_numpy(),
            fmt="none",
            ecolor="black",
            elinewidth=0.8,
            capsize=2 if n <= 60 else 0,
        )
    ax.axhline(0, color="black", lw=0.8)
    if n <= 120:  # beyond that (CUB's 312 attributes) names are unreadable: only the shape is shown
        ax.set_xticks(x, g["class"], rotation=90 if n > 12 else 0, fontsize=8 if n > 40 else 9)
        ax.set_xlabel("class (sorted by gain)")
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{n} classes, sorted by gain")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylabel(f"AP({spec.method}) - AP({BASELINE})  [AP points]")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(
        f"{spec.dataset} ({spec.protocol}): class-wise test-AP gain of {spec.method} over {BASELINE}\n"
        f"mean over seeds, bars ±1 s.e. over seeds; mean gain {g['gain'].mean():+.2f} AP; "
        f"{int((g['gain'] > 0).sum())} of {n} classes gain",
        fontsize=9,
    )
    return fig


ZOOM = 20.0  # mAP points below the best that the headline figure shows


def _draw_headline(records: Records, spec: FigureSpec):
    here = main_cells(records)
    here = here[(here["protocol"] == spec.protocol) & (here["dataset"] == spec.dataset) & (here["variant"] == "")]
    c = here[(here["labels"] == "1p") & (here["n"] >= 1)].sort_values("mean")
    # the axis starts ZOOM points below the best: a collapsed row (27 mAP) would squeeze the top rows together
    left = max(float(c["ci_low"].fillna(c["mean"]).min()), float(c["mean"].max()) - ZOOM)
    fig = _figure(7.5, 0.28 * len(c) + 1.6)
    ax = fig.subplots()
    y = np.arange(len(c))
    for yi, (_, r) in zip(y, c.iterrows()):
        colour = "tab:blue" if r["bold"] else "0.45"
        if r["n"] >= 2:
            ax.plot([r["ci_low"], r["ci_high"]], [yi, yi], color=colour, lw=2 if r["bold"] else 1.2)
        if r["mean"] < left:
            ax.plot(left, yi, "<", color=colour, ms=6)
            ax.annotate(f"  {r['mean']:.1f}", (left, yi), va="center", fontsize=7)
            continue
        ax.plot(r["mean"], yi, "o", color=colour, markerfacecolor=colour if r["bold"] else "white", ms=6)
        rank = f"rank {fmt_rank(r['rank_low'], r['rank_high'])}" if r["rank_low"] > 0 else ""
        ax.annotate(
            f" {rank} (n={r['n']})",
            (max(left, r["ci_high"] if r["n"] >= 2 else r["mean"]), yi),
            va="center",
            fontsize=7,
        )
    for _, r in here[here["labels"].isin(ORACLE_REGIMES) & (here["n"] >= 1)].iterrows():  # references
        ax.axvline(r["mean"], color="0.6", ls=":", lw=1)
        ax.annotate(f"{r['method']} {r['labels']}", (r["mean"], len(c) - 0.5), fontsize=7, rotation=90, va="top")
    ax.set_xlim(left - 0.5, None)
    ax.set_yticks(y, c["method"], fontsize=8)
    ax.set_xlabel("test mAP (%), mean over seeds with its 95% t interval")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(
        f"{spec.dataset} ({spec.protocol}): filled = the 95% confidence set for the best row\n"
        "(Welch t-tests at 5%/(k−1) between every two rows; rank interval beside each)",
        fontsize=9,
    )
    return fig


def _draw_poi(records: Records, spec: FigureSpec):
    poi = poi_frame(records)
    poi = poi[poi["protocol"] == spec.protocol]
    datasets = ordered(poi["dataset"], [*DATASET_ORDER, ALL])
    methods = sorted(set(poi["method"]), key=lambda m: row_key(m, "1p"), reverse=True)
    fig = _figure(max(6.0, 3.2 * len(datasets) + 1.4), 0.26 * len(methods) + 1.6)
    axes = np.atleast_1d(fig.subplots(1, len(datasets), sharey=True, squeeze=False)).ravel()
    for ax, d in zip(axes, datasets):
        part = poi[poi["dataset"] == d].set_index("method")
        for yi, m in enumerate(methods):
            if m not in part.index:
                continue
            r = part.loc[m]
            if not math.isnan(r["low"]):
                ax.plot([r["low"], r["high"]], [yi, yi], color="tab:blue", lw=5, alpha=0.35, solid_capstyle="butt")
            ax.plot(r["poi"], yi, "|", color="black", ms=10, mew=2)
        ax.axvline(0.5, color="0.5", ls="--", lw=1)
        ax.set_xlim(-0.02, 1.02)
        ax.set_title(d, fontsize=9)
        ax.set_xlabel(f"P(X > {BASELINE})", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(methods)), methods, fontsize=8)
    fig.suptitle(
        f"{spec.protocol}: P(a method's run beats {BASELINE}'s), tick;\nbar: 95% stratified-bootstrap interval, "
        f"only where each side has ≥ {MIN_BOOTSTRAP_RUNS} runs",
        fontsize=9,
    )
    return fig


DRAW = {"density": _draw_density, "loss": _draw_loss, "gain": _draw_gain, "headline": _draw_headline, "poi": _draw_poi}


def draw(records: Records, specs: list[FigureSpec], folder: str | Path) -> list[Path]:
    """Write every planned figure under ``folder``; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in specs:
        fig = DRAW[spec.kind](records, spec)
        path = folder / spec.name
        # a fixed Software tag and no timestamp: the same records give the same bytes
        fig.savefig(path, dpi=110, metadata={"Software": None})
        written.append(path)
    return written


__all__ = [
    "BASELINE",
    "PER_PANEL",
    "FigureSpec",
    "class_names",
    "draw",
    "gain_frame",
    "panel_groups",
    "panel_styles",
    "plan",
    "series_label",
    "styles",
]
