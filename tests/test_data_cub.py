"""CUB-200-2011 from fixtures in the official layout: is_present, extra columns, attributes.txt beside the folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import DatasetNotFoundError
from benchmark.data.official import AnnotationError
from benchmark.data.prepare import prepare
from tests import protocol_reference as ref
from tests.fixtures_official import CUB_IMAGES, CUB_NUM_ATTRIBUTES, write_cub


def _row(positives: list[int]) -> list[int]:
    return [int(a in positives) for a in range(1, CUB_NUM_ATTRIBUTES + 1)]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    base = tmp_path_factory.mktemp("cub")
    write_cub(base / "raw")
    meta = prepare("cub", base / "raw", base / "data" / "cub")
    return base / "raw", base / "data" / "cub", meta


def test_formatted_arrays_match_hand_computed(prepared: tuple[Path, Path, dict]) -> None:
    _, out, meta = prepared
    # images.txt order, split by train_test_split.txt (1 → train pool); none dropped
    assert np.load(out / "formatted_train_images.npy").tolist() == [
        "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg",
        "002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg",
        "002.Laysan_Albatross/Laysan_Albatross_0003_1033.jpg",
    ]
    train = np.load(out / "formatted_train_labels.npy")
    np.testing.assert_array_equal(train, [_row([2, 8, 100]), _row([]), _row([8, 311])])
    assert train.dtype == np.int64  # as Cole et al.'s format_cub.py writes it
    assert np.load(out / "formatted_val_images.npy").tolist() == [
        "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg",
        "003.Sooty_Albatross/Sooty_Albatross_0001_1071.jpg",
    ]
    np.testing.assert_array_equal(np.load(out / "formatted_val_labels.npy"), [_row([1, 5, 312]), _row([3])])
    assert meta["num_classes"] == 312 and meta["class_names"][0] == "has_attribute_001::value_1"
    assert meta["counts"]["images_with_no_positive"] == 1


def test_lines_with_extra_columns_are_parsed_and_counted(prepared: tuple[Path, Path, dict]) -> None:
    _, out, meta = prepared
    train = np.load(out / "formatted_train_labels.npy")
    # (image 2, attribute 8) was written with extra columns and is present; (4, 9) absent; (5, 3) present
    assert train[0, 7] == 1 and train[2, 8] == 0
    assert np.load(out / "formatted_val_labels.npy")[1, 2] == 1
    assert meta["counts"]["lines_with_extra_columns"] == {"image_attribute_labels.txt": 3}
    assert meta["counts"]["lines_with_extra_columns_first"]["image_attribute_labels.txt"] == [
        312 + 8,
        3 * 312 + 9,
        4 * 312 + 3,
    ]


def test_observed_labels_and_an_image_without_positive(prepared: tuple[Path, Path, dict]) -> None:
    _, out, _ = prepared
    train = np.load(out / "formatted_train_labels.npy")
    obs = np.load(out / "formatted_train_labels_obs.npy")
    np.testing.assert_array_equal(obs, ref.observe(train, 1, 0))
    assert not obs[1].any()  # no positive to observe


def test_image_root_is_inside_the_archive_folder(prepared: tuple[Path, Path, dict]) -> None:
    raw, _out, meta = prepared
    assert Path(meta["image_root"]) == (raw / "CUB_200_2011/images").resolve()
    assert sorted(Path(f["path"]).name for f in meta["source"]["files"]) == [
        "attributes.txt",
        "image_attribute_labels.txt",
        "images.txt",
        "train_test_split.txt",
    ]


def test_attributes_txt_is_looked_for_beside_the_folder(tmp_path: Path) -> None:
    write_cub(tmp_path / "raw")
    (tmp_path / "raw/attributes.txt").unlink()
    with pytest.raises(
        DatasetNotFoundError, match=r"beside CUB_200_2011/.*raw/attributes\.txt not found.*download cub"
    ):
        prepare("cub", tmp_path / "raw", tmp_path / "out")


def test_truncated_label_file_names_the_missing_pair(tmp_path: Path) -> None:
    write_cub(tmp_path / "raw")
    path = tmp_path / "raw/CUB_200_2011/attributes/image_attribute_labels.txt"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-10]))  # cut at a line boundary
    with pytest.raises(AnnotationError, match=r"no line for image_id 5, attribute_id 303 \(10 .* truncated"):
        prepare("cub", tmp_path / "raw", tmp_path / "out")


def test_line_cut_short_names_file_line_and_syntax(tmp_path: Path) -> None:
    write_cub(tmp_path / "raw")
    path = tmp_path / "raw/CUB_200_2011/attributes/image_attribute_labels.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[-1] = "5 312"  # cut mid-line
    path.write_text("".join(lines))
    with pytest.raises(AnnotationError, match=rf"line {len(lines)}: expected '<image_id> <attribute_id> <is_present>"):
        prepare("cub", tmp_path / "raw", tmp_path / "out")


def test_bad_is_present_value(tmp_path: Path) -> None:
    write_cub(tmp_path / "raw")
    path = tmp_path / "raw/CUB_200_2011/attributes/image_attribute_labels.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[4] = "1 5 2 3 1.0\n"
    path.write_text("".join(lines))
    with pytest.raises(AnnotationError, match=r"line 5: is_present must be one of \[0, 1\]"):
        prepare("cub", tmp_path / "raw", tmp_path / "out")


def test_split_file_missing_an_image(tmp_path: Path) -> None:
    write_cub(tmp_path / "raw")
    path = tmp_path / "raw/CUB_200_2011/train_test_split.txt"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(AnnotationError, match=rf"train_test_split\.txt: image_id {len(CUB_IMAGES)} of .* has no line"):
        prepare("cub", tmp_path / "raw", tmp_path / "out")


def test_doubled_archive_folder_is_accepted(tmp_path: Path) -> None:
    """An archive unpacked into a folder named CUB_200_2011 (Cole et al.'s layout)."""
    write_cub(tmp_path / "raw" / "CUB_200_2011")
    meta = prepare("cub", tmp_path / "raw", tmp_path / "out")
    assert meta["counts"]["train_images"] == 3
    assert json.loads((tmp_path / "out/dataset.json").read_text())["image_root"].endswith(
        "CUB_200_2011/CUB_200_2011/images"
    )
