"""Reading run records: every JSON record under a results folder, checked, into pandas frames.

One row per record in ``Records.frame`` (the scalar fields); the nested sections (per-class AP,
threshold metrics, analysis, history) stay in ``Records.raw`` and are unfolded on demand by
``per_class_frame``, ``threshold_frame`` and ``history_frame``.

Reading never stops at one bad file: a file that is not a run record (empty, truncated, a list, a
stray ``notes.json``, a field missing or not finite) is listed in ``Records.invalid`` with the
reason, and a cell whose records cannot be averaged together (two configurations, two records of
one seed) in ``Records.bad_cells``; both are left out of every table and figure, the rest is built.
``read_records(..., strict=True)`` raises ``RecordError`` at the first of them instead.

For a notebook, ``runs_frame(results_dir)`` is one row per record with every hyper-parameter
(``hp.<name>``) and run-config field (``cfg.<name>``) as columns.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.records import NOT_CELL_IDENTITY, STATUSES, inspect_record, is_number, record_files, with_defaults
from leaderboard.cells import CELL, BadCell, cell_name, check_cells, data_seed, mixed_code, row_label
from leaderboard.errors import LeaderboardError, RecordError

__all__ = [
    "CELL",
    "COLUMNS",
    "NOT_CELL_IDENTITY",
    "STATUSES",
    "BadCell",
    "InvalidFile",
    "LeaderboardError",
    "RecordError",
    "Records",
    "analysis_frame",
    "cell_name",
    "history_frame",
    "per_class_frame",
    "read_records",
    "row_label",
    "runs_frame",
    "threshold_frame",
    "variant_label",
]

COLUMNS = [
    *CELL,
    "seed",
    #: "common" (the protocol) or "authors" (the method's published recipe: the recipe section only)
    "recipe",
    #: the run's data seed (split and observed labels); -1: the published protocol's fixed draw
    "data_seed",
    "status",
    "test_map",
    "val_map",
    "best_epoch",
    "run_id",
    "commit",
    "dirty",
    "error",
    "path",
    "role",
    "study",
    "trial",
    "trials",
    "space_seed",
    #: a tuning study's selection seeds, "100,101,102" ("": chosen on the seeds it reports, older studies)
    "select_seeds",
    "excluded",
]


@dataclass(frozen=True)
class InvalidFile:
    """A file under the results folder that is not a usable run record."""

    path: str  # relative to the results folder, POSIX
    problem: str
    full: str = ""  # the path as the user can open it

    def line(self) -> str:
        return f"{self.full or self.path}: {self.problem}; left out"


@dataclass
class Records:
    """The records of one results folder; ``raw[i]`` is the JSON of ``frame.iloc[i]``."""

    frame: pd.DataFrame
    raw: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[InvalidFile] = field(default_factory=list)
    bad_cells: list[BadCell] = field(default_factory=list)
    #: cells pooled across code versions (``--allow-mixed-code``): cell name → the note the page shows
    mixed_code: dict[str, str] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """The records that feed the tables and figures: main and variant rows of good cells, on the
        common recipe (the authors' recipes have their own section, ``leaderboard.page_recipes``)."""
        f = self.frame
        return f[(f["role"] != "trial") & (f["excluded"] == "") & (f["recipe"] == "common")]

    @property
    def done(self) -> pd.DataFrame:
        t = self.table
        return t[t["status"] == "done"]

    @property
    def failed(self) -> pd.DataFrame:
        """Every failed record (tuning trials included): never averaged in."""
        return self.frame[self.frame["status"] == "failed"]

    @property
    def diverged(self) -> pd.DataFrame:
        """Every diverged record: its numbers carry no information and never enter a mean."""
        return self.frame[self.frame["status"] == "diverged"]

    def warnings(self) -> list[str]:
        """One line per invalid file and per bad cell, for stderr."""
        return [x.line() for x in self.invalid] + [c.line() for c in self.bad_cells]


# -- variants --------------------------------------------------------------------------------------
def format_value(v: Any) -> str:
    """A hyper-parameter value as a row label shows it: shortest round-trip floats (0.3, 1e-05)."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float, str)):
        return repr(v) if isinstance(v, float) else str(v)
    return json.dumps(v, sort_keys=True, default=str)


def recipe(rec: dict[str, Any]) -> str:
    """The run's training recipe: "common" (the protocol; every record before recipes) or "authors"."""
    return str((rec.get("config") or {}).get("recipe", "common"))


def row_variant(rec: dict[str, Any]) -> str:
    """The row's variant label; an authors'-recipe run's starts ``recipe=authors``: a cell of its own,
    never pooled with the common protocol's runs."""
    tag = "" if recipe(rec) == "common" else f"recipe={recipe(rec)}"
    return ", ".join(filter(None, [tag, variant_label(rec["variant"])]))


def variant_label(variant: dict[str, Any]) -> str:
    """``alpha=0.3, theta=0.1`` (sorted names); "" for the default configuration."""
    return ", ".join(f"{k}={format_value(variant[k])}" for k in sorted(variant))


# -- reading ---------------------------------------------------------------------------------------
def _error_text(rec: dict[str, Any]) -> str:
    err = rec.get("error") or {}
    if not isinstance(err, dict):
        return str(err)
    return f"{err.get('type', 'Error')}: {err.get('message', '')}".strip()


def _role(rec: dict[str, Any]) -> str:
    """The record's part in the tables: the method's main row, a variant row, or a tuning study's
    trial (shown only in the tuned table; trial 0, the default configuration, is a ``main`` record on
    the report seeds, a ``trial`` one on the study's own selection seeds)."""
    if rec["study"] is not None and (rec["variant"] or (rec.get("config") or {}).get("study")):
        return "trial"
    return "variant" if rec["variant"] else "main"


def _row(rec: dict[str, Any], shown: str) -> dict[str, Any]:
    git = (rec.get("provenance") or {}).get("git") or {}
    study = rec["study"] or {}
    return {
        "protocol": rec["protocol"],
        "labels": rec["labels"],
        "method": rec["method"],
        "variant": row_variant(rec),
        "dataset": rec["dataset"],
        "seed": rec["seed"],
        "recipe": recipe(rec),
        "data_seed": data_seed(rec),
        "status": rec["status"],
        # a diverged run keeps its numbers in the record; here they are NaN so no mean can take them
        "test_map": float(rec["test_map"]) if rec["status"] == "done" else math.nan,
        "val_map": float(rec["val_map"]) if rec["status"] == "done" and is_number(rec.get("val_map")) else math.nan,
        "best_epoch": rec.get("best_epoch"),
        "run_id": str(rec.get("run_id", "")),
        "commit": git.get("commit"),
        "dirty": git.get("dirty"),
        "error": _error_text(rec) if rec["status"] == "failed" else "",
        "path": shown,
        "role": _role(rec),
        "study": study.get("name", ""),
        "trial": study.get("trial", -1),
        "trials": study.get("trials", 0),
        "space_seed": study.get("space_seed", -1),
        "select_seeds": ",".join(map(str, study.get("select_seeds") or [])),
        "excluded": "",
    }


def read_records(
    results_dir: str | Path, *, strict: bool = False, allow_mixed_code: bool = False, verify: bool = True
) -> Records:
    """Every record under ``results_dir``, in sorted path order, judged by the record contract
    (``benchmark.records``) as the sweep judges it. Files that are not run records and cells that
    cannot be averaged are listed in ``invalid`` / ``bad_cells`` (``strict``: raise ``RecordError``
    instead). A missing folder reads as no records; the command line refuses it. ``verify``: each record
    is also checked against itself and its file name (``benchmark.records.identity``: run id, name, variant,
    metrics, seal): one that fails is invalid. ``allow_mixed_code``: cells whose runs come from
    different code are pooled, and named in ``mixed_code``."""
    root = Path(results_dir)
    rows, raw, invalid = [], [], []
    for path in record_files(root):
        shown = path.relative_to(root).as_posix()
        check = inspect_record(path, verify=verify)
        if check.status is None:  # removed since it was listed
            continue
        if check.record is None:
            if strict:
                raise RecordError(check.problem)
            invalid.append(InvalidFile(shown, check.reason, str(path)))
            continue
        rec = with_defaults(check.record)
        rows.append(_row(rec, shown))
        raw.append(rec)
    types = {"test_map": float, "val_map": float} | dict.fromkeys(("data_seed", "trial", "trials", "space_seed"), int)
    frame = pd.DataFrame(rows, columns=COLUMNS).astype(types)
    records = Records(frame=frame, raw=raw, invalid=invalid, bad_cells=check_cells(frame, raw, allow_mixed_code))
    if allow_mixed_code:
        records.mixed_code = pooled_code_cells(frame, raw)
    if strict and records.bad_cells:
        raise RecordError(records.bad_cells[0].line().removesuffix("; left out"))
    return records


def pooled_code_cells(frame: pd.DataFrame, raw: list[dict[str, Any]]) -> dict[str, str]:
    """Cell name → note, for the good cells whose runs come from different code (pooled on request)."""
    scored = frame[frame["status"].isin(["done", "diverged"]) & (frame["excluded"] == "") & (frame["role"] != "trial")]
    out = {}
    for key, group in scored.groupby(CELL, sort=True):
        note = mixed_code(frame, raw, list(group.index))
        if note is not None:
            out[cell_name(tuple(str(k) for k in key))] = (
                f"pooled with --allow-mixed-code: {note.removeprefix('mixes ')}"
            )
    return out


# -- long frames for the sections and figures ------------------------------------------------------
def _keys(records: Records, i: int) -> dict[str, Any]:
    """Run ``i``'s cell keys and seed, as the records frame already holds them."""
    row = records.frame.loc[i]
    return {k: row[k] for k in (*CELL, "seed")}


def per_class_frame(records: Records) -> pd.DataFrame:
    """Long frame of done runs' per-class test AP: cell keys, seed, class, class_index, ap."""
    rows = []
    for i in records.done.index:
        rec, keys = records.raw[i], _keys(records, i)
        for j, (name, ap) in enumerate((rec.get("per_class_ap") or {}).items()):
            rows.append({**keys, "class": str(name), "class_index": j, "ap": float(ap)})
    return pd.DataFrame(rows, columns=[*CELL, "seed", "class", "class_index", "ap"])


def threshold_frame(records: Records) -> pd.DataFrame:
    """Long frame of done runs' threshold metrics: cell keys, seed, threshold, metric, value."""
    rows = []
    for i in records.done.index:
        rec, keys = records.raw[i], _keys(records, i)
        for thr, metrics in (rec.get("thresholds") or {}).items():
            for metric, value in metrics.items():
                if is_number(value):
                    rows.append({**keys, "threshold": str(thr), "metric": metric, "value": float(value)})
    return pd.DataFrame(rows, columns=[*CELL, "seed", "threshold", "metric", "value"])


def history_frame(records: Records, column: str = "train_observed_pos_loss") -> pd.DataFrame:
    """Long frame of done runs' per-epoch ``column``: cell keys, seed, epoch, value."""
    rows = []
    for i in records.done.index:
        rec, keys = records.raw[i], _keys(records, i)
        for h in rec.get("history") or []:
            if is_number(h.get(column)):
                rows.append({**keys, "epoch": int(h["epoch"]), "value": float(h[column])})
    return pd.DataFrame(rows, columns=[*CELL, "seed", "epoch", "value"])


def analysis_frame(records: Records) -> pd.DataFrame:
    """Done runs' summary of the unannotated-entry analysis: cell keys, seed, wasserstein, pos_mean,
    neg_mean, num_pos, num_neg (NaN where the regime leaves no unannotated positive or negative)."""
    rows = []
    for i in records.done.index:
        rec = records.raw[i]
        ana = rec.get("analysis")
        if not ana:
            continue
        num = lambda v: float(v) if is_number(v) else math.nan  # noqa: E731
        count = lambda v: int(v) if is_number(v) else 0  # noqa: E731
        rows.append(
            {
                **_keys(records, i),
                **{k: num(ana.get(k)) for k in ("wasserstein", "pos_mean", "neg_mean")},
                "num_pos": count(ana.get("num_unannotated_pos")),
                "num_neg": count(ana.get("num_unannotated_neg")),
            }
        )
    return pd.DataFrame(rows, columns=[*CELL, "seed", "wasserstein", "pos_mean", "neg_mean", "num_pos", "num_neg"])


# -- one row per run, for a notebook ---------------------------------------------------------------
# fmt: off
#: the leading columns of ``runs_frame``; ``hp.<name>`` and ``cfg.<name>`` follow, sorted
RUN_COLUMNS = [
    "method", "variant", "dataset", "labels", "protocol", "seed",  # the run
    "status", "val_map", "test_map", "best_epoch", "epochs_run", "wall_seconds", "images_per_second",  # its outcome
    "commit", "dirty", "run_id",  # its code and identity
    "study", "trial", "trials", "space_seed",  # a tuning study's
    "divergence_rule", "divergence_reason", "error", "excluded", "path",
]
# fmt: on


def _cell_value(v: Any) -> Any:
    """Scalars as they are; lists and objects as JSON text, so each column holds one kind of value."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return json.dumps(v, sort_keys=True, default=str)


def records_runs(records: Records) -> pd.DataFrame:
    """``runs_frame`` of records already read."""
    rows: list[dict[str, Any]] = []
    for i, rec in enumerate(records.raw):
        r = records.frame.iloc[i]
        config = rec.get("config") or {}
        div = rec["divergence"] if isinstance(rec.get("divergence"), dict) else {}
        # (the frame's columns are RUN_COLUMNS and the sorted extra ones, whatever the order here)
        rows.append(
            {
                **{k: rec[k] for k in ("method", "dataset", "labels", "protocol", "seed", "status")},
                # a diverged run's numbers, as recorded (for inspection; the tables never average them)
                **{k: rec.get(k) if is_number(rec.get(k)) else math.nan for k in ("val_map", "test_map")},
                **{k: rec.get(k) for k in ("best_epoch", "epochs_run", "wall_seconds", "images_per_second")},
                **{k: r[k] for k in ("variant", "commit", "dirty", "run_id", "path")},
                **{k: r[k] or None for k in ("study", "error", "excluded")},
                **{k: r[k] if r["study"] else None for k in ("trial", "trials", "space_seed")},
                **{f"divergence_{k}": _cell_value(div.get(k)) for k in ("rule", "reason")},
                **{f"hp.{k}": _cell_value(v) for k, v in (config.get("hparams") or {}).items()},
                **{f"cfg.{k}": _cell_value(v) for k, v in config.items() if k != "hparams"},
            }
        )
    extra = sorted({k for row in rows for k in row if k not in RUN_COLUMNS}, key=lambda k: (not k.startswith("hp."), k))
    out = pd.DataFrame(rows, columns=[*RUN_COLUMNS, *extra])
    for col in out.columns:
        values = [row[col] for row in rows if row.get(col) is not None]
        # integers stay integers where some records lack the field (pandas would make them floats)
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            out[col] = out[col].astype("Int64")
    return out


def runs_frame(results_dir: str | Path) -> pd.DataFrame:
    """One row per valid record under ``results_dir`` — method, variant, dataset, regime, seed,
    status, val/test mAP, best epoch, epochs run, wall time, images/s, commit, study, every
    hyper-parameter (``hp.<name>``) and run-config field (``cfg.<name>``) — for a notebook. Never
    raises for a bad file: those are in ``read_records(results_dir).invalid``; ``excluded`` says
    why a record is kept out of the tables (a cell mixing configurations)."""
    return records_runs(read_records(results_dir))
