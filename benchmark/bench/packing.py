"""Several runs on one GPU, measured end to end: ``run_all.py --runs-per-gpu K`` on VOC-shaped data.

    python -m benchmark.bench.packing --out OUT                 # on a GPU node (part of scripts/gpu_check.sh)
    python -m benchmark.bench.packing --out OUT --dry           # the same steps on the CPU, tiny: checks the script

VOC-shaped data: synthetic 500x375 JPEGs (``benchmark.bench.fixtures``) with 1-3 of VOC's 20
classes each, laid out as the official devkit and formatted by ``python -m benchmark.data prepare
voc``; the decoded-image cache is built by the first run. Then, one step after the other, K runs
(seeds 0..K-1 of AN, pretrained weights off: the node may be offline) are trained by ``run_all.py
--executor local --max-parallel 1 --runs-per-gpu K`` on the one GPU: K = 1, 4, 4 under CUDA MPS
(``--mps``), 2; then the identity check (below); optionally the same compiled.

Throughput of a step: the sum over its K runs of each run's training images/s in its epochs from
the second on (the first holds cuDNN's autotuning); the K runs start together and train for about
as long, so those epochs overlap. Each step also reports the end-to-end figure (all training
images over the command's wall time, start-up and evaluation included), a lower bound.

Identity: on a small copy of the data, seed 0 trained alone (``--runs-per-gpu 1 --max-parallel
2``) and packed with seed 1 (``--runs-per-gpu 2 --max-parallel 1``), both with the same torch
threads (the CPUs over 2) and ``--deterministic`` where this checkout has it: the two records must
agree in every number but timings.

Writes ``OUT/<gpu>_pack_b<batch>.json`` (a packing figure file ``benchmark.bench.cost`` reads:
copy it under ``results/_bench/``) and each step's records under ``OUT/steps/``. Steps that do
not fit in ``--budget-s`` are skipped and said so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmark.bench.fixtures import make_jpegs, make_labels
from benchmark.core.cli import OneLineParser, add_channels_last, add_device, guarded, user_error
from benchmark.data.voc import CLASSES
from benchmark.records import comparable, iter_records
from benchmark.run.loop import resolve_device

REPO = Path(__file__).resolve().parents[2]


# -- data -----------------------------------------------------------------------------------------
def write_voc(raw: Path, pool: int, test: int, unique: int = 256) -> None:
    """A devkit layout of ``pool`` training and ``test`` validation images: ``unique`` distinct
    pictures, copied to fill the rest (decoding costs the same; the labels differ)."""
    jpegs = raw / "VOCdevkit" / "VOC2012" / "JPEGImages"
    main = raw / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main"
    main.mkdir(parents=True, exist_ok=True)
    distinct = make_jpegs(raw / "_distinct", min(unique, pool + test), threads=min(16, os.cpu_count() or 1))
    ids = [f"{i:06d}" for i in range(pool + test)]
    for i, image_id in enumerate(ids):
        target = jpegs / f"{image_id}.jpg"
        if not target.exists():
            jpegs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(distinct[i % len(distinct)], target)
    labels = make_labels(pool + test, len(CLASSES), seed=0)
    for phase, rows in (("train", range(pool)), ("val", range(pool, pool + test))):
        (main / f"{phase}.txt").write_text("".join(f"{ids[i]}\n" for i in rows))
        for c, cls in enumerate(CLASSES):
            (main / f"{cls}_{phase}.txt").write_text(
                "".join(f"{ids[i]} {1 if labels[i, c] else -1:2d}\n" for i in rows)
            )


def prepare(raw: Path, data_root: Path, log: Path) -> None:
    if (data_root / "voc").exists():
        return
    _run(
        [sys.executable, "-m", "benchmark.data", "prepare", "voc", "--root", str(raw), "--out", str(data_root / "voc")],
        log,
        timeout=600,
    )


# -- steps ----------------------------------------------------------------------------------------
class StepFailed(RuntimeError):
    pass


def _run(cmd: list[str], log: Path, timeout: float) -> float:
    """Run ``cmd`` with this checkout first on the path; its output to ``log``; seconds taken."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        try:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"timed out after {timeout:.0f}s (log: {log})") from None
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-8:])
        raise StepFailed(f"exit {proc.returncode} (log: {log}):\n{tail}")
    return time.perf_counter() - t0


def _records(results: Path) -> list[dict[str, Any]]:
    return sorted((r for _, r in iter_records(results)), key=lambda r: r["seed"])


def has_flag(flag: str) -> bool:
    out = subprocess.run(
        [sys.executable, str(REPO / "run_all.py"), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout
    return flag in out


def sweep(
    args: argparse.Namespace,
    data_root: Path,
    results: Path,
    log: Path,
    seeds: list[int],
    runs_per_gpu: int,
    max_parallel: int,
    *,
    mps: bool = False,
    compile_: bool = False,
    deterministic: bool = False,
    timeout: float,
    epochs: int | None = None,
) -> float:
    shutil.rmtree(results, ignore_errors=True)
    options = [
        ("--datasets", "voc"),
        ("--methods", "an"),
        ("--seeds", *map(str, seeds)),
        ("--epochs", str(epochs or args.epochs)),
        ("--patience", "0"),
        ("--batch-size", str(args.batch_size)),
        ("--backbone", args.backbone),
        ("--no-pretrained",),
        ("--image-size", str(args.image_size)),
        ("--amp", args.amp),
        ("--device", args.device),
        ("--executor", "local"),
        ("--max-parallel", str(max_parallel)),
        ("--runs-per-gpu", str(runs_per_gpu)),
        ("--gpus", "1" if args.device.startswith("cuda") else "0"),
        ("--time", "30"),
        ("--results-dir", str(results)),
        ("--data-root", str(data_root)),
        ("--no-leaderboard",),
        ("--quiet",),
    ]
    switches = {
        "--channels-last": args.channels_last,
        "--mps": mps,
        "--compile": compile_,
        "--deterministic": deterministic,
    }
    cmd = [sys.executable, str(REPO / "run_all.py"), *(word for option in options for word in option)]
    cmd += [flag for flag, on in switches.items() if on]
    return _run(cmd, log, timeout)


def throughput(records: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    """The step's aggregate training images/s (see the module docstring) and its parts."""
    for r in records:
        if r.get("status") != "done":
            raise StepFailed(f"run seed {r.get('seed')} {r.get('status')}: {(r.get('error') or {}).get('message')}")
    per_run = [statistics.mean(h["images_per_second"] for h in r["history"][1:] or r["history"]) for r in records]
    trained = sum(r["num_train"] * len(r["history"]) for r in records)
    evals = [
        (r["num_val"] + r["num_test"]) / max(1e-9, h["seconds"] - h["train_seconds"])
        for r in records
        for h in r["history"][1:]
    ]
    return {
        "aggregate_train_images_per_s": sum(per_run),
        "per_run_train_images_per_s": per_run,
        "end_to_end_train_images_per_s": trained / wall,
        "wall_seconds": wall,
        "eval_images_per_s": statistics.mean(evals) if evals else None,
        "mps": [bool((r.get("launch") or {}).get("pack", {}).get("mps")) for r in records],
        "torch_threads": [r["provenance"]["torch_threads"] for r in records],
        "device_name": records[0]["provenance"].get("device_name"),
    }


def identity(args: argparse.Namespace, work: Path, out: Path, budget_end: float) -> dict[str, Any]:
    """Seed 0 alone and seed 0 packed with seed 1, at the same torch threads: same numbers?"""
    small = work / "small"
    write_voc(small / "raw", args.identity_pool, args.identity_test)
    prepare(small / "raw", small / "data", out / "identity_prepare.log")
    deterministic = has_flag("--deterministic")
    left = lambda: max(30.0, budget_end - time.time())  # noqa: E731
    steps = out / "steps"
    # both with the CPUs over 2 as torch threads: one job of 2 runs, or 1 run with room for 2 jobs
    for name, seeds, per_gpu, parallel in (("alone", [0], 1, 2), ("packed", [0, 1], 2, 1)):
        where = (small / "data", steps / f"identity_{name}", out / f"identity_{name}.log")
        sweep(args, *where, seeds, per_gpu, parallel, deterministic=deterministic, timeout=left(), epochs=2)
    alone = _records(steps / "identity_alone")[0]
    packed = next(r for r in _records(steps / "identity_packed") if r["seed"] == 0)
    a, b = comparable(alone), comparable(packed)
    differ = [k for k in a if a[k] != b[k]]
    return {
        "identical": not differ and a["status"] == "done",
        "fields_that_differ": differ,
        "deterministic_flag": deterministic,
        "test_map": [alone.get("test_map"), packed.get("test_map")],
        "torch_threads": [alone["provenance"]["torch_threads"], packed["provenance"]["torch_threads"]],
        "note": ""
        if deterministic or not args.device.startswith("cuda")
        else "this checkout has no --deterministic: CUDA runs use cuDNN's benchmark mode, "
        "so they may differ in any case",
    }


PROG = "python -m benchmark.bench.packing"


def main(argv: list[str] | None = None) -> int:
    return guarded(PROG, _main, argv)


def _main(argv: list[str] | None) -> int:
    p = OneLineParser(prog=PROG, description=__doc__)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/spml-pack-bench"), help="JPEGs and data roots")
    p.add_argument(
        "--dry", action="store_true", help="CPU, ResNet-18 at 32 px, 96 images, K = 1 and 2: checks the steps"
    )
    add_device(p)
    p.add_argument("--pool", type=int, default=3000, help="training pool (80%% trained on per epoch)")
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--image-size", type=int, default=448)
    p.add_argument("--amp", default="bf16")
    add_channels_last(p)
    p.add_argument(
        "--steps",
        nargs="+",
        default=["1", "4", "4+mps", "2", "identity"],
        help="K, K+mps, K+compile, identity; in this order (default: 1 4 4+mps 2 identity)",
    )
    p.add_argument("--identity-pool", type=int, default=160)
    p.add_argument("--identity-test", type=int, default=64)
    p.add_argument("--budget-s", type=float, default=330.0, help="start no step after this many seconds")
    args = p.parse_args(argv)
    try:  # "auto" on a GPU node is cuda: the runs ask for a GPU each
        args.device = str(resolve_device(args.device))
    except (ValueError, RuntimeError) as exc:
        return user_error(PROG, exc)
    if args.dry:
        args.device, args.backbone, args.image_size, args.amp, args.channels_last = "cpu", "resnet18", 32, "off", False
        args.pool, args.test, args.epochs, args.identity_pool, args.identity_test = 64, 32, 2, 48, 24
        if args.steps == p.get_default("steps"):
            args.steps = ["1", "2", "2+mps", "identity"]
    t_start = time.time()
    budget_end = t_start + args.budget_s
    out = args.out
    (out / "steps").mkdir(parents=True, exist_ok=True)
    work = args.workdir / f"{args.pool}-{args.test}"
    data_root = work / "data"
    say = lambda msg: print(f"[pack bench {time.time() - t_start:5.0f}s] {msg}", flush=True)  # noqa: E731

    write_voc(work / "raw", args.pool, args.test)
    prepare(work / "raw", data_root, out / "prepare.log")
    say(f"VOC-shaped data: {args.pool} + {args.test} JPEGs at 500x375, formatted under {data_root}")

    result: dict[str, Any] = {"steps": {}, "skipped": [], "failed": {}}
    for step in args.steps:
        remaining = budget_end - time.time()
        if remaining < 20:
            result["skipped"].append(step)
            say(f"step {step}: skipped (budget of {args.budget_s:.0f}s spent)")
            continue
        try:
            if step == "identity":
                result["identity"] = same = identity(args, work, out, budget_end + 60)
                say(
                    f"identity (seed 0 alone vs packed with seed 1): identical={same['identical']}"
                    f"{'' if same['identical'] else ' differ: ' + str(same['fields_that_differ'])}"
                )
                continue
            m = re.fullmatch(r"(\d+)(\+mps|\+compile)?", step)
            if not m:
                raise StepFailed(f"unknown step {step!r}")
            k, extra = int(m.group(1)), m.group(2) or ""
            results = out / "steps" / f"k{k}{extra.replace('+', '_')}"
            wall = sweep(
                args,
                data_root,
                results,
                out / f"step_{step.replace('+', '_')}.log",
                list(range(k)),
                k,
                1,
                mps=extra == "+mps",
                compile_=extra == "+compile",
                timeout=remaining + 60,
            )
            t = throughput(_records(results), wall)
            if extra == "+mps" and not all(t["mps"]):
                t["note"] = "the MPS daemon did not start (see the step's log): these runs were time-sliced"
            result["steps"][step] = t
            say(
                f"K={step}: {t['aggregate_train_images_per_s']:.0f} train images/s in all "
                f"({', '.join(f'{x:.0f}' for x in t['per_run_train_images_per_s'])} per run); end to end "
                f"{t['end_to_end_train_images_per_s']:.0f}; {wall:.0f}s{'; ' + t['note'] if 'note' in t else ''}"
            )
        except StepFailed as exc:
            result["failed"][step] = str(exc)
            say(f"step {step} FAILED: {exc}")

    steps = result["steps"]
    packed = {
        k: v["aggregate_train_images_per_s"]
        for k, v in steps.items()
        if "compile" not in k and not (k.endswith("+mps") and not all(v["mps"]))
    }
    device_name = next((v["device_name"] for v in steps.values()), args.device)
    if "1" in steps:
        result["speedup_vs_one_run"] = {k: v / steps["1"]["aggregate_train_images_per_s"] for k, v in packed.items()}
    figure = {
        "kind": "packing",
        "device": "cuda" if args.device.startswith("cuda") else "cpu",
        "device_name": device_name,
        "settings": {
            **{k: vars(args)[k] for k in ("backbone", "image_size", "batch_size", "amp", "channels_last")},
            "compile": False,
        },
        "train_images_per_s": packed,
        "eval_images_per_s": steps["1"]["eval_images_per_s"] if "1" in steps else None,
        "measured_here": True,
        "source": f"python -m benchmark.bench.packing ({datetime.now(timezone.utc):%Y-%m-%d}): run_all.py "
        f"--runs-per-gpu K end to end, {args.pool} + {args.test} VOC-shaped JPEGs, {args.epochs} epochs",
        **{k: vars(args)[k] for k in ("pool", "test", "epochs")},
        "seconds": time.time() - t_start,
        "load_average": os.getloadavg(),
        **result,
    }
    slug = re.sub(r"[^a-z0-9]+", "_", str(device_name).lower()).strip("_") or "device"
    path = out / f"{slug}_pack_b{args.batch_size}.json"
    path.write_text(json.dumps(figure, indent=1) + "\n")
    say(f"wrote {path}")
    if "speedup_vs_one_run" in result:
        say("speed-up over one run: " + ", ".join(f"K={k} {v:.2f}x" for k, v in result["speedup_vs_one_run"].items()))
    return 1 if result["failed"] or not steps else 0


if __name__ == "__main__":
    sys.exit(main())
