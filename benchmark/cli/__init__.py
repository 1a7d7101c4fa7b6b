"""``spml-bench``: one command for the benchmark, with a subcommand per task.

    spml-bench run [...]          the sweep (what ``python run_all.py`` does)
    spml-bench status [...]       the sweep's state: ``spml-bench run --status``
    spml-bench leaderboard [...]  rebuild the leaderboard from the records (``python -m leaderboard``)
    spml-bench data [...]         download / prepare datasets (``python -m benchmark.data``)
    spml-bench bench [...]        ours vs the reference-style loop (``python -m benchmark.bench``)

Each subcommand's module is imported only when it is chosen, so ``spml-bench leaderboard`` never
imports torch.

Every entry point answers a user's mistake with one line on stderr and exit status 2 (``OneLineParser``
for the arguments, ``user_error`` for the rest), and Ctrl-C with one line and status 130
(``guarded``): no traceback for either. A traceback means a bug.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from typing import Any, Callable, NoReturn, Sequence

#: exit status of a user's mistake, and of an interrupted command (128 + SIGINT)
USER_ERROR = 2
INTERRUPTED = 130


def one_line(text: object) -> str:
    """``text`` on one line (a message may quote a multi-line value)."""
    return " ".join(str(text).split())


def user_error(prog: str, message: object) -> int:
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr)
    return USER_ERROR


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (``prog: error: ...``) rather than the usage and
    the error: the usage is what ``--help`` is for. A negative number in any notation (``--lr -1e-3``,
    ``-inf``) is read as a value, so that the range check names it, not "expected one argument"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.I)

    def error(self, message: str) -> NoReturn:
        self.exit(USER_ERROR, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def guarded(prog: str, fn: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """``fn(argv)``'s exit status; Ctrl-C ends it with one line and status 130, a closed output
    pipe (``| head``) quietly. ``fn`` may import what it needs: an interrupted import is covered."""
    try:
        return int(fn(argv) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; rerun to resume", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # the reader went away: stop writing, and keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for the same

#: subcommand → ("module:function", one line of help); the function takes ``argv`` and returns an exit status
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("benchmark.cli.run:main", "run a sweep: every method × dataset × seed, records under results/"),
    "status": ("benchmark.cli.run:status_main", "a sweep's runs: done / failed / running / interrupted / missing"),
    "leaderboard": ("leaderboard.__main__:main", "rebuild the leaderboard from the run records"),
    "data": ("benchmark.data.__main__:main", "download and prepare the real datasets"),
    "bench": ("benchmark.bench.compare:main", "measure ours against the reference-style loop"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = [f"  {name:{width}s}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "usage: spml-bench [--version] COMMAND [ARGS...]\n\ncommands:\n" + "\n".join(lines) + \
        "\n\n'spml-bench COMMAND --help' for a command's options; --version: the version and code identity."


def version() -> str:
    """The version and what identifies the code of this install (see ``benchmark.core.provenance``)."""
    from benchmark.core.provenance import code_identity, git_commit

    code, git = code_identity(), git_commit()
    where = (f"commit {git['commit'][:12]}{' with uncommitted changes' if git['dirty'] else ''}"
             if git["commit"] else "not a git checkout")
    return f"spml-bench {code['version']} (code sha256 {code['sha256'][:16]}, {code['files']} files; {where})"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else user_error("spml-bench", "a command is required (the list above)")
    if args[0] == "--version":
        print(version())
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        return user_error("spml-bench", f"unknown command '{name}'; expected one of {', '.join(SUBCOMMANDS)}")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    module, func = SUBCOMMANDS[name][0].split(":")

    def call(argv: Sequence[str] | None) -> int:
        fn: Callable[..., int] = getattr(importlib.import_module(module), func)
        return int(fn(list(argv or [])) or 0)

    return guarded(f"spml-bench {name}", call, rest)


if __name__ == "__main__":
    sys.exit(main())
