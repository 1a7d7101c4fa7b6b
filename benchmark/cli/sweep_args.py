"""The sweep a command line describes: ``--sweep FILE``, then the flags given beside it on top
(each flag given replaces the file's value; ``--hparam NAME=...`` replaces the file's grid axis or
fixed value of NAME), ``--hparam`` grids, the data-seed axis (``--data-seeds``, ``--seed-design``) and
``--tune N`` (selected on ``--tune-seeds``, reported on ``--seeds``).

``--hparam`` values, the rule: VALUE is read as JSON; a JSON list is a grid of its elements
(``alpha=[0.05,0.1]``), any other JSON value is one value (``alpha=0.3``, ``name='"x"'``). VALUE
that is not JSON is read as comma-separated JSON values (``alpha=0.05,0.1,0.2``), or else split at
commas, each part read as JSON or kept as a string (``mode=hard,soft``). So a hyper-parameter whose
value is a list is a list inside a list (``sizes=[[1,2]]``, or ``sizes=[1,2],[3,4]`` for two values),
and a string holding a comma is a JSON string (``name='"a,b"'``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from benchmark.core.cli import given, json_or_text
from benchmark.spec.config import DEFAULT_TUNE_SEEDS, SweepConfig
from benchmark.spec.sweepfile import check_runs, describe, load_sweep

# fmt: off
#: run settings taken from the flags of the same name, when given (a flag's default never replaces
#: a sweep file's value); ``keep_checkpoints`` sets ``keep_checkpoint``
RUN_FIELDS = (
    "epochs", "batch_size", "lr", "backbone", "image_size", "patience", "recipe", "device", "amp", "protocol",
    "num_workers", "pretrained_file", "pretrained", "deterministic", "channels_last", "compile", "data_root",
)
# fmt: on


def parse_hparam(item: str) -> tuple[str, list[Any]]:
    """``NAME=VALUE`` → (NAME, the values of its grid axis), by the rule in the module docstring."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--hparam expects NAME=VALUE (or NAME=V1,V2,... for a grid), got '{item}'")
    if not value.strip():
        raise ValueError(f"--hparam {item}: an empty value; expected NAME=VALUE or NAME=V1,V2,...")
    try:
        parsed = json.loads(value)
        values = parsed if isinstance(parsed, list) else [parsed]
    except json.JSONDecodeError:
        try:  # comma-separated JSON values, lists among them: 0.05,0.1 or [1,2],[3,4]
            values = json.loads(f"[{value}]")
        except json.JSONDecodeError:  # words: hard,soft
            parts = [part.strip() for part in value.split(",")]
            if any(not part for part in parts):
                raise ValueError(f"--hparam {item}: an empty value; expected NAME=VALUE or NAME=V1,V2,...") from None
            values = [json_or_text(part) for part in parts]
    if not values:
        raise ValueError(f"--hparam {item}: an empty list of values")
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"--hparam {item}: expected a finite number, got {v}")
    return key, values


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """Every ``--hparam`` flag as one grid axis; a name given twice is an error."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, values = parse_hparam(item)
        if key in grid:
            raise ValueError(f"--hparam {key} is given twice; give its values once: {key}=V1,V2,...")
        grid[key] = values
    return grid


def run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The run settings given as flags."""
    flags = given(args)
    out: dict[str, Any] = {k: getattr(args, k) for k in RUN_FIELDS if k in flags}
    if "data_root" in out:
        out["data_root"] = str(out["data_root"])
    if "keep_checkpoints" in flags:
        out["keep_checkpoint"] = True
    return out


def sweep_from_args(args: argparse.Namespace) -> SweepConfig:
    """The sweep of ``--sweep FILE`` (or the default sweep) with the flags given beside it on top.
    Every run is validated; errors are ``ValueError``/``KeyError`` with a one-line message."""
    if args.tune is not None and args.tune < 1:
        raise ValueError(f"--tune must be at least 1 (trial 0 is the default configuration), got {args.tune}")
    base = load_sweep(args.sweep, max_runs=args.max_runs) if args.sweep is not None else SweepConfig()
    fields = base.model_dump()
    for name in ("datasets", "methods", "seeds", "labels", "data_seeds", "seed_design", "max_runs"):
        if name in given(args):
            fields[name] = getattr(args, name)
    cli_grid = parse_grid(args.hparam)
    fixed = {k: v for k, v in base.overrides.get("hparams", {}).items() if k not in cli_grid}
    overrides = {**base.overrides, **run_overrides(args)}
    overrides.pop("hparams", None)
    if fixed:
        overrides["hparams"] = fixed
    overrides.setdefault("data_root", str(args.data_root))  # the flag's default: $SPML_DATA or ./data
    fields["overrides"] = overrides
    fields["grid"] = {**base.grid, **cli_grid}
    tuning = base.tuning.model_dump() if base.tuning is not None else None
    if args.tune is not None:
        tuning = {**(tuning or {}), "trials": args.tune}
    for flag, name, value in (
        ("--tune-seed", "seed", args.tune_seed),
        ("--tune-seeds", "select_seeds", args.tune_seeds),
    ):
        if value is not None:
            if tuning is None:
                raise ValueError(f"{flag} needs --tune N (or a sweep file with a [tuning] table)")
            tuning[name] = value
    if tuning is not None and cli_grid:
        raise ValueError(
            "--hparam cannot be combined with tuning: a tuning study draws every method's "
            "hyper-parameters from its search space"
        )
    fields["tuning"] = tuning
    try:
        sweep = SweepConfig.model_validate(fields)
    except ValidationError as exc:
        raise ValueError(describe(exc, flags=True)) from None
    check_runs(sweep)
    return sweep


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    """``--sweep``, ``--tune`` and ``--tune-seed`` (``--hparam`` is among the run overrides)."""
    g = p.add_argument_group("studies (see docs/usage.md and docs/tuning.md)")
    g.add_argument(
        "--sweep",
        type=Path,
        metavar="FILE",
        help="a sweep file (TOML, e.g. sweeps/em_alpha.toml); flags given beside it override its values",
    )
    g.add_argument(
        "--tune",
        type=int,
        metavar="N",
        help="equal-budget tuning: N configurations per method (trial 0: the default), drawn from its search space",
    )
    g.add_argument("--tune-seed", type=int, metavar="S", help="the seed of the tuning draws (default 0)")
    g.add_argument(
        "--tune-seeds",
        nargs="+",
        type=int,
        metavar="SEED",
        help=f"the model seeds a tuning study chooses on (default: {' '.join(map(str, DEFAULT_TUNE_SEEDS))}); "
        "the chosen trial's test mAP is reported on --seeds, which must not share one",
    )
    g.add_argument(
        "--data-seeds",
        nargs="+",
        type=int,
        metavar="SEED",
        help="data seeds: the validation split and the observed labels (default: the model seeds)",
    )
    g.add_argument(
        "--seed-design",
        choices=["fixed", "paired", "crossed"],
        help="fixed: the published protocol's one draw; paired: model seed k with data seed k; crossed: every "
        "pair (default: fixed on VOC/COCO/NUS-WIDE/CUB, paired on the embedded sets)",
    )
    g.add_argument(
        "--max-runs",
        type=int,
        metavar="N",
        help="the most runs a sweep may plan, checked before planning (default 10000)",
    )
