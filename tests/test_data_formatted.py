"""Loading a formatted directory into a ``Dataset``: FileImages, the checks, and the harness's use of it."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import benchmark.data as data
from benchmark.data import IMAGENET_MEAN, IMAGENET_STD, DatasetNotFoundError
from benchmark.data.files import FileImages, ImageDecodeError
from benchmark.data.formatted import FormattedDataError
from benchmark.data.identity import DatasetIdentityError
from benchmark.data.prepare import prepare
from benchmark.run.rundata import prepare_data
from benchmark.spec.config import RunConfig
from tests import protocol_reference as ref
from tests.fixtures_official import write_coco, write_cub, write_jpeg, write_nuswide, write_voc

WRITERS = {"voc": write_voc, "coco": write_coco, "nuswide": write_nuswide, "cub": write_cub}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("prepared")
    for key, write in WRITERS.items():
        write(base / "raw" / key)
        prepare(key, base / "raw" / key, base / "data" / key)
    return base / "data"


@pytest.mark.parametrize("key", list(WRITERS))
def test_loader_returns_file_stores_with_imagenet_statistics(data_root: Path, key: str) -> None:
    ds = data.load(key, data_root, image_size=16)
    out = data_root / key
    assert ds.name == key and ds.mean == IMAGENET_MEAN and ds.std == IMAGENET_STD
    assert isinstance(ds.pool.images, FileImages) and ds.pool.images.image_size == 16
    np.testing.assert_array_equal(ds.pool.labels, np.load(out / "formatted_train_labels.npy"))
    np.testing.assert_array_equal(ds.test.labels, np.load(out / "formatted_val_labels.npy"))
    assert ds.pool.labels.dtype == np.uint8
    assert ds.class_names == json.loads((out / "dataset.json").read_text())["class_names"]
    batch = ds.test.images.load(np.array([1, 0]))
    assert batch.dtype == torch.uint8 and tuple(batch.shape) == (2, 3, 16, 16)


def test_default_image_size_is_448(data_root: Path) -> None:
    assert data.load("voc", data_root).pool.images.image_size == 448


def test_file_images_decode_rgb_resize_without_crop(tmp_path: Path) -> None:
    # a grey image of one half black, one half white: a resize keeps both halves, a crop would not
    img = Image.new("L", (40, 10), 0)
    img.paste(255, (20, 0, 40, 10))
    img.save(tmp_path / "a.png")
    write_jpeg(tmp_path / "sub" / "b.jpg", (7, 5), (250, 10, 10))
    store = FileImages(str(tmp_path), np.array(["a.png", "sub/b.jpg"]), image_size=8)
    x = store.load(np.array([0, 1])).numpy()
    assert x.shape == (2, 3, 8, 8)
    assert (x[0, :, :, 0] < 10).all() and (x[0, :, :, -1] > 245).all()  # both halves survive
    assert (x[0, 0] == x[0, 1]).all()  # grey → RGB
    assert abs(int(x[1, 0].mean()) - 250) < 12 and x[1, 1].mean() < 30


def test_file_images_work_in_dataloader_workers(data_root: Path) -> None:
    from benchmark.run.loop import iterate

    store = data.load("coco", data_root, image_size=12).pool.images
    assert pickle.loads(pickle.dumps(store)).names.tolist() == store.names.tolist()
    order = np.arange(len(store))
    inline = torch.cat([x for x, _ in iterate(store, order, 2)])
    workers = torch.cat([x for x, _ in iterate(store, order, 2, num_workers=2)])
    assert torch.equal(inline, workers)


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageDecodeError, match=r"bad\.jpg"):
        FileImages(str(tmp_path), np.array(["bad.jpg"]), 8).load(np.array([0]))


def test_harness_prepare_data_uses_the_protocol_split_and_regime(data_root: Path) -> None:
    cfg = RunConfig(
        dataset="voc",
        method="an",
        labels="1p",
        data_root=str(data_root),
        image_size=8,
        backbone="resnet18",
        pretrained=False,
    ).resolve()
    run = prepare_data(cfg)
    pool = np.load(data_root / "voc/formatted_train_labels.npy")
    train_idx, val_idx = ref.split(len(pool))
    assert len(run.train) == len(train_idx) == 4 and len(run.val) == len(val_idx) == 1
    np.testing.assert_array_equal(run.observed.numpy(), ref.observe(pool, 1, 0)[train_idx])
    # the formatted 1p file holds the same positives
    np.testing.assert_array_equal(
        run.observed.numpy(), np.load(data_root / "voc/formatted_train_labels_obs.npy")[train_idx]
    )
    np.testing.assert_array_equal(run.val_labels.numpy(), pool[val_idx])
    assert tuple(run.train.load(np.array([0])).shape) == (1, 3, 8, 8)


# -- bad formatted directories ------------------------------------------------------------------------
def _copy(data_root: Path, tmp_path: Path, key: str = "voc") -> Path:
    shutil.copytree(data_root / key, tmp_path / key)
    return tmp_path / key


def test_arrays_disagreeing_in_length_name_both_files(data_root: Path, tmp_path: Path) -> None:
    out = _copy(data_root, tmp_path)
    np.save(out / "formatted_train_images.npy", np.load(out / "formatted_train_images.npy")[:3])
    with pytest.raises(FormattedDataError) as err:
        data.load("voc", tmp_path)
    msg = str(err.value)
    assert "formatted_train_images.npy (shape (3,)) lists 3 images" in msg
    assert "formatted_train_labels.npy (shape (5, 20)) has 5 rows" in msg


def test_arrays_disagreeing_in_class_count_name_both_files(data_root: Path, tmp_path: Path) -> None:
    out = _copy(data_root, tmp_path)
    np.save(out / "formatted_val_labels.npy", np.load(out / "formatted_val_labels.npy")[:, :19])
    np.save(out / "formatted_val_labels_obs.npy", np.load(out / "formatted_val_labels_obs.npy")[:, :19])
    with pytest.raises(
        FormattedDataError,
        match=r"formatted_train_labels\.npy \(shape \(5, 20\)\) has 20 classes but "
        r".*formatted_val_labels\.npy \(shape \(2, 19\)\) has 19",
    ):
        data.load("voc", tmp_path)


def test_class_names_disagreeing_with_labels(data_root: Path, tmp_path: Path) -> None:
    out = _copy(data_root, tmp_path)
    meta = json.loads((out / "dataset.json").read_text())
    meta["class_names"] = meta["class_names"][:-1]
    (out / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(
        DatasetIdentityError,
        match=r"dataset\.json: the class list is not the 20 classes of PASCAL VOC "
        r"2012: it has 19, lacks 'tvmonitor'; prepare voc there with",
    ):
        data.load("voc", tmp_path)
    # a dataset.json naming another dataset is refused before its class list is read
    meta["class_names"] = [f"c{i}" for i in range(19)]
    (out / "dataset.json").write_text(json.dumps({**meta, "dataset": "cub"}))
    with pytest.raises(DatasetIdentityError, match=r"prepared for dataset 'cub' \(19 classes\), not 'voc'"):
        data.load("voc", tmp_path)


def test_observed_file_of_another_shape(data_root: Path, tmp_path: Path) -> None:
    out = _copy(data_root, tmp_path)
    np.save(out / "formatted_train_labels_obs.npy", np.zeros((4, 20)))
    with pytest.raises(
        FormattedDataError,
        match=r"formatted_train_labels_obs\.npy \(shape \(4, 20\)\) and .*"
        r"formatted_train_labels\.npy \(shape \(5, 20\)\)",
    ):
        data.load("voc", tmp_path)


def test_labels_that_are_not_0_1(data_root: Path, tmp_path: Path) -> None:
    out = _copy(data_root, tmp_path)
    labels = np.load(out / "formatted_train_labels.npy")
    labels[labels == 0] = -1
    np.save(out / "formatted_train_labels.npy", labels)
    with pytest.raises(FormattedDataError, match=r"expected labels 0/1, found values \[-1\.0, 1\.0\]"):
        data.load("voc", tmp_path)


def test_missing_directory_or_file_names_the_prepare_command(data_root: Path, tmp_path: Path) -> None:
    with pytest.raises(
        DatasetNotFoundError,
        match=rf"{tmp_path / 'coco'} does not exist.*prepare coco --root RAW --out {tmp_path}/coco",
    ):
        data.load("coco", tmp_path)
    out = _copy(data_root, tmp_path)
    (out / "formatted_val_labels.npy").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"lacks formatted_val_labels\.npy.*prepare voc --root RAW"):
        data.load("voc", tmp_path)


def test_images_gone_since_prepare_are_found_at_load(data_root: Path, tmp_path: Path) -> None:
    out = _copy(data_root, tmp_path)
    meta = json.loads((out / "dataset.json").read_text())
    images = tmp_path / "images"
    shutil.copytree(meta["image_root"], images)
    meta["image_root"] = str(images)
    (out / "dataset.json").write_text(json.dumps(meta))
    assert len(data.load("voc", tmp_path).pool.images) == 5
    (images / "2008_000006.jpg").unlink()
    with pytest.raises(
        DatasetNotFoundError, match=r"1 of 5 images of .*formatted_train_images\.npy are missing .*2008_000006\.jpg"
    ):
        data.load("voc", tmp_path)
