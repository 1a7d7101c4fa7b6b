"""What a run record is: its statuses, the fields that identify it and its cell, and one validator
that the sweep, ``--status`` and the leaderboard all judge a record by.

The NaN rule: a record is strict JSON and every number in it is finite; a non-finite value is
written as ``null`` (``benchmark.records.store.write_record``). So a diverged run's ``val_map`` or
``best_epoch`` may be ``null``, and a file holding ``NaN`` or ``Infinity`` is not a record at all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, TypeGuard

#: what ``benchmark.run.train.run`` writes: a finished run, a crash, and ``diverged``: a run whose
#: predictions carry no information; its numbers stay in the record for inspection, never in a mean
STATUSES = ("done", "failed", "diverged")
#: fields every record has, whatever its status: a run's place in the table (with its config)
IDENTITY_FIELDS = ("method", "dataset", "labels", "seed")
#: config fields that do not change a run's numbers and do not tell runs apart, so not part of a
#: run's identity (``device`` is: a corrected rerun on another device must not be left alone behind
#: the failed one it corrects)
NON_IDENTITY_FIELDS = frozenset({"num_workers", "data_root", "checkpoint", "keep_checkpoint", "image_cache"})
#: identity fields added after records were first written, with the value every earlier run had: a
#: field at this value is left out of the run id, so the committed records keep their ids
IDENTITY_DEFAULTS: dict[str, object] = {"recipe": "common", "data_seed": None, "study": None}
#: config fields that may differ inside one table cell: the above, the seeds (what varies inside a
#: cell; the leaderboard never pools the fixed data draw with data seeds) and the device (a cell may
#: hold runs from several machines)
NOT_CELL_IDENTITY = NON_IDENTITY_FIELDS | {"seed", "data_seed", "device"}
#: per-epoch history fields that measure time, not learning
TIMING_FIELDS = frozenset({"train_seconds", "seconds", "images_per_second"})
#: what two records of one run share whatever launched or interrupted it (timings apart)
NUMBER_FIELDS = ("status", "test_map", "val_map", "best_epoch", "epochs_run", "per_class_ap", "thresholds", "analysis")


class RecordInvalid(ValueError):
    """A file or JSON value that is not a run record (the default error class of ``check_record``)."""


def is_number(v: Any) -> TypeGuard[float]:
    """A finite int or float (a bool is not a number here); narrows ``v`` for the type checker."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _kind(value: Any) -> str:
    return {
        list: "a JSON array",
        str: "a JSON string",
        bool: "a JSON boolean",
        type(None): "JSON null",
        dict: "a JSON object",
    }.get(type(value), "a JSON number")


def _expect(error: type[Exception], cond: bool, fld: str, value: Any, expected: str) -> None:
    if not cond:
        shown = json.dumps(value, default=str)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise error(f"field '{fld}' is {shown}, expected {expected}")


def check_record(
    rec: Any, error: type[Exception] = RecordInvalid, expect: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``rec`` (parsed JSON) if it is a run record; otherwise ``error`` with one line naming the field,
    the value found and what was expected (the caller adds the file's name). ``expect``: fields the
    record must have with exactly these values (a run's own identity at its own path)."""
    if not isinstance(rec, dict):
        raise error(
            f"is {_kind(rec)}, not a run record; expected a JSON object with method, status, dataset, labels, seed"
        )
    if "method" not in rec and "status" not in rec:
        raise error(
            "not a run record: no 'method' or 'status' field (a stray file? records are written by the harness)"
        )
    for key in IDENTITY_FIELDS:
        v = rec.get(key)
        _expect(
            error,
            is_int(v) if key == "seed" else isinstance(v, str) and bool(v),
            key,
            v,
            "an integer" if key == "seed" else "a non-empty string",
        )
    status = rec.get("status")
    _expect(error, status in STATUSES, "status", status, f"one of {', '.join(STATUSES)}")
    config = rec.get("config")
    _expect(
        error, config is None or isinstance(config, dict), "config", config, "an object (the run's resolved config)"
    )
    hparams = (config or {}).get("hparams")
    _expect(error, hparams is None or isinstance(hparams, dict), "config.hparams", hparams, "an object {name: value}")
    protocol = rec.get("protocol", (config or {}).get("protocol", "finetune"))
    _expect(
        error,
        isinstance(protocol, str) and bool(protocol),
        "protocol",
        protocol,
        "a string such as 'finetune' or 'linear'",
    )
    variant = rec.get("variant")
    _expect(
        error,
        variant is None or isinstance(variant, dict),
        "variant",
        variant,
        "an object {hyper-parameter: value} ({} for the default configuration)",
    )
    _check_study(rec.get("study"), error)
    for key in ("val_map", "best_epoch", "epochs_run", "wall_seconds", "images_per_second"):
        _expect(error, rec.get(key) is None or is_number(rec.get(key)), key, rec.get(key), "a finite number or null")
    prov = rec.get("provenance")
    _expect(error, prov is None or isinstance(prov, dict), "provenance", prov, "an object")
    git = (prov or {}).get("git")
    _expect(error, git is None or isinstance(git, dict), "provenance.git", git, "an object {commit, dirty}")
    if status == "done":
        _check_done(rec, error)
    elif status == "diverged":
        div = rec.get("divergence")
        _expect(error, div is None or isinstance(div, dict), "divergence", div, "an object {rule, reason, evidence}")
        _expect(
            error,
            rec.get("test_map") is None or is_number(rec.get("test_map")),
            "test_map",
            rec.get("test_map"),
            "a finite number or null",
        )
    for key, value in (expect or {}).items():
        if rec.get(key) != value:
            raise error(
                f"field '{key}' is {json.dumps(rec.get(key), default=str)[:80]}, but this file is the record "
                f"of {key} {value!r}"
            )
    return rec


def _check_study(study: Any, error: type[Exception]) -> None:
    """``{"name", "trials", "trial", "space_seed"}``, trial 0 being the default configuration."""
    if study is None:
        return
    _expect(error, isinstance(study, dict), "study", study, "an object {name, trials, trial, space_seed} or null")
    _expect(
        error,
        isinstance(study.get("name"), str) and bool(study.get("name")),
        "study.name",
        study.get("name"),
        "a non-empty string",
    )
    _expect(
        error,
        is_int(study.get("trials")) and study["trials"] >= 1,
        "study.trials",
        study.get("trials"),
        "an integer >= 1",
    )
    _expect(
        error,
        is_int(study.get("trial")) and 0 <= study["trial"] < study["trials"],
        "study.trial",
        study.get("trial"),
        f"an integer in [0, {study['trials'] - 1}]",
    )
    _expect(
        error,
        study.get("space_seed") is None or is_int(study.get("space_seed")),
        "study.space_seed",
        study.get("space_seed"),
        "an integer",
    )
    picks = study.get("select_seeds")
    _expect(
        error,
        picks is None or (isinstance(picks, list) and all(is_int(x) for x in picks)),
        "study.select_seeds",
        picks,
        "a list of integers (the seeds a trial is chosen on)",
    )


def _counts(h: Any, bins: int) -> bool:
    return isinstance(h, list) and len(h) == bins and all(is_number(x) and x >= 0 for x in h)


def _check_done(rec: dict[str, Any], error: type[Exception]) -> None:
    _expect(
        error,
        is_number(rec.get("test_map")),
        "test_map",
        rec.get("test_map"),
        "a finite number (a done run's test mAP)",
    )
    pca = rec.get("per_class_ap", {})
    _expect(
        error,
        isinstance(pca, dict) and all(is_number(v) for v in pca.values()),
        "per_class_ap",
        pca,
        "an object {class name: AP} of finite numbers",
    )
    thr = rec.get("thresholds", {})
    _expect(
        error,
        isinstance(thr, dict) and all(isinstance(v, dict) for v in thr.values()),
        "thresholds",
        thr,
        "an object {threshold: {metric: value}}",
    )
    hist = rec.get("history", [])
    _expect(
        error,
        isinstance(hist, list) and all(isinstance(h, dict) and is_int(h.get("epoch")) for h in hist),
        "history",
        hist,
        "a list of per-epoch objects with an integer 'epoch'",
    )
    ana = rec.get("analysis")
    if ana is None:
        return
    _expect(
        error,
        isinstance(ana, dict) and is_int(ana.get("bins")) and ana["bins"] > 0,
        "analysis.bins",
        ana.get("bins") if isinstance(ana, dict) else ana,
        "a positive integer number of histogram bins",
    )
    bins = ana["bins"]
    for part in ("pos_hist", "neg_hist"):
        _expect(error, _counts(ana.get(part), bins), f"analysis.{part}", ana.get(part), f"a list of {bins} counts")
    per_class = ana.get("per_class")
    _expect(
        error,
        per_class is None or (isinstance(per_class, list) and all(isinstance(c, dict) for c in per_class)),
        "analysis.per_class",
        per_class,
        "a list of per-class objects",
    )
    for j, c in enumerate(per_class or []):
        for part in ("pos_hist", "neg_hist"):
            _expect(
                error,
                c.get(part) is None or _counts(c.get(part), bins),
                f"analysis.per_class[{j}].{part}",
                c.get(part),
                f"a list of {bins} counts",
            )


def with_defaults(rec: dict[str, Any]) -> dict[str, Any]:
    """A checked record with the fields an older record lacks filled in: ``protocol`` (from its
    config, else ``finetune``), ``variant`` (``{}``: the method's main row) and ``study``; its config's
    ``IDENTITY_DEFAULTS`` (a record from before a field existed shares a cell with a new run at its default)."""
    config = rec.get("config")
    return {
        **rec,
        "config": {**IDENTITY_DEFAULTS, **config} if isinstance(config, dict) else config,
        "protocol": rec.get("protocol", (rec.get("config") or {}).get("protocol", "finetune")),
        "variant": rec.get("variant") or {},
        "study": rec.get("study"),
    }


def comparable(record: Mapping[str, Any]) -> dict[str, Any]:
    """What two records of the same run must share whatever launched, packed or interrupted it: its
    numbers (``NUMBER_FIELDS``) and its per-epoch history, timings apart."""
    out = {k: record.get(k) for k in NUMBER_FIELDS}
    out["history"] = [{k: v for k, v in h.items() if k not in TIMING_FIELDS} for h in record.get("history") or []]
    return out
