"""Content-addressed inputs: the prepared data's manifest, the data digest in a dataset's provenance,
and the decoded-image cache verified on open (benchmark.data.manifest, benchmark.data.cache)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import benchmark.data as data
from benchmark.data.cache import CacheCorruptError, cache_path, cached_images
from benchmark.data.manifest import ManifestError
from benchmark.data.prepare import prepare
from tests.fixtures_official import write_voc


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("manifest")
    write_voc(base / "raw")
    prepare("voc", base / "raw", base / "data" / "voc")
    return base


def _copy(prepared: Path, tmp_path: Path) -> Path:
    shutil.copytree(prepared / "data", tmp_path / "data")
    return tmp_path / "data"


def test_prepare_writes_a_manifest_and_the_digest_is_in_the_provenance(prepared: Path) -> None:
    meta = json.loads((prepared / "data/voc/dataset.json").read_text())
    manifest = meta["manifest"]
    assert set(manifest["files"]) == {
        f"formatted_{s}_{w}.npy" for s in ("train", "val") for w in ("images", "labels", "labels_obs")
    }
    assert all(len(e["sha256"]) == 64 and e["bytes"] > 0 for e in manifest["files"].values())
    assert manifest["images"]["count"] == 7 and manifest["images"]["sample"]
    ds = data.load("voc", prepared / "data", image_size=16)
    assert ds.provenance["digest"] == manifest["digest"]


def test_a_second_preparation_of_the_same_files_has_the_same_digest(prepared: Path, tmp_path: Path) -> None:
    again = prepare("voc", prepared / "raw", tmp_path / "voc")
    first = json.loads((prepared / "data/voc/dataset.json").read_text())
    assert again["manifest"]["digest"] == first["manifest"]["digest"]


@pytest.mark.parametrize("name", ["formatted_train_labels.npy", "formatted_val_labels_obs.npy"])
def test_an_array_rewritten_after_prepare_is_refused_naming_it(prepared: Path, tmp_path: Path, name: str) -> None:
    root = _copy(prepared, tmp_path)
    path = root / "voc" / name
    labels = np.load(path)
    labels[0] = labels[1]  # still 0/1 (or +1/0/-1), same shape: only the content tells
    np.save(path, labels)
    with pytest.raises(ManifestError, match=rf"{path}: |{path} is not the file prepare wrote"):
        data.load("voc", root, image_size=16)


def test_a_dataset_json_without_a_manifest_is_refused(prepared: Path, tmp_path: Path) -> None:
    root = _copy(prepared, tmp_path)
    meta = json.loads((root / "voc/dataset.json").read_text())
    del meta["manifest"]
    (root / "voc/dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ManifestError, match=r"has no manifest of its files.*--force"):
        data.load("voc", root, image_size=16)


def test_an_image_replaced_after_prepare_is_refused(prepared: Path, tmp_path: Path) -> None:
    root = _copy(prepared, tmp_path)
    meta = json.loads((root / "voc/dataset.json").read_text())
    images = tmp_path / "images"
    shutil.copytree(meta["image_root"], images)
    meta["image_root"] = str(images)
    (root / "voc/dataset.json").write_text(json.dumps(meta))
    data.load("voc", root, image_size=16)  # moved, not changed: still the prepared data
    victim = sorted(images.glob("*.jpg"))[0]
    victim.write_bytes(victim.read_bytes() + b"\0")
    with pytest.raises(ManifestError, match="not the ones prepared"):
        data.load("voc", root, image_size=16)


def _cache(root: Path, size: int) -> tuple[Path, object]:
    ds = data.load("voc", root, image_size=size)
    digest = ds.provenance["digest"]
    cached_images(ds.pool.images, root, "voc", "pool", num_workers=0, data_digest=digest)
    return cache_path(ds.pool.images, root, "voc", "pool", data_digest=digest)[0], ds


def test_the_cache_is_keyed_by_the_data_digest(prepared: Path, tmp_path: Path) -> None:
    root = _copy(prepared, tmp_path)
    path, ds = _cache(root, 16)
    assert path.with_name(path.name + ".json").is_file()
    other, _ = cache_path(ds.pool.images, root, "voc", "pool", data_digest="0" * 64)  # type: ignore[attr-defined]
    assert other != path


def test_a_cache_of_another_size_under_this_name_is_refused(prepared: Path, tmp_path: Path) -> None:
    root = _copy(prepared, tmp_path)
    small, _ = _cache(root, 16)
    large, ds = _cache(root, 20)
    shutil.copy(small, large)  # the 16 px cache under the 20 px name
    with pytest.raises(CacheCorruptError, match=rf"image cache {large} holds uint8 images of shape \(5, 3, 16, 16\)"):
        cached_images(
            ds.pool.images,
            root,
            "voc",
            "pool",
            num_workers=0,  # type: ignore[attr-defined]
            data_digest=ds.provenance["digest"],
        )  # type: ignore[attr-defined]
    shutil.copy(small.with_name(small.name + ".json"), large.with_name(large.name + ".json"))  # and its sidecar
    with pytest.raises(CacheCorruptError, match=str(large)):
        cached_images(
            ds.pool.images,
            root,
            "voc",
            "pool",
            num_workers=0,  # type: ignore[attr-defined]
            data_digest=ds.provenance["digest"],
        )  # type: ignore[attr-defined]


def test_a_truncated_cache_is_refused_naming_it(prepared: Path, tmp_path: Path) -> None:
    root = _copy(prepared, tmp_path)
    path, ds = _cache(root, 16)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CacheCorruptError, match=rf"image cache {path}"):
        cached_images(
            ds.pool.images,
            root,
            "voc",
            "pool",
            num_workers=0,  # type: ignore[attr-defined]
            data_digest=ds.provenance["digest"],
        )  # type: ignore[attr-defined]


def test_the_embedded_set_has_a_content_digest(tmp_path: Path) -> None:
    first = data.load("digits", tmp_path).provenance["digest"]
    assert len(first) == 64 and data.load("digits", tmp_path).provenance["digest"] == first
