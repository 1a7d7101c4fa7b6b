"""The same numbers: does bf16 autocast move the leaderboard beyond seed noise?

    python -m benchmark.bench.amp_check                       # every registered method, seeds 0 1 8
    python -m benchmark.bench.amp_check --methods an em --json amp.json

Trains every method (under each of its table regimes) on the embedded ``digits`` set on the CPU,
once in float32 and once under bf16 autocast, per seed, and prints per row the test mAP mean and
standard deviation over seeds of each, the difference of the means, and that difference in units
of the float32 seed standard deviation. Records go to a temporary folder, never to ``results/``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import methods
from benchmark.bench.study import add_study_flags, command, cpu_overrides, run_sweep, study_folder
from benchmark.core.cli import OneLineParser, add_methods, add_seeds, check_path
from benchmark.spec.config import SweepConfig
from leaderboard.mdutil import table
from leaderboard.table import row_key, stats

ROW = ["method", "labels"]


PROG = "python -m benchmark.bench.amp_check"


def parse_args(argv: list[str] | None = None, prog: str = PROG) -> argparse.Namespace:
    p = OneLineParser(prog=prog, description=__doc__)
    add_methods(p)
    add_seeds(p)
    p.add_argument("--epochs", type=int, default=None, help="default: the dataset's")
    add_study_flags(p)
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    with study_folder(args) as tmp:
        epochs = {} if args.epochs is None else {"epochs": args.epochs}
        for amp in ("off", "bf16"):  # one results folder each: a cell holds one configuration
            overrides = cpu_overrides(args, **epochs, amp=amp)
            sweep = SweepConfig(methods=args.methods, seeds=args.seeds, overrides=overrides)
            runs = run_sweep(sweep, tmp / amp).frame
            cells = stats(runs, "test_map", by=ROW).fillna({"std": 0.0})
            for cell in cells.itertuples():
                maps = runs[(runs["method"] == cell.method) & (runs["labels"] == cell.labels)].set_index("seed")
                row = rows.setdefault((cell.method, cell.labels), {"method": cell.method, "labels": cell.labels})
                row[f"{amp}_maps"] = [float(maps.at[seed, "test_map"]) for seed in sweep.seeds]
                row[f"{amp}_mean"], row[f"{amp}_std"] = cell.mean, cell.std
    for row in rows.values():
        row["diff"] = row["bf16_mean"] - row["off_mean"]
        noise = max(row["off_std"], row["bf16_std"])
        row["diff_in_seed_std"] = row["diff"] / noise if noise > 0 else float("inf") * (row["diff"] != 0)
    return [rows[key] for key in sorted(rows, key=lambda k: row_key(*k))]


def report(rows: list[dict[str, Any]], seeds: list[int]) -> str:
    return "\n".join(
        [
            f"test mAP on digits (CPU), mean ± std over seeds {' '.join(map(str, seeds))}",
            table(
                ["method", "labels", "fp32", "bf16 autocast", "bf16 - fp32", "/ seed std"],
                [
                    [
                        r["method"],
                        r["labels"],
                        f"{r['off_mean']:.2f} ± {r['off_std']:.2f}",
                        f"{r['bf16_mean']:.2f} ± {r['bf16_std']:.2f}",
                        f"{r['diff']:+.2f}",
                        f"{r['diff_in_seed_std']:+.2f}",
                    ]
                    for r in rows
                ],
            ),
        ]
    )


def check_args(args: argparse.Namespace) -> None:
    """A user's mistake, before minutes of training: ``ValueError``/``KeyError`` naming it."""
    for key in args.methods or []:
        methods.get(key)
    if any(seed < 0 for seed in args.seeds):
        raise ValueError(f"--seeds must be >= 0, got {args.seeds}")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    if args.json is not None:
        check_path("--json", args.json, "file", write=True)
    check_path("--data-root", args.data_root, "folder", write=True)


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    return command(prog, argv, parse_args, check_args, run, lambda args, rows: report(rows, args.seeds))


if __name__ == "__main__":
    sys.exit(main())
