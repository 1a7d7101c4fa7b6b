"""Equal-budget tuning studies (contract 3), from the records: per study, method and dataset, the
trial with the best mean clean-validation mAP on the study's selection seeds, and that trial's test mAP
on the report seeds, which the choice never saw (so the winner's curse does not inflate it).

A study is identified by its trials, its space seed and its selection seeds (``select_seeds`` of the
records' ``study`` tag, S); every run it planned carries it (``config.study``), so no run of one
study is another's. Which runs are a trial:
- a record tagged ``study: {name, trials: N, trial: i, space_seed, select_seeds}`` is trial i of that
  study on its seed: a selection run on S, a report run on the other seeds (T); it appears only here;
- trial 0 is the default configuration: on T its runs are the main table's (role ``main``, whichever
  sweep wrote them), on S the study's own. An older study without ``select_seeds`` chose and reported
  on the same seeds (stated on the page).

Selection, per (study, protocol, regime, method, dataset): the (seed, data seed) pairs compared are those
the study's drawn trials ran on S; a trial is eligible when each is ``done`` in it (a failed, diverged
or missing one rules it out, so all eligible trials are compared on the same runs); among them, the
highest mean validation mAP wins, ties going to the lower trial number. ``margin``: the winner's mean
validation mAP minus the runner-up's, ``margin_se`` the standard error of that difference (paired over
the S pairs). The chosen trial's test mAP and the defaults' (trial 0) are read on the T pairs the
study's drawn trials ran (a method with nothing to tune: its main runs).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from leaderboard.records import Records, format_value
from leaderboard.stats import t_interval
from leaderboard.table import DATASET_ORDER, PROTOCOL_ORDER, rank, row_key, sort_by

STUDY = ["study", "trials", "space_seed", "select_seeds"]
KEY = ["protocol", "labels", "method", "dataset"]
PAIR = ["seed", "data_seed"]
COLUMNS = [
    *STUDY,
    "report_seeds",
    *KEY,
    "trials_seen",
    "eligible",
    "chosen_trial",
    "chosen_values",
    "val_mean",
    "margin",
    "margin_se",
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
#: the sentence the page gives for how the main table's configurations were chosen
MAIN_RULE = (
    "Main table: every method at its authors' published defaults, one rule for all (on the embedded set, the "
    "values published for every dataset or the plugin's fallback, a real dataset's); 0 tuning trials chose them."
)


def _trial_runs(records: Records, study: tuple, key: tuple) -> dict[int, pd.DataFrame]:
    """trial number → its records (any status) for one study and cell; trial 0 with the main runs."""
    f = records.frame
    cell = (f["protocol"] == key[0]) & (f["labels"] == key[1]) & (f["method"] == key[2]) & (f["dataset"] == key[3])
    f = f[cell & (f["excluded"] == "")]
    mine = f[(f["role"] == "trial") & (f[STUDY] == pd.Series(study, index=STUDY)).all(axis=1)]
    out = {0: pd.concat([f[f["role"] == "main"], mine[mine["trial"] == 0]])}
    for t, g in mine[mine["trial"] > 0].groupby("trial", sort=True):
        out[int(t)] = g
    return out


def _pairs(runs: pd.DataFrame) -> set[tuple[int, int]]:
    return {(int(s), int(d)) for s, d in zip(runs["seed"], runs["data_seed"])}


def _on(runs: pd.DataFrame, pairs: set[tuple[int, int]]) -> pd.DataFrame:
    return runs.loc[[p in pairs for p in zip(runs["seed"], runs["data_seed"])]]  # .loc: an empty list selects no row


def _values(records: Records, runs: pd.DataFrame, names: list[str]) -> str:
    """The tuned hyper-parameters' values in a trial (from its first record's resolved config)."""
    if runs.empty or not names:
        return "defaults"
    rec: dict[str, Any] = records.raw[runs.index[0]]
    hp = {**((rec.get("config") or {}).get("hparams") or {}), **rec["variant"]}
    shown = [f"{k}={format_value(hp[k])}" for k in names if k in hp]
    return ", ".join(shown) if shown else "defaults"


def _margin(eligible: dict[int, pd.DataFrame], chosen: int) -> tuple[float, float]:
    """The winner's mean validation mAP minus the runner-up's, and the paired standard error of it."""
    others = [t for t in eligible if t != chosen]
    if not others:
        return math.nan, math.nan
    runner = max(others, key=lambda t: (eligible[t]["val_map"].mean(), -t))
    a, b = (eligible[t].set_index(PAIR)["val_map"].sort_index() for t in (chosen, runner))
    diff = a - b
    se = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else math.nan
    return float(diff.mean()), float(se)


def won_by(margin: float, se: float) -> str:
    """``+0.15 (0.17)``: how far a choice won by on validation, and the standard error of that difference."""
    if math.isnan(margin):
        return "—"
    return f"{margin:+.2f}" + ("" if math.isnan(se) else f" ({se:.2f})")


def _seeds_text(pairs: set[tuple[int, int]]) -> str:
    return ",".join(str(s) if d < 0 else f"{s}/data{d}" for s, d in sorted(pairs))


def tuned_frame(records: Records) -> pd.DataFrame:
    """One row per study and cell (see the module docstring): the chosen trial, its values, its mean
    validation mAP on S and how far it won by, its test mAP mean, std, n and 95% interval on T, the
    defaults' (trial 0) test mAP on T and the difference."""
    f = records.frame
    tagged = f[f["study"] != ""]
    rows = []
    for study, part in tagged.groupby(STUDY, sort=True):
        picks = {int(x) for x in str(study[3]).split(",") if x}  # S; none: an older study, S = T
        for key, _ in part.groupby(KEY, sort=True):
            trials = _trial_runs(records, study, key)
            select = {t: g[g["seed"].isin(picks) & (g["role"] == "trial")] if picks else g for t, g in trials.items()}
            report = {t: g[~g["seed"].isin(picks)] for t, g in trials.items()} if picks else select
            # every trial is compared on the pairs the study ran (trial 0 may have more, from other sweeps)
            drawn = [g for t, g in select.items() if t > 0 and len(g)]
            s_pairs = set().union(*map(_pairs, drawn or [select[0]]))
            shown = [g for t, g in report.items() if t > 0 and len(g)]
            t_pairs = set().union(*map(_pairs, shown or [report[0]]))
            trials = {t: _on(g, s_pairs) for t, g in select.items()}
            names = sorted({k for t, g in trials.items() if t > 0 for i in g.index for k in records.raw[i]["variant"]})
            eligible = {}
            for t, g in trials.items():
                done = g[g["status"] == "done"]
                if len(g) and _pairs(done) == s_pairs and len(done) == len(g):
                    eligible[t] = done
            chosen = max(eligible, key=lambda t: (eligible[t]["val_map"].mean(), -t)) if eligible else None
            default = _on(report[0][report[0]["status"] == "done"], t_pairs)["test_map"]
            d_mean, d_std = (default.mean(), default.std(ddof=1)) if len(default) else (math.nan, math.nan)
            row = (
                dict(zip(STUDY, study))
                | {"report_seeds": _seeds_text(t_pairs)}
                | dict(zip(KEY, key))
                | {
                    "trials_seen": sum(1 for g in trials.values() if len(g)),
                    "eligible": len(eligible),
                    "default_mean": d_mean,
                    "default_std": d_std,
                    "default_n": len(default),
                }
            )
            row |= dict.fromkeys(
                ("val_mean", "margin", "margin_se", "mean", "std", "ci_low", "ci_high", "delta"), math.nan
            )
            row |= {"chosen_trial": -1, "chosen_values": "", "n": 0}
            if chosen is not None:
                margin, se = _margin(eligible, chosen)
                row |= {
                    "chosen_trial": chosen,
                    "chosen_values": _values(records, trials[chosen], names),
                    "val_mean": eligible[chosen]["val_map"].mean(),
                    "margin": margin,
                    "margin_se": se,
                }
                runs = report[chosen]
                test = _on(runs[runs["status"] == "done"], t_pairs)["test_map"]
                if len(test):
                    mean, std, n = test.mean(), test.std(ddof=1), len(test)
                    lo, hi = t_interval(mean, std, n)
                    row |= {"mean": mean, "std": std, "n": n, "ci_low": lo, "ci_high": hi, "delta": mean - d_mean}
            rows.append(row)
    out = pd.DataFrame(rows, columns=COLUMNS)
    keys = out[[*STUDY, "protocol", "dataset", "method", "labels"]].itertuples(index=False)
    order = [(*s, rank(p, PROTOCOL_ORDER), rank(d, DATASET_ORDER), row_key(m, lab)) for *s, p, d, m, lab in keys]
    return sort_by(out, order)
