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


class _Refused(ValueError):
    pass


def _reject_constant(token: str) -> Any:
    raise _Refused(f"holds the non-finite number {token}, which is not JSON (write it as null)")


def read_json(path: str | Path, error: type[Exception] = ValueError, what: str = "a JSON file") -> Any:
    """The parsed JSON of ``path`` (whatever its shape); ``error("<path>: <reason>; expected <what>")``
    when it cannot be read: missing, not a regular file, unreadable, empty, not UTF-8, not valid JSON
    (truncated?), nested too deeply, or holding ``NaN``/``Infinity``."""
    path = Path(path)
    data = b""
    try:
        if not path.is_file():
            raise _Refused("is not a regular file" if path.exists() else "does not exist")
        data = path.read_bytes()
        if not data.strip():
            raise _Refused(f"is empty ({len(data)} bytes)")
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except OSError as exc:
        reason = f"cannot be read ({exc.strerror or exc})"
    except UnicodeDecodeError as exc:
        reason = f"is not UTF-8 text ({exc.reason} at byte {exc.start})"
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(data.rstrip()) - 1 or exc.msg.startswith("Unterminated")
        reason = (
            f"is not valid JSON{' (truncated?)' if cut else ''}: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno}, character {exc.pos})"
        )
    except RecursionError:  # json recurses once per nesting level: '[' x 200000 exhausts the stack
        reason = "JSON nested too deeply to read"
    except _Refused as exc:
        reason = str(exc)
    raise error(f"{path}: {reason}; expected {what}")
