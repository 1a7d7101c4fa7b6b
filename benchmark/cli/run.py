"""``spml-bench run`` (and ``python run_all.py``): run every method on the chosen datasets with
fixed seeds, then rebuild the leaderboard.

    spml-bench run                             # the default sweep on the embedded dataset
    spml-bench run --datasets voc coco         # the real datasets (prepared under --data-root)
    spml-bench run --list                      # methods, datasets and label regimes
    spml-bench run --executor slurm --partition gpu --gpus 1 --no-wait   # job arrays on SLURM
    spml-bench run --executor slurm --status                             # done/failed/running/missing

Thin by design: parse arguments → build the sweep → hand it to a launcher → leaderboard.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import methods
from benchmark.cli.sweep_args import add_sweep_arguments, sweep_from_args
from benchmark.config import SweepConfig
from benchmark.data import DATASETS, DatasetNotFoundError, get_spec
from benchmark.data.protocol import REGIME_DESCRIPTIONS
from benchmark.launch import LAUNCHERS, ExecutorUnavailableError, LaunchOptions, make_launcher
from benchmark.status import default_log_dir, format_status, new_sweep_dir, plan, sweep_state
from benchmark.sweep import Job

PROG = "spml-bench run"


def parse_args(argv: list[str] | None = None, prog: str = PROG) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=None, help="dataset keys (default: digits, the embedded set)")
    p.add_argument("--methods", nargs="+", default=None, help="method keys (default: every registered method)")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="model seeds (default: 0 1 8, the reference code's)")
    p.add_argument("--labels", nargs="+", default=None, help="label regimes (default: each method's rows of the table)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="where run records go (default: results)")
    p.add_argument("--data-root", type=Path, default=None, help="prepared datasets (default: $SPML_DATA or ./data)")
    p.add_argument("--force", action="store_true", help="rerun every run that is not running right now")
    p.add_argument("--retry-failed", action="store_true", help="rerun runs whose record says failed")
    p.add_argument("--list", action="store_true", help="list methods, datasets and regimes, then exit")
    p.add_argument("--status", action="store_true",
                   help="print, per dataset x method, how many runs are done/failed/running/interrupted/missing, then exit")
    p.add_argument("--executor", choices=sorted(LAUNCHERS), default="inline",
                   help="inline: in this process (default); local: local processes; slurm: SLURM job arrays")
    p.add_argument("--no-wait", action="store_true", help="slurm: return right after submitting (see --status)")
    p.add_argument("--log-dir", type=Path, default=None,
                   help="submitit logs and job ledgers, one folder per submission (default: RESULTS_DIR/_logs)")
    p.add_argument("--max-parallel", type=int, default=None,
                   help="runs at once: slurm array parallelism, local processes (default: slurm 256, local CPUs/--cpus)")
    r = p.add_argument_group("slurm resources, per run (local uses --gpus, --cpus, --time)")
    r.add_argument("--partition")
    r.add_argument("--gpus", type=int, default=0, help="GPUs per run (default 0; runs on --device cpu ask for none)")
    r.add_argument("--cpus", type=int, default=None, help="CPUs per run")
    r.add_argument("--mem-gb", type=float, default=None)
    r.add_argument("--time", type=int, default=24 * 60, metavar="MINUTES",
                   help="time limit per job; a timed-out run is requeued and resumes (default: 1440)")
    r.add_argument("--account")
    r.add_argument("--qos")
    r.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE",
                   help="extra sbatch option, e.g. --sbatch constraint=a100 (repeatable)")
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
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the model's forward")
    g.add_argument("--keep-checkpoints", action="store_true", default=None,
                   help="keep each run's last epoch checkpoint after its record is written")
    g.add_argument("--protocol", choices=["finetune", "linear"])
    g.add_argument("--num-workers", type=int)
    g.add_argument("--hparam", action="append", default=[], metavar="NAME=VALUE",
                   help="method hyper-parameter, VALUE as JSON; NAME=V1,V2,... or a JSON list: one variant per value; "
                        "several flags: their product")
    add_sweep_arguments(p)
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


def tuning_line(sweep: SweepConfig) -> str:
    """What a tuning study runs: trials per method, and which methods get trial 0 only."""
    assert sweep.tuning is not None
    untuned = sweep.untuned_methods()
    line = (f"tuning: {sweep.tuning.trials} trials per method (trial 0: the default configuration), "
            f"search-space seed {sweep.tuning.seed}, seeds {' '.join(map(str, sweep.seeds))}")
    if untuned:
        line += f"; trial 0 only (no search space declared) for {', '.join(untuned)}"
    return line


def check_data(datasets: list[str], data_root: Path) -> None:
    """Fail before the sweep, naming the path and the command that prepares it."""
    for key in datasets:
        if get_spec(key).loader.startswith("benchmark.data.formatted:"):
            from benchmark.data.formatted import check_prepared

            check_prepared(key, data_root)  # the folder, its formatted files and dataset.json


def launch_options(args: argparse.Namespace, log_root: Path) -> LaunchOptions:
    """The launcher's options; ``sweep_dir`` is set to a fresh folder only when something is submitted."""
    sbatch = {}
    for item in args.sbatch:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--sbatch expects KEY=VALUE (e.g. constraint=a100), got '{item}'")
        sbatch[key.lstrip("-")] = value
    if args.max_parallel is not None and args.max_parallel < 1:
        raise ValueError(f"--max-parallel must be at least 1, got {args.max_parallel}")
    return LaunchOptions(sweep_dir=log_root, max_parallel=args.max_parallel, partition=args.partition, gpus=args.gpus,
                         cpus=args.cpus, mem_gb=args.mem_gb, time_min=args.time, account=args.account, qos=args.qos,
                         sbatch=sbatch)


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """The sweep; ``prog`` names the command in messages (``run_all.py`` for the alias)."""
    args = parse_args(argv, prog)
    if args.list:
        print_list()
        return 0
    try:
        sweep = sweep_from_args(args)  # validates every run's config, hyper-parameters included
        planned = sweep.planned()
        check_data(sweep.datasets, Path(sweep.overrides["data_root"]))
        log_root = args.log_dir if args.log_dir is not None else default_log_dir(args.results_dir)
        options = launch_options(args, log_root)
    except (KeyError, ValueError, DatasetNotFoundError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    states = sweep_state([Job(run.cfg, args.results_dir, study=run.study) for run in planned], log_root)
    if sweep.tuning is not None:
        print(tuning_line(sweep), file=sys.stderr)
    if args.status:
        print(format_status(states))
        return 0
    if args.no_wait and args.executor != "slurm":
        print(f"{prog}: error: --no-wait needs --executor slurm (local and inline runs need this process)", file=sys.stderr)
        return 2
    t0 = time.time()
    todo, left = plan(states, force=args.force, retry_failed=args.retry_failed)
    by_state = ", ".join(f"{n} {k}" for k, n in sorted(Counter(s.state for s in left).items()))
    print(f"{len(todo)} runs to do ({args.executor}); left alone: {by_state or 'none'} in {args.results_dir}", file=sys.stderr)
    results: list[dict[str, Any]] = []
    if todo:
        options = dataclasses.replace(options, sweep_dir=new_sweep_dir(log_root))
        try:
            launcher = make_launcher(args.executor, options)
        except ExecutorUnavailableError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 2
        if args.no_wait:
            handles = launcher.submit(todo)
            ids = sorted({str(h.sjob.job_id).split("_")[0] for h in handles})
            print(f"submitted {len(handles)} runs as SLURM job(s) {', '.join(ids)}; logs in {options.sweep_dir}\n"
                  f"follow with: {prog} <the same sweep flags> --status; the leaderboard: "
                  f"python -m leaderboard --results-dir {args.results_dir}", file=sys.stderr)
            return 0
        results = launcher.launch(todo, verbose=not args.quiet)
    failed = [r for r in results if r["status"] != "done"]
    print(f"sweep finished in {time.time() - t0:.1f}s: {len(results) - len(failed)} done, {len(failed)} failed, "
          f"{len(left)} left alone", file=sys.stderr)
    if not args.no_leaderboard:
        from leaderboard.build import write_leaderboard

        print(write_leaderboard(args.results_dir))
    return 1 if failed else 0

def status_main(argv: list[str] | None = None) -> int:
    """``spml-bench status``: the sweep's state, from the same flags as ``spml-bench run``."""
    return main([*(argv or []), "--status"], prog="spml-bench status")
