"""The leaderboard's figures (PNG, matplotlib's Agg canvas, no display): the paper's analyses drawn
from the records.

``plan`` decides which figures exist from the records alone, without importing matplotlib, so the
markdown that links them is built fast and identically whether or not they are drawn; ``draw``
writes them.

- ``density``: densities of the predicted probabilities of unannotated training entries that are
  truly positive vs truly negative, at the best epoch, one panel per method (mean of the seeds'
  densities); per class on demand.
- ``loss``: training loss of the annotated labels (``-log p`` on observed positives) per epoch.
- ``gain``: class-wise test-AP gain of one method over AN (mean over seeds).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leaderboard.records import Records, history_frame, per_class_frame
from leaderboard.table import DATASET_ORDER, PROTOCOL_ORDER, ordered, row_key

BASELINE = "an"  # the paper's gains are over the AN loss
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">"]


@dataclass(frozen=True)
class FigureSpec:
    kind: str  # density | loss | gain
    dataset: str
    protocol: str
    name: str  # file name under the figures folder
    caption: str
    class_name: str | None = None
    method: str | None = None  # the gain method


def row_label(method: str, labels: str) -> str:
    """How a (method, regime) row is named in figures and per-method columns: the SPML rows by
    their method, the others with their regime."""
    return method if labels == "1p" else f"{method} ({labels})"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _suffix(protocol: str) -> str:
    return "" if protocol == "finetune" else f"_{_safe(protocol)}"


def density_rows(records: Records, dataset: str, protocol: str) -> list[tuple[str, str]]:
    """(method, labels) of the cells whose runs have both unannotated positives and negatives."""
    out = set()
    for i in records.done.index:
        rec = records.raw[i]
        ana = rec.get("analysis") or {}
        if (rec["dataset"], rec["protocol"]) == (dataset, protocol) and ana.get("num_unannotated_pos") and ana.get("num_unannotated_neg"):
            out.add((rec["method"], rec["labels"]))
    return sorted(out, key=lambda ml: row_key(*ml))


def class_names(records: Records, dataset: str) -> list[str]:
    """The dataset's classes in the order the records list them."""
    for i in records.done.index:
        if records.raw[i]["dataset"] == dataset and records.raw[i].get("per_class_ap"):
            return [str(c) for c in records.raw[i]["per_class_ap"]]
    return []


def plan(records: Records, gain_method: str = "em", class_name: str | None = None) -> list[FigureSpec]:
    """The figures the records support, in a fixed order."""
    done = records.done
    specs: list[FigureSpec] = []
    pcf = per_class_frame(records)
    hist = history_frame(records)
    for protocol in ordered(done["protocol"], PROTOCOL_ORDER):
        for dataset in ordered(done[done["protocol"] == protocol]["dataset"], DATASET_ORDER):
            sfx = f"{_safe(dataset)}{_suffix(protocol)}"
            where = f"{dataset}, {protocol}"
            if density_rows(records, dataset, protocol):
                specs.append(FigureSpec("density", dataset, protocol, f"density_{sfx}.png",
                                        f"Predicted probabilities of unannotated training labels at the best epoch ({where})"))
                if class_name is not None and class_name in class_names(records, dataset):
                    specs.append(FigureSpec("density", dataset, protocol, f"density_{sfx}_class-{_safe(class_name)}.png",
                                            f"Predicted probabilities of unannotated '{class_name}' labels ({where})",
                                            class_name=class_name))
            if len(hist[(hist["dataset"] == dataset) & (hist["protocol"] == protocol)]):
                specs.append(FigureSpec("loss", dataset, protocol, f"loss_{sfx}.png",
                                        f"Training loss of annotated labels per epoch ({where})"))
            sel = pcf[(pcf["dataset"] == dataset) & (pcf["protocol"] == protocol) & (pcf["labels"] == "1p")]
            if gain_method != BASELINE and {gain_method, BASELINE} <= set(sel["method"]):
                specs.append(FigureSpec("gain", dataset, protocol, f"gain_{_safe(gain_method)}_vs_{BASELINE}_{sfx}.png",
                                        f"Class-wise test-AP gain of {gain_method} over {BASELINE} ({where})",
                                        method=gain_method))
    return specs


# -- drawing ---------------------------------------------------------------------------------------
def _colours(rows: list[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab20"] if len(rows) > 10 else colormaps["tab10"]
    return {r: cmap(i % cmap.N) for i, r in enumerate(sorted(rows, key=lambda ml: row_key(*ml)))}


def _densities(records: Records, spec: FigureSpec, row: tuple[str, str]) -> dict:
    """Bin edges, the mean over seeds of the positive and negative densities, and the seeds' mean
    Wasserstein distance and mean probabilities."""
    pos, neg = [], []
    scalars: dict[str, list[float]] = {"wasserstein": [], "pos_mean": [], "neg_mean": []}
    bins = None
    cls_index = class_names(records, spec.dataset).index(spec.class_name) if spec.class_name else None
    for i in records.done.index:
        rec = records.raw[i]
        if (rec["dataset"], rec["protocol"], rec["method"], rec["labels"]) != (spec.dataset, spec.protocol, *row):
            continue
        ana = rec.get("analysis") or {}
        part = ana if cls_index is None else (ana.get("per_class") or [{}] * (cls_index + 1))[cls_index]
        if bins is not None and ana.get("bins") != bins:
            raise ValueError(f"{records.frame.at[i, 'path']}: analysis.bins is {ana.get('bins')}, the other seeds of "
                             f"{row_label(*row)} on {spec.dataset} have {bins}")
        bins = int(ana["bins"])
        for store, key in ((pos, "pos_hist"), (neg, "neg_hist")):
            h = np.asarray(part.get(key) or [0] * bins, dtype=float)
            if h.sum() > 0:
                store.append(h * bins / h.sum())  # a density: integrates to 1 over [0, 1]
        for key, values in scalars.items():
            if part.get(key) is not None:
                values.append(float(part[key]))
    edges = np.linspace(0.0, 1.0, (bins or 1) + 1)
    mean = lambda xs: np.mean(xs, axis=0) if xs else np.zeros(len(edges) - 1)  # noqa: E731
    out = {"edges": edges, "pos": mean(pos), "neg": mean(neg), "n": max(len(pos), len(neg))}
    out.update({k: float(np.mean(v)) if v else math.nan for k, v in scalars.items()})
    return out


def _num(v: float, fmt: str = ".3f") -> str:
    return "n/a" if math.isnan(v) else format(v, fmt)


def _draw_density(records: Records, spec: FigureSpec):  # noqa: ANN202 - a matplotlib Figure
    from matplotlib.figure import Figure

    rows = density_rows(records, spec.dataset, spec.protocol)
    ncols = min(4, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    fig = Figure(figsize=(3.4 * ncols + 0.4, 2.6 * nrows + 1.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, squeeze=False)).ravel()
    for ax, row in zip(axes, rows):
        d = _densities(records, spec, row)
        for dens, colour, label in ((d["neg"], "tab:blue", "unannotated true negatives"),
                                    (d["pos"], "tab:orange", "unannotated true positives")):
            ax.stairs(dens, d["edges"], fill=True, alpha=0.3, color=colour, label=label)
            ax.stairs(dens, d["edges"], color=colour, lw=1.3)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, None)
        ax.set_title(f"{row_label(*row)}  (n={d['n']})", fontsize=10)
        # the note goes on the side of the panel where the densities are low
        half = len(d["pos"]) // 2
        right = max(d["pos"][half:].max(initial=0), d["neg"][half:].max(initial=0)) <= \
            max(d["pos"][:half].max(initial=0), d["neg"][:half].max(initial=0))
        ax.text(0.97 if right else 0.03, 0.95, f"W = {_num(d['wasserstein'])}\nmean p: pos {_num(d['pos_mean'], '.2f')}, "
                f"neg {_num(d['neg_mean'], '.2f')}", transform=ax.transAxes, ha="right" if right else "left", va="top", fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5})
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(rows):]:
        ax.set_visible(False)
    for ax in axes[max(0, len(rows) - ncols):len(rows)]:
        ax.tick_params(labelbottom=True)
        ax.set_xlabel("predicted probability", fontsize=9)
    for ax in axes[::ncols]:
        ax.set_ylabel("density", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    what = f"class '{spec.class_name}'" if spec.class_name else "all classes"
    fig.suptitle(f"{spec.dataset} ({spec.protocol}): predicted probabilities of unannotated training labels\n"
                 f"at the best epoch, {what}; mean of the seeds' densities", fontsize=10)
    return fig


def _draw_loss(records: Records, spec: FigureSpec):  # noqa: ANN202
    from matplotlib.figure import Figure

    hist = history_frame(records)
    hist = hist[(hist["dataset"] == spec.dataset) & (hist["protocol"] == spec.protocol)]
    curves = hist.groupby(["method", "labels", "epoch"])["value"].agg(["mean", "count"]).reset_index()
    rows = sorted({(m, l) for m, l in zip(curves["method"], curves["labels"])}, key=lambda ml: row_key(*ml))
    colours = _colours(rows)
    fig = Figure(figsize=(8.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, row in enumerate(rows):
        c = curves[(curves["method"] == row[0]) & (curves["labels"] == row[1])]
        style = "--" if row[1] != "1p" else "-"
        # markers as well as colours: tab20's paired hues are close once there are many methods
        ax.plot(c["epoch"], c["mean"], style, marker=MARKERS[i % len(MARKERS)], ms=4, color=colours[row], label=row_label(*row))
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean -log p on observed positives")
    ax.set_ylim(0, None)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.set_title(f"{spec.dataset} ({spec.protocol}): training loss of annotated labels (mean over seeds)", fontsize=11)
    return fig


def gain_frame(records: Records, spec: FigureSpec) -> pd.DataFrame:
    """Per class: the gain method's and AN's mean test AP over seeds (``1p``) and their difference."""
    pcf = per_class_frame(records)
    sel = pcf[(pcf["dataset"] == spec.dataset) & (pcf["protocol"] == spec.protocol) & (pcf["labels"] == "1p")]
    mean = sel.groupby(["method", "class_index", "class"])["ap"].mean().reset_index()
    a = mean[mean["method"] == spec.method].set_index(["class_index", "class"])["ap"]
    b = mean[mean["method"] == BASELINE].set_index(["class_index", "class"])["ap"]
    out = pd.DataFrame({"method_ap": a, "baseline_ap": b}).dropna().reset_index()
    out["gain"] = out["method_ap"] - out["baseline_ap"]
    return out


def _draw_gain(records: Records, spec: FigureSpec):  # noqa: ANN202
    from matplotlib.figure import Figure

    g = gain_frame(records, spec).sort_values(["gain", "class_index"], ascending=[False, True], kind="stable")
    n = len(g)
    fig = Figure(figsize=(min(max(6.0, 0.22 * n + 1.5), 40.0), 4.0), layout="constrained")
    ax = fig.subplots()
    x = np.arange(n)
    colours = ["tab:green" if v >= 0 else "tab:red" for v in g["gain"]]
    ax.bar(x, g["gain"], color=colours, width=0.8)
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
    ax.set_title(f"{spec.dataset} ({spec.protocol}): class-wise test-AP gain of {spec.method} over {BASELINE} "
                 f"(mean over seeds)\nmean gain {g['gain'].mean():+.2f} AP; {int((g['gain'] > 0).sum())} of {n} classes gain",
                 fontsize=10)
    return fig


DRAW = {"density": _draw_density, "loss": _draw_loss, "gain": _draw_gain}


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


__all__ = ["BASELINE", "FigureSpec", "class_names", "draw", "gain_frame", "plan", "row_label"]
