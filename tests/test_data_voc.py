"""VOC 2012 from fixtures in the official layout: labels, 'difficult', dropping, order, observed labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import DatasetNotFoundError
from benchmark.data.__main__ import main as data_main
from benchmark.data.official import AnnotationError, MissingImagesError
from benchmark.data.prepare import prepare
from benchmark.data.voc import CLASSES
from tests import protocol_reference as ref
from tests.fixtures_official import VOC_TRAIN, write_voc


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("voc")
    write_voc(base / "raw")
    prepare("voc", base / "raw", base / "data" / "voc")
    return base / "raw", base / "data" / "voc"


def _row(pos: list[str]) -> list[float]:
    return [1.0 if c in pos else 0.0 for c in CLASSES]


def test_formatted_arrays_match_hand_computed(prepared: tuple[Path, Path]) -> None:
    _raw, out = prepared
    images = np.load(out / "formatted_train_images.npy")
    labels = np.load(out / "formatted_train_labels.npy")
    # 2008_000003 (only a difficult bird) and 2008_000005 (all -1) have no positive: dropped; sorted
    assert images.tolist() == [
        "2008_000001.jpg",
        "2008_000002.jpg",
        "2008_000004.jpg",
        "2008_000006.jpg",
        "2008_000010.jpg",
    ]
    expected = np.array(
        [
            _row(["cat", "dog"]),
            _row(["person"]),  # its difficult cat (0) is a negative
            _row(["aeroplane"]),
            _row(["chair", "person", "tvmonitor"]),
            _row(["cow", "sheep"]),  # its difficult dog is a negative
        ]
    )
    np.testing.assert_array_equal(labels, expected)
    assert labels.dtype == np.float64  # as Cole et al.'s format_pascal.py writes it
    assert np.load(out / "formatted_val_images.npy").tolist() == ["2008_000007.jpg", "2008_000008.jpg"]
    np.testing.assert_array_equal(np.load(out / "formatted_val_labels.npy"), np.array([_row(["dog"]), _row(["sofa"])]))
    assert labels[1, CLASSES.index("cat")] == 0 and labels[4, CLASSES.index("dog")] == 0


def test_observed_labels_are_the_1p_regime_with_seed_1200(prepared: tuple[Path, Path]) -> None:
    _, out = prepared
    for split in ("train", "val"):
        labels = np.load(out / f"formatted_{split}_labels.npy")
        obs = np.load(out / f"formatted_{split}_labels_obs.npy")
        np.testing.assert_array_equal(obs, ref.observe(labels, 1, 0))
        assert ((obs == 1).sum(axis=1) == 1).all() and not (obs == -1).any()
        assert (labels[obs == 1] == 1).all()
    obs = np.load(out / "formatted_train_labels_obs.npy")
    # single-positive images can only observe that positive
    assert obs[1].tolist() == _row(["person"]) and obs[2].tolist() == _row(["aeroplane"])


def test_json_records_classes_image_root_and_provenance(prepared: tuple[Path, Path]) -> None:
    raw, out = prepared
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["class_names"] == list(CLASSES)
    assert Path(meta["image_root"]) == (raw / "VOCdevkit/VOC2012/JPEGImages").resolve()
    assert meta["image_root_in_raw_root"] == "VOCdevkit/VOC2012/JPEGImages"
    assert meta["counts"]["train_images"] == 5 and meta["counts"]["train_dropped_no_positive"] == 2
    assert meta["observed"] == {
        "regime": "1p",
        "seed": 1200,
        "files": ["formatted_train_labels_obs.npy", "formatted_val_labels_obs.npy"],
        "routine": meta["observed"]["routine"],
    }
    sources = {f["path"] for f in meta["source"]["files"]}
    assert "VOCdevkit/VOC2012/ImageSets/Main/cat_train.txt" in sources and len(sources) == 40
    assert all(len(f["sha256"]) == 64 for f in meta["source"]["files"])
    assert meta["created"] and meta["tool"]["name"].startswith("spml-bench")


def test_every_image_path_exists_under_the_recorded_root(prepared: tuple[Path, Path]) -> None:
    _, out = prepared
    root = Path(json.loads((out / "dataset.json").read_text())["image_root"])
    for split in ("train", "val"):
        assert all((root / n).is_file() for n in np.load(out / f"formatted_{split}_images.npy"))


# -- bad input ------------------------------------------------------------------------------------
def test_missing_root_names_path_and_download_command(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        prepare("voc", tmp_path / "nowhere", tmp_path / "out")
    assert str(tmp_path / "nowhere") in str(err.value)
    assert "python -m benchmark.data download voc --root" in str(err.value)


def test_missing_class_file_names_it(tmp_path: Path) -> None:
    write_voc(tmp_path / "raw", with_images=False)
    (tmp_path / "raw/VOCdevkit/VOC2012/ImageSets/Main/sofa_val.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"sofa_val\.txt not found.*download voc"):
        prepare("voc", tmp_path / "raw", tmp_path / "out")


def test_malformed_line_names_file_line_and_syntax(tmp_path: Path) -> None:
    write_voc(tmp_path / "raw", with_images=False)
    path = tmp_path / "raw/VOCdevkit/VOC2012/ImageSets/Main/dog_train.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = "2008_000003  2\n"
    path.write_text("".join(lines))
    with pytest.raises(AnnotationError) as err:
        prepare("voc", tmp_path / "raw", tmp_path / "out")
    assert f"{path}, line 3" in str(err.value) and "label -1, 0 or 1" in str(err.value) and "got '2'" in str(err.value)


def test_file_cut_mid_line_is_reported(tmp_path: Path) -> None:
    write_voc(tmp_path / "raw", with_images=False)
    path = tmp_path / "raw/VOCdevkit/VOC2012/ImageSets/Main/person_train.txt"
    path.write_bytes(path.read_bytes()[:-9])  # the last line loses its label
    with pytest.raises(AnnotationError, match=rf"{path.name}, line {len(VOC_TRAIN)}: expected '<image_id> <label>"):
        prepare("voc", tmp_path / "raw", tmp_path / "out")


def test_file_cut_at_a_line_boundary_is_reported(tmp_path: Path) -> None:
    write_voc(tmp_path / "raw", with_images=False)
    path = tmp_path / "raw/VOCdevkit/VOC2012/ImageSets/Main/cat_train.txt"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:4]))
    with pytest.raises(AnnotationError, match=r"cat_train\.txt lists 4 images but .*train\.txt lists 7.*truncated"):
        prepare("voc", tmp_path / "raw", tmp_path / "out")


def test_listed_images_missing_on_disk_are_found_at_prepare_time(tmp_path: Path) -> None:
    write_voc(tmp_path / "raw")
    jpeg = tmp_path / "raw/VOCdevkit/VOC2012/JPEGImages"
    (jpeg / "2008_000004.jpg").unlink()
    (jpeg / "2008_000008.jpg").unlink()
    with pytest.raises(MissingImagesError) as err:
        prepare("voc", tmp_path / "raw", tmp_path / "out")
    assert "2 of 7 images" in str(err.value) and "2008_000004.jpg, 2008_000008.jpg" in str(err.value)
    assert not (tmp_path / "out" / "dataset.json").exists()
    # opting in drops them and records them
    meta = prepare("voc", tmp_path / "raw", tmp_path / "out", skip_missing=True)
    assert meta["missing_images_dropped"] == {"train": ["2008_000004.jpg"], "val": ["2008_000008.jpg"]}
    assert "2008_000004.jpg" not in np.load(tmp_path / "out/formatted_train_images.npy").tolist()


def test_cli_prepare_reports_errors_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert data_main(["prepare", "voc", "--root", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "download voc" in err and "Traceback" not in err
    write_voc(tmp_path / "raw")
    assert data_main(["prepare", "voc", "--root", str(tmp_path / "raw"), "--out", str(tmp_path / "o")]) == 0
    assert "5 train-pool images, 2 test images, 20 classes" in capsys.readouterr().out
    before = (tmp_path / "o" / "dataset.json").read_bytes()
    assert data_main(["prepare", "voc", "--root", str(tmp_path / "raw"), "--out", str(tmp_path / "o")]) == 0
    assert "already prepared (use --force to rebuild)" in capsys.readouterr().out
    assert (tmp_path / "o" / "dataset.json").read_bytes() == before
