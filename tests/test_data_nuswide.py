"""NUS-WIDE from fixtures in the official layout, and the ECCV authors' formatted files used as they are."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import DatasetNotFoundError
from benchmark.data.official import AnnotationError
from benchmark.data.prepare import prepare
from tests import protocol_reference as ref
from tests.fixtures_official import NUS_CONCEPTS, write_nuswide


def _row(pos: list[str]) -> list[float]:
    return [1.0 if c in pos else 0.0 for c in NUS_CONCEPTS]


@pytest.mark.parametrize("concept_dir", [False, True])
def test_formatted_arrays_match_hand_computed(tmp_path: Path, concept_dir: bool) -> None:
    write_nuswide(tmp_path / "raw", concept_dir=concept_dir)
    meta = prepare("nuswide", tmp_path / "raw", tmp_path / "out")
    out = tmp_path / "out"
    # Windows paths made relative to Flickr/; the image with no concept is dropped; list order kept
    assert np.load(out / "formatted_train_images.npy").tolist() == [
        "actor/0001_2124494179.jpg",
        "airport/0003_2143294632.jpg",
        "zebra/0010_47718283.jpg",
    ]
    np.testing.assert_array_equal(
        np.load(out / "formatted_train_labels.npy"),
        [_row(["beach", "birds"]), _row(["airport"]), _row(["animal", "bear", "cars"])],
    )
    assert np.load(out / "formatted_val_images.npy").tolist() == [
        "beach/0004_1186839489.jpg",
        "bridge/0006_2203494117.jpg",
    ]
    np.testing.assert_array_equal(
        np.load(out / "formatted_val_labels.npy"), [_row(["beach"]), _row(["bridge", "buildings"])]
    )
    for split in ("train", "val"):
        labels = np.load(out / f"formatted_{split}_labels.npy")
        np.testing.assert_array_equal(np.load(out / f"formatted_{split}_labels_obs.npy"), ref.observe(labels, 1, 0))
    assert meta["class_names"] == NUS_CONCEPTS
    assert meta["counts"]["train_dropped_no_concept"] == 1 and meta["counts"]["val_dropped_no_concept"] == 1
    assert Path(meta["image_root"]) == (tmp_path / "raw/Flickr").resolve()


def test_label_file_shorter_than_image_list(tmp_path: Path) -> None:
    write_nuswide(tmp_path / "raw")
    path = tmp_path / "raw/Groundtruth/TrainTestLabels/Labels_bear_Test.txt"
    path.write_bytes(b"0\r\n1\r\n")
    with pytest.raises(
        AnnotationError, match=r"Labels_bear_Test\.txt has 2 labels but .*TestImagelist\.txt lists 3 images"
    ):
        prepare("nuswide", tmp_path / "raw", tmp_path / "out")


def test_malformed_label_line(tmp_path: Path) -> None:
    write_nuswide(tmp_path / "raw")
    path = tmp_path / "raw/Groundtruth/TrainTestLabels/Labels_boats_Train.txt"
    path.write_bytes(b"0\r\n0\r\nyes\r\n0\r\n")
    with pytest.raises(AnnotationError, match=r"Labels_boats_Train\.txt, line 3: expected 0 or 1, got 'yes'"):
        prepare("nuswide", tmp_path / "raw", tmp_path / "out")


def test_missing_ground_truth_points_to_the_manual_steps(tmp_path: Path) -> None:
    write_nuswide(tmp_path / "raw")
    (tmp_path / "raw/Groundtruth/TrainTestLabels/Labels_cars_Train.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"Labels_cars_Train\.txt not found.*download nuswide"):
        prepare("nuswide", tmp_path / "raw", tmp_path / "out")


def _distributed_files(out: Path, with_obs: bool) -> tuple[np.ndarray, np.ndarray]:
    """Formatted files as a researcher receives them from the ECCV authors."""
    out.mkdir(parents=True)
    images = np.array(["actor/0001_2124494179.jpg", "zebra/0010_47718283.jpg", "airport/0003_2143294632.jpg"])
    labels = np.array([_row(["beach"]), _row(["bear", "cars"]), _row(["airport", "animal"])])
    np.save(out / "formatted_train_images.npy", images)
    np.save(out / "formatted_train_labels.npy", labels)
    np.save(out / "formatted_val_images.npy", np.array(["beach/0004_1186839489.jpg"]))
    np.save(out / "formatted_val_labels.npy", np.array([_row(["beach", "birds"])]))
    if with_obs:
        obs = np.zeros_like(labels)
        obs[:, 0] = 1  # not what the protocol would draw: kept, and flagged in the JSON
        np.save(out / "formatted_train_labels_obs.npy", obs)
    return images, labels


def test_existing_formatted_files_are_used_as_they_are(tmp_path: Path) -> None:
    write_nuswide(tmp_path / "raw")
    _images, _labels = _distributed_files(tmp_path / "out", with_obs=True)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    meta = prepare("nuswide", tmp_path / "raw", tmp_path / "out")
    for name, data in before.items():
        assert (tmp_path / "out" / name).read_bytes() == data, f"{name} was rewritten"
    assert meta["source"]["kind"] == "existing formatted files, used as they are"
    assert meta["source"]["observed_files_match_protocol"] == {
        "formatted_train_labels_obs.npy": False,
        "formatted_val_labels_obs.npy": True,
    }
    val = np.load(tmp_path / "out/formatted_val_labels.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "out/formatted_val_labels_obs.npy"), ref.observe(val, 1, 0))
    assert meta["class_names"] == NUS_CONCEPTS and meta["counts"]["train_images"] == 3


def test_existing_files_that_disagree_are_reported_with_both_names(tmp_path: Path) -> None:
    write_nuswide(tmp_path / "raw")
    _distributed_files(tmp_path / "out", with_obs=False)
    np.save(tmp_path / "out/formatted_val_labels.npy", np.zeros((1, 7)))
    with pytest.raises(ValueError) as err:
        prepare("nuswide", tmp_path / "raw", tmp_path / "out")
    msg = str(err.value)
    assert "formatted_train_labels.npy (shape (3, 81))" in msg and "formatted_val_labels.npy (shape (1, 7))" in msg


def test_partial_existing_files_are_refused(tmp_path: Path) -> None:
    write_nuswide(tmp_path / "raw")
    _distributed_files(tmp_path / "out", with_obs=False)
    (tmp_path / "out/formatted_val_images.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks formatted_val_images\.npy.*--force"):
        prepare("nuswide", tmp_path / "raw", tmp_path / "out")
    meta = prepare("nuswide", tmp_path / "raw", tmp_path / "out", force=True)
    assert meta["source"]["kind"] == "official files" and meta["counts"]["val_images"] == 2
    assert json.loads((tmp_path / "out/dataset.json").read_text())["counts"]["train_images"] == 3


def test_existing_files_listing_images_not_on_disk_are_refused(tmp_path: Path) -> None:
    write_nuswide(tmp_path / "raw")
    _distributed_files(tmp_path / "out", with_obs=False)
    (tmp_path / "raw/Flickr/zebra/0010_47718283.jpg").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=r"1 images of the formatted files in .* are missing under .*Flickr, "
        r"first: zebra/0010_47718283\.jpg",
    ):
        prepare("nuswide", tmp_path / "raw", tmp_path / "out", skip_missing=True)
    assert not (tmp_path / "out/dataset.json").exists()


def test_blank_line_inside_a_label_file_would_misalign_it(tmp_path: Path) -> None:
    write_nuswide(tmp_path / "raw")
    path = tmp_path / "raw/Groundtruth/TrainTestLabels/Labels_book_Train.txt"
    path.write_bytes(b"0\r\n\r\n0\r\n0\r\n0\r\n")
    with pytest.raises(AnnotationError, match=r"Labels_book_Train\.txt, line 2: blank line inside the file"):
        prepare("nuswide", tmp_path / "raw", tmp_path / "out")


def test_existing_files_without_a_concept_list_are_refused(tmp_path: Path) -> None:
    # the column names are what shows the files are NUS-WIDE's 81 concepts: no generic names
    write_nuswide(tmp_path / "raw")
    (tmp_path / "raw/Concepts81.txt").unlink()
    _distributed_files(tmp_path / "out", with_obs=False)
    with pytest.raises(
        ValueError,
        match=r"cannot name the 81 columns of .*formatted_train_labels\.npy: no class list "
        r"found under --root .*\(Concepts81\.txt\)",
    ):
        prepare("nuswide", tmp_path / "raw", tmp_path / "out")
    assert not (tmp_path / "out/dataset.json").exists()
