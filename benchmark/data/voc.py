"""PASCAL VOC 2012 from its official files.

Labels come from ``VOCdevkit/VOC2012/ImageSets/Main/{class}_{train,val}.txt``, one
``<image_id> <label>`` line per image (``"%s %2d"``): an image is positive for a class where the
label is ``1``; ``0`` ("difficult") and ``-1`` are negative. Images with no positive are dropped and
the image list is sorted, as Cole et al.'s ``format_pascal.py``; image names are ``<id>.jpg``,
relative to ``VOCdevkit/VOC2012/JPEGImages``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.data.official import (
    AnnotationError,
    Formatted,
    Split,
    numbered_lines,
    parse_int,
    require_file,
    require_root,
)

# fmt: off
CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
# fmt: on
MAIN = Path("VOCdevkit/VOC2012/ImageSets/Main")
IMAGE_DIR = Path("VOCdevkit/VOC2012/JPEGImages")
SYNTAX = "<image_id> <label>, label -1, 0 or 1"
#: official split → formatted split
PHASES = {"train": "train", "val": "val"}


def read_class_file(path: Path) -> dict[str, int]:
    """image id → label (-1, 0, 1) of one ``{class}_{phase}.txt``."""
    labels: dict[str, int] = {}
    for number, line in numbered_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise AnnotationError(f"{path}, line {number}: expected '{SYNTAX}', got {line!r}")
        image_id, value = fields
        if image_id in labels:
            raise AnnotationError(f"{path}, line {number}: image {image_id} is listed a second time")
        labels[image_id] = parse_int(path, number, value, "the label", SYNTAX, {-1, 0, 1})
    return labels


def _phase(root: Path, phase: str) -> tuple[Split, list[Path], int]:
    files = [require_file(root / MAIN / f"{cls}_{phase}.txt", "voc", root, "VOC label file") for cls in CLASSES]
    per_class = [read_class_file(path) for path in files]
    # Every class file of a phase lists the same images; one that lists fewer was cut short.
    reference_path = root / MAIN / f"{phase}.txt"
    if reference_path.is_file():
        reference = {f[0] for _, line in numbered_lines(reference_path) if (f := line.split())}
    else:
        reference_path, reference = files[0], set(per_class[0])
    for path, labels in zip(files, per_class):
        if set(labels) != reference:
            absent = sorted(reference - set(labels))
            extra = sorted(set(labels) - reference)
            detail = (
                f"lacks {len(absent)} of them, first {absent[0]}" if absent else f"adds {len(extra)}, first {extra[0]}"
            )
            raise AnnotationError(
                f"{path} lists {len(labels)} images but {reference_path} lists {len(reference)}: it {detail} "
                "(is the file truncated?)"
            )
    positive = sorted(i for i in reference if any(labels[i] == 1 for labels in per_class))
    rows = [[labels[i] == 1 for labels in per_class] for i in positive]
    matrix = np.array(rows, dtype=np.float64).reshape(len(positive), len(CLASSES))
    return Split([f"{i}.jpg" for i in positive], matrix), files, len(reference) - len(positive)


def format_official(root: Path) -> Formatted:
    require_root(root, "voc")
    splits, sources, counts = {}, [], {}
    for phase, name in PHASES.items():
        splits[name], files, counts[f"{name}_dropped_no_positive"] = _phase(root, phase)
        sources += files
    return Formatted(
        class_names=list(CLASSES),
        splits=splits,
        sources=sources,
        counts=counts,
        notes=["label 1 → positive; 0 (difficult) and -1 → negative; images with no positive dropped; sorted by name"],
        split_origin={name: f"official {phase}, {root / MAIN}/<class>_{phase}.txt" for phase, name in PHASES.items()},
    )


def class_names(root: Path | None) -> list[str]:
    return list(CLASSES)


def image_root(root: Path) -> Path:
    return (root / IMAGE_DIR).resolve()
