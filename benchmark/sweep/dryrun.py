"""``spml-bench run ... --dry-run``: the bill before the sweep. The plan (runs, jobs, arrays,
GPUs, runs per GPU), the estimated GPU-hours and wall-clock from the measured throughput kept
under ``results/_bench`` (``benchmark.sweep.cost``), naming the figure files it used, and what the
same command without ``--dry-run`` would refuse (``benchmark.sweep.checks``: unprepared data, and
for a SLURM submission missing pretrained weights). Nothing is submitted or written.

Runs are priced as GPU runs when they will have a GPU where they run: ``--gpus N`` (any executor,
so a bill can be made on a machine without one), ``--device cuda``, or ``--device auto`` on a
machine with CUDA.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmark.records.layout import BENCH
from benchmark.sweep import checks
from benchmark.sweep.cost import REPO_BENCH_DIR, Estimate, NoEstimate, Settings, estimate_jobs, load_figures
from benchmark.sweep.launch import LaunchOptions, local_suggestion
from benchmark.sweep.packing import available_cpus, job_layout
from benchmark.sweep.plan import Job
from benchmark.sweep.status import RunState, state_counts


def _runs_on_gpu(job: Job, executor: str, options: LaunchOptions, cuda_here: bool) -> bool:
    device = job.cfg.device
    return device != "cpu" and (options.gpus > 0 or device.startswith("cuda") or (executor == "inline" and cuda_here))


def hours(h: float) -> str:
    return f"{h:.2f}" if h < 1 else f"{h:.1f}"


def _estimate_lines(e: Estimate, what: str) -> list[str]:
    bound = (
        "an upper bound: every run does all its epochs (no early stopping), at the slowest measured figure that fits"
        if e.bound
        else "NOT a bound (see the caveats)"
    )
    lines = [
        f"  {what}: {hours(e.gpu_hours)} GPU-hours; wall-clock on {e.gpus} GPU(s): {hours(e.wall_hours)} h "
        f"(longest job {hours(e.longest_job_hours)} h); {bound}",
        f"    measured on {e.device_name}:",
    ]
    lines += [f"      {line}" for line in e.figures]
    lines += [f"    packing: {line}" for line in e.packing]
    lines += [f"    caveat: {line}" for line in e.caveats]
    return lines


def _node_lines(options: LaunchOptions, results_dir: Path, todo: Sequence[Job]) -> list[str]:
    """What the compute nodes must see: the environment each job starts and the shared paths."""
    from benchmark.core.provenance import CODE_ROOT  # why: torch-free, needed only for a SLURM plan

    roots = sorted({str(checks.data_root_of(j.cfg).resolve()) for j in todo})
    setup = "; ".join(options.setup) if options.setup else "nothing (no --slurm-setup)"
    return [
        f"  on the nodes: each job runs {options.node_python()} after: {setup}",
        f"  the nodes must see at these same paths (a shared file system): results {Path(results_dir).resolve()}, "
        f"data {', '.join(roots) or '-'}, the code {CODE_ROOT}, and that interpreter's environment",
    ]


def dry_run_report(
    todo: Sequence[Job],
    left: Sequence[RunState],
    executor: str,
    options: LaunchOptions,
    *,
    results_dir: Path,
    notes: Sequence[str] = (),
) -> str:
    """The plan and the bill of a sweep; ``notes``: what the data checks found (``checks.unprepared``),
    replaced for a SLURM plan by everything its submission checks (``checks.submission_problems``)."""
    k = options.runs_per_gpu
    lines = [
        "dry run: nothing submitted, nothing written",
        f"plan ({executor}): {len(todo)} runs to do; left alone: {state_counts(left)}",
    ]
    per_dataset: dict[str, list[Job]] = {}
    for job in todo:
        per_dataset.setdefault(job.cfg.dataset, []).append(job)
    for dataset, jobs in per_dataset.items():
        r = jobs[0].cfg.resolve()
        epochs = max(j.cfg.resolve().epochs or 0 for j in jobs)
        lines.append(
            f"  {dataset}: {len(jobs)} runs, batch {r.batch_size}, {r.backbone} at {r.image_size}, "
            f"up to {epochs} epochs, amp {r.amp}"
        )
    cuda_here = False
    if executor != "slurm" and any(j.cfg.device in ("auto",) or j.cfg.device.startswith("cuda") for j in todo):
        from benchmark.sweep.executors import visible_gpus  # why: executors imports submitit; an inline plan does not

        cuda_here = bool(visible_gpus())
    gpu = {id(j): _runs_on_gpu(j, executor, options, cuda_here) for j in todo}
    gpus_per_job = max(1, options.gpus) if executor != "inline" else 1

    def gpus_of(job: Job) -> int:
        return gpus_per_job if gpu[id(job)] else 0

    layout = job_layout(todo, k if executor != "inline" else 1, gpus_of)
    if executor == "slurm":
        shapes = {gpus_of(runs[0]) for runs in layout}
        concurrent = min(options.max_parallel or len(layout), len(layout))
        lines.append(
            f"  slurm: {len(shapes)} job array(s) (one per resource shape), {len(layout)} array task(s), "
            f"{k} run(s) per task{' under CUDA MPS' if options.mps else ''}; "
            f"{max(shapes, default=0)} GPU(s) per task; {concurrent} task(s) at once"
            f"{' (--max-parallel)' if options.max_parallel else ' (all; --max-parallel caps it)'}"
        )
        lines += _node_lines(options, results_dir, todo)
    elif executor == "local":
        from benchmark.sweep.executors import LocalLauncher, visible_gpus  # why: submitit only for local plans

        launcher = LocalLauncher(options)
        wanted = max((gpus_of(r[0]) for r in layout), default=0)
        cap = launcher.cap(wanted, len(visible_gpus()) if wanted else 0)
        concurrent = max(1, min(cap, len(layout)))
        lines.append(
            f"  local: {len(layout)} job(s), {k} run(s) each{' under CUDA MPS' if options.mps else ''}, "
            f"at most {cap} at once, {launcher.threads(cap)} torch thread(s) per run"
        )
    else:
        concurrent = 1
        lines.append("  inline: one run after the other in this process")
        tip = local_suggestion(todo, available_cpus())
        lines += [f"  {tip}"] if tip else []

    gpu_layout = [runs for runs in layout if gpus_of(runs[0])]
    if gpu_layout and executor != "slurm" and not cuda_here and not any(j.cfg.device.startswith("cuda") for j in todo):
        from benchmark.sweep.executors import visible_gpus  # why: submitit and torch.cuda only for this check

        if not visible_gpus():
            lines.append(
                f"  note: priced as GPU runs (--gpus {options.gpus}); this machine has no CUDA, so run here "
                "they would train on the CPU"
            )
    if not todo:
        lines.append("estimate: nothing to run")
    elif not gpu_layout:
        lines.append(
            "estimate: none: these runs use no GPU (--device cpu, or --gpus 0 and no CUDA here); "
            "the measured figures under results/_bench are GPU figures: add --gpus N (or --device cuda) "
            "to price GPU runs from this machine"
        )
    else:
        folders = [Path(results_dir) / BENCH, REPO_BENCH_DIR]
        figures, problems = load_figures(folders)
        source = next((f for f in folders if Path(f).is_dir() and any(Path(f).glob("*.json"))), folders[-1])
        lines.append(
            f"estimate ({len(gpu_layout)} GPU job(s), {min(concurrent, len(gpu_layout))} at once; "
            f"measured figures from {Path(source).resolve()}, the files named below):"
        )
        groups: dict[str, list[list]] = {}
        for runs in gpu_layout:
            groups.setdefault(Settings.of(runs[0].cfg).describe(), []).append([j.cfg for j in runs])
        for what, group in groups.items():
            at_once = min(concurrent, len(group))
            try:
                packed = estimate_jobs(
                    group, figures, runs_per_gpu=k, mps=options.mps, gpus_per_job=gpus_per_job, concurrent_jobs=at_once
                )
            except NoEstimate as exc:
                lines.append(f"  {what}: no estimate: {exc}")
                continue
            lines += _estimate_lines(packed, f"{what}, {k} run(s) per GPU" if k > 1 else what)
            if k > 1:  # the same runs one per GPU, on as many GPUs, for comparison
                single = estimate_jobs(
                    [[c] for runs in group for c in runs], figures, gpus_per_job=gpus_per_job, concurrent_jobs=at_once
                )
                lines.append(
                    f"  without packing: {hours(single.gpu_hours)} GPU-hours; wall-clock on {single.gpus} "
                    f"GPU(s): {hours(single.wall_hours)} h"
                )
        lines += [f"  note: {p}" for p in problems]
    # a SLURM plan: exactly what the submission checks (offline nodes): data, image caches' space, weights
    refused = checks.submission_problems([j.cfg for j in todo]) if executor == "slurm" and todo else list(notes)
    if refused:
        what = "the submission" if executor == "slurm" else "the sweep"
        lines.append(f"{what} would be refused until these are fixed:")
        lines += [f"  {n}" for n in refused]
    elif todo:
        what = "the data and pretrained weights the jobs need are" if executor == "slurm" else "the data is"
        lines.append(f"checks: {what} in place: the same command without --dry-run would start")
    return "\n".join(lines)


__all__ = ["dry_run_report"]
