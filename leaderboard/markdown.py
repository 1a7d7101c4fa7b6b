"""The leaderboard as markdown (``leaderboard/README.md``): deterministic for given records —
no timestamps, sorted order, figure links relative to the markdown file. The sections live in
``page_main`` (the tables of test mAP, tuned tables), ``page_stats`` (probability of improvement,
seeds needed), ``page_runs`` (failed, diverged and left-out records) and ``page_analysis``."""

from __future__ import annotations

from leaderboard import published
from leaderboard.figures import FigureSpec
from leaderboard.mdutil import DASH, LIT, plural
from leaderboard.page_analysis import analysis_section, loss_section, per_class_section, threshold_section
from leaderboard.page_main import main_section, published_elsewhere_section, tuned_sections
from leaderboard.page_predict import predict_section
from leaderboard.page_recipes import recipes_section
from leaderboard.page_runs import diverged_section, failed_section, left_out_section
from leaderboard.page_stats import headline, poi_section, power_section, variance_section
from leaderboard.records import Records
from leaderboard.table import (
    GROUP_TITLES,
    PAPER_ORDER,
    PROTOCOL_ORDER,
    SINCE_PAPER,
    main_cells,
    ordered,
    table_groups,
)
from leaderboard.tuning import tuned_frame

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
#: the choices PROTOCOL.md marks (adopted) for the methods since the paper, where their sources are silent;
#: "project choice" as the plugin's ``sources`` say (tests/test_method_gradients.py checks the two agree)
ADOPTED_SINCE = {
    "epr": "observed negatives are plain negatives",
    "ll_r": "top-k over unannotated entries only, k capped at B·C",
    "ll_ct": "as LL-R",
    "ll_cp": "as LL-R; relabels exactly the entries it corrects (ties included), as the BoostLU code",
    "hill": "reduction sum/(B·C); observed negatives are plain negatives",
    "splc": "reduction sum/(B·C); observed negatives are plain negatives, never corrected",
    "gr_loss": "schedules over the run's epochs; hyper-parameters: the code's one default set on every dataset "
    "(project choice: no per-dataset values published)",
}


def _commits(records: Records) -> str:
    f = records.frame
    parts = []
    for (commit, dirty), g in f.fillna({"commit": "unknown"}).groupby(["commit", "dirty"], dropna=False, sort=True):
        flag = " (uncommitted changes)" if dirty is True else ""
        parts.append(f"`{str(commit)[:12]}`{flag}: {plural(len(g), 'record')}")
    return "; ".join(parts) or DASH


def _left_out(records: Records) -> str:
    parts = [
        plural(len(records.invalid), "invalid file") if records.invalid else "",
        f"{plural(len(records.bad_cells), 'cell')} left out" if records.bad_cells else "",
    ]
    shown = ", ".join(p for p in parts if p)
    return f"; {shown} (see *Records left out*)" if shown else ""


def _notes(records: Records) -> list[str]:
    f = records.frame
    done = records.done
    seeds = ", ".join(str(s) for s in sorted(done["seed"].unique())) or DASH
    drawn = set(done["data_seed"])  # -1: the protocol's fixed draw (leaderboard.cells.data_seed)
    data_seeds = ", ".join(
        ["unset (the protocol's fixed draw, 1200)"] * (-1 in drawn) + [str(s) for s in sorted(drawn - {-1})]
    )
    out = [
        "## Notes",
        "",
        "- **std**: sample standard deviation over seeds (pandas `std(ddof=1)`); "
        "a cell with one run shows `n=1` and no std.",
        "- **mAP**: mean over classes of scikit-learn average precision, × 100, on the test split at the epoch of "
        "the best validation mAP (clean validation labels).",
        f"- **seeds**: model seeds {seeds}; data seeds (the split and the observed labels) {data_seeds}.",
        f"- **code**: {_commits(records)}.",
        f"- **records**: {len(f)} valid ({len(done)} done and in the tables, {len(records.failed)} failed, "
        f"{len(records.diverged)} diverged — never averaged in){_left_out(records)}.",
        "- **statuses**: `done` runs are averaged; `failed` runs (an error) and `diverged` runs (predictions that "
        "carry no information, by the harness's divergence rule) are listed apart and named beside the cell's n.",
        "- **intervals and bold**: 95% CI = mean ± t₀.₉₇₅,ₙ₋₁·s/√n over seeds; bold = the 95% confidence set for "
        "the best row (rows with n ≥ 2 whose rank interval starts at 1: no row is above them by a one-sided Welch "
        "t-test at 5%/(k − 1)); n=1 rows have no rank and are never bold.",
        "- **variants** (`method (name=value)`): runs whose hyper-parameters differ from the method's defaults, each "
        "its own row under the method's main row (the defaults); tuning trials appear only in the tuned tables.",
        "- Rows follow the paper's order: the oracles (`bce` under `full`, then `1p_all_n`) on top, then "
        + ", ".join(PAPER_ORDER[1:])
        + f"; then *{GROUP_TITLES['since']}* ("
        + ", ".join(SINCE_PAPER)
        + f", in this order); then *{GROUP_TITLES['other']}*, alphabetically.",
    ]
    methods = set(f["method"])
    for head, choices in (
        ("**adopted definitions** (no reference code; PROTOCOL.md)", ADOPTED),
        (
            "**adopted choices since the paper** (PROTOCOL.md; every row here trained under the common protocol)",
            ADOPTED_SINCE,
        ),
    ):
        shown = [m for m in choices if m in methods]
        if shown:
            out.append(f"- {head}: " + "; ".join(f"`{m}`: {choices[m]}" for m in shown) + ".")
    lit = published.literature_table()
    out += [
        f"- Published figures: `leaderboard/published/` — {published.source_lines(published.PAPER_CSV)[0]}",
        f"- {LIT} {published.source_lines(published.LITERATURE_CSV)[0]} Sources, and each figure's recipe:",
        *[
            f"  - `{r['method']}`: {r['source']}; recipe: {r['recipe']}"
            + ("" if r["notes"] == "-" else f"; {r['notes']}")
            for _, r in lit.iterrows()
        ],
        "",
        "Regenerate with `python -m leaderboard` (also run at the end of `run_all.py`).",
        "",
    ]
    return out


def mixed_code_section(records: Records) -> list[str]:
    """The cells pooled across code versions (``--allow-mixed-code``): named, so no reader takes them
    for one version's."""
    if not records.mixed_code:
        return []
    return [
        "## Cells pooled across code versions",
        "",
        "Built with `--allow-mixed-code`: these cells average runs made by different code.",
        "",
        *[f"- `{name}`: {note}" for name, note in sorted(records.mixed_code.items())],
        "",
    ]


def render(records: Records, figures: list[FigureSpec], gain_method: str = "em") -> str:
    lines = [
        "# SPML leaderboard",
        "",
        "<!-- generated by `python -m leaderboard` from the run records alone; edits by hand are overwritten -->",
        "",
    ]
    f = records.frame
    if f.empty:
        lines += ["No run records yet: run `python run_all.py`, then `python -m leaderboard`.", ""]
        lines += left_out_section(records)
        return "\n".join(lines + published_elsewhere_section(set()) + _notes(records)).rstrip("\n") + "\n"
    cells = main_cells(records)
    lines += headline(records, figures)
    for protocol in ordered(cells["protocol"], PROTOCOL_ORDER):
        lines += [f"## Test mAP — {protocol} ({PROTOCOL_TITLES.get(protocol, protocol)})", ""]
        for group in table_groups(cells[cells["protocol"] == protocol]["labels"]):
            lines += main_section(cells, protocol, group, records.mixed_code)
    lines += tuned_sections(tuned_frame(records))
    lines += poi_section(records, figures)
    lines += power_section(records)
    lines += variance_section(records)
    lines += diverged_section(records)
    lines += failed_section(records)
    lines += left_out_section(records)
    lines += mixed_code_section(records)
    lines += published_elsewhere_section(set(f["dataset"]))
    lines += recipes_section(records)
    lines += predict_section(records)
    lines += per_class_section(records, figures, gain_method)
    lines += analysis_section(records, figures)
    lines += loss_section(figures)
    lines += threshold_section(records)
    lines += _notes(records)
    return "\n".join(lines).rstrip("\n") + "\n"
