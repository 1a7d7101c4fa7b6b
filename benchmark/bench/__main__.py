"""``python -m benchmark.bench``: ours against the reference-style loop, side by side."""

import sys

from benchmark.bench.compare import main

if __name__ == "__main__":
    sys.exit(main())
