"""What a sweep costs in GPU-hours and wall-clock, from measured throughput kept in the
repository (``results/_bench/*.json``); the model is ``benchmark.sweep.cost``.

    python -m benchmark.bench.cost --table                      # the whole table, unpacked and packed 4 per GPU
    python -m benchmark.bench.cost --table --runs-per-gpu 4 --mps --gpus 8 16
    python -m benchmark.bench.cost bench.json [--gpus 1 4 8]    # ours against the reference-style loop, one file

``spml-bench run ... --dry-run`` prints the same estimate for the runs a sweep would start. The
whole table is the default sweep (every method's rows, the default seeds) on the four datasets;
the one-file comparison prices the paper's rows (``leaderboard.table.PAPER_ORDER``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.core.cli import OneLineParser, guarded, user_error
from benchmark.core.jsonio import read_json
from benchmark.spec.config import RunConfig, SweepConfig
from benchmark.sweep.cost import (
    DATASETS,
    REPO_BENCH_DIR,
    Figure,
    NoEstimate,
    estimate_jobs,
    load_figures,
    wall_seconds,
    work_of,
)
from benchmark.sweep.packing import pack_jobs
from benchmark.sweep.plan import Job
from leaderboard.mdutil import table
from leaderboard.table import PAPER_ORDER


def table_configs(paper_rows: bool = False) -> list[RunConfig]:
    """The default sweep on the four datasets (only the paper's rows with ``paper_rows``) at the
    protocol's settings with bf16 autocast and channels_last (the GPU figures' settings)."""
    overrides = {"amp": "bf16", "channels_last": True}
    return SweepConfig(datasets=list(DATASETS), methods=PAPER_ORDER if paper_rows else None, overrides=overrides).runs()


def table_markdown(figures: Sequence[Figure], runs_per_gpu: int, mps: bool, gpus: Sequence[int]) -> str:
    cfgs = table_configs()
    rows, by_dataset = [], []
    layouts = {1: [[c] for c in cfgs]}
    if runs_per_gpu > 1:
        layouts[runs_per_gpu] = [
            [j.cfg for j in pack] for pack in pack_jobs([Job(c, Path(".")) for c in cfgs], runs_per_gpu)
        ]
    notes: list[str] = []
    for k, layout in layouts.items():
        estimates = [estimate_jobs(layout, figures, runs_per_gpu=k, mps=mps and k > 1, concurrent_jobs=n) for n in gpus]
        e = estimates[-1]
        name = "one run per GPU" if k == 1 else f"{k} runs per GPU{' (MPS)' if mps else ''}"
        rows.append([name, str(len(layout)), f"{e.gpu_hours:.1f}", *(f"{x.wall_hours:.1f} h" for x in estimates)])
        by_dataset.append([name, *(f"{e.gpu_hours_by_dataset[d]:.1f}" for d in DATASETS)])
        notes += [f"- {line}" for line in [*e.figures, *e.packing, *e.caveats] if f"- {line}" not in notes]
    return "\n".join(
        [
            table(["", "jobs", "GPU-hours", *(f"wall on {n} GPU(s)" for n in gpus)], rows),
            "",
            "GPU-hours by dataset:",
            "",
            table(["", *DATASETS], by_dataset),
            "",
            f"{len(cfgs)} runs ({e.device_name}), each all its epochs (an upper bound); figures:",
            *notes,
        ]
    )


# -- ours against the reference-style loop, from one bench file ----------------------------------
def estimate(bench: dict[str, Any], gpus: list[int]) -> dict[str, Any]:
    """GPU-hours of the paper's rows on the four datasets at ``bench``'s measured rates, ours and
    the reference-style loop's."""
    works = [work_of(cfg) for cfg in table_configs(paper_rows=True)]
    sides = {}
    for side in ("ours", "ref"):
        train_ips, eval_ips = bench[f"{side}_train_images_per_s"], bench[f"{side}_eval_images_per_s"]
        runs = [w.trained / train_ips + w.evaluated / eval_ips for w in works]
        sides[side] = {
            "gpu_hours": sum(runs) / 3600,
            "longest_run_hours": max(runs) / 3600,
            "wall_hours": {str(n): wall_seconds(runs, n) / 3600 for n in gpus},
        }
    decode = sum(p + t for p, t in DATASETS.values())
    return {
        "device_name": bench.get("device_name"),
        "batch_size": bench.get("settings", {}).get("batch_size"),
        "runs": len(works),
        **sides,
        "cache_build_hours": decode / bench["cache_build_images_per_s"] / 3600,
    }


def markdown(e: dict[str, Any], bench: dict[str, Any]) -> str:
    gpus = list(e["ours"]["wall_hours"])
    rows = [
        [
            name,
            f"{bench[f'{side}_train_images_per_s']:.0f}",
            f"{bench[f'{side}_eval_images_per_s']:.0f}",
            f"{e[side]['gpu_hours']:.1f}",
            *(f"{e[side]['wall_hours'][n]:.1f} h" for n in gpus),
        ]
        for side, name in (("ours", "ours"), ("ref", "reference-style"))
    ]
    epochs = max(int(c.resolve().epochs or 0) for c in table_configs(paper_rows=True))
    return "\n".join(
        [
            table(["", "train images/s", "eval images/s", "GPU-hours", *(f"wall on {n} GPU(s)" for n in gpus)], rows),
            "",
            (
                f"{e['runs']} runs at most {epochs} epochs each, measured on {e['device_name']} at batch "
                f"{e['batch_size']}; ours also builds each dataset's decoded-image cache once "
                f"(≈{e['cache_build_hours']:.2f} h of CPU time at the measured build rate, shared by every run)."
            ),
        ]
    )


PROG = "python -m benchmark.bench.cost"


def main(argv: list[str] | None = None) -> int:
    return guarded(PROG, _main, argv)


def _main(argv: list[str] | None) -> int:
    p = OneLineParser(prog=PROG, description=__doc__)
    p.add_argument("bench", type=Path, nargs="?", help="a JSON written by python -m benchmark.bench --json")
    p.add_argument("--table", action="store_true", help="the whole table from the figures in --bench-dir")
    p.add_argument("--bench-dir", type=Path, default=REPO_BENCH_DIR, help="figure files (default: the repository's)")
    p.add_argument("--runs-per-gpu", type=int, default=4, help="--table: also with this many runs per GPU (default 4)")
    p.add_argument("--mps", action="store_true", help="--table: packed runs under CUDA MPS")
    p.add_argument("--gpus", nargs="+", type=int, default=[1, 4, 8])
    args = p.parse_args(argv)
    if any(g < 1 for g in args.gpus):
        return user_error(PROG, f"--gpus must all be at least 1, got {args.gpus}")
    if args.runs_per_gpu < 1:
        return user_error(PROG, f"--runs-per-gpu must be at least 1, got {args.runs_per_gpu}")
    if args.table:
        figures, problems = load_figures([args.bench_dir])
        for line in problems:
            print(f"note: {line}", file=sys.stderr)
        try:
            print(table_markdown(figures, args.runs_per_gpu, args.mps, args.gpus))
        except NoEstimate as exc:
            return user_error(PROG, str(exc))
        return 0
    if args.bench is None:
        return user_error(PROG, "give a bench JSON, or --table")
    try:
        bench = read_json(args.bench, ValueError, "a JSON written by python -m benchmark.bench --json")
    except ValueError as exc:
        return user_error(PROG, str(exc))
    try:
        text = markdown(estimate(bench, args.gpus), bench)
    except (ValueError, KeyError, TypeError) as exc:
        return user_error(
            PROG, f"{args.bench}: not a JSON written by python -m benchmark.bench --json ({type(exc).__name__}: {exc})"
        )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
