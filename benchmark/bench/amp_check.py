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
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import methods
from benchmark.cli import OneLineParser, guarded, user_error
from benchmark.spec.config import RunConfig


PROG = "python -m benchmark.bench.amp_check"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=None, help="method keys (default: every registered method)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 8])
    p.add_argument("--epochs", type=int, default=None, help="default: the dataset's")
    p.add_argument("--data-root", type=Path, default=None, help="default: a temporary folder")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: the digits model's ops are too small to share)")
    return p.parse_args(argv)


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    from benchmark.run import train  # torch only once arguments are parsed

    torch.set_num_threads(args.threads)

    keys = args.methods or methods.available()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = str(args.data_root or tmp)
        for key in keys:
            for regime in methods.get(key).regimes:
                row: dict[str, Any] = {"method": key, "labels": regime}
                for amp in ("off", "bf16"):
                    maps = []
                    for seed in args.seeds:
                        extra = {} if args.epochs is None else {"epochs": args.epochs}
                        cfg = RunConfig(dataset="digits", method=key, labels=regime, seed=seed, amp=amp,
                                        device="cpu", data_root=root, checkpoint=False, **extra)
                        t0 = time.time()
                        rec = train.run(cfg)
                        if rec["status"] != "done":
                            why = (rec.get("error") or {}).get("message") or (rec.get("divergence") or {}).get("reason")
                            raise RuntimeError(f"{cfg.label()} amp={amp} {rec['status']}: {why}")
                        maps.append(rec["test_map"])
                        print(f"{cfg.label()} amp={amp}: test mAP {rec['test_map']:.2f} ({time.time() - t0:.1f}s)",
                              file=sys.stderr, flush=True)
                    row[f"{amp}_maps"] = maps
                    row[f"{amp}_mean"], row[f"{amp}_std"] = _stats(maps)
                row["diff"] = row["bf16_mean"] - row["off_mean"]
                noise = max(row["off_std"], row["bf16_std"])
                row["diff_in_seed_std"] = row["diff"] / noise if noise > 0 else float("inf") * (row["diff"] != 0)
                rows.append(row)
    return rows


def table(rows: list[dict[str, Any]], seeds: list[int]) -> str:
    lines = [
        f"test mAP on digits (CPU), mean ± std over seeds {' '.join(map(str, seeds))}",
        "| method | labels | fp32 | bf16 autocast | bf16 - fp32 | / seed std |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['labels']} | {r['off_mean']:.2f} ± {r['off_std']:.2f} | "
            f"{r['bf16_mean']:.2f} ± {r['bf16_std']:.2f} | {r['diff']:+.2f} | {r['diff_in_seed_std']:+.2f} |"
        )
    return "\n".join(lines)


def check_args(args: argparse.Namespace) -> None:
    """A user's mistake, before minutes of training: ``ValueError``/``KeyError`` naming it."""
    for key in args.methods or []:
        methods.get(key)
    if any(seed < 0 for seed in args.seeds):
        raise ValueError(f"--seeds must be >= 0, got {args.seeds}")
    for flag, value in (("--epochs", args.epochs), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be at least 1, got {value}")
    if args.json is not None and (args.json.is_dir() or not args.json.parent.is_dir()):
        raise ValueError(f"--json {args.json}: expected a file in an existing folder")
    if args.data_root is not None and args.data_root.exists() and not args.data_root.is_dir():
        raise ValueError(f"--data-root {args.data_root} is a file, expected a folder")


def main(argv: list[str] | None = None) -> int:
    return guarded(PROG, _main, argv)


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    try:
        check_args(args)
    except (KeyError, ValueError) as exc:
        return user_error(PROG, exc)
    rows = run(args)
    print(table(rows, args.seeds))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
