"""``spml-bench``: one command for the benchmark, with a subcommand per task.

    spml-bench run [...]          the sweep (what ``python run_all.py`` does)
    spml-bench status [...]       the sweep's state: ``spml-bench run --status``
    spml-bench leaderboard [...]  rebuild the leaderboard from the records (``python -m leaderboard``)
    spml-bench data [...]         download / prepare datasets (``python -m benchmark.data``)
    spml-bench bench [...]        ours vs the reference-style loop (``python -m benchmark.bench``)

Each subcommand's module is imported only when it is chosen, so ``spml-bench leaderboard`` never
imports torch.

Every entry point uses the toolkit of ``benchmark.core.cli``: a user's mistake is one line on stderr
and exit status 2, Ctrl-C one line and status 130; a traceback means a bug.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from benchmark.core.cli import guarded, held_interrupt, user_error
from benchmark.core.provenance import code_identity, git_commit

#: subcommand → ("module:function", one line of help); the function takes ``argv`` and ``prog`` and
#: returns an exit status
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
    return (
        "usage: spml-bench [--version] COMMAND [ARGS...]\n\ncommands:\n"
        + "\n".join(lines)
        + "\n\n'spml-bench COMMAND --help' for a command's options; --version: the version and code identity."
    )


def version() -> str:
    """The version and what identifies the code of this install (see ``benchmark.core.provenance``)."""
    code, git = code_identity(), git_commit()
    where = (
        f"commit {git['commit'][:12]}{' with uncommitted changes' if git['dirty'] else ''}"
        if git["commit"]
        else "not a git checkout"
    )
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
    prog = f"spml-bench {name}"

    def call(argv: list[str] | None) -> int:
        with held_interrupt():  # Ctrl-C while torch or pandas loads: an interruption, not a traceback
            fn: Callable[..., int] = getattr(importlib.import_module(module), func)
        return int(fn(argv or [], prog=prog) or 0)

    return guarded(prog, call, rest)


if __name__ == "__main__":
    sys.exit(main())
