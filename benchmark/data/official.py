"""What the four formatters share: the formatted result, the errors they raise, and line readers
that name the file and line of anything malformed.

A formatter turns one dataset's official files into a ``Formatted``: two splits ("train", the
official training split, and "val", the official split the reference codebases use as the test
set), each a list of image paths relative to the formatter's ``image_root(root)`` and a 0/1 label matrix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data import DatasetNotFoundError

#: how many offending names an error message quotes
QUOTE = 5


class AnnotationError(ValueError):
    """An official annotation file is malformed; the message names the file, the line (or the JSON
    position) and what was expected there."""


class MissingImagesError(FileNotFoundError):
    """Images listed by the annotations are not on disk; the message gives their count and first names."""


@dataclass
class Split:
    #: paths relative to the formatter's ``image_root(root)``, named as the reference codebases name them
    images: list[str]
    #: [N, C] 0/1
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.labels.ndim != 2 or self.labels.shape[0] != len(self.images):
            raise ValueError(f"{len(self.images)} images but a label matrix of shape {self.labels.shape}")

    def keep(self, rows: np.ndarray) -> Split:
        """The images where the boolean ``rows`` is true, in order."""
        return Split([n for n, k in zip(self.images, rows) if k], self.labels[rows])


@dataclass
class Formatted:
    class_names: list[str]
    #: "train" and "val"
    splits: dict[str, Split]
    #: the official files read, for provenance
    sources: list[Path]
    #: dtype of the saved label matrices, as the reference formatter writes them
    label_dtype: str = "float64"
    #: counts beyond the split sizes (images dropped and why, malformed lines tolerated, ...)
    counts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: split → where its images come from, for messages ("official val, ImageSets/Main/<class>_val.txt")
    split_origin: dict[str, str] = field(default_factory=dict)


def fetch_hint(key: str, root: Path) -> str:
    if key == "nuswide":
        return (
            "NUS-WIDE cannot be fetched automatically; see the manual steps: python -m benchmark.data download nuswide"
        )
    return f"fetch the official files with: python -m benchmark.data download {key} --root {root}"


def require_file(path: Path, key: str, root: Path, what: str = "") -> Path:
    """``path`` if it is a file, else a ``DatasetNotFoundError`` naming it and the fetch command."""
    if not path.is_file():
        label = f"{what} " if what else ""
        raise DatasetNotFoundError(
            f"{label}{path} not found (expected in the official {key} layout); {fetch_hint(key, root)}"
        )
    return path


def require_root(root: Path, key: str) -> Path:
    if not root.is_dir():
        state = "is not a folder" if root.exists() else "does not exist"
        raise DatasetNotFoundError(f"raw {key} root {root} {state}; {fetch_hint(key, root)}")
    return root


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end) for every line of a text file."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise AnnotationError(
                    f"{path}, line {number}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                    "expected the official plain-text file"
                ) from None
            yield number, text.rstrip("\r\n")


def records(path: Path, min_fields: int, syntax: str) -> Iterator[tuple[int, list[str]]]:
    """Whitespace-separated records of a text file with at least ``min_fields`` fields; blank lines
    are skipped, extra fields are kept for the caller to ignore."""
    for number, line in numbered_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < min_fields:
            raise AnnotationError(
                f"{path}, line {number}: expected '{syntax}', got {line!r} "
                "(the line is incomplete: is the file truncated?)"
            )
        yield number, fields


def parse_int(path: Path, number: int, value: str, what: str, syntax: str, allowed: set[int] | None = None) -> int:
    try:
        out = int(value)
    except ValueError:
        raise AnnotationError(
            f"{path}, line {number}: {what} must be an integer in '{syntax}', got {value!r}"
        ) from None
    if allowed is not None and out not in allowed:
        raise AnnotationError(
            f"{path}, line {number}: {what} must be one of {sorted(allowed)} in '{syntax}', got {value!r}"
        )
    return out


def quote(names: list[str]) -> str:
    more = f" (and {len(names) - QUOTE} more)" if len(names) > QUOTE else ""
    return ", ".join(names[:QUOTE]) + more
