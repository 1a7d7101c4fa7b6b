"""COCO 2014 from fixtures in the official layout: category order, ids sorted as strings, unannotated images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import DatasetNotFoundError
from benchmark.data.classes import COCO_CATEGORIES as CATEGORIES
from benchmark.data.official import AnnotationError
from benchmark.data.prepare import prepare
from tests import protocol_reference as ref
from tests.fixtures_official import write_coco

#: the columns of person, car, dog and toothbrush, the categories the fixture annotates
FOUR = [0, 2, 16, 79]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("coco")
    write_coco(base / "raw")
    prepare("coco", base / "raw", base / "data" / "coco")
    return base / "raw", base / "data" / "coco"


def test_formatted_arrays_match_hand_computed(prepared: tuple[Path, Path]) -> None:
    _, out = prepared
    # ids 9, 25, 100, 1000 sorted as strings; 77 has no annotation and is dropped
    assert np.load(out / "formatted_train_images.npy").tolist() == [
        "train2014/COCO_train2014_000000000100.jpg",
        "train2014/COCO_train2014_000000001000.jpg",
        "train2014/COCO_train2014_000000000025.jpg",
        "train2014/COCO_train2014_000000000009.jpg",
    ]
    # columns in the file's order: person (id 1) is column 0, car (3) 2, dog (18) 16, toothbrush (90) 79
    train = np.load(out / "formatted_train_labels.npy")
    assert train.shape == (4, 80)
    np.testing.assert_array_equal(
        train[:, FOUR],
        [
            [1, 1, 0, 0],  # 100: car, person
            [0, 0, 1, 0],  # 1000: dog
            [0, 0, 0, 1],  # 25: toothbrush
            [1, 0, 1, 0],  # 9: two persons and a dog
        ],
    )
    assert train.sum() == 6  # nothing outside those four columns
    assert np.load(out / "formatted_val_images.npy").tolist() == [
        "val2014/COCO_val2014_000000000042.jpg",
        "val2014/COCO_val2014_000000000073.jpg",
    ]
    val = np.load(out / "formatted_val_labels.npy")
    np.testing.assert_array_equal(val[:, FOUR], [[0, 1, 0, 0], [1, 0, 0, 1]])
    assert val.sum() == 3
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["class_names"] == [name for _, name in CATEGORIES]
    assert [meta["class_names"][c] for c in FOUR] == ["person", "car", "dog", "toothbrush"]
    assert meta["counts"]["train_dropped_no_annotation"] == 1 and meta["counts"]["val_dropped_no_annotation"] == 1


def test_observed_labels(prepared: tuple[Path, Path]) -> None:
    _, out = prepared
    for split in ("train", "val"):
        labels = np.load(out / f"formatted_{split}_labels.npy")
        np.testing.assert_array_equal(np.load(out / f"formatted_{split}_labels_obs.npy"), ref.observe(labels, 1, 0))


def test_category_order_follows_the_file_not_the_ids(tmp_path: Path) -> None:
    write_coco(tmp_path / "raw")
    for split in ("train", "val"):
        path = tmp_path / f"raw/annotations/instances_{split}2014.json"
        data = json.loads(path.read_text())
        data["categories"] = data["categories"][::-1]
        path.write_text(json.dumps(data))
    meta = prepare("coco", tmp_path / "raw", tmp_path / "out")
    assert meta["class_names"] == [name for _, name in CATEGORIES][::-1]
    # image 100 (car, person): person is now the last column, car the third from last
    assert np.flatnonzero(np.load(tmp_path / "out/formatted_train_labels.npy")[0]).tolist() == [77, 79]


def test_truncated_json_names_file_and_position(tmp_path: Path) -> None:
    write_coco(tmp_path / "raw")
    path = tmp_path / "raw/annotations/instances_val2014.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(AnnotationError) as err:
        prepare("coco", tmp_path / "raw", tmp_path / "out")
    msg = str(err.value)
    # compact JSON is one line: the position is a column and a character offset near the cut
    assert (
        str(path) in msg and "not valid JSON (truncated?)" in msg and "(line 1, column" in msg and "character " in msg
    )
    assert "expected the official COCO instances file" in msg


def test_annotation_with_unknown_category_names_its_index(tmp_path: Path) -> None:
    write_coco(tmp_path / "raw")
    path = tmp_path / "raw/annotations/instances_train2014.json"
    data = json.loads(path.read_text())
    data["annotations"][2]["category_id"] = 12  # a gap among the (non-contiguous) official ids
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"annotations\[2\] has category_id 12, which is not among"):
        prepare("coco", tmp_path / "raw", tmp_path / "out")


def test_annotation_without_image_id(tmp_path: Path) -> None:
    write_coco(tmp_path / "raw")
    path = tmp_path / "raw/annotations/instances_val2014.json"
    data = json.loads(path.read_text())
    del data["annotations"][0]["image_id"]
    path.write_text(json.dumps(data))
    with pytest.raises(
        AnnotationError, match=r"instances_val2014\.json: annotations\[0\] must be an object with integer 'image_id'"
    ):
        prepare("coco", tmp_path / "raw", tmp_path / "out")


def test_val_categories_must_match_train(tmp_path: Path) -> None:
    write_coco(tmp_path / "raw")
    path = tmp_path / "raw/annotations/instances_val2014.json"
    data = json.loads(path.read_text())
    data["categories"][1]["name"] = "automobile"
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match="categories differ from those of"):
        prepare("coco", tmp_path / "raw", tmp_path / "out")


def test_missing_annotation_file_names_download_command(tmp_path: Path) -> None:
    write_coco(tmp_path / "raw")
    (tmp_path / "raw/annotations/instances_train2014.json").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"instances_train2014\.json not found.*download coco --root"):
        prepare("coco", tmp_path / "raw", tmp_path / "out")
