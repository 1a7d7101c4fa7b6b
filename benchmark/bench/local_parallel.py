"""Local processes against inline, the same runs side by side: total wall time of a sweep.

    python -m benchmark.bench.local_parallel --methods an em bce --seeds 0 1 [--rounds 2] [--json out.json]

Each variant is ``run_all.py`` as a user runs it (a subprocess, a fresh results folder, the
embedded set's data built once beforehand and shared): ``inline`` (one process, torch's default
threads), ``local`` (``--executor local --max-parallel P``: P processes, each with CPUs / P torch
threads) and ``packed`` (``--executor local --max-parallel 1 --runs-per-gpu P``: one job of P run
processes). Variants alternate within each round, so a change in the machine's load hits all of
them; the figure is the median over rounds of each variant's time, and the ratio is inline / variant
(above 1: faster than inline).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import methods
from benchmark.core.cli import OneLineParser, add_json, add_methods, add_seeds, check_path, guarded, user_error
from benchmark.records import iter_records

REPO = Path(__file__).resolve().parents[2]


def sweep_seconds(flags: list[str], common: list[str], results: Path) -> float:
    shutil.rmtree(results, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(REPO / "run_all.py"), *common, "--results-dir", str(results), *flags],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"run_all.py {' '.join(flags)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds


PROG = "python -m benchmark.bench.local_parallel"


def main(argv: list[str] | None = None) -> int:
    return guarded(PROG, _main, argv)


def _main(argv: list[str] | None) -> int:
    p = OneLineParser(prog=PROG, description=__doc__)
    add_methods(p)
    add_seeds(p)
    p.add_argument("--parallel", type=int, default=2, help="processes of the local variants (default 2)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more run_all.py flags for every variant")
    add_json(p)
    args = p.parse_args(argv)
    try:
        if args.json is not None:
            check_path("--json", args.json, "file", write=True)
    except ValueError as exc:
        return user_error(PROG, exc)
    args.methods = args.methods or methods.available()
    args.seeds = [str(seed) for seed in args.seeds]  # passed on as run_all.py flags

    work = Path(tempfile.mkdtemp(prefix="spml-local-parallel-"))
    data = work / "data"
    quiet = ["--data-root", str(data), "--quiet", "--no-leaderboard"]
    common = ["--methods", *args.methods, "--seeds", *args.seeds, *quiet, *args.extra]
    # the data once, outside the clock (an inline one-epoch run of one method builds it)
    sweep_seconds(["--methods", args.methods[0], "--seeds", args.seeds[0], "--epochs", "1"], quiet, work / "warm")
    variants = {
        "inline": [],
        "local": ["--executor", "local", "--max-parallel", str(args.parallel)],
        "packed": ["--executor", "local", "--max-parallel", "1", "--runs-per-gpu", str(args.parallel)],
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    loads = []
    for r in range(args.rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            loads.append(os.getloadavg()[0])
            seconds = sweep_seconds(variants[name], common, work / name)
            times[name].append(seconds)
            print(f"round {r + 1}: {name:6s} {seconds:6.1f} s", file=sys.stderr)
    runs = sum(1 for _ in iter_records(work / "inline"))
    median = {name: statistics.median(t) for name, t in times.items()}
    out = {
        "runs": runs,
        "cpus": len(os.sched_getaffinity(0)),
        "parallel": args.parallel,
        "rounds": args.rounds,
        "seconds": times,
        "median_seconds": median,
        "speedup_vs_inline": {name: median["inline"] / s for name, s in median.items()},
        "load_average_before_each": loads,
        "flags": common,
    }
    print(f"{runs} runs on {out['cpus']} CPUs, median of {args.rounds} round(s):")
    for name, s in median.items():
        print(f"  {name:6s} {s:6.1f} s   inline / {name} = {out['speedup_vs_inline'][name]:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
