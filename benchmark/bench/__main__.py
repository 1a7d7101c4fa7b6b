"""``python -m benchmark.bench``: ours against the reference-style loop, side by side."""

import sys
from typing import Sequence

from benchmark.cli import guarded


def _run(argv: Sequence[str] | None) -> int:
    from benchmark.bench.compare import main  # inside the guard: Ctrl-C while torch loads is no traceback

    return main(None if argv is None else list(argv))


if __name__ == "__main__":
    sys.exit(guarded("python -m benchmark.bench", _run))
