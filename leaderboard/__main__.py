"""``python -m leaderboard``: rebuild the leaderboard from the run records.

    python -m leaderboard                        # leaderboard/README.md and leaderboard/figures/
    python -m leaderboard --results-dir /tmp/r   # /tmp/r/_leaderboard/README.md and its figures
    python -m leaderboard --format csv           # the main table, one row per cell, to stdout
    python -m leaderboard --format latex --out table.tex
    python -m leaderboard --format runs --out runs.csv   # every run, one row (also runs-jsonl)
    python -m leaderboard --power                # variance components; seeds to resolve 1 mAP from the best
    python -m leaderboard --class person         # also the per-class density figures of 'person'
    python -m leaderboard --predict              # τ of each embedded set's ranking with the published ones
    python -m leaderboard --predict an ls em ... # the same over the named rows only (a candidate's clean rows)

Files under the results folder that are not run records, and cells whose records cannot be averaged
together, are named on stderr (one line each) and on the page, and left out; the rest is built.
Exit status: 0 built, 2 a usage error (one line on stderr), 130 interrupted, 141 a closed pipe.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.core.cli import OneLineParser, guarded, held_interrupt
from leaderboard.errors import LeaderboardError
from leaderboard.paths import check_out, check_results_dir, default_out
from leaderboard.site import default_site

PROG = "python -m leaderboard"
FORMATS = ["markdown", "csv", "latex", "json", "runs", "runs-jsonl"]


def _parser(prog: str) -> argparse.ArgumentParser:
    p = OneLineParser(prog=prog, description=__doc__)
    p.add_argument(
        "--results-dir", type=Path, default=Path("results"), help="where the run records are (default: results)"
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="markdown",
        help="markdown (default): the whole leaderboard with figures; csv/latex/json: the main table; "
        "runs/runs-jsonl: one row per record with every hyper-parameter and config field",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output file, in an existing folder (markdown: figures go beside it; default leaderboard/README.md "
        "for the repository's results/, <results-dir>/_leaderboard/README.md for any other; others: stdout)",
    )
    p.add_argument("--gain-method", default="em", help="method of the class-wise gain over AN (default: em)")
    p.add_argument(
        "--class",
        dest="class_name",
        default=None,
        metavar="NAME",
        help="also draw the unannotated-label densities of this class (e.g. person)",
    )
    p.add_argument(
        "--power",
        action="store_true",
        help="print, per dataset, the variance components of the seeds (model seed, data seed) and, per row, the "
        "seeds needed to resolve a difference of --delta mAP from the best row",
    )
    p.add_argument(
        "--predict",
        nargs="*",
        default=None,
        metavar="ROW",
        help="print Kendall τ-b (with its bootstrap interval) and Spearman ρ between each embedded dataset's 1p "
        "ranking and each published column (docs/predict.md); with ROW names, over those rows (methods) only",
    )
    p.add_argument("--delta", type=float, default=1.0, help="the difference in mAP points for --power (default: 1)")
    p.add_argument(
        "--allow-mixed-code",
        action="store_true",
        help="pool runs made by different code (provenance.code.sha256) in one cell; the page names "
        "such cells (default: such a cell is a conflict, left out)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 if any file is not a valid record or any cell is left out (for CI), instead of skipping them",
    )
    p.add_argument(
        "--site",
        type=Path,
        default=None,
        metavar="DIR",
        help="markdown: also write the static web site here (default: _site/ beside the markdown file)",
    )
    p.add_argument("--no-site", action="store_true", help="markdown: do not write the static web site")
    return p


def _run(args: argparse.Namespace, prog: str) -> int:
    # the arguments and paths first, before pandas and matplotlib are imported: a typo is answered at once
    if args.power and not args.delta > 0:
        raise LeaderboardError(f"--delta is {args.delta}, expected a difference in mAP points > 0")
    check_results_dir(args.results_dir)
    markdown_out = args.out or default_out(args.results_dir)
    # an output never replaces a record: not inside the results folder (its _leaderboard/ aside), no link or FIFO
    if args.format == "markdown" and not args.power and args.predict is None:
        check_out(markdown_out, create_parents=args.out is None, results_dir=args.results_dir)
    elif args.out is not None:
        check_out(args.out, results_dir=args.results_dir)

    with held_interrupt():  # why: pandas and matplotlib load only once the arguments and paths are fine
        from leaderboard.build import FIGURES, export, load, power_text, write_leaderboard, write_text

    warned: list[str] = []

    def warn(line: str) -> None:
        warned.append(line)
        print(f"{prog}: warning: {line}", file=sys.stderr)

    def strict_check() -> None:
        if args.strict and warned:
            raise LeaderboardError(f"--strict: {len(warned)} invalid record file(s) or cell(s) left out (named above)")

    if args.predict is not None:
        from leaderboard.page_predict import predict_text

        records = load(args.results_dir, warn, allow_mixed_code=args.allow_mixed_code)
        strict_check()
        text = predict_text(records, args.predict or None)
    elif args.power:
        text = power_text(args.results_dir, args.delta, warn, allow_mixed_code=args.allow_mixed_code)
        strict_check()
    elif args.format == "markdown":
        if args.strict:
            load(args.results_dir, warn, allow_mixed_code=args.allow_mixed_code)
            strict_check()
        site = None if args.no_site else args.site or default_site(markdown_out)
        write_leaderboard(
            args.results_dir,
            markdown_out,
            args.gain_method,
            args.class_name,
            warn=None if args.strict else warn,
            create_parents=args.out is None,
            site=site,
            allow_mixed_code=args.allow_mixed_code,
        )
        print(
            f"wrote {markdown_out} and its figures under {Path(markdown_out).parent / FIGURES}"
            + ("" if site is None else f"; the site: {Path(site) / 'index.html'}"),
            file=sys.stderr,
        )
        return 0
    else:
        text = export(args.results_dir, args.format, warn, allow_mixed_code=args.allow_mixed_code)
        strict_check()
    if args.out is not None:
        write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """The command line; returns the exit status (``spml-bench leaderboard`` calls it too)."""
    return guarded(
        prog, lambda args: _run(_parser(prog).parse_args(args), prog), argv, errors=(LeaderboardError,), hint=""
    )


if __name__ == "__main__":
    sys.exit(main())
