"""``spml-bench run`` (and ``python run_all.py``): run every method on the chosen datasets with
fixed seeds, then rebuild the leaderboard; print a summary of the sweep's cells and its path.

    spml-bench run                             # the default sweep on the embedded dataset
    spml-bench run --datasets voc coco         # the real datasets (prepared under --data-root)
    spml-bench run --list                      # methods, datasets and label regimes
    spml-bench run --executor slurm --partition gpu --gpus 1 --no-wait   # job arrays on SLURM
    spml-bench run --executor slurm --status                             # done/failed/running/missing

Thin by design: parse arguments → build the sweep → hand it to a launcher → leaderboard.

A user's mistake — an unknown name, a value out of range, a device this machine lacks, a results
folder that is a file or cannot be written — exits 2 with one line before anything runs; Ctrl-C
exits 130 with one line (the interrupted run resumes from its last epoch when the command is
run again). A file in the results folder that is not a run record is named and ignored; a corrupt
record at a run's path is named when it is replaced (a copy stays under ``_corrupt/``). A record
that cannot be written (disk full) stops the sweep, naming the path and the runs not run.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import math
import os
import stat
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import methods
from benchmark.cli.sweep_args import add_sweep_arguments, sweep_from_args
from benchmark.core.cli import (
    OneLineParser,
    add_channels_last,
    add_data_root,
    add_device,
    add_methods,
    add_seeds,
    given,
    guarded,
    one_line,
    user_error,
)
from benchmark.data import DATASETS, DatasetNotFoundError
from benchmark.data.protocol import REGIME_DESCRIPTIONS
from benchmark.records import invalid_records, layout
from benchmark.run.epochlog import TensorBoardUnavailableError, check_tensorboard
from benchmark.spec.config import SweepConfig
from benchmark.sweep import checks
from benchmark.sweep.dryrun import dry_run_report
from benchmark.sweep.launch import (
    LAUNCHERS,
    ExecutorUnavailableError,
    LaunchOptions,
    SweepStopped,
    local_suggestion,
    make_launcher,
    slurm_setup,
)
from benchmark.sweep.packing import available_cpus
from benchmark.sweep.plan import Job
from benchmark.sweep.status import (
    RunState,
    default_log_dir,
    format_status,
    new_sweep_dir,
    plan,
    shipped_records_hint,
    state_counts,
    sweep_state,
)
from leaderboard.build import write_leaderboard
from leaderboard.errors import LeaderboardError
from leaderboard.paths import default_out
from leaderboard.summary import sweep_summary

PROG = "spml-bench run"


def parse_args(argv: list[str] | None = None, prog: str = PROG) -> argparse.Namespace:
    p = OneLineParser(prog=prog, description=__doc__)
    p.add_argument("--datasets", nargs="+", help="dataset keys (default: digits, the embedded set)")
    add_methods(p)
    add_seeds(p)
    p.add_argument("--labels", nargs="+", help="label regimes (default: each method's rows of the table)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="where run records go (default: results)")
    add_data_root(p)
    p.add_argument("--force", action="store_true", help="rerun every run that is not running right now")
    p.add_argument("--retry-failed", action="store_true", help="rerun runs whose record says failed")
    p.add_argument("--list", action="store_true", help="list methods, datasets and regimes, then exit")
    p.add_argument(
        "--status",
        action="store_true",
        help="print, per dataset x method, how many runs are done/failed/running/interrupted/missing, then exit",
    )
    p.add_argument(
        "--executor",
        choices=sorted(LAUNCHERS),
        default="inline",
        help="inline: in this process (default); local: local processes; slurm: SLURM job arrays",
    )
    p.add_argument("--no-wait", action="store_true", help="slurm: return right after submitting (see --status)")
    p.add_argument(
        "--log-dir",
        type=Path,
        help="submitit logs and job ledgers, one folder per submission (default: RESULTS_DIR/_logs)",
    )
    p.add_argument(
        "--max-parallel",
        type=int,
        help="jobs at once: slurm array parallelism, local jobs (default: slurm 256; local CPUs/--cpus or CPUs/K, "
        "or GPUs/--gpus for GPU runs)",
    )
    p.add_argument(
        "--runs-per-gpu",
        type=int,
        default=1,
        metavar="K",
        help="local/slurm: each job holds one GPU (--gpus 1) and trains K runs at once, one process each, "
        "with their own records and checkpoints (default: 1)",
    )
    p.add_argument(
        "--mps",
        action="store_true",
        help="with --runs-per-gpu: start a CUDA MPS daemon in each job, where nvidia-cuda-mps-control exists",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (runs, jobs, GPUs) and the estimated GPU-hours and wall-clock, from the measured "
        "throughput under results/_bench; submit and write nothing",
    )
    r = p.add_argument_group(
        "slurm resources, per job: a run, or K runs with --runs-per-gpu (local uses --gpus, --cpus, --time)"
    )
    r.add_argument("--partition")
    r.add_argument("--gpus", type=int, default=0, help="GPUs per job (default 0; runs on --device cpu ask for none)")
    r.add_argument("--cpus", type=int, help="CPUs per job (shared by its runs with --runs-per-gpu)")
    r.add_argument("--mem-gb", type=float)
    r.add_argument(
        "--time",
        type=int,
        default=24 * 60,
        metavar="MINUTES",
        help="time limit per job; a timed-out run is requeued and resumes (default: 1440)",
    )
    r.add_argument("--account")
    r.add_argument("--qos")
    r.add_argument(
        "--sbatch",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra sbatch option, e.g. --sbatch constraint=a100 (repeatable)",
    )
    r.add_argument(
        "--slurm-setup",
        action="append",
        metavar="CMD",
        help='a shell line each job runs before Python, e.g. "source /shared/env/bin/activate" '
        "(repeatable; default: $SPML_SLURM_SETUP if set); the jobs then run 'python' from that PATH",
    )
    r.add_argument(
        "--slurm-python",
        metavar="CMD",
        help="the interpreter command on the nodes (default: 'python' after --slurm-setup, else this "
        "process's interpreter, which must then be on a file system the nodes see)",
    )
    p.add_argument("--no-leaderboard", action="store_true", help="do not rebuild the leaderboard at the end")
    p.add_argument(
        "--print-leaderboard",
        action="store_true",
        help="print the whole leaderboard at the end (default: a summary of this sweep's cells and its path)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-run / per-epoch lines")
    p.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        help="also log each run's epochs as TensorBoard events under DIR/<dataset>/<run> "
        '(needs: pip install "spml-bench[tensorboard]"); the CSV beside each record is always written',
    )
    g = p.add_argument_group("run overrides (default: the dataset's protocol values)")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--backbone", help="'smallcnn', 'smallcnn-wide' or any timm model name")
    g.add_argument("--pretrained", action=argparse.BooleanOptionalAction)
    g.add_argument(
        "--pretrained-file",
        metavar="PATH",
        help="start from this local state dict of the timm backbone instead of timm's download "
        "(offline nodes; 'python -m benchmark.data weights MODEL --out DIR' writes one)",
    )
    g.add_argument("--image-size", type=int)
    g.add_argument("--patience", type=int)
    g.add_argument(
        "--recipe",
        choices=["common", "authors"],
        help="common: the protocol for every method (default); authors: each method's published training recipe",
    )
    add_device(g)
    g.add_argument("--amp", choices=["off", "bf16", "fp16"])
    add_channels_last(g)
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the model's forward")
    g.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        help="deterministic algorithms (default: on for the CPU; cuDNN benchmark mode on CUDA)",
    )
    g.add_argument(
        "--keep-checkpoints",
        action="store_true",
        default=None,
        help="keep each run's last epoch checkpoint after its record is written",
    )
    g.add_argument("--protocol", choices=["finetune", "linear"])
    g.add_argument("--num-workers", type=int)
    g.add_argument(
        "--hparam",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="method hyper-parameter, VALUE as JSON; NAME=V1,V2,... or a JSON list: one variant per value; "
        "several flags: their product",
    )
    add_sweep_arguments(p)
    return p.parse_args(argv)


def print_list() -> None:
    print("methods:")
    width = max(10, *map(len, methods.registry()))  # boostlu_ll_r is longer than the others
    for key, cls in sorted(methods.registry().items()):
        print(f"  {key:{width}s} {cls.summary}  [{cls.paper}; regimes: {', '.join(cls.regimes)}]")
    for problem in methods.broken():
        print(f"  broken: {problem}")
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
    line = (
        f"tuning: {sweep.tuning.trials} trials per method (trial 0: the default configuration), "
        f"search-space seed {sweep.tuning.seed}, chosen on seeds {' '.join(map(str, sweep.tuning.select_seeds))}, "
        f"reported on seeds {' '.join(map(str, sweep.seeds))}"
    )
    if untuned:
        line += f"; trial 0 only (no search space declared) for {', '.join(untuned)}"
    return line


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
    for flag, value, least in (("--gpus", args.gpus, 0), ("--cpus", args.cpus, 1), ("--time", args.time, 1)):
        if value is not None and value < least:
            raise ValueError(f"{flag} must be at least {least}, got {value}")
    if args.mem_gb is not None and not (math.isfinite(args.mem_gb) and args.mem_gb > 0):
        raise ValueError(f"--mem-gb must be a positive number, got {args.mem_gb}")
    checks.check_packing(args.runs_per_gpu, args.executor, args.gpus, args.mps)
    same = ("max_parallel", "partition", "gpus", "cpus", "mem_gb", "account", "qos", "runs_per_gpu", "mps")
    return LaunchOptions(
        sweep_dir=log_root,
        time_min=args.time,
        sbatch=sbatch,
        setup=slurm_setup(args.slurm_setup),
        python=args.slurm_python,
        **{name: getattr(args, name) for name in same},  # the flags named as the options
    )


def build_jobs(args: argparse.Namespace) -> tuple[SweepConfig, list[Job], Path, LaunchOptions, list[str]]:
    """The validated sweep, its jobs (each run once), its log root, launch options and, for a dry
    run, what data is missing (a dry run reports it; any other sweep stops on it). A user's mistake
    raises ``ValueError``/``KeyError`` with a one-line message."""
    sweep = sweep_from_args(args)  # validates every run's config, hyper-parameters included
    log_root = args.log_dir if args.log_dir is not None else default_log_dir(args.results_dir)
    # every folder the sweep writes to (records, checkpoints, logs), before anything runs
    checks.check_results_dir(args.results_dir, sweep.datasets, write=not args.status)
    if args.status and not args.results_dir.exists():  # a sweep makes it; a status only reads it
        raise checks.PreRunError(
            f"--results-dir {args.results_dir} does not exist: no sweep has written there (a typo?)"
        )
    checks.check_folder("--log-dir", log_root, write=not args.status)
    data_root = Path(sweep.overrides["data_root"])
    checks.check_data_root(data_root)  # not a file
    data_notes = checks.unprepared(sweep.datasets, data_root) if args.dry_run else []
    if not args.dry_run:
        checks.check_data(sweep.datasets, data_root)
    options = launch_options(args, log_root)
    # each run once (--seeds 0 0, a grid value equal to the default), with its tuning study's tag
    jobs = [Job(run.cfg, args.results_dir, args.tensorboard, study=run.study) for run in sweep.planned()]
    if not args.status and not args.dry_run:
        checks.check_devices((job.cfg.device for job in jobs), args.executor)
    return sweep, jobs, log_root, options, data_notes


def report_invalid_files(results_dir: Path, jobs: Sequence[Job], prog: str, limit: int = 10) -> None:
    """Name each file under the results folder that is not a run record (the runs' own paths are
    reported as ``corrupt`` by their state instead)."""
    bad = invalid_records(results_dir, skip={job.record_path for job in jobs})
    for _, problem in bad[:limit]:
        print(f"{prog}: warning: {problem}; not a run record, ignored", file=sys.stderr)
    if len(bad) > limit:
        print(f"{prog}: warning: ... and {len(bad) - limit} more files that are not run records", file=sys.stderr)


def keep_corrupt(states: Sequence[RunState], todo: Sequence[Job], prog: str) -> None:
    """Before a corrupt record is replaced: name it, and keep it under ``<results>/_corrupt/`` (a
    folder record readers skip) in case it holds something worth reading. A regular file is copied
    with its permissions (a private file stays private); a symbolic link is moved there as a link,
    never followed (its target is not copied nor touched); anything else (a FIFO, a device) is left
    where it is, with a note — reading it could block or destroy."""
    submitted = {id(job) for job in todo}
    for s in states:
        if s.state != "corrupt" or id(s.job) not in submitted:
            continue
        try:
            kept = _quarantine(s.job.results_dir, s.job.record_path)
        except OSError as exc:
            kept = f"no copy kept ({exc.strerror or exc})"
        print(f"{prog}: replacing a corrupt record: {one_line(s.detail)}; {kept}", file=sys.stderr)


def _quarantine(results_dir: Path, path: Path) -> str:
    """Keep the corrupt file at ``path`` under ``_corrupt/`` without following links; says what was done."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        copy = layout.corrupt_copy_path(results_dir, path, hashlib.sha256(os.fsencode(target)).hexdigest()[:8])
        copy.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, copy)  # renames the link itself: its target is neither read nor copied
        return f"it was a symbolic link (to {target}), moved as a link to {copy}"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file: left in place, not read"
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    copy = layout.corrupt_copy_path(results_dir, path, hashlib.sha256(data).hexdigest()[:8])
    copy.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(st.st_mode)
    try:  # created with the original's permissions from the start: never readable by more users meanwhile
        out = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        return f"a copy is kept at {copy}"
    with os.fdopen(out, "wb") as f:
        os.fchmod(f.fileno(), mode)  # the umask may have taken bits away: exactly the original's
        f.write(data)
    return f"a copy is kept at {copy}"


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """The sweep; ``prog`` names the command in messages (``run_all.py`` for the alias)."""
    return guarded(prog, lambda args: _main(args, prog), argv)


def _main(argv: list[str] | None, prog: str) -> int:
    args = parse_args(argv, prog)
    if args.list:
        print_list()
        return 0
    try:
        sweep, jobs, log_root, options, data_notes = build_jobs(args)
        if args.tensorboard is not None:
            check_tensorboard()
    except (KeyError, ValueError, DatasetNotFoundError, TensorBoardUnavailableError) as exc:
        return user_error(prog, exc)
    if args.no_wait and args.executor != "slurm":
        return user_error(prog, "--no-wait needs --executor slurm (local and inline runs need this process)")
    report_invalid_files(args.results_dir, jobs, prog)
    states = sweep_state(jobs, log_root)
    # only for the default ./results: a folder named on purpose is not a mistake
    hint = shipped_records_hint(states, args.results_dir) if "results_dir" not in given(args) else None
    if hint is not None:
        print(f"{prog}: {hint}", file=sys.stderr)
    if sweep.tuning is not None:
        print(tuning_line(sweep), file=sys.stderr)
    if args.status:
        print(format_status(states))
        return 0
    t0 = time.time()
    todo, left = plan(states, force=args.force, retry_failed=args.retry_failed)
    if args.dry_run:
        print(dry_run_report(todo, left, args.executor, options, results_dir=args.results_dir, notes=data_notes))
        return 0
    if args.executor == "slurm" and todo:
        # compute nodes are often offline: what a job would lack is found here, once, not in every job
        problems = checks.submission_problems([job.cfg for job in todo])
        for problem in problems:
            print(f"{prog}: error: not submitted: {problem}", file=sys.stderr)
        if problems:
            return 2
    print(
        f"{len(todo)} runs to do ({args.executor}); left alone: {state_counts(left)} in {args.results_dir}",
        file=sys.stderr,
    )
    tip = local_suggestion(todo, available_cpus()) if args.executor == "inline" else None
    if tip is not None:
        print(tip, file=sys.stderr)
    keep_corrupt(states, todo, prog)
    if args.force:  # --force retrains: an interrupted run's checkpoint is not resumed
        for job in todo:
            job.checkpoint_path.unlink(missing_ok=True)
    results: list[dict[str, Any]] = []
    if todo:
        options = dataclasses.replace(options, sweep_dir=new_sweep_dir(log_root))
        try:
            launcher = make_launcher(args.executor, options)
            if args.no_wait:
                handles = launcher.submit(todo)
                ids = sorted({str(h.sjob.job_id).split("_")[0] for h in handles})
                print(
                    f"submitted {sum(len(h.jobs) for h in handles)} runs in {len(handles)} SLURM task(s) of job(s) "
                    f"{', '.join(ids)}; logs in {options.sweep_dir}\n"
                    f"follow with: {prog} <the same sweep flags> --status; the leaderboard: "
                    f"python -m leaderboard --results-dir {args.results_dir}",
                    file=sys.stderr,
                )
                return 0
            results = launcher.launch(todo, verbose=not args.quiet)
        except ExecutorUnavailableError as exc:  # raised before anything is started
            return user_error(prog, exc)
        except SweepStopped as exc:
            labels = [job.cfg.label() for job in exc.not_run]
            shown = ", ".join(labels[:10]) + (f" and {len(labels) - 10} more" if len(labels) > 10 else "")
            print(
                f"{prog}: error: {one_line(exc)}\n{prog}: the sweep stopped after {len(exc.results)} run(s); "
                f"not run ({len(labels)}): {shown or 'none'}. Free the space and run the same command again: "
                f"records already written are kept",
                file=sys.stderr,
            )
            return 1
        except OSError as exc:
            print(
                f"{prog}: error: {one_line(exc)}; records already written are kept, run the same command again "
                f"to resume",
                file=sys.stderr,
            )
            return 1
    ended = Counter(r["status"] for r in results)
    # every status named, zeros included, so a glance (or a grep) never mistakes "no failures" for "not reported"
    ran = ", ".join(f"{ended.get(status, 0)} {status}" for status in ("done", "diverged", "failed"))
    print(f"sweep finished in {time.time() - t0:.1f}s: {ran}; {len(left)} left alone", file=sys.stderr)
    # 1: the leaderboard was not rebuilt, or a run did not end done
    return 1 if not report_end(args, [job.cfg.run_id() for job in jobs], prog) or set(ended) - {"done"} else 0


def report_end(args: argparse.Namespace, run_ids: list[str], prog: str) -> bool:
    """stdout at the end of a sweep: a summary of the sweep's cells (at most a screen) and where
    the full leaderboard is, or the whole leaderboard with ``--print-leaderboard``. A leaderboard
    error is one line on stderr and ``False``: the records are written and kept."""
    warn = lambda msg: print(f"{prog}: leaderboard: {msg}", file=sys.stderr)  # noqa: E731
    try:
        text = None if args.no_leaderboard else write_leaderboard(args.results_dir, warn=warn)
        if args.print_leaderboard and text is not None:
            print(text)
            return True
        print(sweep_summary(args.results_dir, run_ids))
    except LeaderboardError as exc:
        print(
            f"{prog}: error: the leaderboard was not rebuilt: {one_line(exc)} (the records are kept; "
            f"python -m leaderboard --results-dir {args.results_dir} retries)",
            file=sys.stderr,
        )
        return False
    if text is not None:
        print(f"full leaderboard: {default_out(args.results_dir)}")
    return True


def status_main(argv: list[str] | None = None, prog: str = "spml-bench status") -> int:
    """``spml-bench status``: the sweep's state, from the same flags as ``spml-bench run``."""
    return main([*(argv or []), "--status"], prog=prog)
