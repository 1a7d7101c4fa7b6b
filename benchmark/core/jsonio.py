"""Reading one JSON file strictly: every way it can fail is one line naming the file and the reason,
raised as the caller's error class (a run record, a prepared dataset's ``dataset.json``, an official
annotation file each have their own), never a parser's traceback.

Strict: ``NaN`` and ``Infinity`` are not JSON and are refused (the project writes non-finite
numbers as ``null``); only a regular file is opened, so a folder or a FIFO is named, not waited on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class JSONFileError(ValueError):
    """A file that cannot be read as strict JSON; ``reason`` is the message without the file's name."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def _reject_constant(token: str) -> Any:
    raise ValueError(token)


def _parse(path: Path, what: str) -> Any:
    expected = f"expected {what}"
    if not path.exists():
        raise JSONFileError(path, f"does not exist; {expected}")
    if not path.is_file():
        raise JSONFileError(path, f"is not a regular file; {expected}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JSONFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not data.strip():
        raise JSONFileError(path, f"is empty ({len(data)} bytes); {expected} (a write that never finished?)")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise JSONFileError(path, f"is not UTF-8 text ({exc.reason} at byte {exc.start}); {expected}") from None
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(data.rstrip()) - 1 or exc.msg.startswith("Unterminated")
        raise JSONFileError(path, f"is not valid JSON{' (truncated?)' if cut else ''}: {exc.msg} (line {exc.lineno}, "
                                  f"column {exc.colno}, character {exc.pos}); {expected}") from None
    except RecursionError:  # json recurses once per nesting level: '[' x 200000 exhausts the stack
        raise JSONFileError(path, f"JSON nested too deeply to read; {expected}") from None
    except ValueError as exc:  # _reject_constant
        raise JSONFileError(path, f"holds the non-finite number {exc}, which is not JSON (write it as null); "
                                  f"{expected}") from None


def read_json(path: str | Path, error: type[Exception] = JSONFileError, what: str = "a JSON file") -> Any:
    """The parsed JSON of ``path`` (whatever its shape); ``error("<path>: <reason>")`` when it cannot
    be read: missing, not a regular file, unreadable, empty, not UTF-8, not valid JSON (truncated?),
    nested too deeply, or holding ``NaN``/``Infinity``. ``what`` completes "expected ..."."""
    try:
        return _parse(Path(path), what)
    except JSONFileError as exc:
        if error is JSONFileError:
            raise
        raise error(str(exc)) from None
