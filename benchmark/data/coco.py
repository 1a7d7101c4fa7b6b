"""MS-COCO 2014 from its official files.

``annotations/instances_{train,val}2014.json``: the label matrix's columns follow the order of
``categories`` in the training file (category ids are not contiguous); an image is positive for
every category it has an annotation of; only images with at least one annotation are kept, their
ids sorted as strings, as Cole et al.'s ``format_coco.py``. Image paths are
``{split}2014/COCO_{split}2014_<id, 12 digits>.jpg``, relative to the raw root.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.core.jsonio import read_json
from benchmark.data.identity import check_class_list
from benchmark.data.official import AnnotationError, Formatted, Split, require_file, require_root

#: official split → formatted split
PHASES = {"train": "train", "val": "val"}


def annotation_path(root: Path, phase: str) -> Path:
    return root / "annotations" / f"instances_{phase}2014.json"


def load_json(path: Path) -> dict[str, Any]:
    data = read_json(
        path,
        AnnotationError,
        "the official COCO instances file (a truncated download ends like this: "
        "unpack annotations_trainval2014.zip again)",
    )
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected a JSON object at the top level, got {type(data).__name__}")
    for key in ("annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise AnnotationError(
                f"{path}: expected a list under the top-level key '{key}', "
                f"got {type(data.get(key)).__name__ if key in data else 'no such key'}"
            )
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_categories(path: Path, categories: list[Any]) -> tuple[list[str], dict[int, int]]:
    """Names in file order and category id → column."""
    names: list[str] = []
    column: dict[int, int] = {}
    for i, cat in enumerate(categories):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")) or not isinstance(cat.get("name"), str):
            raise AnnotationError(
                f"{path}: categories[{i}] must be an object with an integer 'id' and a string "
                f"'name', got {json.dumps(cat)[:200]}"
            )
        if cat["id"] in column:
            raise AnnotationError(f"{path}: categories[{i}] repeats category id {cat['id']}")
        column[cat["id"]] = len(names)
        names.append(cat["name"])
    return names, column


def _phase(path: Path, data: dict[str, Any], phase: str, column: dict[int, int]) -> tuple[Split, int]:
    positives: dict[int, set[int]] = {}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or not _is_int(ann.get("image_id")) or not _is_int(ann.get("category_id")):
            raise AnnotationError(
                f"{path}: annotations[{i}] must be an object with integer 'image_id' and "
                f"'category_id', got {json.dumps(ann)[:200]}"
            )
        if ann["category_id"] not in column:
            raise AnnotationError(
                f"{path}: annotations[{i}] has category_id {ann['category_id']}, which is not "
                f"among the categories of {path.name}"
            )
        positives.setdefault(ann["image_id"], set()).add(column[ann["category_id"]])
    # sorted as strings, as the reference formatter (for backwards compatibility there)
    ids = sorted(positives, key=str)
    matrix = np.zeros((len(ids), len(column)), dtype=np.float64)
    for row, image_id in enumerate(ids):
        matrix[row, sorted(positives[image_id])] = 1.0
    listed = data.get("images")
    unannotated = (
        len({im.get("id") for im in listed if isinstance(im, dict)} - set(ids)) if isinstance(listed, list) else 0
    )
    images = [f"{phase}2014/COCO_{phase}2014_{image_id:012d}.jpg" for image_id in ids]
    return Split(images, matrix), unannotated


def format_official(root: Path) -> Formatted:
    require_root(root, "coco")
    paths = {
        phase: require_file(annotation_path(root, phase), "coco", root, "COCO annotation file") for phase in PHASES
    }
    names: list[str] = []
    column: dict[int, int] = {}
    splits, counts = {}, {}
    for phase, name in PHASES.items():
        # one file in memory at a time: the official training file is 330 MB
        data = load_json(paths[phase])
        phase_names, phase_column = parse_categories(paths[phase], data["categories"])
        if phase == "train":
            check_class_list("coco", phase_names, f"{paths[phase]} (its 'categories')")
            names, column = phase_names, phase_column
        elif (phase_names, phase_column) != (names, column):
            raise AnnotationError(
                f"{paths[phase]}: its categories differ from those of {paths['train']} "
                "(expected the same ids and names in the same order)"
            )
        splits[name], counts[f"{name}_dropped_no_annotation"] = _phase(paths[phase], data, phase, column)
        del data
    return Formatted(
        class_names=names,
        splits=splits,
        sources=list(paths.values()),
        counts=counts,
        notes=[
            "columns in the order of 'categories' of instances_train2014.json; images with no annotation "
            "dropped; image ids sorted as strings"
        ],
        split_origin={name: f"{phase}2014, {paths[phase]}" for phase, name in PHASES.items()},
    )


def class_names(root: Path | None) -> list[str] | None:
    if root is None or not annotation_path(root, "train").is_file():
        return None
    path = annotation_path(root, "train")
    return parse_categories(path, load_json(path)["categories"])[0]


def image_root(root: Path) -> Path:
    return root.resolve()
