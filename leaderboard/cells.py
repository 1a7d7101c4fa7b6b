"""Which records may be averaged together: a cell's runs must differ in their seeds only (model seed,
and data seed: the split and observed labels), one run per (seed, data seed) pair; runs on the published
protocol's fixed draw and runs on data seeds are two configurations, never one cell.

Two configurations in one results folder (3 and 10 epochs, fp32 and bf16) would otherwise be mixed
silently into one mean. A cell that breaks the rule is reported (``BadCell``) and all its records are
left out of the tables; the rest of the leaderboard is built as usual. So is a cell whose runs trained on
different preparations of the data (their ``data.digest``), and one whose runs were made by different code
(``provenance.code.sha256``) unless the user pools them (``--allow-mixed-code``; the page then marks the cell).
Records without a digest (written before digests) are not compared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from benchmark.records import NOT_CELL_IDENTITY

#: the fields that identify a table cell; seeds vary inside a cell. ``variant`` is the label of the
#: hyper-parameters that differ from the method's defaults ("" for the default configuration)
CELL = ["protocol", "labels", "method", "variant", "dataset"]
#: a tuning trial is its own cell even where its drawn values equal a variant run elsewhere
TRIAL_KEY = ["study", "trials", "space_seed", "select_seeds", "trial"]


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
    """The config fields that change a run's numbers, and which draw of the data the run's data seed is."""
    out = {k: v for k, v in (rec.get("config") or {}).items() if k not in NOT_CELL_IDENTITY}
    return out | {"data_seed": "the fixed draw" if data_seed(rec) < 0 else "data seeds"}


def data_seed(rec: dict[str, Any]) -> int:
    """The record's data seed; -1 for the published protocol's fixed draw (``config.data_seed`` null or absent)."""
    value = (rec.get("config") or {}).get("data_seed")
    return -1 if value is None else int(value)


def data_digest(rec: dict[str, Any]) -> str | None:
    """The digest of the prepared data a run trained on (``record["data"]["digest"]``); ``None`` for
    records written before data digests (they form cells as before)."""
    value = (rec.get("data") or {}).get("digest") if isinstance(rec.get("data"), dict) else None
    return value if isinstance(value, str) else None


def code_digest(rec: dict[str, Any]) -> str | None:
    """``provenance.code.sha256``: the digest of the harness and methods code that made the run."""
    code = (rec.get("provenance") or {}).get("code")
    value = code.get("sha256") if isinstance(code, dict) else None
    return value if isinstance(value, str) else None


def _digests(frame: pd.DataFrame, raw: list[dict[str, Any]], index: list[int], of: Any) -> str | None:
    """``"a… in X vs b… in Y"`` where the records of ``index`` carry two digests (``of``), else ``None``;
    a record without one is not compared."""
    seen: dict[str, int] = {}
    for i in index:
        d = of(raw[i])
        if d is not None:
            seen.setdefault(d, i)
    if len(seen) < 2:
        return None
    (a, i), (b, j) = list(seen.items())[:2]
    return f"{a[:12]} in {frame.at[i, 'path']} vs {b[:12]} in {frame.at[j, 'path']}"


def mixed_code(frame: pd.DataFrame, raw: list[dict[str, Any]], index: list[int]) -> str | None:
    """Why the records of ``index`` come from different code, or ``None``."""
    found = _digests(frame, raw, index, code_digest)
    return None if found is None else f"mixes runs of different code (provenance.code.sha256 {found})"


def _problem(
    frame: pd.DataFrame, raw: list[dict[str, Any]], index: list[int], allow_mixed_code: bool = False
) -> str | None:
    pairs = list(zip(frame.loc[index, "seed"], frame.loc[index, "data_seed"]))
    dup = sorted({p for p in pairs if pairs.count(p) > 1})
    if dup:
        files = ", ".join(frame.at[i, "path"] for i, p in zip(index, pairs) if p in dup)
        named = [int(s) if d < 0 else f"{s}/data{d}" for s, d in dup]
        return (
            f"more than one record for seed(s) {named} ({files}); a cell takes one run per seed — "
            "move the records of the other configuration to another results folder"
        )
    first = index[0]
    ref = identity(raw[first])
    for i in index[1:]:
        ident = identity(raw[i])
        if ident != ref:
            diff = sorted(k for k in set(ident) | set(ref) if ident.get(k) != ref.get(k))
            shown = "; ".join(
                f"{k}: {ref.get(k)!r} in {frame.at[first, 'path']} vs {ident.get(k)!r} in {frame.at[i, 'path']}"
                for k in diff[:3]
            )
            return f"mixes runs of different configurations ({shown}); keep one configuration per results folder"
    found = _digests(frame, raw, index, data_digest)
    if found is not None:
        return (
            f"mixes runs on different preparations of the data (data digest {found}); runs on one preparation "
            "only share a cell"
        )
    if not allow_mixed_code:
        code = mixed_code(frame, raw, index)
        if code is not None:
            return f"{code}; rerun them on one version, or pool them with --allow-mixed-code"
    return None


def check_cells(frame: pd.DataFrame, raw: list[dict[str, Any]], allow_mixed_code: bool = False) -> list[BadCell]:
    """The cells whose runs (done or diverged: the ones with numbers) cannot share a mean; marks
    every record of such a cell ``excluded`` in ``frame`` (``raw[i]`` is the record of row ``i``).
    Runs of different code digests are such a cell unless ``allow_mixed_code``; runs on different
    preparations of the data (data digests) always are."""
    if frame.empty:
        return []
    bad = []
    scored = frame[frame["status"].isin(["done", "diverged"])]
    is_trial = frame["role"] == "trial"
    for trial, part in ((False, scored[scored["role"] != "trial"]), (True, scored[scored["role"] == "trial"])):
        keys = CELL + (TRIAL_KEY if trial else [])
        for key, group in part.groupby(keys, sort=True):
            problem = _problem(frame, raw, list(group.index), allow_mixed_code)
            if problem is None:
                continue
            cell = tuple(str(k) for k in key[: len(CELL)])
            members = (frame[CELL].astype(str).apply(tuple, axis=1) == cell) & (is_trial == trial)
            if trial:
                for col, value in zip(TRIAL_KEY, key[len(CELL) :]):
                    members &= frame[col] == value
            frame.loc[members, "excluded"] = problem
            label = problem if not trial else f"trial {key[-1]} of study '{key[len(CELL)]}': {problem}"
            bad.append(BadCell(cell, label, tuple(frame.loc[members, "path"]), trial))
    return bad
