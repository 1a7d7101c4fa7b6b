"""``python -m benchmark.cli``: the ``spml-bench`` command without its installed script."""

import sys

from benchmark.cli import main

sys.exit(main())
