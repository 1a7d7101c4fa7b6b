"""Which records may be averaged together: a cell's runs must differ in their seed only.

Two configurations in one results folder (3 and 10 epochs, fp32 and bf16) would otherwise be mixed
silently into one mean. A cell that breaks the rule is reported (``BadCell``) and all its records are
left out of the tables; the rest of the leaderboard is built as usual."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from benchmark.records import NOT_CELL_IDENTITY

#: the fields that identify a table cell; seeds vary inside a cell. ``variant`` is the label of the
#: hyper-parameters that differ from the method's defaults ("" for the default configuration)
CELL = ["protocol", "labels", "method", "variant", "dataset"]
#: a tuning trial is its own cell even where its drawn values equal a variant run elsewhere
TRIAL_KEY = ["study", "trials", "space_seed", "trial"]


def row_label(method: str, variant: str = "") -> str:
    """A method's row: ``em`` for its defaults, ``em (alpha=0.3)`` for a variant."""
    return f"{method} ({variant})" if variant else method


def cell_name(key: tuple[str, ...] | list[str]) -> str:
    protocol, labels, method, variant, dataset = key
    return f"{protocol}/{labels}/{row_label(method, variant)}/{dataset}"


@dataclass(frozen=True)
class BadCell:
    """A cell whose records cannot be averaged together; all of them are left out of the tables."""

    key: tuple[str, ...]  # the CELL values
    problem: str
    paths: tuple[str, ...] = ()
    trial: bool = False  # a tuning trial's cell (shown in the tuned table only)

    @property
    def name(self) -> str:
        return cell_name(self.key)

    def line(self) -> str:
        return f"cell {self.name}: {self.problem}; left out"


def identity(rec: dict[str, Any]) -> dict[str, Any]:
    """The config fields that change a run's numbers."""
    return {k: v for k, v in (rec.get("config") or {}).items() if k not in NOT_CELL_IDENTITY}


def _problem(frame: pd.DataFrame, raw: list[dict[str, Any]], index: list[int]) -> str | None:
    seeds = frame.loc[index, "seed"].tolist()
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        files = ", ".join(frame.loc[[i for i in index if frame.at[i, "seed"] in dup], "path"])
        return (f"more than one record for seed(s) {dup} ({files}); a cell takes one run per seed — "
                "move the records of the other configuration to another results folder")
    first = index[0]
    ref = identity(raw[first])
    for i in index[1:]:
        ident = identity(raw[i])
        if ident != ref:
            diff = sorted(k for k in set(ident) | set(ref) if ident.get(k) != ref.get(k))
            shown = "; ".join(f"{k}: {ref.get(k)!r} in {frame.at[first, 'path']} vs {ident.get(k)!r} in "
                              f"{frame.at[i, 'path']}" for k in diff[:3])
            return f"mixes runs of different configurations ({shown}); keep one configuration per results folder"
    return None


def check_cells(frame: pd.DataFrame, raw: list[dict[str, Any]]) -> list[BadCell]:
    """The cells whose runs (done or diverged: the ones with numbers) cannot share a mean; marks
    every record of such a cell ``excluded`` in ``frame`` (``raw[i]`` is the record of row ``i``)."""
    if frame.empty:
        return []
    bad = []
    scored = frame[frame["status"].isin(["done", "diverged"])]
    is_trial = frame["role"] == "trial"
    for trial, part in ((False, scored[scored["role"] != "trial"]), (True, scored[scored["role"] == "trial"])):
        keys = CELL + (TRIAL_KEY if trial else [])
        for key, group in part.groupby(keys, sort=True):
            problem = _problem(frame, raw, list(group.index))
            if problem is None:
                continue
            cell = tuple(str(k) for k in key[:len(CELL)])
            members = (frame[CELL].astype(str).apply(tuple, axis=1) == cell) & (is_trial == trial)
            if trial:
                for col, value in zip(TRIAL_KEY, key[len(CELL):]):
                    members &= frame[col] == value
            frame.loc[members, "excluded"] = problem
            label = problem if not trial else f"trial {key[-1]} of study '{key[len(CELL)]}': {problem}"
            bad.append(BadCell(cell, label, tuple(frame.loc[members, "path"]), trial))
    return bad
