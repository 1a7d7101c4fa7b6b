"""Checks ``prepare`` runs on a formatted dataset before it writes anything.

Refused (``DegenerateDatasetError``, naming the split or the file): an image name that escapes the
image root, an image file that is empty, not an image or claims more pixels than PIL's
decompression-bomb limit, a split with no image, a training pool too small for PROTOCOL.md's 80/20
split, a split without a single positive label, labels that are not 0/1. Each of these makes every
run on the dataset fail or its mAP meaningless.

Warned (written to ``dataset.json``'s ``warnings`` and printed by the CLI): a class with no positive
in the training pool (no method learns it from single positives) or in the test split (AP 0 by
PROTOCOL.md, still counted in the mean), image names listed twice or in both splits. The protocol
allows these, and small or re-crawled releases have them, so they are reported, not refused.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.data.official import AnnotationError, quote
from benchmark.data.protocol import split_train_val

#: what each formatted split is, in messages
ROLE = {"train": "training pool", "val": "test split"}
#: PIL's default limit, used when a user set ``Image.MAX_IMAGE_PIXELS = None``
DEFAULT_PIXEL_LIMIT = 89_478_485
_DRIVE = re.compile(r"^[A-Za-z]:")


class DegenerateDatasetError(AnnotationError):
    """The dataset ``prepare`` would write is unusable; the message names the split, class list or file."""


class UnsafeImageNameError(AnnotationError):
    """An image name from an official list would read a file outside the image root."""


class BadImageError(AnnotationError):
    """Listed image files that are empty, not images, or claim too many pixels."""


# -- image names ----------------------------------------------------------------------------------
def unsafe_reason(name: str) -> str | None:
    """Why ``name`` is not a plain path below the image root, or ``None``. Checked lexically (``..``
    components, absolute or drive paths, either slash), so an image root that is itself a symlink to
    another disk stays usable."""
    if not name:
        return "empty name"
    if "\0" in name:
        return "NUL byte in the name"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "'..' component"
    return None


def check_image_names(names: Mapping[str, Sequence[str] | np.ndarray], listed_in: str, image_root: object) -> None:
    bad = [(str(n), r) for split in names for n in names[split] if (r := unsafe_reason(str(n))) is not None]
    if bad:
        name, reason = bad[0]
        more = f" ({len(bad)} such names; others: {quote([n for n, _ in bad[1:]])})" if len(bad) > 1 else ""
        raise UnsafeImageNameError(
            f"{listed_in}: image name {name!r} escapes the image root {image_root} ({reason}){more}; "
            "expected paths relative to the image root, as in the official files"
        )


# -- image files ----------------------------------------------------------------------------------
def pixel_limit() -> int:
    return int(Image.MAX_IMAGE_PIXELS or DEFAULT_PIXEL_LIMIT)


def image_problem(path: str) -> str | None:
    """Why the file at ``path`` is not a usable image, from its size and header alone (no decode)."""
    try:
        if os.path.getsize(path) == 0:
            return "is empty (0 bytes)"
        with Image.open(path) as image:
            width, height = image.size
    except Image.DecompressionBombError as exc:
        return f"claims more pixels than the decompression-bomb limit ({exc})"
    except UnidentifiedImageError:
        return "is not an image file PIL can read"
    except (OSError, ValueError, SyntaxError) as exc:  # PIL raises SyntaxError for some malformed headers
        return f"cannot be opened as an image ({exc})"
    if width <= 0 or height <= 0:
        return f"has no pixels ({width}x{height})"
    if width * height > pixel_limit():
        return (
            f"claims {width}x{height} = {width * height} pixels, more than the decompression-bomb limit of "
            f"{pixel_limit()} (PIL.Image.MAX_IMAGE_PIXELS)"
        )
    return None


def check_image_files(image_root: str | os.PathLike[str], names: Iterable[str], threads: int = 8) -> None:
    """Open every listed image's header (in threads: the cost is file system latency); raise
    ``BadImageError`` naming the bad files."""
    paths = [os.path.join(image_root, n) for n in names]
    with warnings.catch_warnings():
        # between 1x and 2x the limit PIL only warns; image_problem refuses those itself
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            problems = [(p, r) for p, r in zip(paths, pool.map(image_problem, paths)) if r is not None]
    if problems:
        path, reason = problems[0]
        more = (
            f"; {len(problems) - 1} more bad images, first: {quote([p for p, _ in problems[1:]])}"
            if len(problems) > 1
            else ""
        )
        raise BadImageError(
            f"image {path} {reason}{more}. Replace it with the official file, or delete it and "
            "pass --skip-missing-images to drop it (it is then listed in dataset.json)"
        )


# -- splits and labels ----------------------------------------------------------------------------
def check_splits(labels: dict[str, np.ndarray], origin: dict[str, str], dropped: dict[str, str]) -> None:
    """Refuse a split with no image, a pool the protocol cannot split, a split without a positive,
    labels that are not 0/1. ``origin`` says where each split comes from, ``dropped`` why images
    were removed from it (both for the message)."""
    for split in ("train", "val"):
        y = labels[split]
        where = f" ({origin[split]})" if origin.get(split) else ""
        if y.shape[0] == 0:
            why = f": {dropped[split]}" if dropped.get(split) else ": no image is listed"
            raise DegenerateDatasetError(
                f"the {ROLE[split]}{where} has no image{why}; expected at least one image with a positive label"
            )
        values = np.unique(y)
        if not np.isin(values, (0, 1)).all():
            raise DegenerateDatasetError(
                f"the {ROLE[split]}{where}: expected labels 0/1, found values {values[:10].tolist()}"
            )
        if not y.any():
            raise DegenerateDatasetError(
                f"the {ROLE[split]}{where} has {y.shape[0]} images but not a single positive "
                "label; expected at least one"
            )
    train_idx, val_idx = split_train_val(labels["train"].shape[0])
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise DegenerateDatasetError(
            f"the {ROLE['train']}{' (' + origin['train'] + ')' if origin.get('train') else ''} has "
            f"{labels['train'].shape[0]} images: PROTOCOL.md's 80/20 split would leave {len(train_idx)} for training "
            f"and {len(val_idx)} for validation; expected at least 3 images"
        )


def split_warnings(
    labels: dict[str, np.ndarray], names: Mapping[str, Sequence[str] | np.ndarray], class_names: Sequence[str]
) -> list[str]:
    """What the protocol allows but a user should know (one line each)."""
    out: list[str] = []
    for split, consequence in (
        ("train", "no method can learn them from single positives"),
        ("val", "their AP is 0 by PROTOCOL.md and still counts in the mean"),
    ):
        empty = [class_names[int(c)] for c in np.flatnonzero(labels[split].sum(axis=0) == 0)]
        if empty:
            out.append(
                f"{len(empty)} of {len(class_names)} classes have no positive in the {ROLE[split]} "
                f"(first: {quote(empty)}): {consequence}"
            )
    for split in ("train", "val"):
        repeated = sorted(n for n, k in Counter(map(str, names[split])).items() if k > 1)
        if repeated:
            out.append(
                f"{len(repeated)} image names are listed more than once in the {ROLE[split]} (first: {quote(repeated)})"
            )
    both = sorted(set(map(str, names["train"])) & set(map(str, names["val"])))
    if both:
        out.append(
            f"{len(both)} images are in both the training pool and the test split (first: {quote(both)}): "
            "test images seen in training inflate the test mAP"
        )
    return out


__all__ = [
    "BadImageError",
    "DegenerateDatasetError",
    "UnsafeImageNameError",
    "check_image_files",
    "check_image_names",
    "check_splits",
    "image_problem",
    "split_warnings",
    "unsafe_reason",
]
