#!/usr/bin/env python
"""Run every method on the chosen datasets with fixed seeds, then rebuild the leaderboard.

    python run_all.py                          # the default sweep on the embedded dataset
    python run_all.py --datasets voc coco      # the real datasets (prepared under --data-root)
    python run_all.py --list                   # methods, datasets and label regimes

Thin by design: parse arguments → build the sweep → hand it to a launcher → leaderboard.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import methods
from benchmark.config import RunConfig, SweepConfig
from benchmark.data import DATASETS, DatasetNotFoundError, UnknownDatasetError, default_data_root, get_spec
from benchmark.data.protocol import REGIME_DESCRIPTIONS
from benchmark.launch import LAUNCHERS
from benchmark.sweep import plan

RUN_FIELDS = ("epochs", "batch_size", "lr", "backbone", "image_size", "patience", "device", "amp", "protocol", "num_workers")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["digits"], help="dataset keys (default: digits, the embedded set)")
    p.add_argument("--methods", nargs="+", default=None, help="method keys (default: every registered method)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 8], help="model seeds (default: 0 1 8, the reference code's)")
    p.add_argument("--labels", nargs="+", default=None, help="label regimes (default: each method's rows of the table)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="where run records go (default: results)")
    p.add_argument("--data-root", type=Path, default=None, help="prepared datasets (default: $SPML_DATA or ./data)")
    p.add_argument("--force", action="store_true", help="rerun runs that already have a record")
    p.add_argument("--retry-failed", action="store_true", help="rerun runs whose record says failed")
    p.add_argument("--list", action="store_true", help="list methods, datasets and regimes, then exit")
    p.add_argument("--executor", choices=sorted(LAUNCHERS), default="inline", help="where runs execute (default: inline)")
    p.add_argument("--no-leaderboard", action="store_true", help="do not rebuild the leaderboard at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    g = p.add_argument_group("run overrides (default: the dataset's protocol values)")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--backbone", help="'smallcnn' or any timm model name")
    g.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--image-size", type=int)
    g.add_argument("--patience", type=int)
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:1")
    g.add_argument("--amp", choices=["off", "bf16", "fp16"])
    g.add_argument("--channels-last", action="store_true", default=None)
    g.add_argument("--protocol", choices=["finetune", "linear"])
    g.add_argument("--num-workers", type=int)
    g.add_argument("--hparam", action="append", default=[], metavar="KEY=VALUE",
                   help="method hyper-parameter for every run, VALUE as JSON (repeatable)")
    return p.parse_args(argv)


def print_list() -> None:
    print("methods:")
    for key, cls in sorted(methods.registry().items()):
        print(f"  {key:10s} {cls.summary}  [{cls.paper}; regimes: {', '.join(cls.regimes)}]")
    print("datasets:")
    for key, spec in DATASETS.items():
        print(f"  {key:10s} {spec.description}")
    print("label regimes:")
    for key, text in REGIME_DESCRIPTIONS.items():
        print(f"  {key:10s} {text}")


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(args, k) for k in RUN_FIELDS if getattr(args, k) is not None}
    if args.pretrained is not None:
        out["pretrained"] = args.pretrained
    if args.channels_last:
        out["channels_last"] = True
    out["data_root"] = str(args.data_root if args.data_root is not None else default_data_root())
    hparams = {}
    for item in args.hparam:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--hparam expects KEY=VALUE, got '{item}'")
        try:
            hparams[key] = json.loads(value)
        except json.JSONDecodeError:
            hparams[key] = value
    if hparams:
        out["hparams"] = hparams
    return out


def check_data(datasets: list[str], data_root: Path) -> None:
    """Fail before the sweep, naming the path and the command that prepares it."""
    for key in datasets:
        spec = get_spec(key)
        if spec.prepare_hint.startswith("built"):
            continue
        if not (data_root / key).is_dir():
            raise DatasetNotFoundError(
                f"dataset '{key}' not found at {data_root / key}. Prepare it with: "
                f"{spec.prepare_hint.replace('DATA_ROOT', str(data_root))}"
            )
        if spec.loader.startswith("benchmark.data.formatted:"):
            from benchmark.data.formatted import check_prepared

            check_prepared(key, data_root)  # the formatted files and dataset.json, not just the folder


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print_list()
        return 0
    try:
        sweep = SweepConfig(datasets=args.datasets, methods=args.methods, seeds=args.seeds,
                            labels=args.labels, overrides=overrides_from(args))
        sweep.runs()  # validates every run's config, hyper-parameters included
        check_data(sweep.datasets, Path(sweep.overrides["data_root"]))
    except (KeyError, ValueError, DatasetNotFoundError) as exc:
        print(f"run_all.py: error: {exc}", file=sys.stderr)
        return 2
    t0 = time.time()
    todo, skipped = plan(sweep, args.results_dir, force=args.force, retry_failed=args.retry_failed)
    print(f"{len(todo)} runs to do, {len(skipped)} already recorded in {args.results_dir}", file=sys.stderr)
    results = LAUNCHERS[args.executor]().launch(todo, verbose=not args.quiet)
    failed = [r for r in results if r["status"] != "done"]
    print(f"sweep finished in {time.time() - t0:.1f}s: {len(results) - len(failed)} done, {len(failed)} failed, "
          f"{len(skipped)} skipped", file=sys.stderr)
    if not args.no_leaderboard:
        from leaderboard.build import write_leaderboard

        print(write_leaderboard(args.results_dir))
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
