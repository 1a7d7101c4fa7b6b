"""The leaderboard's errors: each carries one line that names the file, folder or cell at fault and
what was expected, so a command line (``python -m leaderboard``, the end of ``spml-bench run``) can
print it as is and exit 2 without a traceback."""

from __future__ import annotations


class LeaderboardError(Exception):
    """The leaderboard cannot be built or written: a missing or unreadable results folder, an output
    path that cannot be written, a folder without any run record."""

    def __init__(self, message: object) -> None:
        # one line whatever it quotes (an OS message, a value with a newline): a command prints it as is
        super().__init__(" ".join(str(message).split()))


class RecordError(LeaderboardError, ValueError):
    """A file that cannot be read as a run record, or records that cannot share a cell (raised by the
    strict reader; the default reader lists such files and cells apart and goes on)."""
