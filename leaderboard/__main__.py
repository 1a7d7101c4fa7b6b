"""``python -m leaderboard``: rebuild the leaderboard from the run records."""

from __future__ import annotations

import argparse
from pathlib import Path

from leaderboard.build import HERE, write_leaderboard


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m leaderboard", description=__doc__)
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--out", type=Path, default=HERE / "README.md")
    args = p.parse_args()
    print(write_leaderboard(args.results_dir, args.out))


if __name__ == "__main__":
    main()
