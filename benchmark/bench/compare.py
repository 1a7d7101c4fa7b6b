"""Ours against the reference-style loop, side by side in one process, on the same model, data,
batch size and worker count (see ``python -m benchmark.bench --help``).

Three measurements, each as images/s of ours and of the reference, and their ratio:
(a) the input pipeline over one epoch: batches ready on the device, normalised (and flipped);
(b) one training epoch, data included;
(c) one evaluation pass, mAP included.
Ours reads the decoded-image cache, whose one-off build is timed separately and reported with
how it amortises. Warm-up batches (cuDNN autotuning, allocator, compilation) are not timed, for
either side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

import methods
from benchmark.bench.fixtures import make_jpegs, make_labels
from benchmark.bench.reference import ReferenceImages, reference_evaluate, reference_loader, reference_train_epoch
from benchmark.bench.study import command
from benchmark.core.cli import OneLineParser, add_channels_last, add_device, add_json, add_threads, check_path
from benchmark.data import IMAGENET_MEAN, IMAGENET_STD
from benchmark.data.cache import MappedImages, build_cache, cache_key, default_build_workers, store_fingerprint
from benchmark.data.files import FileImages
from benchmark.data.protocol import observe
from benchmark.data.store import Subset
from benchmark.data.voc import CLASSES as VOC_CLASSES
from benchmark.run.environment import torch_threads
from benchmark.run.loop import Normalizer, forward_all, iterate, resolve_device, train_epoch
from benchmark.run.metrics import average_precision
from benchmark.run.models import build_model
from benchmark.run.seeding import set_determinism
from benchmark.spec.validation import check_backbone, check_device_available

NUM_CLASSES = len(VOC_CLASSES)

#: per-device defaults: a small backbone and resolution on the CPU, the protocol's on CUDA
DEFAULTS: dict[str, dict[str, Any]] = {
    "cpu": {
        "backbone": "resnet18",
        "image_size": 64,
        "batch_size": 32,
        "images": 256,
        "ref_images": 256,
        "eval_images": 256,
        "warmup_batches": 1,
        "ours_epochs": 1,
        "amp": "bf16",
    },
    "cuda": {
        "backbone": "resnet50",
        "image_size": 448,
        "batch_size": 64,
        "images": 2048,
        "ref_images": 1280,
        "eval_images": 1024,
        "warmup_batches": 8,
        "ours_epochs": 2,
        "amp": "bf16",
    },
}
#: the measurement's sizes, each a flag (``--image-size``...); ``amp`` is ours alone, a choice
SIZES = tuple(key for key in DEFAULTS["cpu"] if key != "amp")
#: the least value of each count flag (a warm-up and the DataLoader's workers may be 0)
AT_LEAST = {**{key: 1 for key in SIZES if key != "backbone"}, "warmup_batches": 0, "workers": 0}
#: what ``main`` prints of the result (``--json`` writes all of it)
SUMMARY = (
    "device",
    "device_name",
    "input_speedup",
    "train_speedup",
    "eval_speedup",
    "ours_train_images_per_s",
    "ref_train_images_per_s",
    "cache_build_images_per_s",
)


@dataclass
class Timing:
    images: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.images / max(self.seconds, 1e-9)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def say(msg: str) -> None:
    print(msg, flush=True)


def timed(device: torch.device, fn: Callable[[], int]) -> Timing:
    _sync(device)
    t0 = time.perf_counter()
    n = fn()
    _sync(device)
    return Timing(n, time.perf_counter() - t0)


def versus(out: dict[str, Any], what: str, title: str, ref: Timing, ours: Timing, digits: int = 2) -> None:
    """Each side's images/s of ``what`` and ours over the reference's into ``out``, said after ``title``."""
    out[f"ref_{what}_images_per_s"], out[f"ours_{what}_images_per_s"] = ref.per_second, ours.per_second
    out[f"{what}_speedup"] = speedup = ours.per_second / ref.per_second
    say(
        f"{title}: ours {ours.per_second:.0f} images/s, reference {ref.per_second:.0f} images/s → {speedup:.{digits}f}x"
    )


PROG = "python -m benchmark.bench"


def parse_args(argv: list[str] | None = None, prog: str = PROG) -> argparse.Namespace:
    p = OneLineParser(prog=prog, description=__doc__)
    add_device(p)
    add_json(p)
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where fixture JPEGs are generated (reused) and the cache is built (fresh each run); "
        "default: $TMPDIR/spml-bench",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="DataLoader workers for both sides (default: min(8, cores))"
    )
    add_threads(p)
    for key in SIZES:
        kind = type(DEFAULTS["cpu"][key])
        p.add_argument(f"--{key.replace('_', '-')}", type=kind, default=None, help="default: per device, see DEFAULTS")
    p.add_argument("--amp", choices=["off", "bf16", "fp16"], default=None, help="ours (default: bf16)")
    add_channels_last(p)
    p.add_argument("--compile", action="store_true", help="torch.compile our model's forward")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """A user's mistake in the flags, before minutes of measuring: ``ValueError`` naming the flag,
    the value and what is valid."""
    check_device_available(args.device)
    if args.backbone is not None:
        check_backbone(args.backbone)
    for name, least in AT_LEAST.items():
        value = getattr(args, name)
        if value is not None and value < least:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {least}, got {value}")
    if args.json is not None:
        check_path("--json", args.json, "file", write=True)
    if args.workdir is not None:
        check_path("--workdir", args.workdir, "folder")


def settings(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    defaults = DEFAULTS["cuda" if device.type == "cuda" else "cpu"]
    s = {key: default if getattr(args, key) is None else getattr(args, key) for key, default in defaults.items()}
    s["workers"] = args.workers if args.workers is not None else default_build_workers()
    s["compile"], s["channels_last"] = bool(args.compile), args.channels_last
    s["images"] = max(s["images"], s["ref_images"])
    return s


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = resolve_device(args.device)
    with torch_threads(args.threads):  # called in-process (tests), the caller's count stays
        s = settings(args, device)
        pin = device.type == "cuda"
        workdir = args.workdir or Path(tempfile.gettempdir()) / "spml-bench"
        device_name = (
            torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
        )
        say(f"device {device} ({device_name}), torch threads {torch.get_num_threads()}, settings {s}")

        # -- data: fixture JPEGs of VOC size, labels, one observed positive per image -----------------
        n = max(s["images"], s["eval_images"])
        t0 = time.perf_counter()
        paths = make_jpegs(workdir / "jpegs", n, threads=max(1, s["workers"]))
        say(f"{n} fixture JPEGs ready in {time.perf_counter() - t0:.1f}s ({workdir / 'jpegs'})")
        labels = make_labels(n, NUM_CLASSES)
        observed_np = observe(labels, "1p")
        size, workers = s["image_size"], s["workers"]

        # -- our decoded-image cache, built fresh so that its cost is measured -------------------------
        names = np.array([p.name for p in paths])
        files = FileImages(str(workdir / "jpegs"), names[: s["images"]], size)
        with tempfile.TemporaryDirectory(dir=workdir) as cache_root:
            cache_path = (
                Path(cache_root) / f"{cache_key('bench', 'train', (3, size, size), store_fingerprint(files))}.npy"
            )
            build = timed(
                torch.device("cpu"), lambda: (build_cache(files, cache_path, num_workers=workers), len(files))[1]
            )
            say(
                f"cache build: {build.images} images in {build.seconds:.2f}s "
                f"({build.per_second:.0f} images/s, {workers} workers)"
            )
            eval_files = FileImages(str(workdir / "jpegs"), names[: s["eval_images"]], size)
            eval_path = Path(cache_root) / "eval.npy"
            build_cache(eval_files, eval_path, num_workers=workers)
            store, eval_store = MappedImages.open(cache_path), MappedImages.open(eval_path)
            result = _measure(s, device, pin, store, eval_store, paths, labels, observed_np)
        ref_epoch_s = s["ref_images"] / result["ref_train_images_per_s"]
        ours_epoch_s = s["ref_images"] / result["ours_train_images_per_s"]
        result.update(
            {
                "cache_build_seconds": build.seconds,
                "cache_build_images_per_s": build.per_second,
                # the worst case: a single one-epoch run that builds the cache itself
                "train_speedup_single_epoch_including_cache_build": ref_epoch_s
                / (ours_epoch_s + s["ref_images"] / build.per_second),
                "cache_amortisation": (
                    "built once per dataset split and read by every epoch, seed and method: in the full table a "
                    "split's cache serves 15 rows x 3 seeds x up to 10 epochs (450 training epochs) plus the "
                    "val/test passes, so its cost per epoch is the build time over the number of epochs that read it"
                ),
                "device": str(device),
                "device_name": device_name,
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
                "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
                "settings": s,
            }
        )
        return result


def _measure(
    s: dict[str, Any],
    device: torch.device,
    pin: bool,
    store: MappedImages,
    eval_store: MappedImages,
    paths: list[Path],
    labels: np.ndarray,
    observed_np: np.ndarray,
) -> dict[str, Any]:
    size, bs, workers = s["image_size"], s["batch_size"], s["workers"]
    n_ref, n_ours, n_eval = s["ref_images"], s["images"], s["eval_images"]
    torch.manual_seed(0)
    ours_model = build_model(s["backbone"], NUM_CLASSES, pretrained=False).to(device)
    ref_model = build_model(s["backbone"], NUM_CLASSES, pretrained=False).to(device)
    ref_model.load_state_dict(ours_model.state_dict())  # the same initial weights on both sides
    if s["channels_last"]:
        ours_model = ours_model.to(memory_format=torch.channels_last)
    forward = torch.compile(ours_model) if s["compile"] else ours_model
    method = methods.build("an", num_classes=NUM_CLASSES).to(device)
    method.attach(ours_model)
    ours_opt = torch.optim.Adam(ours_model.parameters(), lr=1e-4)
    ref_opt = torch.optim.Adam(ref_model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(enabled=s["amp"] == "fp16" and device.type == "cuda")
    dtype = torch.bfloat16 if s["amp"] == "bf16" else torch.float16
    autocast = lambda: torch.autocast(device.type, dtype=dtype, enabled=s["amp"] != "off")  # noqa: E731
    normalize = Normalizer(IMAGENET_MEAN, IMAGENET_STD, device, s["channels_last"])
    observed = torch.from_numpy(observed_np[:n_ours]).to(device)
    rng = np.random.RandomState(0)
    out: dict[str, Any] = {}

    ref_train = ReferenceImages(paths[:n_ref], observed_np[:n_ref], size, train=True)
    ref_eval = ReferenceImages(paths[:n_eval], labels[:n_eval], size, train=False)

    # -- (a) input pipeline: one epoch of batches on the device ------------------------------------
    def ref_input() -> int:
        loader = reference_loader(ref_train, bs, workers, shuffle=True, pin=pin)
        return sum(batch["image"].to(device, non_blocking=True).shape[0] for batch in loader)

    def ours_input() -> int:
        order, flips = rng.permutation(n_ref), torch.from_numpy(rng.rand(n_ours) < 0.5)
        return sum(normalize(x, flips[idx]).shape[0] for x, idx in iterate(store, order, bs, workers, pin))

    versus(out, "input", "(a) input pipeline", timed(device, ref_input), timed(device, ours_input), digits=1)

    # -- (b) one training epoch, data included (after untimed warm-up batches on each side) --------
    set_determinism(device, None)
    warm = s["warmup_batches"]
    if warm:
        reference_train_epoch(
            ref_model, ref_opt, reference_loader(ref_train, bs, 0, True, pin), device, max_batches=warm
        )
    set_determinism(device, None)  # the same policy for ours (cuDNN benchmark on CUDA)

    def ours_epoch(order: np.ndarray) -> int:
        flips = torch.from_numpy(rng.rand(n_ours) < 0.5)
        loop: dict[str, Any] = {"num_workers": workers, "pin": pin, "autocast": autocast, "forward": forward}
        train_epoch(
            ours_model, method, ours_opt, scaler, normalize, store, observed, order, flips, batch_size=bs, **loop
        )
        return len(order)

    if warm:
        ours_epoch(rng.permutation(n_ours)[: warm * bs])
    # the loader is made inside the clock, as it was before: the reference epoch counts its making
    ref_tr = timed(
        device,
        lambda: reference_train_epoch(ref_model, ref_opt, reference_loader(ref_train, bs, workers, True, pin), device)[
            "images"
        ],
    )
    ours_runs = [timed(device, lambda: ours_epoch(rng.permutation(n_ours))) for _ in range(s["ours_epochs"])]
    ours_tr = Timing(sum(t.images for t in ours_runs), sum(t.seconds for t in ours_runs))
    out["ref_train_images_per_s"], out["ours_train_images_per_s"] = ref_tr.per_second, ours_tr.per_second
    out["ours_train_images_per_s_per_epoch"] = [t.per_second for t in ours_runs]
    out["train_speedup"] = ours_tr.per_second / ref_tr.per_second
    say(
        f"(b) training epoch: ours {ours_tr.per_second:.0f} images/s ({ours_tr.images} images), reference "
        f"{ref_tr.per_second:.0f} images/s ({ref_tr.images} images) → {out['train_speedup']:.2f}x"
    )

    # -- (c) one evaluation pass with mAP -----------------------------------------------------------
    eval_targets = torch.from_numpy(labels[:n_eval]).to(device)

    ours_scores = partial(forward_all, ours_model, normalize=normalize, fn=forward, pin=pin, autocast=autocast)

    def ours_eval() -> int:
        # the harness evaluates at max(batch, 64): no gradients, so a larger batch is free
        scores = ours_scores(eval_store, batch_size=max(bs, 64), num_workers=workers)
        out["ours_eval_map"] = float(average_precision(torch.sigmoid(scores), eval_targets).mean()) * 100
        return n_eval

    def ref_eval_pass() -> int:
        out["ref_eval_map"] = reference_evaluate(
            ref_model, reference_loader(ref_eval, bs, workers, False, pin), labels[:n_eval], device
        )
        return n_eval

    if s["compile"]:  # eval mode is another graph: compile it before the clock starts
        ours_scores(Subset(eval_store, np.arange(min(n_eval, bs))), batch_size=bs)
    versus(out, "eval", "(c) evaluation pass", timed(device, ref_eval_pass), timed(device, ours_eval))
    out["ours_train_images_per_s_median_epoch"] = statistics.median(out["ours_train_images_per_s_per_epoch"])
    return out


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    return command(
        prog, argv, parse_args, check_args, run, lambda _, r: json.dumps({k: r[k] for k in SUMMARY}, indent=1)
    )
