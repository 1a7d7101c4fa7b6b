"""Equal-budget tuning studies (contract 3), from the records: per study, method and dataset, the
trial with the best mean clean-validation mAP over its seeds, and that trial's test mAP.

Which runs are a trial:
- a record tagged ``study: {name, trials: N, trial: i, space_seed}`` with a non-empty ``variant``
  is trial i of that study; it appears only here (never as a variant row of the main table);
- trial 0 is the default configuration, the method's main row: its records are the main cell's,
  whether the study wrote them (tagged trial 0) or the default sweep did before (the same run id,
  hence the same file). They are never counted twice: the main table has them once, as defaults.

Selection, per (study, protocol, regime, method, dataset): the seeds compared are those the study's
drawn trials ran (trial 0's runs on other seeds are set aside here); a trial is eligible when each of
those seeds is ``done`` in it (a failed, diverged or missing seed rules it out, so all eligible
trials are compared on the same seeds); among them, the highest mean validation mAP wins, ties going
to the lower trial number. A method with nothing to tune has trial 0 only. The defaults' figures
beside the chosen trial are trial 0's on the same seeds.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from leaderboard.records import Records, format_value
from leaderboard.stats import t_interval
from leaderboard.table import DATASET_ORDER, PROTOCOL_ORDER, rank, row_key

STUDY = ["study", "trials", "space_seed"]
KEY = ["protocol", "labels", "method", "dataset"]
COLUMNS = [
    *STUDY,
    *KEY,
    "trials_seen",
    "eligible",
    "chosen_trial",
    "chosen_values",
    "val_mean",
    "mean",
    "std",
    "n",
    "ci_low",
    "ci_high",
    "default_mean",
    "default_std",
    "default_n",
    "delta",
]


def _trial_runs(records: Records, study: tuple, key: tuple) -> dict[int, pd.DataFrame]:
    """trial number → its records (any status) for one study and cell."""
    f = records.frame
    cell = (f["protocol"] == key[0]) & (f["labels"] == key[1]) & (f["method"] == key[2]) & (f["dataset"] == key[3])
    f = f[cell & (f["excluded"] == "")]
    out = {0: f[(f["role"] == "main")]}
    trials = f[
        (f["role"] == "trial") & (f["study"] == study[0]) & (f["trials"] == study[1]) & (f["space_seed"] == study[2])
    ]
    for t, g in trials.groupby("trial", sort=True):
        out[int(t)] = g
    return out


def _values(records: Records, runs: pd.DataFrame, names: list[str]) -> str:
    """The tuned hyper-parameters' values in a trial (from its first record's resolved config)."""
    if runs.empty or not names:
        return "defaults"
    rec: dict[str, Any] = records.raw[runs.index[0]]
    hp = {**((rec.get("config") or {}).get("hparams") or {}), **rec["variant"]}
    shown = [f"{k}={format_value(hp[k])}" for k in names if k in hp]
    return ", ".join(shown) if shown else "defaults"


def tuned_frame(records: Records) -> pd.DataFrame:
    """One row per study and cell (see the module docstring): the chosen trial, its values, its mean
    validation mAP, its test mAP mean, std, n and 95% interval, the defaults' (trial 0) test mAP and
    the difference."""
    f = records.frame
    tagged = f[f["study"] != ""]
    rows = []
    for study, part in tagged.groupby(STUDY, sort=True):
        for key, _ in part.groupby(KEY, sort=True):
            trials = _trial_runs(records, study, key)
            # every trial is compared on the seeds the study ran (trial 0 may have more, from other sweeps)
            drawn = [g for t, g in trials.items() if t > 0 and len(g)]
            seeds = sorted({int(s) for g in (drawn or [trials[0]]) for s in g["seed"]})
            trials = {t: g[g["seed"].isin(seeds)] for t, g in trials.items()}
            names = sorted({k for t, g in trials.items() if t > 0 for i in g.index for k in records.raw[i]["variant"]})
            eligible = {}
            for t, g in trials.items():
                done = g[g["status"] == "done"]
                if len(g) and sorted(int(s) for s in done["seed"]) == seeds and len(done) == len(g):
                    eligible[t] = done
            chosen = max(eligible, key=lambda t: (eligible[t]["val_map"].mean(), -t)) if eligible else None
            default = trials[0][trials[0]["status"] == "done"]["test_map"]
            d_mean, d_std = (default.mean(), default.std(ddof=1)) if len(default) else (math.nan, math.nan)
            row = (
                dict(zip(STUDY, study))
                | dict(zip(KEY, key))
                | {
                    "trials_seen": sum(1 for g in trials.values() if len(g)),
                    "eligible": len(eligible),
                    "default_mean": d_mean,
                    "default_std": d_std,
                    "default_n": len(default),
                }
            )
            if chosen is None:
                row |= {
                    "chosen_trial": -1,
                    "chosen_values": "",
                    "val_mean": math.nan,
                    "mean": math.nan,
                    "std": math.nan,
                    "n": 0,
                    "ci_low": math.nan,
                    "ci_high": math.nan,
                    "delta": math.nan,
                }
            else:
                test = eligible[chosen]["test_map"]
                mean, std, n = test.mean(), test.std(ddof=1), len(test)
                lo, hi = t_interval(mean, std, n)
                row |= {
                    "chosen_trial": chosen,
                    "chosen_values": _values(records, trials[chosen], names),
                    "val_mean": eligible[chosen]["val_map"].mean(),
                    "mean": mean,
                    "std": std,
                    "n": n,
                    "ci_low": lo,
                    "ci_high": hi,
                    "delta": mean - d_mean,
                }
            rows.append(row)
    out = pd.DataFrame(rows, columns=COLUMNS)
    if out.empty:
        return out
    key = out.apply(
        lambda r: (
            r["study"],
            r["trials"],
            r["space_seed"],
            rank(r["protocol"], PROTOCOL_ORDER),
            rank(r["dataset"], DATASET_ORDER),
            row_key(r["method"], r["labels"]),
        ),
        axis=1,
    )
    return out.assign(_k=key).sort_values("_k", kind="stable").drop(columns="_k").reset_index(drop=True)
