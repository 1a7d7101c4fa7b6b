"""Sweep files: a whole study in one TOML file, ``run_all.py --sweep sweeps/NAME.toml``.

The file holds the fields of ``benchmark.spec.config.SweepConfig`` (unknown fields are errors)::

    datasets = ["digits"]
    methods = ["em"]                  # absent: every registered method
    seeds = [0, 1, 8]
    data_seeds = [0, 1, 8]            # absent: the model seeds (the split and the observed labels)
    seed_design = "paired"            # or "crossed" (every pair), "fixed" (the protocol's one draw);
                                      # absent: fixed on VOC/COCO/NUS-WIDE/CUB, paired on embedded sets
    labels = ["1p"]                   # absent: each method's own regimes (the table's rows)
    [overrides]                       # run settings shared by every run
    epochs = 10
    [grid]                            # one variant per value; several names: their product
    alpha = [0.05, 0.1, 0.2]
    [tuning]                          # or: an equal-budget tuning study (not with a grid)
    trials = 8
    seed = 0
    select_seeds = [100, 101, 102]    # the seeds trials are chosen on; the winner is reported on seeds

A file that cannot be read, is not TOML, or does not validate raises ``SweepFileError`` with one
line naming the file, the field and what was expected. Every run the file describes is validated
too (a hyper-parameter the method lacks, a value out of its range), naming the sweep field it
comes from.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from benchmark.core.cli import describe_validation, error_sentence, field_name
from benchmark.spec.config import SWEEP_AXES, RunConfig, SweepConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (pyproject: tomli on 3.10)
    import tomli as tomllib


class SweepFileError(ValueError):
    """A sweep file that cannot be used; the message is one line naming the file and the field."""


#: sweep fields → the ``run_all.py`` flag that sets them, for errors in a sweep built from flags
_FLAGS = {
    "tuning.trials": "--tune",
    "tuning.seed": "--tune-seed",
    "tuning.select_seeds": "--tune-seeds",
    "overrides.hparams": "--hparam",
    "grid": "--hparam",
    "overrides.keep_checkpoint": "--keep-checkpoints",
    "overrides": "a run setting",
}


def flag_name(field: str) -> str:
    """How a message names a sweep field set by flags: ``--hparam alpha``, ``--epochs``."""
    if field in _FLAGS:
        return _FLAGS[field]
    if field.startswith("grid."):
        return f"--hparam {field.removeprefix('grid.')}"
    return "--" + field.removeprefix("overrides.").split(".")[0].replace("_", "-")


def describe(exc: ValidationError, *, flags: bool = False) -> str:
    """A ``SweepConfig`` validation error in one line, naming the field (or, with ``flags``, the flag)."""
    return describe_validation(exc, model=SweepConfig, name=flag_name if flags else field_name)


def _run_field(sweep: SweepConfig, loc: tuple[Any, ...], msg: str) -> str:
    """The sweep field a run config's error comes from: ``grid.NAME`` or ``overrides.hparams``
    for a hyper-parameter it names, ``overrides.FIELD`` for a run setting."""
    if loc and loc[0] in SWEEP_AXES:  # a run's seed, say, comes from the sweep's list of seeds
        return SWEEP_AXES[loc[0]]
    if loc and loc[0] != "hparams":
        return f"overrides.{loc[0]}"
    for name in sweep.grid:
        if f"'{name}'" in msg:
            return f"grid.{name}"
    if loc or msg.startswith("hparams") or any(f"'{n}'" in msg for n in sweep.overrides.get("hparams", {})):
        return "grid" if sweep.grid else "overrides.hparams"
    return "overrides"


def check_runs(sweep: SweepConfig, source: str | Path | None = None) -> None:
    """Validate every run of ``sweep``; an error names the sweep field it comes from and
    ``source``, the file; without a file (a sweep built from flags) it names the flag."""
    where = f"{source}: " if source is not None else ""
    try:
        sweep.planned()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _run_field(sweep, tuple(first["loc"]), str(first["msg"]))
        raise SweepFileError(
            where + error_sentence(first, field, flag_name if source is None else field_name)
        ) from None
    except (KeyError, ValueError) as exc:  # a search space that yields no valid trial, ...
        raise SweepFileError(f"{where}{exc}") from None


def _is_number(annotation: Any) -> bool:
    kinds = set(typing.get_args(annotation)) or {annotation}
    return bool(kinds & {int, float}) and bool not in kinds


def _boolean_for_number(data: dict[str, Any]) -> str | None:
    """Why ``data`` has a TOML boolean where a number goes (``epochs = true``, ``seeds = [true]``),
    or ``None``: pydantic would read it as 1 or 0 — a one-epoch run nobody asked for."""
    numbers = {name for name, f in RunConfig.model_fields.items() if _is_number(f.annotation)}
    found: list[tuple[str, Any]] = []
    for name in ("seeds", "data_seeds"):
        seeds = data.get(name)
        found += [(name, v) for v in (seeds if isinstance(seeds, list) else [seeds])]
    overrides, tuning = data.get("overrides"), data.get("tuning")
    if isinstance(overrides, dict):
        found += [(f"overrides.{k}", v) for k, v in overrides.items() if k in numbers]
    if isinstance(tuning, dict):
        found += [(f"tuning.{k}", x) for k, v in tuning.items() for x in (v if isinstance(v, list) else [v])]
    for field, value in found:
        if isinstance(value, bool):
            return f"{field_name(field)} is {str(value).lower()}, expected a number (a boolean is not one)"
    return None


def load_sweep(path: str | Path, *, max_runs: int | None = None) -> SweepConfig:
    """The validated sweep of a TOML file (every run checked); ``SweepFileError`` otherwise.
    ``max_runs`` (``--max-runs``) replaces the file's limit on the number of runs."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepFileError(
            f"{path}: no such sweep file (expected a TOML file such as sweeps/paper_table.toml)"
        ) from None
    except IsADirectoryError:
        raise SweepFileError(f"{path}: is a directory, expected a TOML sweep file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SweepFileError(f"{path}: cannot be read ({reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepFileError(f"{path}: not valid TOML: {' '.join(str(exc).split())}") from None
    boolean = _boolean_for_number(data)
    if boolean is not None:
        raise SweepFileError(f"{path}: {boolean}")
    if max_runs is not None and isinstance(data, dict):
        data["max_runs"] = max_runs
    try:
        sweep = SweepConfig.model_validate(data)
    except ValidationError as exc:
        raise SweepFileError(f"{path}: {describe(exc)}") from None
    check_runs(sweep, path)
    return sweep


__all__ = ["SweepFileError", "check_runs", "describe", "load_sweep"]
