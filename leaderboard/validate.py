"""Is this file a run record? Reading one JSON file and checking that it has the shape the harness
writes: every problem is a ``RecordError`` whose text names the field, the value found and what was
expected (the caller adds the file's name)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from leaderboard.errors import RecordError

#: ``diverged``: a run whose predictions carry no information (contract 1); its numbers stay in the
#: record for inspection, never in a mean
STATUSES = ("done", "failed", "diverged")
#: the fields without which a JSON object is not a run record at all (a stray notes.json, a config dump)
RECORD_KEYS = ("method", "status")


def is_number(v: Any) -> bool:
    """A finite int or float (a bool is not a number here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _expect(cond: bool, fld: str, value: Any, expected: str) -> None:
    if not cond:
        shown = json.dumps(value, default=str)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise RecordError(f"field '{fld}' is {shown}, expected {expected}")


def load_json(path: Path) -> Any:
    """The JSON in ``path``; a ``RecordError`` saying why it cannot be read otherwise."""
    if not path.is_file():
        raise RecordError("not a regular file; expected a run record (a JSON file written by the harness)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordError(f"cannot be read ({exc.strerror or exc})") from None
    if not data.strip():
        raise RecordError(f"empty file ({len(data)} bytes); expected a run record (a write that never finished?)")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise RecordError("not UTF-8 text; expected a run record (a JSON file written by the harness)") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}; truncated?); "
                          "expected a run record written by the harness") from None
    except RecursionError:
        raise RecordError("JSON nested too deeply to read; expected a run record written by the harness") from None


def _kind(value: Any) -> str:
    return {list: "a JSON array", str: "a JSON string", bool: "a JSON boolean", type(None): "JSON null",
            dict: "a JSON object"}.get(type(value), "a JSON number")


def check_record(rec: Any) -> dict[str, Any]:
    """``rec`` if it is a run record the leaderboard can use; fills ``protocol``, ``variant`` and
    ``study`` with their defaults where an older record lacks them."""
    if not isinstance(rec, dict):
        raise RecordError(f"{_kind(rec)}, not a run record; expected a JSON object with {', '.join(RECORD_KEYS)}, "
                          "dataset, labels, seed")
    if not any(k in rec for k in RECORD_KEYS):
        raise RecordError(f"not a run record: no {' or '.join(repr(k) for k in RECORD_KEYS)} field "
                          "(a stray file? records are written by the harness)")
    for key in ("method", "dataset", "labels"):
        _expect(isinstance(rec.get(key), str) and bool(rec.get(key)), key, rec.get(key), "a non-empty string")
    _expect(is_int(rec.get("seed")), "seed", rec.get("seed"), "an integer")
    _expect(rec.get("status") in STATUSES, "status", rec.get("status"), f"one of {', '.join(STATUSES)}")
    config = rec.get("config")
    _expect(config is None or isinstance(config, dict), "config", config, "an object (the run's resolved config)")
    hparams = (config or {}).get("hparams")
    _expect(hparams is None or isinstance(hparams, dict), "config.hparams", hparams, "an object {name: value}")
    protocol = rec.get("protocol", (config or {}).get("protocol", "finetune"))
    _expect(isinstance(protocol, str) and bool(protocol), "protocol", protocol, "a string such as 'finetune' or 'linear'")
    rec["protocol"] = protocol
    variant = rec.get("variant")
    _expect(variant is None or isinstance(variant, dict), "variant", variant,
            "an object {hyper-parameter: value} ({} for the default configuration)")
    rec["variant"] = variant or {}  # a record from before the field existed is the method's main row
    rec["study"] = _check_study(rec.get("study"))
    for key in ("val_map", "best_epoch", "epochs_run", "wall_seconds", "images_per_second"):
        v = rec.get(key)
        if rec["status"] == "diverged" and key in ("val_map", "best_epoch"):
            # a diverged run's numbers may be NaN: they are kept for inspection, never averaged
            _expect(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)), key, v, "a number or null")
        else:
            _expect(v is None or is_number(v), key, v, "a finite number or null")
    prov = rec.get("provenance")
    _expect(prov is None or isinstance(prov, dict), "provenance", prov, "an object")
    git = (prov or {}).get("git")
    _expect(git is None or isinstance(git, dict), "provenance.git", git, "an object {commit, dirty}")
    if rec["status"] == "done":
        _check_done(rec)
    elif rec["status"] == "diverged":
        div = rec.get("divergence")
        _expect(div is None or isinstance(div, dict), "divergence", div, "an object {rule, reason, evidence}")
        _expect(rec.get("test_map") is None or isinstance(rec.get("test_map"), (int, float)), "test_map",
                rec.get("test_map"), "a number or null")
    return rec


def _check_study(study: Any) -> dict[str, Any] | None:
    """Contract 3: ``{"name", "trials", "trial", "space_seed"}``, trial 0 being the default configuration."""
    if study is None:
        return None
    _expect(isinstance(study, dict), "study", study, "an object {name, trials, trial, space_seed} or null")
    _expect(isinstance(study.get("name"), str) and bool(study.get("name")), "study.name", study.get("name"), "a non-empty string")
    _expect(is_int(study.get("trials")) and study["trials"] >= 1, "study.trials", study.get("trials"), "an integer >= 1")
    _expect(is_int(study.get("trial")) and 0 <= study["trial"] < study["trials"], "study.trial", study.get("trial"),
            f"an integer in [0, {study['trials'] - 1}]")
    seed = study.get("space_seed")
    _expect(seed is None or is_int(seed), "study.space_seed", seed, "an integer")
    return study


def _check_done(rec: dict[str, Any]) -> None:
    _expect(is_number(rec.get("test_map")), "test_map", rec.get("test_map"), "a finite number (a done run's test mAP)")
    pca = rec.get("per_class_ap", {})
    _expect(isinstance(pca, dict) and all(is_number(v) for v in pca.values()), "per_class_ap", pca,
            "an object {class name: AP} of finite numbers")
    thr = rec.get("thresholds", {})
    _expect(isinstance(thr, dict) and all(isinstance(v, dict) for v in thr.values()), "thresholds", thr,
            "an object {threshold: {metric: value}}")
    hist = rec.get("history", [])
    _expect(isinstance(hist, list) and all(isinstance(h, dict) and is_int(h.get("epoch")) for h in hist), "history",
            hist, "a list of per-epoch objects with an integer 'epoch'")
    ana = rec.get("analysis")
    if ana is None:
        return
    _expect(isinstance(ana, dict) and is_int(ana.get("bins")) and ana["bins"] > 0, "analysis.bins",
            (ana or {}).get("bins") if isinstance(ana, dict) else ana, "a positive integer number of histogram bins")
    bins = ana["bins"]
    for part in ("pos_hist", "neg_hist"):
        h = ana.get(part)
        _expect(isinstance(h, list) and len(h) == bins and all(is_number(x) and x >= 0 for x in h), f"analysis.{part}", h,
                f"a list of {bins} counts")
    per_class = ana.get("per_class")
    _expect(per_class is None or (isinstance(per_class, list) and all(isinstance(c, dict) for c in per_class)),
            "analysis.per_class", per_class, "a list of per-class objects")
    for j, c in enumerate(per_class or []):
        for part in ("pos_hist", "neg_hist"):
            h = c.get(part)
            _expect(h is None or (isinstance(h, list) and len(h) == bins and all(is_number(x) and x >= 0 for x in h)),
                    f"analysis.per_class[{j}].{part}", h, f"a list of {bins} counts")
