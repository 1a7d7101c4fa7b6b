"""Command line of the data pipeline.

    python -m benchmark.data download voc --root RAW          # fetch, verify, unpack the official archives
    python -m benchmark.data download nuswide                 # prints the manual steps
    python -m benchmark.data prepare voc --root RAW --out DATA_ROOT/voc
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmark.data import default_data_root

REAL = ("voc", "coco", "nuswide", "cub")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmark.data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download", help="fetch a dataset's official archives, verify checksums, unpack")
    d.add_argument("dataset", choices=REAL)
    d.add_argument("--root", type=Path, default=None, help="raw root to unpack into (default: DATA_ROOT/raw/<dataset>)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.add_argument("--delete-archives", action="store_true", help="remove each archive once unpacked")
    q = sub.add_parser("prepare", help="official files → formatted directory (reference-codebase layout)")
    q.add_argument("dataset", choices=REAL)
    q.add_argument("--root", type=Path, required=True, help="raw root holding the official files")
    q.add_argument("--out", type=Path, default=None, help="formatted directory (default: DATA_ROOT/<dataset>, "
                   "DATA_ROOT = $SPML_DATA or ./data)")
    q.add_argument("--force", action="store_true", help="rebuild from the official files even if formatted files exist")
    q.add_argument("--skip-missing-images", action="store_true",
                   help="drop listed images that are not on disk (recorded in dataset.json) instead of failing")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "download":
            from benchmark.data.download import download

            root = args.root if args.root is not None else default_data_root() / "raw" / args.dataset
            download(args.dataset, root, progress=not args.no_progress, keep_archives=not args.delete_archives)
            if args.dataset != "nuswide":
                print(f"next: python -m benchmark.data prepare {args.dataset} --root {root} "
                      f"--out {default_data_root() / args.dataset}")
            return 0
        from benchmark.data.prepare import prepare

        out = args.out if args.out is not None else default_data_root() / args.dataset
        meta = prepare(args.dataset, args.root, out, force=args.force, skip_missing=args.skip_missing_images)
    except (OSError, ValueError) as exc:
        print(f"python -m benchmark.data {args.command}: error: {exc}", file=sys.stderr)
        return 2
    counts = meta["counts"]
    state = "already prepared (use --force to rebuild)" if meta.get("already_prepared") else "prepared"
    print(f"{args.dataset} {state} in {out}: {counts['train_images']} train-pool images, {counts['val_images']} "
          f"test images, {meta['num_classes']} classes; source: {meta['source']['kind']}")
    if meta["num_classes"] != meta["official_num_classes"]:
        print(f"warning: {meta['num_classes']} classes, the official {args.dataset} has {meta['official_num_classes']}",
              file=sys.stderr)
    dropped = {k: v for k, v in counts.items() if k.endswith("dropped") or "dropped_" in k}
    if dropped:
        print("dropped: " + json.dumps(dropped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
