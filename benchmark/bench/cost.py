"""What the whole table costs, from measured throughput (a ``python -m benchmark.bench`` JSON).

    python -m benchmark.bench.cost bench.json [--gpus 1 4 8]

The workload is counted, not measured: 15 rows x 4 datasets x 3 seeds; each run at most 10
epochs (no early stopping: an upper bound), each epoch a training pass over the training split
(80% of the pool) and evaluation passes over validation (20% of the pool) and test, then one
more pass over the training split for the record's analyses; EM+APL adds a prediction pass over
the training split after every epoch from its warm-up on; ROLE+LI one feature pass. Training
images cost ``1/train images/s``, evaluated ones ``1/eval images/s``, both as measured. Runs are
independent, so N GPUs take the longest-processing-time-first schedule of the 180 runs.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from pathlib import Path
from typing import Any

from benchmark.cli import OneLineParser, guarded, user_error

#: (training pool, test split) sizes
DATASETS: dict[str, tuple[int, int]] = {
    "voc": (5_700, 5_800),
    "coco": (82_000, 40_000),
    "nuswide": (150_000, 60_000),
    "cub": (6_000, 5_800),
}
ROWS = ["bce(full)", "bce(1p_all_n)", "an", "dw", "l1r", "l2r", "ls", "nls", "entmin", "focal", "asl",
        "role", "role_li", "em", "em_apl"]
SEEDS = 3
EPOCHS = 10
APL_WARMUP = {"voc": 5, "coco": 5, "nuswide": 4, "cub": 3}


def run_images(dataset: str, row: str) -> tuple[float, float]:
    """(trained images, evaluated images) of one run, at most ``EPOCHS`` epochs."""
    pool, test = DATASETS[dataset]
    train, val = 0.8 * pool, 0.2 * pool
    trained = EPOCHS * train
    evaluated = EPOCHS * (val + test) + train
    if row == "em_apl":
        evaluated += (EPOCHS - APL_WARMUP[dataset] + 1) * train
    if row == "role_li":
        evaluated += train
    return trained, evaluated


def run_seconds(train_ips: float, eval_ips: float) -> list[tuple[str, float]]:
    out = []
    for ds in DATASETS:
        for row in ROWS:
            trained, evaluated = run_images(ds, row)
            out += [(f"{ds}/{row}", trained / train_ips + evaluated / eval_ips)] * SEEDS
    return out


def wall_seconds(durations: list[float], gpus: int) -> float:
    """Longest-processing-time-first schedule on ``gpus`` identical GPUs."""
    loads = [0.0] * gpus
    heapq.heapify(loads)
    for d in sorted(durations, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + d)
    return max(loads)


def estimate(bench: dict[str, Any], gpus: list[int]) -> dict[str, Any]:
    sides = {}
    for side in ("ours", "ref"):
        runs = run_seconds(bench[f"{side}_train_images_per_s"], bench[f"{side}_eval_images_per_s"])
        total = sum(d for _, d in runs)
        sides[side] = {
            "gpu_hours": total / 3600,
            "wall_hours": {str(n): wall_seconds([d for _, d in runs], n) / 3600 for n in gpus},
            "longest_run_hours": max(d for _, d in runs) / 3600,
        }
    decode = sum(p + t for p, t in DATASETS.values())
    return {
        "device_name": bench.get("device_name"), "batch_size": bench.get("settings", {}).get("batch_size"),
        "runs": len(ROWS) * len(DATASETS) * SEEDS, **sides,
        "cache_build_hours": decode / bench["cache_build_images_per_s"] / 3600,
    }


def markdown(e: dict[str, Any], bench: dict[str, Any]) -> str:
    gpus = list(e["ours"]["wall_hours"])
    head = "| | train images/s | eval images/s | GPU-hours | " + " | ".join(f"wall on {n} GPU(s)" for n in gpus) + " |"
    lines = [head, "|---" * (4 + len(gpus)) + "|"]
    for side, name in (("ours", "ours"), ("ref", "reference-style")):
        s = e[side]
        lines.append(
            f"| {name} | {bench[f'{side}_train_images_per_s']:.0f} | {bench[f'{side}_eval_images_per_s']:.0f} | "
            f"{s['gpu_hours']:.1f} | " + " | ".join(f"{s['wall_hours'][n]:.1f} h" for n in gpus) + " |"
        )
    lines.append("")
    lines.append(f"{e['runs']} runs at most {EPOCHS} epochs each, measured on {e['device_name']} at batch "
                 f"{e['batch_size']}; ours also builds each dataset's decoded-image cache once "
                 f"(≈{e['cache_build_hours']:.2f} h of CPU time at the measured build rate, shared by every run).")
    return "\n".join(lines)


PROG = "python -m benchmark.bench.cost"


def main(argv: list[str] | None = None) -> int:
    return guarded(PROG, _main, argv)


def _main(argv: list[str] | None) -> int:
    p = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bench", type=Path, help="a JSON written by python -m benchmark.bench --json")
    p.add_argument("--gpus", nargs="+", type=int, default=[1, 4, 8])
    args = p.parse_args(argv)
    if any(g < 1 for g in args.gpus):
        return user_error(PROG, f"--gpus must all be at least 1, got {args.gpus}")
    try:
        bench = json.loads(args.bench.read_text(encoding="utf-8"))
        text = markdown(estimate(bench, args.gpus), bench)
    except OSError as exc:
        return user_error(PROG, f"{args.bench}: cannot be read ({exc.strerror or exc})")
    except (ValueError, KeyError, TypeError) as exc:
        return user_error(PROG, f"{args.bench}: not a JSON written by python -m benchmark.bench --json "
                                f"({type(exc).__name__}: {exc})")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
