"""``python -m benchmark.cli``: ``spml-bench`` without installing the console script."""

import sys

from benchmark.cli import main

if __name__ == "__main__":
    sys.exit(main())
