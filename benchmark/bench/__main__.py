"""``python -m benchmark.bench``: ours against the reference-style loop, side by side."""

import sys
from collections.abc import Sequence

from benchmark.core.cli import guarded, held_interrupt


def _run(argv: Sequence[str] | None) -> int:
    # why: under held_interrupt, Ctrl-C while torch loads is an interruption, not a traceback
    with held_interrupt():
        from benchmark.bench.compare import main

    return main(None if argv is None else list(argv))


if __name__ == "__main__":
    sys.exit(guarded("python -m benchmark.bench", _run))
