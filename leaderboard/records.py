"""Reading run records: every JSON record under a results folder, checked, into pandas frames.

One row per record in ``Records.frame`` (the scalar fields); the nested sections (per-class AP,
threshold metrics, analysis, history) stay in ``Records.raw`` and are unfolded on demand by
``per_class_frame``, ``threshold_frame`` and ``history_frame``. A record that does not have the
shape the harness writes raises ``RecordError`` naming the file, the field and what was expected.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: the fields that identify a table cell; seeds vary inside a cell
CELL = ["protocol", "labels", "method", "dataset"]
STATUSES = ("done", "failed")
COLUMNS = [*CELL, "seed", "status", "test_map", "val_map", "best_epoch", "run_id", "commit", "dirty", "error", "path"]
#: config fields that do not change a run's numbers (mirrors ``benchmark.config.NON_IDENTITY_FIELDS``;
#: the leaderboard must not import the harness, a test keeps the two equal), plus the seed, which
#: is what varies inside a cell, and the device, which tells runs apart but not cells: a cell may
#: hold runs from several machines
NOT_CELL_IDENTITY = frozenset(
    {"seed", "device", "num_workers", "data_root", "checkpoint", "keep_checkpoint", "image_cache"}
)


class RecordError(ValueError):
    """A record file that cannot be read as a run record, or records that cannot share a cell."""


@dataclass
class Records:
    """The records of one results folder; ``raw[i]`` is the JSON of ``frame.iloc[i]``."""

    frame: pd.DataFrame
    raw: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> pd.DataFrame:
        return self.frame[self.frame["status"] == "done"]

    @property
    def failed(self) -> pd.DataFrame:
        return self.frame[self.frame["status"] == "failed"]


def _expect(cond: bool, path: str, fld: str, value: Any, expected: str) -> None:
    if not cond:
        shown = json.dumps(value, default=str)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise RecordError(f"{path}: field '{fld}' is {shown}, expected {expected}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check(rec: Any, path: str) -> dict[str, Any]:
    _expect(isinstance(rec, dict), path, "<top level>", type(rec).__name__, "a JSON object (a run record)")
    for key in ("method", "dataset", "labels"):
        _expect(isinstance(rec.get(key), str) and bool(rec.get(key)), path, key, rec.get(key), "a non-empty string")
    _expect(isinstance(rec.get("seed"), int) and not isinstance(rec.get("seed"), bool), path, "seed", rec.get("seed"), "an integer")
    _expect(rec.get("status") in STATUSES, path, "status", rec.get("status"), f"one of {', '.join(STATUSES)}")
    protocol = rec.get("protocol", (rec.get("config") or {}).get("protocol", "finetune"))
    _expect(isinstance(protocol, str), path, "protocol", protocol, "a string such as 'finetune' or 'linear'")
    rec["protocol"] = protocol
    if rec["status"] == "done":
        _expect(_is_number(rec.get("test_map")), path, "test_map", rec.get("test_map"), "a finite number (a done run's test mAP)")
        pca = rec.get("per_class_ap", {})
        _expect(isinstance(pca, dict) and all(_is_number(v) for v in pca.values()), path, "per_class_ap", pca,
                "an object {class name: AP} of finite numbers")
        thr = rec.get("thresholds", {})
        _expect(isinstance(thr, dict) and all(isinstance(v, dict) for v in thr.values()), path, "thresholds", thr,
                "an object {threshold: {metric: value}}")
        hist = rec.get("history", [])
        _expect(isinstance(hist, list) and all(isinstance(h, dict) and "epoch" in h for h in hist), path, "history",
                hist, "a list of per-epoch objects with an 'epoch'")
        ana = rec.get("analysis")
        if ana is not None:
            _expect(isinstance(ana, dict) and isinstance(ana.get("bins"), int), path, "analysis.bins",
                    (ana or {}).get("bins"), "an integer number of histogram bins")
            for part in ("pos_hist", "neg_hist"):
                h = ana.get(part)
                _expect(isinstance(h, list) and len(h) == ana["bins"], path, f"analysis.{part}", h,
                        f"a list of {ana['bins']} counts")
    return rec


def _error_text(rec: dict[str, Any]) -> str:
    err = rec.get("error") or {}
    if not isinstance(err, dict):
        return str(err)
    text = f"{err.get('type', 'Error')}: {err.get('message', '')}".strip()
    return text


def read_records(results_dir: str | Path) -> Records:
    """Every record under ``results_dir``, in sorted path order (folders starting with ``_`` hold
    checkpoints and logs, files starting with ``.`` are unfinished writes: both skipped)."""
    root = Path(results_dir)
    rows, raw = [], []
    for path in sorted(root.rglob("*.json")) if root.is_dir() else []:
        rel = path.relative_to(root)
        if path.name.startswith(".") or any(part.startswith("_") for part in rel.parts):
            continue
        shown = rel.as_posix()
        try:
            with open(path, encoding="utf-8") as fh:
                rec = json.load(fh)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}: not valid JSON ({exc}); expected a run record written by the harness") from None
        rec = _check(rec, str(path))
        git = (rec.get("provenance") or {}).get("git") or {}
        rows.append({
            "protocol": rec["protocol"], "labels": rec["labels"], "method": rec["method"], "dataset": rec["dataset"],
            "seed": rec["seed"], "status": rec["status"],
            "test_map": float(rec["test_map"]) if rec["status"] == "done" else math.nan,
            "val_map": float(rec["val_map"]) if _is_number(rec.get("val_map")) else math.nan,
            "best_epoch": rec.get("best_epoch"), "run_id": str(rec.get("run_id", "")),
            "commit": git.get("commit"), "dirty": git.get("dirty"),
            "error": _error_text(rec) if rec["status"] == "failed" else "", "path": shown,
        })
        raw.append(rec)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["test_map"] = frame["test_map"].astype(float)
    records = Records(frame=frame, raw=raw)
    check_cells(records)
    return records


def load_records(results_dir: str | Path) -> pd.DataFrame:
    """The scalar fields of every record, one row per record file."""
    return read_records(results_dir).frame


def _identity(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (rec.get("config") or {}).items() if k not in NOT_CELL_IDENTITY}


def check_cells(records: Records) -> None:
    """Done runs averaged into one cell must differ only in their seed: two configurations (say 3
    and 10 epochs) in one results folder would otherwise be silently mixed."""
    done = records.done
    for key, group in done.groupby(CELL, sort=True):
        seeds = group["seed"].tolist()
        if len(set(seeds)) != len(seeds):
            dup = sorted({s for s in seeds if seeds.count(s) > 1})
            files = ", ".join(group[group["seed"].isin(dup)]["path"])
            raise RecordError(
                f"cell {'/'.join(map(str, key))} has more than one done record for seed(s) {dup}: {files}; "
                "each cell takes one run per seed — move the records of the other configuration to another results folder"
            )
        identities = {i: _identity(records.raw[i]) for i in group.index}
        first_i = group.index[0]
        for i, ident in identities.items():
            if ident != identities[first_i]:
                diff = sorted(k for k in set(ident) | set(identities[first_i]) if ident.get(k) != identities[first_i].get(k))
                shown = "; ".join(f"{k}: {identities[first_i].get(k)!r} in {records.frame.at[first_i, 'path']} "
                                  f"vs {ident.get(k)!r} in {records.frame.at[i, 'path']}" for k in diff[:3])
                raise RecordError(
                    f"cell {'/'.join(map(str, key))} mixes runs of different configurations ({shown}); "
                    "keep one configuration per results folder"
                )


def per_class_frame(records: Records) -> pd.DataFrame:
    """Long frame of done runs' per-class test AP: cell keys, seed, class, class_index, ap."""
    rows = []
    for i in records.done.index:
        rec = records.raw[i]
        for j, (name, ap) in enumerate((rec.get("per_class_ap") or {}).items()):
            rows.append({**{k: rec[k] for k in CELL}, "seed": rec["seed"], "class": str(name), "class_index": j, "ap": float(ap)})
    return pd.DataFrame(rows, columns=[*CELL, "seed", "class", "class_index", "ap"])


def threshold_frame(records: Records) -> pd.DataFrame:
    """Long frame of done runs' threshold metrics: cell keys, seed, threshold, metric, value."""
    rows = []
    for i in records.done.index:
        rec = records.raw[i]
        for thr, metrics in (rec.get("thresholds") or {}).items():
            for metric, value in metrics.items():
                if _is_number(value):
                    rows.append({**{k: rec[k] for k in CELL}, "seed": rec["seed"], "threshold": str(thr),
                                 "metric": metric, "value": float(value)})
    return pd.DataFrame(rows, columns=[*CELL, "seed", "threshold", "metric", "value"])


def history_frame(records: Records, column: str = "train_observed_pos_loss") -> pd.DataFrame:
    """Long frame of done runs' per-epoch ``column``: cell keys, seed, epoch, value."""
    rows = []
    for i in records.done.index:
        rec = records.raw[i]
        for h in rec.get("history") or []:
            if _is_number(h.get(column)):
                rows.append({**{k: rec[k] for k in CELL}, "seed": rec["seed"], "epoch": int(h["epoch"]), "value": float(h[column])})
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
        num = lambda v: float(v) if _is_number(v) else math.nan  # noqa: E731
        rows.append({**{k: rec[k] for k in CELL}, "seed": rec["seed"], "wasserstein": num(ana.get("wasserstein")),
                     "pos_mean": num(ana.get("pos_mean")), "neg_mean": num(ana.get("neg_mean")),
                     "num_pos": int(ana.get("num_unannotated_pos") or 0), "num_neg": int(ana.get("num_unannotated_neg") or 0)})
    return pd.DataFrame(rows, columns=[*CELL, "seed", "wasserstein", "pos_mean", "neg_mean", "num_pos", "num_neg"])
