"""NUS-WIDE (81 concepts) from the official release.

Read from the raw root:

- the concept list ``Concepts81.txt`` (or ``ConceptsList/Concepts81.txt``): one concept a line,
  which fixes the column order;
- the image lists ``ImageList/TrainImagelist.txt`` and ``ImageList/TestImagelist.txt``: one image a
  line as a Windows path (``actor\\0001_2124494179.jpg``; a ``...\\Flickr\\`` prefix is removed);
- the per-concept ground truth ``Groundtruth/TrainTestLabels/Labels_{concept}_{Train,Test}.txt``:
  one ``0``/``1`` a line, aligned with the image list;
- the images under ``Flickr/``, where the image paths point (Cole et al.'s ``path_to_images``).

Official Train → formatted "train", official Test → formatted "val" (the test set). Images with no
concept are dropped (no single positive can be drawn for them); the official list order is kept.
Researchers who hold the formatted files the ECCV authors distribute (their re-crawl of the images)
place them in the output directory; ``prepare`` then uses them as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.data.classes import NUSWIDE_CONCEPTS as CONCEPTS  # noqa: F401 - the reader's class list, re-exported
from benchmark.data.identity import check_class_list
from benchmark.data.official import AnnotationError, Formatted, Split, numbered_lines, require_file, require_root

CONCEPT_LISTS = (Path("Concepts81.txt"), Path("ConceptsList/Concepts81.txt"))
IMAGE_LISTS = {"Train": Path("ImageList/TrainImagelist.txt"), "Test": Path("ImageList/TestImagelist.txt")}
LABEL_DIR = Path("Groundtruth/TrainTestLabels")
IMAGE_DIR = Path("Flickr")
#: official split → formatted split
PHASES = {"Train": "train", "Test": "val"}


def concept_list_path(root: Path) -> Path | None:
    return next((root / c for c in CONCEPT_LISTS if (root / c).is_file()), None)


def read_concepts(path: Path) -> list[str]:
    concepts: list[str] = []
    for number, line in numbered_lines(path):
        name = line.strip()
        if not name:
            continue
        if len(name.split()) != 1:
            raise AnnotationError(f"{path}, line {number}: expected one concept name a line, got {line!r}")
        if name in concepts:
            raise AnnotationError(f"{path}, line {number}: concept '{name}' is listed a second time")
        concepts.append(name)
    if not concepts:
        raise AnnotationError(f"{path}: no concept listed (expected 81 lines, one concept each)")
    return concepts


def image_name(entry: str) -> str:
    """The path relative to ``Flickr/`` of an image-list entry."""
    path = entry.strip().replace("\\", "/")
    marker = path.lower().rfind("flickr/")
    return path[marker + len("flickr/") :] if marker >= 0 else path.lstrip("/")


def _aligned_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines; blank lines are allowed only at the end, since the files align by line."""
    lines, blank = [], 0
    for number, line in numbered_lines(path):
        if not line.strip():
            blank = blank or number
            continue
        if blank:
            raise AnnotationError(
                f"{path}, line {blank}: blank line inside the file (expected one entry a line, "
                "aligned with the image list)"
            )
        lines.append((number, line))
    return lines


def read_image_list(path: Path) -> list[str]:
    names: list[str] = []
    for number, line in _aligned_lines(path):
        if len(line.split()) != 1:
            raise AnnotationError(f"{path}, line {number}: expected one image path a line, got {line!r}")
        names.append(image_name(line))
    return names


def read_labels(path: Path, expected: int, image_list: Path) -> np.ndarray:
    values: list[int] = []
    for number, line in _aligned_lines(path):
        value = line.strip()
        if value not in ("0", "1"):
            raise AnnotationError(f"{path}, line {number}: expected 0 or 1, got {line!r}")
        values.append(int(value))
    if len(values) != expected:
        raise AnnotationError(
            f"{path} has {len(values)} labels but {image_list} lists {expected} images "
            "(expected one label a line, aligned with the image list: is a file truncated?)"
        )
    return np.asarray(values, dtype=np.float64)


def format_official(root: Path) -> Formatted:
    require_root(root, "nuswide")
    concepts_path = concept_list_path(root) or require_file(
        root / CONCEPT_LISTS[0], "nuswide", root, f"NUS-WIDE concept list (or {CONCEPT_LISTS[1]})"
    )
    concepts = read_concepts(concepts_path)
    check_class_list("nuswide", concepts, str(concepts_path))
    splits, counts, sources = {}, {}, [concepts_path]
    for phase, name in PHASES.items():
        list_path = require_file(root / IMAGE_LISTS[phase], "nuswide", root, "NUS-WIDE image list")
        images = read_image_list(list_path)
        matrix = np.zeros((len(images), len(concepts)), dtype=np.float64)
        sources.append(list_path)
        for c, concept in enumerate(concepts):
            label_path = require_file(
                root / LABEL_DIR / f"Labels_{concept}_{phase}.txt", "nuswide", root, "NUS-WIDE ground-truth file"
            )
            matrix[:, c] = read_labels(label_path, len(images), list_path)
            sources.append(label_path)
        keep = matrix.max(axis=1, initial=0) > 0
        splits[name] = Split(images, matrix).keep(keep)
        counts[f"{name}_dropped_no_concept"] = int((~keep).sum())
    return Formatted(
        class_names=concepts,
        splits=splits,
        sources=sources,
        counts=counts,
        notes=[
            "official Train → train pool, Test → test; columns in Concepts81.txt order; images with no "
            "concept dropped; official list order kept"
        ],
        split_origin={name: f"official {phase}, {root / IMAGE_LISTS[phase]}" for phase, name in PHASES.items()},
    )


def class_names(root: Path | None) -> list[str] | None:
    path = None if root is None else concept_list_path(root)
    return None if path is None else read_concepts(path)


def image_root(root: Path) -> Path:
    return (root / IMAGE_DIR).resolve()
