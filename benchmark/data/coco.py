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

from benchmark.data.identity import check_class_list
from benchmark.data.official import AnnotationError, Formatted, Split, require_file, require_root

#: official split → formatted split
PHASES = {"train": "train", "val": "val"}

#: the 80 categories of ``instances_{train,val}2014.json`` as (id, name), in the files' order
CATEGORIES: tuple[tuple[int, str], ...] = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"), (6, "bus"), (7, "train"),
    (8, "truck"), (9, "boat"), (10, "traffic light"), (11, "fire hydrant"), (13, "stop sign"),
    (14, "parking meter"), (15, "bench"), (16, "bird"), (17, "cat"), (18, "dog"), (19, "horse"), (20, "sheep"),
    (21, "cow"), (22, "elephant"), (23, "bear"), (24, "zebra"), (25, "giraffe"), (27, "backpack"),
    (28, "umbrella"), (31, "handbag"), (32, "tie"), (33, "suitcase"), (34, "frisbee"), (35, "skis"),
    (36, "snowboard"), (37, "sports ball"), (38, "kite"), (39, "baseball bat"), (40, "baseball glove"),
    (41, "skateboard"), (42, "surfboard"), (43, "tennis racket"), (44, "bottle"), (46, "wine glass"), (47, "cup"),
    (48, "fork"), (49, "knife"), (50, "spoon"), (51, "bowl"), (52, "banana"), (53, "apple"), (54, "sandwich"),
    (55, "orange"), (56, "broccoli"), (57, "carrot"), (58, "hot dog"), (59, "pizza"), (60, "donut"), (61, "cake"),
    (62, "chair"), (63, "couch"), (64, "potted plant"), (65, "bed"), (67, "dining table"), (70, "toilet"),
    (72, "tv"), (73, "laptop"), (74, "mouse"), (75, "remote"), (76, "keyboard"), (77, "cell phone"),
    (78, "microwave"), (79, "oven"), (80, "toaster"), (81, "sink"), (82, "refrigerator"), (84, "book"),
    (85, "clock"), (86, "vase"), (87, "scissors"), (88, "teddy bear"), (89, "hair drier"), (90, "toothbrush"),
)


def annotation_path(root: Path, phase: str) -> Path:
    return root / "annotations" / f"instances_{phase}2014.json"


def load_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise AnnotationError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno} (character {exc.pos}): {exc.msg}; "
            "expected the official COCO instances file (a truncated download ends like this: unpack "
            "annotations_trainval2014.zip again)"
        ) from None
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not UTF-8 JSON ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        # json recurses once per nesting level: '[' x 200000 exhausts the interpreter's stack
        raise AnnotationError(f"{path}: JSON nested too deeply to read; expected the official COCO instances file "
                              "(a handful of levels deep)") from None
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected a JSON object at the top level, got {type(data).__name__}")
    for key in ("annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise AnnotationError(f"{path}: expected a list under the top-level key '{key}', "
                                  f"got {type(data.get(key)).__name__ if key in data else 'no such key'}")
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_categories(path: Path, categories: list[Any]) -> tuple[list[str], dict[int, int]]:
    """Names in file order and category id → column."""
    names: list[str] = []
    column: dict[int, int] = {}
    for i, cat in enumerate(categories):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")) or not isinstance(cat.get("name"), str):
            raise AnnotationError(f"{path}: categories[{i}] must be an object with an integer 'id' and a string "
                                  f"'name', got {json.dumps(cat)[:200]}")
        if cat["id"] in column:
            raise AnnotationError(f"{path}: categories[{i}] repeats category id {cat['id']}")
        column[cat["id"]] = len(names)
        names.append(cat["name"])
    return names, column


def _phase(path: Path, data: dict[str, Any], phase: str, column: dict[int, int]) -> tuple[Split, int]:
    positives: dict[int, set[int]] = {}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or not _is_int(ann.get("image_id")) or not _is_int(ann.get("category_id")):
            raise AnnotationError(f"{path}: annotations[{i}] must be an object with integer 'image_id' and "
                                  f"'category_id', got {json.dumps(ann)[:200]}")
        if ann["category_id"] not in column:
            raise AnnotationError(f"{path}: annotations[{i}] has category_id {ann['category_id']}, which is not "
                                  f"among the categories of {path.name}")
        positives.setdefault(ann["image_id"], set()).add(column[ann["category_id"]])
    # sorted as strings, as the reference formatter (for backwards compatibility there)
    ids = sorted(positives, key=str)
    matrix = np.zeros((len(ids), len(column)), dtype=np.float64)
    for row, image_id in enumerate(ids):
        matrix[row, sorted(positives[image_id])] = 1.0
    listed = data.get("images")
    unannotated = len({im.get("id") for im in listed if isinstance(im, dict)} - set(ids)) if isinstance(listed, list) else 0
    images = [f"{phase}2014/COCO_{phase}2014_{image_id:012d}.jpg" for image_id in ids]
    return Split(images, matrix), unannotated


def format_official(root: Path) -> Formatted:
    require_root(root, "coco")
    paths = {phase: require_file(annotation_path(root, phase), "coco", root, "COCO annotation file") for phase in PHASES}
    train_path = paths["train"]
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
            raise AnnotationError(f"{paths[phase]}: its categories differ from those of {train_path} "
                                  "(expected the same ids and names in the same order)")
        splits[name], unannotated = _phase(paths[phase], data, phase, column)
        counts[f"{name}_dropped_no_annotation"] = unannotated
        del data
    return Formatted(
        key="coco", class_names=names, train=splits["train"], val=splits["val"], image_root=root.resolve(),
        sources=list(paths.values()), label_dtype="float64", counts=counts,
        notes=["columns in the order of 'categories' of instances_train2014.json; images with no annotation "
               "dropped; image ids sorted as strings"],
        split_origin={name: f"{phase}2014, {paths[phase]}" for phase, name in PHASES.items()},
    )


def class_names(root: Path | None) -> list[str] | None:
    if root is None or not annotation_path(root, "train").is_file():
        return None
    path = annotation_path(root, "train")
    return parse_categories(path, load_json(path)["categories"])[0]


def image_root(root: Path) -> Path:
    return root.resolve()
