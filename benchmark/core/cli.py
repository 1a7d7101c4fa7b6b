"""The command-line toolkit every entry point uses (``spml-bench``, ``run_all.py``, ``python -m
leaderboard``, ``python -m benchmark.data``, the bench scripts), torch-free:

- ``OneLineParser``: argparse whose errors are one line and exit 2, reading negative numbers as
  values, and remembering which flags were given (``given``);
- ``describe_validation``: a pydantic error as one line naming the field (or flag), the value and
  what was expected;
- ``guarded``: Ctrl-C is one line and exit 130, a closed output pipe exit 141, a listed user
  error one line and exit 2; ``held_interrupt`` covers heavy imports done after parsing;
- ``check_path``: a folder to read or write, a file to write, one line naming the flag;
- the shared flags, each defined once with one default and one meaning: ``add_device``,
  ``add_seeds``, ``add_data_root``, ``add_methods``, ``add_json``, ``add_threads``,
  ``add_channels_last``.

A user's mistake is one line on stderr and exit status 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import stat
import sys
import tempfile
import threading
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NoReturn

#: exit statuses: a user's mistake; Ctrl-C (128 + SIGINT); a reader that went away (128 + SIGPIPE)
USER_ERROR = 2
INTERRUPTED = 130
BROKEN_PIPE = 141

#: the model seeds of the reference code: the default sweep's and every tool's ``--seeds``
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 8)


def default_data_root() -> Path:
    """Where prepared datasets live: ``$SPML_DATA``, else ``./data``."""
    return Path(os.environ.get("SPML_DATA", "./data"))


def json_or_text(text: str) -> Any:
    """A flag's value read as JSON, or kept as the string it is when it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def one_line(text: object) -> str:
    """``text`` on one line (a message may quote a multi-line value)."""
    return " ".join(str(text).split())


def user_error(prog: str, message: object) -> int:
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr)
    return USER_ERROR


# -- the parser ------------------------------------------------------------------------------------
_GIVEN = "_given_flags"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (``prog: error: ... (see --help)``): the usage is
    what ``--help`` is for. A negative number in any notation (``--lr -1e-3``, ``-inf``) is read as
    a value, so that the range check names it. The parsed namespace remembers which flags were
    given (``given(args)``), so that a flag's default never overrides a sweep file's value."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.I)

    def error(self, message: str) -> NoReturn:
        self.exit(USER_ERROR, f"{self.prog}: error: {one_line(message)} (see --help)\n")

    def parse_known_args(  # type: ignore[override]  # one signature, not argparse's overloads
        self,
        args: Sequence[str] | None = None,
        namespace: argparse.Namespace | None = None,
    ) -> tuple[argparse.Namespace, list[str]]:
        # flags parse with no default, so the ones absent afterwards are those not given
        flags = [
            a
            for a in self._actions
            if a.option_strings and a.dest != argparse.SUPPRESS and a.default is not argparse.SUPPRESS
        ]
        saved = [a.default for a in flags]
        for action in flags:
            action.default = argparse.SUPPRESS
        try:
            ns, rest = super().parse_known_args(args, namespace)
        finally:
            for action, default in zip(flags, saved):
                action.default = default
        given = set(getattr(ns, _GIVEN, ())) | {a.dest for a in flags if hasattr(ns, a.dest)}
        for action in flags:
            if not hasattr(ns, action.dest):
                default = action.default
                setattr(ns, action.dest, self._get_value(action, default) if isinstance(default, str) else default)
        setattr(ns, _GIVEN, frozenset(given))
        return ns, rest


def given(args: argparse.Namespace) -> frozenset[str]:
    """The destinations of the flags given on the command line (``OneLineParser``)."""
    return frozenset(getattr(args, _GIVEN, ()))


def _at_least(least: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: '{text}'") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value

    return parse


# -- the shared flags: one default and one meaning each --------------------------------------------
def add_device(p: argparse._ActionsContainer) -> None:
    p.add_argument(
        "--device", default="auto", help="auto (CUDA when present, else the CPU; the default), cpu, cuda, cuda:N or mps"
    )


def add_seeds(p: argparse._ActionsContainer) -> None:
    p.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=list(DEFAULT_SEEDS),
        metavar="SEED",
        help=f"model seeds (default: {' '.join(map(str, DEFAULT_SEEDS))}, the reference code's)",
    )


def add_data_root(p: argparse._ActionsContainer) -> None:
    p.add_argument(
        "--data-root",
        type=Path,
        default=default_data_root(),
        metavar="DIR",
        help="prepared datasets, and where the embedded set is built (default: $SPML_DATA or ./data)",
    )


def add_methods(p: argparse._ActionsContainer, study: Sequence[str] | None = None) -> None:
    """``--methods``; a study that is about certain methods names them as its default (``study``)."""
    default = "every registered method" if study is None else " ".join(study)
    p.add_argument(
        "--methods",
        nargs="+",
        default=None if study is None else list(study),
        metavar="KEY",
        help=f"method keys (default: {default})",
    )


def add_json(p: argparse._ActionsContainer) -> None:
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the results to FILE as JSON")


def add_threads(p: argparse._ActionsContainer) -> None:
    p.add_argument(
        "--threads",
        type=_at_least(1),
        default=1,
        metavar="N",
        help="torch intra-op threads of this process (default 1: CPU time is then per core, and "
        "small models gain nothing from more)",
    )


def add_channels_last(p: argparse._ActionsContainer) -> None:
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="channels-last memory format for the model and its inputs (default: off, as a run's)",
    )


# -- paths -----------------------------------------------------------------------------------------
#: what a path that is neither a regular file nor a folder is, for messages (``stat.S_IFMT``)
_NODE_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def check_path(
    flag: str,
    path: Path,
    kind: Literal["folder", "file"],
    *,
    write: bool = False,
    exist: bool = False,
    not_under: Path | None = None,
) -> None:
    """``path`` is usable as ``kind``, else ``ValueError`` with one line naming ``flag``. A folder:
    not a file, there (``exist``) or else makeable; a file: not a folder, in an existing folder.
    With ``write``, a file can be created where it would go: probed by creating one, which answers
    for permissions, read-only file systems and ACLs alike; and a file to write is a regular file
    or a new path — never a link (writing would replace the link or what it points at), a FIFO or
    a device. ``not_under``: a folder the path must not be inside (a results folder, whose records
    an output must never replace)."""
    if not_under is not None and _inside(path, not_under):
        raise ValueError(
            f"{flag} {path} is inside {not_under}, expected a path outside it (files there are not overwritten)"
        )
    if kind == "file" and write:
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            mode = None  # a new path (or one that cannot be looked at: answered below)
        if mode is not None and stat.S_IFMT(mode) in _NODE_KINDS:
            kind_of = _NODE_KINDS[stat.S_IFMT(mode)]
            raise ValueError(f"{flag} {path} is {kind_of}, expected a regular file or a new path")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is a file, expected a folder")
    if kind == "file" and path.is_dir():
        raise ValueError(f"{flag} {path} is a folder, expected a file name")
    if exist and not path.exists():
        raise ValueError(f"{flag} {path} does not exist")
    existing = path if kind == "folder" else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{flag} {path} cannot be made: {existing} is a file")
    if kind == "file" and existing != path.parent:
        raise ValueError(f"{flag} {path}: its folder {path.parent} does not exist")
    if write:
        try:
            with tempfile.TemporaryFile(dir=existing, prefix=".spml-write-check-"):
                pass
        except OSError as exc:
            raise ValueError(
                f"{flag} {path} is not writable: cannot create a file in {existing} ({exc.strerror or exc})"
            ) from None
    elif not os.access(existing, os.R_OK | os.X_OK):
        raise ValueError(f"{flag} {path} cannot be read (permission denied)")


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or under it, links and ``..`` resolved (the file need not exist)."""
    try:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))
    except (OSError, ValueError):
        return False


# -- pydantic errors -------------------------------------------------------------------------------
def field_name(field: str) -> str:
    """How a message names a field by default: ``field 'overrides.epochs'``."""
    return f"field '{field}'"


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, dict) else "{...}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_sentence(error: Any, field: str, name: Callable[[str], str] = field_name) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a sentence about ``field``,
    named by ``name``: ``field 'lr' is inf: expected a finite number``. A validator's own message
    (which names the value itself) is kept as it is."""
    kind, msg = error["type"], str(error["msg"])
    if kind in ("value_error", "assertion_error"):
        reason = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ").removeprefix("hparams: ")
        return f"{name(field)}: {reason}" if field else reason
    if kind == "missing":
        return f"{name(field)} is required"
    ctx = error.get("ctx") or {}
    expected = (
        f"at least {ctx.get('min_length')} value(s)" if kind == "too_short" else msg.removeprefix("Input should be ")
    )
    return f"{name(field)} is {_shown(error.get('input'))}: expected {expected}"


def _fields_at(model: Any, loc: Iterable[Any]) -> list[str] | None:
    """The field names of the (nested) pydantic model at ``loc`` under ``model``, if it is one."""
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = next(
            (t for t in (field.annotation, *typing.get_args(field.annotation)) if hasattr(t, "model_fields")), None
        )
    return list(getattr(model, "model_fields", {})) or None


def describe_validation(exc: Any, *, model: Any = None, name: Callable[[str], str] = field_name) -> str:
    """A pydantic ``ValidationError`` in one line: the field (named by ``name``: a flag, for
    errors in values given as flags), the value, what was expected; ``(and N more)`` when several
    are wrong. An unknown field lists the known ones of ``model`` (the validated class)."""
    # a misspelt name explains the "missing" error of the name it stands for: report it first
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        known = _fields_at(model, first["loc"][:-1]) if model is not None else None
        text = f"unknown field '{field}'" + (f"; expected one of {', '.join(known)}" if known else "")
    else:
        text = error_sentence(first, field, name)
    more = len(errors) - 1
    return one_line(text) + (f" (and {more} more)" if more else "")


# -- interruptions and the end of a command ----------------------------------------------------------
@contextmanager
def held_interrupt() -> Iterator[None]:
    """Hold a Ctrl-C that comes while heavy modules (torch, numpy, pandas) are imported until they
    are: numpy turns an interrupt inside its C import into an ImportError with a traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hit: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: hit.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if hit:
        raise KeyboardInterrupt


def guarded(
    prog: str,
    fn: Callable[[list[str] | None], int | None],
    argv: Sequence[str] | None = None,
    *,
    errors: tuple[type[BaseException], ...] = (),
    hint: str = "rerun to resume",
) -> int:
    """``fn(argv)``'s exit status. Ctrl-C ends it with one line (``prog: interrupted; hint``) and
    status 130; a closed output pipe (``| head``) quietly with 141; an exception of ``errors`` (the
    command's user errors) with one line and status 2."""
    try:
        return int(fn(None if argv is None else list(argv)) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # the reader went away: stop writing, and keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except errors as exc:  # a tuple of exception classes, () by default
        return user_error(prog, exc)
