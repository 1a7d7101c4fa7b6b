#!/usr/bin/env python
"""Run every method on the chosen datasets with fixed seeds, then rebuild the leaderboard: the
alias of ``spml-bench run`` for a clone of the repository (``python run_all.py --help``)."""

from __future__ import annotations

import os
import sys

from benchmark.core.cli import guarded, held_interrupt


def _run(argv: list[str] | None) -> int:
    # why: torch loads only now, under held_interrupt (Ctrl-C then is an interruption, not a traceback)
    with held_interrupt():
        from benchmark.cli.run import main as run_main

    return run_main(argv, prog="run_all.py")


def main(argv: list[str] | None = None) -> int:
    return guarded("run_all.py", _run, argv)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
