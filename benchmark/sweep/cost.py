"""The cost model: what a sweep costs in GPU-hours and wall-clock, from measured throughput kept
in the repository (``results/_bench/*.json``). ``spml-bench run ... --dry-run`` prices its runs
with it; ``python -m benchmark.bench.cost`` prints the whole table.

The workload is counted, not measured: each run does all its epochs (no early stopping: an upper
bound), each epoch a training pass over the training split (80% of the pool) and evaluation
passes over validation (20% of the pool) and test, then one more pass over the training split
for the record's analyses; EM+APL adds a prediction pass over the training split after every
epoch from its warm-up ``T_w`` on; ROLE+LI one feature pass. Pool and test sizes are the
datasets' nominal ones (``DATASETS``). Training images cost ``1 / train images/s`` measured at
the run's batch size; evaluated ones ``1 / eval images/s``, the lowest measured on that GPU
(the loop evaluates at ``max(batch, 64)``).

Packed runs (``--runs-per-gpu K``): a job's training time is its K runs' longest training time
times K over the measured speed-up of K runs on one GPU at that batch (aggregate images/s of K
runs over one run's; the largest K measured up to K; with ``--mps`` the MPS figure where there
is one); where no packed figure was measured, no gain is assumed. Evaluation passes are counted
one after the other. Jobs are independent, so N GPUs take the longest-processing-time-first
schedule of the jobs.

Figure files: what ``python -m benchmark.bench --json`` writes (one run's training and
evaluation images/s with its settings), and packing files (``"kind": "packing"``, written by
``python -m benchmark.bench.packing``): ``train_images_per_s`` of K runs on one GPU, keyed
``"1"``, ``"2"``, ``"4"``, ``"4+mps"``. A file may say where its figures come from (``source``).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmark.core.jsonio import read_json
from benchmark.records.layout import BENCH
from benchmark.spec.config import RunConfig

#: nominal (training pool, test split) sizes
DATASETS: dict[str, tuple[int, int]] = {
    "voc": (5_700, 5_800),
    "coco": (82_000, 40_000),
    "nuswide": (150_000, 60_000),
    "cub": (6_000, 5_800),
}

#: the repository's figures
REPO_BENCH_DIR = Path(__file__).resolve().parents[2] / "results" / BENCH


# -- measured figures ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    """The throughput one file of ``results/_bench`` measured, and under which settings."""

    path: Path
    device: str  # "cuda" | "cpu"
    device_name: str
    backbone: str  # the architecture: timm's pretrained tag dropped ("resnet50.tv_in1k" → "resnet50")
    image_size: int
    batch_size: int
    amp: str
    channels_last: bool
    compile: bool
    train_ips: float | None  # one run alone, training images/s
    eval_ips: float | None
    packed: dict[str, float] = field(default_factory=dict)  # "K" or "K+mps" → K runs' aggregate train images/s
    source: str | None = None

    def describe(self) -> str:
        return f"{self.path.name} ({self.device_name}, batch {self.batch_size})"


def architecture(backbone: str) -> str:
    return backbone.split(".")[0]


def parse_figure(path: Path, data: Any) -> Figure | None:
    """The figure in one JSON file, ``None`` for a JSON of another kind; ``ValueError`` naming the
    field for a figure file with a missing or wrong field."""
    if not isinstance(data, dict) or "settings" not in data:
        return None
    s = data["settings"]
    try:
        common = Figure(  # the settings; each kind of file fills in its throughput below
            path=path,
            device=str(data["device"]),
            device_name=str(data["device_name"]),
            backbone=architecture(str(s["backbone"])),
            image_size=int(s["image_size"]),
            batch_size=int(s["batch_size"]),
            amp=str(s.get("amp", "off")),
            channels_last=bool(s.get("channels_last", False)),
            compile=bool(s.get("compile", False)),
            train_ips=None,
            eval_ips=None,
            source=data.get("source"),
        )
        if data.get("kind") == "packing":
            packed = {str(k): float(v) for k, v in data["train_images_per_s"].items()}
            eval_ips = data.get("eval_images_per_s")
            return replace(
                common, train_ips=packed.get("1"), eval_ips=float(eval_ips) if eval_ips else None, packed=packed
            )
        if "ours_train_images_per_s" not in data:
            return None
        return replace(
            common, train_ips=float(data["ours_train_images_per_s"]), eval_ips=float(data["ours_eval_images_per_s"])
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: not a throughput figure file ({type(exc).__name__}: {exc})") from None


def load_figures(folders: Sequence[Path]) -> tuple[list[Figure], list[str]]:
    """Every figure in the JSON files of ``folders`` (the first folder holding any wins), and a
    line for each file that could not be read."""
    for folder in folders:
        files = sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []
        if not files:
            continue
        figures, problems = [], []
        for path in files:
            try:
                figure = parse_figure(path, read_json(path, ValueError, "a throughput figure file"))
            except ValueError as exc:
                problems.append(f"skipped {exc}")
                continue
            if figure is not None:
                figures.append(figure)
        return figures, problems
    return [], []


# -- the work of a run ----------------------------------------------------------------------------
def run_images(
    dataset: str, row: str, epochs: int, warmup: int | None = None, feature_pass: bool = True
) -> tuple[float, float]:
    """(trained images, evaluated images) of one run doing all ``epochs``; ``warmup``: EM+APL's
    ``T_w`` (its method's per-dataset default, from the resolved config)."""
    pool, test = DATASETS[dataset]
    train, val = 0.8 * pool, 0.2 * pool
    trained = epochs * train
    evaluated = epochs * (val + test) + train
    if row == "em_apl" and warmup is not None:
        evaluated += max(0, epochs - warmup + 1) * train
    if row == "role_li" and feature_pass:
        evaluated += train
    return trained, evaluated


@dataclass(frozen=True)
class Work:
    """What one run asks of the GPU."""

    label: str
    dataset: str
    batch_size: int
    trained: float
    evaluated: float


def work_of(cfg: RunConfig) -> Work:
    """``ValueError`` for a run the model cannot count (a dataset without nominal sizes, the
    linear-probe protocol)."""
    r = cfg.resolve()
    if r.dataset not in DATASETS:
        raise ValueError(f"no nominal size for dataset '{r.dataset}' (known: {', '.join(DATASETS)})")
    if r.protocol != "finetune":
        raise ValueError("the linear-probe protocol is not modelled (its cost is one feature pass per dataset)")
    trained, evaluated = run_images(r.dataset, r.method, int(r.epochs or 0), r.hparams.get("T_w"), bool(r.pretrained))
    return Work(cfg.label(), r.dataset, int(r.batch_size or 0), trained, evaluated)


# -- choosing figures -----------------------------------------------------------------------------
class NoEstimate(ValueError):
    """No measured figure fits these runs; the message says why."""


@dataclass
class Settings:
    backbone: str
    image_size: int
    amp: str
    channels_last: bool
    compile: bool

    @classmethod
    def of(cls, cfg: RunConfig) -> Settings:
        r = cfg.resolve()
        return cls(architecture(str(r.backbone)), int(r.image_size or 0), r.amp, bool(r.channels_last), bool(r.compile))

    def describe(self) -> str:
        return f"{self.backbone} at {self.image_size}, {numerics(self)}"


def numerics(x: Figure | Settings) -> str:
    """The precision and layout of a figure or of runs: ``amp bf16, channels_last, compiled``."""
    return f"amp {x.amp}, {'channels_last' if x.channels_last else 'NCHW'}{', compiled' if x.compile else ''}"


def _compile_fits(f: Figure, s: Settings) -> bool:
    # an eager figure bounds a compiled run (compiling is faster); not the other way round
    return s.compile or not f.compile


@dataclass
class Pick:
    """The figures chosen for one GPU type, and why they give a bound or do not."""

    device_name: str
    train: dict[int, Figure]  # batch → figure
    eval: Figure
    caveats: list[str]
    bound: bool


def pick(figures: Sequence[Figure], settings: Settings, batches: set[int]) -> Pick:
    """One GPU type's figures for runs of ``settings`` at ``batches``: the GPU whose figures
    cover most batches exactly, the slower one on a tie (a bound should err high)."""
    model = [
        f
        for f in figures
        if f.device == "cuda" and f.backbone == settings.backbone and f.image_size == settings.image_size
    ]
    if not model:
        measured = sorted({f"{f.backbone} at {f.image_size} ({f.device_name})" for f in figures}) or ["none"]
        raise NoEstimate(
            f"no measured throughput for {settings.backbone} at {settings.image_size} px on a GPU "
            f"(measured: {', '.join(measured)})"
        )
    best: tuple[tuple[int, float], Pick] | None = None
    for device_name in sorted({f.device_name for f in model}):
        mine = [f for f in model if f.device_name == device_name and _compile_fits(f, settings)]
        strict = [f for f in mine if (f.amp, f.channels_last) == (settings.amp, settings.channels_last)]
        caveats, bound = [], True
        pool = strict or mine
        if not strict and mine:
            caveats.append(
                f"measured with {' / '.join(sorted({numerics(f) for f in mine}))}, not these runs' "
                f"{settings.describe()}: the estimate is no bound (fp32 NCHW is slower than bf16 channels_last)"
            )
            bound = False
        trains = [f for f in pool if f.train_ips]
        evals = [f for f in pool if f.eval_ips]
        if not trains or not evals:
            continue
        chosen: dict[int, Figure] = {}
        exact = 0
        for batch in sorted(batches):
            # the batch itself, else the largest below it (a smaller batch is slower: still an upper
            # bound), else the smallest measured; the slowest figure at that batch
            below = [f.batch_size for f in trains if f.batch_size <= batch]
            at = max(below) if below else min(f.batch_size for f in trains)
            chosen[batch] = min((f for f in trains if f.batch_size == at), key=lambda f: f.train_ips or 0.0)
            if at == batch:
                exact += 1
            elif below:
                caveats.append(f"batch {batch}: no figure at that batch, {chosen[batch].describe()} used (slower)")
            else:
                caveats.append(
                    f"batch {batch}: measured only at larger batches, {chosen[batch].describe()} used: "
                    "faster than these runs train, so the estimate is no bound"
                )
                bound = False
        eval_fig = min(evals, key=lambda f: f.eval_ips or 0.0)
        key = (exact, sum(1.0 / (f.train_ips or 1.0) for f in chosen.values()))  # the slower GPU on a tie
        if best is None or key > best[0]:
            best = (key, Pick(device_name, chosen, eval_fig, caveats, bound))
    if best is None:
        raise NoEstimate(f"no GPU figure with both training and evaluation throughput for {settings.describe()}")
    return best[1]


def packed_speedup(figures: Sequence[Figure], chosen: Figure, runs: int, mps: bool) -> tuple[float, str]:
    """Aggregate over one run's training throughput of ``runs`` runs on one GPU, on the GPU and
    batch of ``chosen``; 1.0 where nothing was measured. Returns (speed-up, what it rests on)."""
    if runs <= 1:
        return 1.0, ""
    same = ("device_name", "batch_size", "amp", "channels_last", "compile")
    packing = [f for f in figures if "1" in f.packed and all(getattr(f, a) == getattr(chosen, a) for a in same)]
    best: tuple[float, str] | None = None
    for f in packing:
        # "K" runs, and with ``mps`` "K+mps" too, for K up to ``runs``
        sizes = {k: k.removesuffix("+mps") if mps else k for k in f.packed}
        options = [(int(n), f.packed[k]) for k, n in sizes.items() if n.isdigit() and 1 < int(n) <= runs]
        if not options:
            continue
        k, agg = max(options, key=lambda kv: (kv[0], kv[1]))
        ratio = agg / f.packed["1"]
        label = (
            f"{k}{' (MPS)' if mps and agg == f.packed.get(f'{k}+mps') else ''} runs {agg:.0f} vs 1 run "
            f"{f.packed['1']:.0f} images/s = {ratio:.2f}x ({f.path.name})"
        )
        if best is None or ratio < best[0]:  # two files disagreeing: the smaller gain
            best = (ratio, label)
    return best if best is not None else (1.0, "")


# -- the estimate ---------------------------------------------------------------------------------
@dataclass
class Estimate:
    device_name: str
    gpu_hours: float
    wall_hours: float
    gpus: int
    jobs: int
    longest_job_hours: float
    figures: list[str]
    packing: list[str]
    caveats: list[str]
    bound: bool
    gpu_hours_by_dataset: dict[str, float] = field(default_factory=dict)


def wall_seconds(durations: list[float], slots: int) -> float:
    """Longest-processing-time-first schedule on ``slots`` identical GPUs (or job slots)."""
    loads = [0.0] * max(1, slots)
    heapq.heapify(loads)
    for d in sorted(durations, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + d)
    return max(loads)


def estimate_jobs(
    layout: Sequence[Sequence[RunConfig]],
    figures: Sequence[Figure],
    *,
    runs_per_gpu: int = 1,
    mps: bool = False,
    gpus_per_job: int = 1,
    concurrent_jobs: int | None = None,
) -> Estimate:
    """GPU-hours and wall-clock of ``layout`` (the runs of each job) on the GPU whose figures fit
    best; ``NoEstimate`` when none does. ``concurrent_jobs``: jobs at once (default: all)."""
    if not layout:
        raise NoEstimate("nothing to run")
    cfgs = [cfg for runs in layout for cfg in runs]
    kinds = {repr(Settings.of(c).__dict__) for c in cfgs}
    if len(kinds) > 1:
        raise NoEstimate("the runs differ in backbone, image size or precision: estimate each kind on its own")
    settings = Settings.of(cfgs[0])
    try:
        works = {id(c): work_of(c) for c in cfgs}
    except ValueError as exc:
        raise NoEstimate(str(exc)) from None
    p = pick(figures, settings, {w.batch_size for w in works.values()})
    packing: dict[tuple[int, int], tuple[float, str]] = {}  # (batch, runs) → speed-up
    durations = []
    by_dataset: dict[str, float] = {}
    for runs in layout:
        ws = [works[id(c)] for c in runs]
        train_s = [w.trained / (p.train[w.batch_size].train_ips or 1.0) for w in ws]
        eval_s = sum(w.evaluated / (p.eval.eval_ips or 1.0) for w in ws)
        if runs_per_gpu > 1:
            key = (ws[0].batch_size, len(ws))
            if key not in packing:
                packing[key] = packed_speedup(figures, p.train[key[0]], len(ws), mps)
            durations.append(len(ws) * max(train_s) / packing[key][0] + eval_s)
        else:
            durations.append(sum(train_s) + eval_s)
        by_dataset[ws[0].dataset] = by_dataset.get(ws[0].dataset, 0.0) + durations[-1] * gpus_per_job / 3600
    slots = len(layout) if concurrent_jobs is None else max(1, min(concurrent_jobs, len(layout)))
    figures_used = [f"batch {b}: {f.describe()}, {f.train_ips:.0f} train images/s" for b, f in sorted(p.train.items())]
    figures_used.append(f"evaluation: {p.eval.describe()}, {p.eval.eval_ips:.0f} images/s (the lowest on this GPU)")
    sources = sorted({f.source for f in [*p.train.values(), p.eval] if f.source})
    figures_used += [f"source: {s}" for s in sources]
    unmeasured = "packed throughput not measured on this GPU at this batch: no gain assumed (runs one after the other)"
    pack_lines = [
        f"batch {b}, {n} runs per GPU: {label or unmeasured}" for (b, n), (_, label) in sorted(packing.items()) if n > 1
    ]
    return Estimate(
        p.device_name,
        sum(durations) * gpus_per_job / 3600,
        wall_seconds(durations, slots) / 3600,
        slots * gpus_per_job,
        len(layout),
        max(durations) / 3600,
        figures_used,
        pack_lines,
        p.caveats,
        p.bound,
        by_dataset,
    )


# -- CPU sweeps: local processes vs inline ------------------------------------------------------------
def local_speedups(folder: Path = REPO_BENCH_DIR) -> list[tuple[float, float, str]]:
    """(speed-up of ``--executor local`` over inline, load average, file name) of each measurement
    ``python -m benchmark.bench.local_parallel`` kept in ``folder``; files that do not read are skipped."""
    out = []
    for path in sorted(Path(folder).glob("local_parallel_cpu_*.json")):
        try:
            data = read_json(path, ValueError, "a local_parallel measurement")
            loads = data.get("load_average_before_each") or [float("nan")]
            out.append((float(data["speedup_vs_inline"]["local"]), float(sum(loads) / len(loads)), path.name))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return sorted(out)
