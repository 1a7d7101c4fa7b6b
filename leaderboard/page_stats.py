"""The page's statistical sections: probability of improvement over AN, and how many seeds resolve
a difference at the spread the records show."""

from __future__ import annotations

import math

import pandas as pd

from leaderboard.compare import ALL, POWER, POWER_DELTAS, poi_frame, power_frame
from leaderboard.mdutil import DASH, table
from leaderboard.records import Records
from leaderboard.stats import BOOTSTRAP_REPS, MAX_SEEDS
from leaderboard.table import BASELINE, DATASET_ORDER, ordered, row_key

POWER_METHOD = (
    "two-sided two-sample t-test at 5%, power from the noncentral t distribution (df = 2n − 2, "
    "noncentrality Δ / (σ·√(2/n))), σ = the pooled seed std observed here"
)


def fmt_seeds(n: int) -> str:
    if n <= 0:
        return DASH
    return f"> {MAX_SEEDS}" if n > MAX_SEEDS else str(n)


def poi_section(records: Records) -> list[str]:
    poi = poi_frame(records)
    if poi.empty:
        return []
    out = [
        f"## Probability of improvement over {BASELINE.upper()}",
        "",
        f"P(X > {BASELINE.upper()}): the fraction of seed pairs (i, j) — every run of the method against every run of "
        f"`{BASELINE}`, same dataset and protocol, `1p` main rows — "
        "in which the method's test mAP is higher (a tie counts "
        "one half; the Mann–Whitney U over n·m, as in rliable, Agarwal et al., NeurIPS 2021). In brackets its 95% "
        f"percentile interval from a stratified bootstrap ({BOOTSTRAP_REPS} resamples of each method's runs, "
        "independently within each dataset; seeded, so the page is reproducible); `all`: the mean over the datasets "
        "both ran. **Bold**: the interval lies above 0.5. With 3 seeds a side there are 9 pairs: the estimate moves "
        "in steps of 1/18, and a bootstrap over so few runs is optimistic (fully separated runs give [1.00, 1.00]). "
        "Where a side has a single run on a dataset there is no interval (its spread is unknown): the estimate is "
        "shown with the run counts.",
        "",
    ]
    for protocol, part in poi.groupby("protocol", sort=False):
        datasets = ordered(part["dataset"], [*DATASET_ORDER, ALL])
        rows = []
        for method in sorted(set(part["method"]), key=lambda m: row_key(m, "1p")):
            row = [method]
            for d in datasets:
                c = part[(part["method"] == method) & (part["dataset"] == d)]
                if c.empty:
                    row.append(DASH)
                    continue
                r = c.iloc[0]
                if math.isnan(r["low"]):
                    row.append(f"{r['poi']:.2f} (n={r['n']} vs {r['n_baseline']})")
                    continue
                text = f"{r['poi']:.2f} [{r['low']:.2f}, {r['high']:.2f}]"
                row.append(f"**{text}**" if r["low"] > 0.5 else text)
            rows.append(row)
        out += [f"*{protocol}*", "", table(["method", *datasets], rows), ""]
    return out


def power_table(power: pd.DataFrame, deltas: tuple[float, ...] = POWER_DELTAS) -> str:
    rows = [
        [
            r["protocol"],
            r["dataset"],
            str(r["rows"]),
            str(r["runs"]),
            f"{r['pooled_std']:.2f}",
            f"{r['max_std']:.2f}",
            *[fmt_seeds(int(r[f"seeds_{d:g}"])) for d in deltas],
        ]
        for _, r in power.iterrows()
    ]
    return table(
        [
            "protocol",
            "dataset",
            "rows",
            "runs",
            "pooled seed std",
            "largest row std",
            *[f"seeds for Δ = {d:g}" for d in deltas],
        ],
        rows,
    )


def power_section(records: Records) -> list[str]:
    power = power_frame(records)
    if power.empty:
        return []
    return [
        "## How many seeds are enough",
        "",
        f"Per dataset, the seed std pooled over every row with two runs or more (√(Σ(nᵢ−1)sᵢ² / Σ(nᵢ−1))), and the "
        f"seeds per row needed to resolve a difference of Δ mAP between two rows with {POWER:.0%} power: "
        f"{POWER_METHOD}. Use it to choose `--seeds` for a study; `python -m leaderboard --power [--delta D]` prints "
        "it for any results folder. The largest row std shows how much noisier the worst row is than the pool.",
        "",
        power_table(power),
        "",
    ]
