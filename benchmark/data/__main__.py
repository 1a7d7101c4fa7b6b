"""Command line of the data pipeline.

    python -m benchmark.data download voc --root RAW          # fetch, verify, unpack the official archives
    python -m benchmark.data download nuswide                 # prints the manual steps
    python -m benchmark.data prepare voc --root RAW --out DATA_ROOT/voc
    python -m benchmark.data cache voc --image-size 448       # decoded-image caches, ahead of a sweep
    python -m benchmark.data weights resnet50.tv_in1k         # pretrained weights, for offline compute nodes

A mistake in the arguments or the files exits with status 2 and one line on stderr; Ctrl-C exits
with status 130 (every command resumes where it stopped when run again).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmark.core.cli import OneLineParser, add_data_root, guarded
from benchmark.data import DATASETS, UnknownDatasetError, default_data_root
from benchmark.data.download import download
from benchmark.data.prepare import prepare

REAL = ("voc", "coco", "nuswide", "cub")
PROG = "python -m benchmark.data"
#: a sanity bound (the protocol's size is 448): one image at 4096 px is already 50 MB decoded
MAX_IMAGE_SIZE = 4096


def parse_args(argv: list[str] | None = None, prog: str = PROG) -> argparse.Namespace:
    p = OneLineParser(prog=prog, description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download", help="fetch a dataset's official archives, verify checksums, unpack")
    d.add_argument("dataset", choices=REAL)
    d.add_argument("--root", type=Path, default=None, help="raw root to unpack into (default: DATA_ROOT/raw/<dataset>)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.add_argument("--delete-archives", action="store_true", help="remove each archive once unpacked")
    q = sub.add_parser("prepare", help="official files → formatted directory (reference-codebase layout)")
    q.add_argument("dataset", choices=REAL)
    q.add_argument("--root", type=Path, required=True, help="raw root holding the official files")
    q.add_argument(
        "--out",
        type=Path,
        default=None,
        help="formatted directory (default: DATA_ROOT/<dataset>, DATA_ROOT = $SPML_DATA or ./data)",
    )
    q.add_argument("--force", action="store_true", help="rebuild from the official files even if formatted files exist")
    q.add_argument(
        "--skip-missing-images",
        action="store_true",
        help="drop listed images that are not on disk (recorded in dataset.json) instead of failing",
    )
    c = sub.add_parser("cache", help="build a prepared dataset's decoded-image caches (pool and test) ahead of a sweep")
    c.add_argument("dataset", choices=list(DATASETS))
    c.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="the runs' image size (default: the dataset's protocol value, 448 for the real datasets)",
    )
    add_data_root(c)
    c.add_argument("--workers", type=int, default=None, help="decoding processes (default: CPUs, at most 8)")
    w = sub.add_parser("weights", help="fetch a timm backbone's pretrained weights, for runs on offline compute nodes")
    w.add_argument("model", help="timm model name with a pretrained tag, e.g. resnet50.tv_in1k (the protocol's)")
    w.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also save the backbone's state dict to OUT/<model>.pth, for --pretrained-file "
        "(default: only the timm/Hugging Face cache)",
    )
    return p.parse_args(argv)


def _download(args: argparse.Namespace) -> int:
    root = args.root if args.root is not None else default_data_root() / "raw" / args.dataset
    download(args.dataset, root, progress=not args.no_progress, keep_archives=not args.delete_archives)
    if args.dataset != "nuswide":
        print(f"next: {PROG} prepare {args.dataset} --root {root} --out {default_data_root() / args.dataset}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    out = args.out if args.out is not None else default_data_root() / args.dataset
    meta = prepare(args.dataset, args.root, out, force=args.force, skip_missing=args.skip_missing_images)
    counts = meta["counts"]
    state = "already prepared (use --force to rebuild)" if meta.get("already_prepared") else "prepared"
    print(
        f"{args.dataset} {state} in {out}: {counts['train_images']} train-pool images, {counts['val_images']} "
        f"test images, {meta['num_classes']} classes; source: {meta['source']['kind']}"
    )
    for warning in meta.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    dropped = {k: v for k, v in counts.items() if k.endswith("dropped") or "dropped_" in k}
    if dropped:
        print("dropped: " + json.dumps(dropped))
    return 0


def _cache(args: argparse.Namespace) -> int:
    from benchmark.data.cache import cache_dataset  # why: torch; download/prepare/--help never load it

    if args.image_size is not None and not 0 < args.image_size <= MAX_IMAGE_SIZE:
        raise ValueError(f"--image-size must be a number of pixels from 1 to {MAX_IMAGE_SIZE}, got {args.image_size}")
    if args.workers is not None and args.workers < 0:
        raise ValueError(f"--workers must be 0 or more, got {args.workers}")
    cache_dataset(args.dataset, args.data_root, image_size=args.image_size, num_workers=args.workers, log=print)
    return 0


def _weights(args: argparse.Namespace) -> int:
    from benchmark.data.weights import fetch_weights  # why: torch and timm; the other commands never load them

    fetch_weights(args.model, out=args.out, log=print)
    return 0


COMMANDS = {"download": _download, "prepare": _prepare, "cache": _cache, "weights": _weights}


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = parse_args(argv, prog)
    # every command writes through temporary files and renames: nothing half-written is left
    return guarded(
        f"{prog} {args.command}",
        lambda _: COMMANDS[args.command](args),
        None,
        errors=(OSError, ValueError, UnknownDatasetError),
    )


if __name__ == "__main__":
    sys.exit(main())
