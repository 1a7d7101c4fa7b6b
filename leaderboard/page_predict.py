"""The page section "Does the embedded set predict the real ranking?": Kendall τ (and Spearman ρ)
between each embedded dataset's row means and each published column, over the rows both have.

Rows: the ``1p`` rows at their defaults (EntMin aside: it collapses by design, and its published
figure is 30 points below every other row's). A published figure is the paper's (Zhou et al.) for
its rows and the later paper's for the methods since (``leaderboard/published``). Design vs held-out
(docs/predict.md): the embedded variants were designed against the paper's rows
on VOC and COCO; NUS-WIDE, CUB and every later method's published figure are held out. The interval
is a percentile bootstrap that resamples the rows and, within each row, its runs (fixed seed); the
reference is the published datasets' τ with each other over the same rows. Torch-free: records and
the published CSVs only.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

from leaderboard.errors import LeaderboardError
from leaderboard.mdutil import DASH, fmt_ci, table
from leaderboard.published import DATASET_COLUMNS, DATASET_NAMES, literature_table, paper_table
from leaderboard.records import Records
from leaderboard.table import DATASET_ORDER, ordered

REGIME = "1p"
LEFT_OUT = ("entmin",)
#: the published columns the variants were designed against (with the paper's rows only)
DESIGN = ("voc", "coco")
BOOTSTRAP = 2000
SEED = 20231  # the bootstrap's fixed seed
LEVEL = 0.95
#: row sets: which published rows enter a τ
ROW_SETS = {"paper": "the paper's rows", "later": "later methods' rows", "all": "all rows"}
WORST = 3  # the rows that disagree most, per variant (against COCO, all rows)


def published(rows: str = "all") -> pd.DataFrame:
    """Published ``1p`` mAP: index method, one column per dataset key, ``source`` (paper / later)."""
    paper = paper_table()
    paper = paper[(paper["labels"] == REGIME) & ~paper["method"].isin(LEFT_OUT)]
    p = paper.set_index("method")[[f"{d}_mean" for d in DATASET_COLUMNS]]
    p.columns = list(DATASET_COLUMNS)
    later = literature_table().set_index("method")[list(DATASET_COLUMNS)]
    both = pd.concat([p.assign(source="paper"), later.assign(source="later")])
    return both if rows == "all" else both[both["source"] == rows]


def held_out(dataset: str, rows: str) -> bool:
    """Whether the design never looked at this column and row set."""
    return not (rows == "paper" and dataset in DESIGN)


def embedded_runs(records: Records) -> dict[str, dict[str, np.ndarray]]:
    """Embedded dataset (every dataset without a published column) → method → its runs' test mAP."""
    f = records.done
    f = f[(f["labels"] == REGIME) & (f["variant"] == "") & (f["protocol"] == "finetune")]
    f = f[~f["dataset"].isin(list(DATASET_COLUMNS))]
    return {
        d: {m: g["test_map"].to_numpy(float) for m, g in f[f["dataset"] == d].groupby("method")}
        for d in ordered(f["dataset"], DATASET_ORDER)
    }


def tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's τ-b of each row of ``x`` ([B, n]) with ``y`` ([B, n] or [n]), vectorised for the
    bootstrap (scipy's ``kendalltau`` on one pair; tests check they agree). Pairs tied in both (a
    row drawn twice) count in neither."""
    i, j = np.triu_indices(x.shape[-1], 1)
    y = np.broadcast_to(y, x.shape)
    sx, sy = np.sign(x[..., i] - x[..., j]), np.sign(y[..., i] - y[..., j])
    denom = np.sqrt((sx != 0).sum(-1) * (sy != 0).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (sx * sy).sum(-1) / denom, np.nan)


def bootstrap(
    runs: list[np.ndarray], y: np.ndarray, rng: np.random.Generator, b: int = BOOTSTRAP
) -> tuple[float, float]:
    """The percentile interval of τ-b: rows resampled, and each row's runs within it."""
    means = np.stack([r[rng.integers(len(r), size=(b, len(r)))].mean(1) for r in runs], axis=1)
    rows = rng.integers(len(runs), size=(b, len(runs)))
    taus = tau_b(np.take_along_axis(means, rows, 1), y[rows])
    lo, hi = np.nanquantile(taus, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(lo), float(hi)


def predict_frame(records: Records, only: Collection[str] | None = None) -> pd.DataFrame:
    """One row per embedded dataset x row set x published dataset: n rows, τ-b, its interval, ρ,
    and whether the column was held out of the design. ``only``: the rows (methods) to count, every
    row set restricted to them (a candidate's clean rows, docs/predict.md); ``None``: every row."""
    pub = published()
    if only is not None:
        unknown = sorted(set(only) - set(pub.index))
        if unknown:
            raise LeaderboardError(
                f"rows {unknown} have no published 1p figure (EntMin aside); expected some of {sorted(pub.index)}"
            )
        pub = pub[pub.index.isin(list(only))]
    out = []
    for emb, runs in embedded_runs(records).items():
        rng = np.random.default_rng(SEED)
        for rows in ROW_SETS:
            sub = pub if rows == "all" else pub[pub["source"] == rows]
            for d in DATASET_COLUMNS:
                common = sorted(m for m in runs if m in sub.index and pd.notna(sub.at[m, d]))
                if len(common) < 3:
                    continue
                x = np.array([runs[m].mean() for m in common])
                y = sub.loc[common, d].to_numpy(float)
                lo, hi = bootstrap([runs[m] for m in common], y, rng)
                tau, rho = kendalltau(x, y)[0], spearmanr(x, y)[0]
                out.append((emb, rows, d, len(common), tau, lo, hi, rho, held_out(d, rows)))
    cols = ["embedded", "rows", "dataset", "n", "tau", "tau_low", "tau_high", "rho", "held_out"]
    return pd.DataFrame(out, columns=cols)


def reference_frame(methods: set[str] | None = None) -> pd.DataFrame:
    """τ-b (and ρ) of each published dataset with each other one, per row set (of ``methods``, the rows
    the embedded sets have, where given)."""
    out = []
    for rows in ROW_SETS:
        sub = published(rows)
        sub = sub if methods is None else sub[sub.index.isin(methods)]
        for a_i, a in enumerate(DATASET_COLUMNS):
            for b in list(DATASET_COLUMNS)[a_i + 1 :]:
                both = sub[[a, b]].dropna()
                if len(both) < 3:
                    continue
                out.append((rows, a, b, len(both), kendalltau(both[a], both[b])[0], spearmanr(both[a], both[b])[0]))
    return pd.DataFrame(out, columns=["rows", "a", "b", "n", "tau", "rho"])


def disagreements(runs: dict[str, np.ndarray], dataset: str, k: int = WORST) -> list[tuple[str, int, int]]:
    """The ``k`` rows whose rank here differs most from their published rank on ``dataset`` (all
    rows): (method, rank here, published rank), rank 1 the best."""
    pub = published()[dataset].dropna()
    common = sorted(m for m in runs if m in pub.index)
    here = pd.Series({m: runs[m].mean() for m in common}).rank(ascending=False, method="min")
    there = pub[common].rank(ascending=False, method="min")
    gap = (here - there).abs().sort_values(ascending=False, kind="stable")
    return [(m, int(here[m]), int(there[m])) for m in gap[gap > 0].index[:k]]


def tau_cell(row: Any) -> str:
    """A ``predict_frame`` row's τ and its interval as the page and ``--predict`` print them: ``0.41 [0.01, 0.69]``."""
    return f"{row.tau:.2f} {fmt_ci(row.tau_low, row.tau_high)}"


def predict_section(records: Records) -> list[str]:
    frame = predict_frame(records)
    if frame.empty:
        return []
    names = {d: DATASET_NAMES[d] for d in DATASET_COLUMNS}
    out = [
        "## Does the embedded set predict the real ranking?",
        "",
        f"Kendall τ-b (Spearman ρ) between an embedded dataset's `{REGIME}` row means and the published test "
        f"mAP, over the rows both have (EntMin aside). [{LEVEL:.0%}] is a bootstrap over rows and, within "
        f"each row, its runs ({BOOTSTRAP} draws, fixed seed). The variants were designed against the paper's "
        "rows on VOC and COCO only; † marks what the design never looked at (held out): NUS-WIDE, CUB and "
        "the later methods' published figures.",
        "",
    ]
    rows_out = []
    for (emb, rows), g in frame.groupby(["embedded", "rows"], sort=False):
        cells = {
            r.dataset: f"{tau_cell(r)} (ρ {r.rho:.2f}, n={r.n})" + (" †" if r.held_out else "") for r in g.itertuples()
        }
        rows_out.append([f"`{emb}`", ROW_SETS[rows], *(cells.get(d, DASH) for d in DATASET_COLUMNS)])
    out += [table(["embedded", "rows", *names.values()], rows_out), ""]
    ref = reference_frame({m for runs in embedded_runs(records).values() for m in runs})
    out += ["Reference — the published datasets' τ-b (ρ) with each other, same rows:", ""]
    cell = {(r.rows, r.a, r.b): f"{r.tau:.2f} (ρ {r.rho:.2f}, n={r.n})" for r in ref.itertuples()}
    pairs = list(dict.fromkeys(zip(ref["a"], ref["b"])))
    body = [[f"{names[a]}–{names[b]}", *(cell.get((rows, a, b), DASH) for rows in ROW_SETS)] for a, b in pairs]
    out += [table(["published pair", *ROW_SETS.values()], body), ""]
    lines = []
    for emb, runs in embedded_runs(records).items():
        worst = disagreements(runs, "coco")
        if worst:
            lines.append(f"- `{emb}`: " + ", ".join(f"{m} (rank {a} here, {b} on COCO)" for m, a, b in worst))
    return [*out, "Rows that disagree most with COCO (all rows):", "", *lines, ""] if lines else out


def predict_text(records: Records, only: Collection[str] | None = None) -> str:
    """``python -m leaderboard --predict [ROW ...]``: ``predict_frame`` as a table, τ to two decimals."""
    frame = predict_frame(records, only)
    if frame.empty:
        raise LeaderboardError("no embedded dataset has 3 rows with a published figure: no τ to compute")
    body = [
        [
            f"`{r.embedded}`",
            f"{r.rows} ({r.n})",
            DATASET_NAMES[r.dataset],
            tau_cell(r),
            f"{r.rho:.2f}",
            "held out" if r.held_out else "design",
        ]
        for r in frame.itertuples()
    ]
    return table(["embedded", "rows (n)", "published", f"τ-b [{LEVEL:.0%}]", "ρ", "column"], body) + "\n"
