"""``python -m leaderboard``: rebuild the leaderboard from the run records.

    python -m leaderboard                        # leaderboard/README.md and leaderboard/figures/
    python -m leaderboard --results-dir /tmp/r   # /tmp/r/_leaderboard/README.md and its figures
    python -m leaderboard --format csv           # the main table, one row per cell, to stdout
    python -m leaderboard --format latex --out table.tex
    python -m leaderboard --class person         # also the per-class density figures of 'person'
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from leaderboard.build import DEFAULT_GAIN_METHOD, FIGURES, default_out, export, write_leaderboard
from leaderboard.figures import class_names
from leaderboard.records import RecordError, read_records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m leaderboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="where the run records are (default: results)")
    p.add_argument("--format", choices=["markdown", "csv", "latex", "json"], default="markdown",
                   help="markdown (default): the whole leaderboard with figures; csv/latex/json: the main table")
    p.add_argument("--out", type=Path, default=None,
                   help="output file (markdown: figures go beside it; default leaderboard/README.md for the "
                        "repository's results/, <results-dir>/_leaderboard/README.md for any other; others: stdout)")
    p.add_argument("--gain-method", default=DEFAULT_GAIN_METHOD, help="method of the class-wise gain over AN (default: em)")
    p.add_argument("--class", dest="class_name", default=None, metavar="NAME",
                   help="also draw the unannotated-label densities of this class (e.g. person)")
    args = p.parse_args(argv)
    try:
        if args.format == "markdown":
            out = args.out or default_out(args.results_dir)
            write_leaderboard(args.results_dir, out, args.gain_method, args.class_name)
            print(f"wrote {out} and its figures under {out.parent / FIGURES}", file=sys.stderr)
            if args.class_name:
                records = read_records(args.results_dir)
                datasets = sorted({r["dataset"] for r in records.raw if args.class_name in class_names(records, r["dataset"])})
                if not datasets:
                    print(f"no dataset in {args.results_dir} has a class named '{args.class_name}'", file=sys.stderr)
                    return 2
            return 0
        text = export(args.results_dir, args.format)
        if args.out:
            args.out.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    except RecordError as exc:
        print(f"python -m leaderboard: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
