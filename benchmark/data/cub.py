"""CUB-200-2011's 312 binary attributes from the official archive.

The archive ``CUB_200_2011.tgz`` unpacks to ``CUB_200_2011/`` and, beside it (not inside),
``attributes.txt`` (``<attribute_id> <attribute_name>``). Inside ``CUB_200_2011/``:
``images.txt`` (``<image_id> <image_name>``), ``train_test_split.txt``
(``<image_id> <is_training_image>``) and ``attributes/image_attribute_labels.txt``
(``<image_id> <attribute_id> <is_present> <certainty_id> <time>``). The label of an (image,
attribute) is ``is_present``; certainty is ignored. The official label file has lines with extra
columns: they are parsed from their leading fields and counted in the provenance.

Images in ``images.txt`` order, split by ``train_test_split.txt`` (1 → "train", 0 → "val", the
test set); no image is dropped, as Cole et al.'s ``format_cub.py``. Image names are relative to
``CUB_200_2011/images``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.data.identity import check_class_list
from benchmark.data.official import (
    AnnotationError,
    Formatted,
    Split,
    parse_int,
    quote,
    records,
    require_file,
    require_root,
)

ARCHIVE_DIR = "CUB_200_2011"
IMAGES_SYNTAX = "<image_id> <image_name>"
SPLIT_SYNTAX = "<image_id> <is_training_image>"
ATTRIBUTES_SYNTAX = "<attribute_id> <attribute_name>"
LABELS_SYNTAX = "<image_id> <attribute_id> <is_present> <certainty_id> <time>"


def archive_dir(root: Path) -> Path:
    """``CUB_200_2011/`` under the raw root; also accepted: the root itself, and the doubled
    ``CUB_200_2011/CUB_200_2011`` of an archive unpacked into a folder of that name."""
    for candidate in (root / ARCHIVE_DIR, root / ARCHIVE_DIR / ARCHIVE_DIR, root):
        if (candidate / "images.txt").is_file():
            return candidate
    return root / ARCHIVE_DIR


def attributes_path(root: Path, archive: Path) -> Path | None:
    candidates = (root / "attributes.txt", archive.parent / "attributes.txt", archive / "attributes" / "attributes.txt")
    return next((c for c in candidates if c.is_file()), None)


class _ExtraColumns:
    """Lines with more fields than the official syntax: tolerated, counted for the provenance."""

    def __init__(self) -> None:
        self.lines: dict[str, list[int]] = {}

    def note(self, path: Path, number: int, fields: list[str], expected: int) -> None:
        if len(fields) > expected:
            self.lines.setdefault(path.name, []).append(number)


def read_id_table(path: Path, syntax: str, extra: _ExtraColumns, key: str = "image_id") -> dict[int, str]:
    """``<id> <name>`` lines as {id: name}; an id listed twice is an ``AnnotationError``."""
    table: dict[int, str] = {}
    for number, fields in records(path, 2, syntax):
        extra.note(path, number, fields, 2)
        id_ = parse_int(path, number, fields[0], key, syntax)
        if id_ in table:
            raise AnnotationError(f"{path}, line {number}: {key} {id_} is listed a second time")
        table[id_] = fields[1]
    return table


def read_attributes(path: Path, extra: _ExtraColumns) -> list[str]:
    names = read_id_table(path, ATTRIBUTES_SYNTAX, extra, "attribute_id")
    if sorted(names) != list(range(1, len(names) + 1)):
        gaps = sorted(set(range(1, max(names, default=0) + 1)) - set(names))
        raise AnnotationError(
            f"{path}: expected attribute ids 1..{len(names)} each once; missing {quote([str(g) for g in gaps])}"
        )
    return [names[i] for i in range(1, len(names) + 1)]


def format_official(root: Path) -> Formatted:
    require_root(root, "cub")
    archive = archive_dir(root)
    images_path = require_file(archive / "images.txt", "cub", root, "CUB image list")
    split_path = require_file(archive / "train_test_split.txt", "cub", root, "CUB split file")
    labels_path = require_file(
        archive / "attributes" / "image_attribute_labels.txt", "cub", root, "CUB attribute labels"
    )
    attr_list = f"CUB attribute list (it sits beside {ARCHIVE_DIR}/ in the official archive)"
    attr_path = attributes_path(root, archive) or require_file(root / "attributes.txt", "cub", root, attr_list)
    extra = _ExtraColumns()

    attributes = read_attributes(attr_path, extra)
    check_class_list("cub", attributes, str(attr_path))
    images = read_id_table(images_path, IMAGES_SYNTAX, extra)
    ids = list(images)  # images.txt order
    row = {image_id: r for r, image_id in enumerate(ids)}
    split = read_id_table(split_path, SPLIT_SYNTAX, extra)
    for number_id in ids:
        if number_id not in split:
            raise AnnotationError(
                f"{split_path}: image_id {number_id} of {images_path} has no line (is the file truncated?)"
            )
    for image_id, value in split.items():
        if image_id not in row:
            raise AnnotationError(f"{split_path}: image_id {image_id} is not in {images_path}")
        if value not in ("0", "1"):
            raise AnnotationError(
                f"{split_path}: is_training_image of image_id {image_id} must be 0 or 1, got {value!r}"
            )

    num_attr = len(attributes)
    matrix = np.zeros((len(ids), num_attr), dtype=np.int64)
    seen = np.zeros((len(ids), num_attr), dtype=bool)
    for number, fields in records(labels_path, 3, LABELS_SYNTAX):
        extra.note(labels_path, number, fields, 5)
        image_id = parse_int(labels_path, number, fields[0], "image_id", LABELS_SYNTAX)
        attr_id = parse_int(labels_path, number, fields[1], "attribute_id", LABELS_SYNTAX)
        present = parse_int(labels_path, number, fields[2], "is_present", LABELS_SYNTAX, {0, 1})
        if image_id not in row:
            raise AnnotationError(f"{labels_path}, line {number}: image_id {image_id} is not in {images_path}")
        if not 1 <= attr_id <= num_attr:
            raise AnnotationError(
                f"{labels_path}, line {number}: attribute_id {attr_id} is outside 1..{num_attr} of {attr_path}"
            )
        r, c = row[image_id], attr_id - 1
        if seen[r, c] and matrix[r, c] != present:
            raise AnnotationError(
                f"{labels_path}, line {number}: image {image_id}, attribute {attr_id} was already "
                f"given is_present {matrix[r, c]}, now {present}"
            )
        matrix[r, c], seen[r, c] = present, True
    if not seen.all():
        r, c = np.argwhere(~seen)[0]
        raise AnnotationError(
            f"{labels_path}: no line for image_id {ids[r]}, attribute_id {c + 1} "
            f"({int((~seen).sum())} (image, attribute) pairs missing: is the file truncated?)"
        )

    train = np.array([split[i] == "1" for i in ids], dtype=bool)
    everything = Split([images[i] for i in ids], matrix)
    counts = {
        "lines_with_extra_columns": {name: len(lines) for name, lines in extra.lines.items()},
        "lines_with_extra_columns_first": {name: lines[:10] for name, lines in extra.lines.items()},
        "images_with_no_positive": int((matrix.max(axis=1, initial=0) == 0).sum()),
    }
    return Formatted(
        class_names=attributes,
        splits={"train": everything.keep(train), "val": everything.keep(~train)},
        sources=[images_path, split_path, labels_path, attr_path],
        label_dtype="int64",
        counts=counts,
        notes=[
            "label = is_present (certainty ignored); lines with extra columns parsed from their leading "
            "fields; images.txt order; train_test_split.txt 1 → train pool, 0 → test"
        ],
        split_origin={"train": f"is_training_image 1 in {split_path}", "val": f"is_training_image 0 in {split_path}"},
    )


def class_names(root: Path | None) -> list[str] | None:
    path = None if root is None else attributes_path(root, archive_dir(root))
    return None if path is None else read_attributes(path, _ExtraColumns())


def image_root(root: Path) -> Path:
    return (archive_dir(root) / "images").resolve()
