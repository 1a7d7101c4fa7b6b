"""Loaders of the real datasets from their formatted directories (the reference codebases' layout).

A formatted directory ``data_root/<key>`` holds ``formatted_{train,val}_{images,labels}.npy`` (and
the ``*_labels_obs.npy`` of the ``1p`` regime) as Cole et al.'s and Zhou et al.'s code reads them,
plus ``dataset.json`` written by ``python -m benchmark.data prepare``: class names, the image root
the image paths are relative to, provenance, and the manifest of the files' digests
(``benchmark.data.manifest``), checked on every load. "train" is the official training split (the
train + validation pool), "val" the official split used as the test set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.core.jsonio import read_json
from benchmark.data import IMAGENET_MEAN, IMAGENET_STD, Dataset, DatasetNotFoundError, LabelledImages, get_spec
from benchmark.data.files import FileImages
from benchmark.data.identity import check_prepared_identity
from benchmark.data.manifest import check_files, check_images
from benchmark.data.validate import check_image_names

META_FILE = "dataset.json"
SPLITS = ("train", "val")


def array_file(split: str, what: str) -> str:
    """``formatted_{split}_{what}.npy``; ``what`` is images, labels or labels_obs."""
    return f"formatted_{split}_{what}.npy"


CORE_FILES = tuple(array_file(s, w) for s in SPLITS for w in ("images", "labels"))
OBSERVED_FILES = tuple(array_file(s, "labels_obs") for s in SPLITS)


class FormattedDataError(ValueError):
    """A formatted directory's files disagree with each other or hold unexpected values."""


def prepare_command(key: str, data_root: Path | str) -> str:
    return get_spec(key).prepare_hint.replace("DATA_ROOT", str(data_root))


def check_prepared(key: str, data_root: Path) -> Path:
    """The formatted directory of ``key``, or a ``DatasetNotFoundError`` naming what is missing
    and the command that prepares it."""
    directory = Path(data_root) / key
    missing = [name for name in (*CORE_FILES, META_FILE) if not (directory / name).is_file()]
    if missing:
        problem = f"lacks {', '.join(missing)}" if directory.is_dir() else "does not exist"
        raise DatasetNotFoundError(
            f"dataset '{key}' is not prepared: {directory} {problem}. "
            f"Prepare it with: {prepare_command(key, data_root)}"
        )
    # a folder prepared from another dataset must not be trained and ranked as this one
    meta = read_meta(directory)
    check_prepared_identity(key, meta, str(directory / META_FILE), prepare_command(key, data_root))
    for split in SPLITS:  # names that would read files outside the image root
        path = directory / array_file(split, "images")
        check_image_names({split: load_array(path).tolist()}, str(path), resolve_image_root(directory, meta))
    # what is wrong in words first (shapes, values), then whether the files are the ones prepare wrote
    check_arrays(read_arrays(directory), directory, meta["class_names"])
    check_files(directory, meta.get("manifest"), str(directory / META_FILE), prepare_command(key, data_root))
    return directory


def load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        # object arrays need pickle, which we do not load from downloaded files; a truncated file
        # ends in EOFError or ValueError depending on where it was cut
        raise FormattedDataError(
            f"{path}: cannot be read as a plain numpy array ({exc}); expected a string array "
            "of image paths or a numeric label matrix"
        ) from None


def check_arrays(
    arrays: dict[str, np.ndarray], directory: Path, class_names: list[str] | None = None, names_source: str = META_FILE
) -> None:
    """Raise ``FormattedDataError`` naming both files (and their shapes) when arrays disagree."""

    def desc(name: str) -> str:
        return f"{directory / name} (shape {arrays[name].shape})"

    for split in SPLITS:
        images, labels = array_file(split, "images"), array_file(split, "labels")
        if arrays[images].ndim != 1 or arrays[images].dtype.kind not in "US":
            raise FormattedDataError(
                f"{desc(images)}: expected a 1-D array of image paths, got dtype {arrays[images].dtype}"
            )
        if arrays[labels].ndim != 2:
            raise FormattedDataError(f"{desc(labels)}: expected a 2-D [images, classes] label matrix")
        if arrays[images].shape[0] != arrays[labels].shape[0]:
            raise FormattedDataError(
                f"{desc(images)} lists {arrays[images].shape[0]} images but {desc(labels)} "
                f"has {arrays[labels].shape[0]} rows; they must agree"
            )
        values = np.unique(arrays[labels])
        if not np.isin(values, (0, 1)).all():
            raise FormattedDataError(f"{desc(labels)}: expected labels 0/1, found values {values[:10].tolist()}")
        obs = array_file(split, "labels_obs")
        if obs in arrays and arrays[obs].shape != arrays[labels].shape:
            raise FormattedDataError(f"{desc(obs)} and {desc(labels)} must have the same shape")
    train, val = array_file("train", "labels"), array_file("val", "labels")
    if arrays[train].shape[1] != arrays[val].shape[1]:
        raise FormattedDataError(
            f"{desc(train)} has {arrays[train].shape[1]} classes but {desc(val)} has "
            f"{arrays[val].shape[1]}; they must agree"
        )
    if class_names is not None and len(class_names) != arrays[train].shape[1]:
        raise FormattedDataError(
            f"{directory / names_source} names {len(class_names)} classes but {desc(train)} "
            f"has {arrays[train].shape[1]} columns; they must agree"
        )


def read_arrays(directory: Path, with_observed: bool = True) -> dict[str, np.ndarray]:
    names = list(CORE_FILES) + [n for n in OBSERVED_FILES if with_observed and (directory / n).is_file()]
    return {name: load_array(directory / name) for name in names}


def read_meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    meta = read_json(path, FormattedDataError, "the dataset.json written by python -m benchmark.data prepare")
    if not isinstance(meta, dict):
        raise FormattedDataError(f"{path}: expected a JSON object at the top level, got {type(meta).__name__}")
    for field in ("dataset", "class_names", "image_root"):
        if field not in meta:
            raise FormattedDataError(
                f"{path}: expected a '{field}' field (written by python -m benchmark.data prepare)"
            )
    if not isinstance(meta["image_root"], str) or not meta["image_root"]:
        raise FormattedDataError(
            f"{path}: 'image_root' must be the path of the image folder, got {meta['image_root']!r}"
        )
    return meta


def resolve_image_root(directory: Path, meta: dict[str, Any]) -> Path:
    root = Path(meta["image_root"])
    return root if root.is_absolute() else (directory / root)


def load(data_root: Path, key: str, image_size: int = 448, check_files: bool = True, **_: Any) -> Dataset:
    """A prepared dataset (``DatasetSpec.load`` of voc, coco, nuswide and cub)."""
    data_root = Path(data_root)
    directory = check_prepared(key, data_root)
    meta = read_meta(directory)
    arrays = read_arrays(directory)
    image_root = resolve_image_root(directory, meta)
    stores = {s: FileImages(str(image_root), arrays[array_file(s, "images")], image_size) for s in SPLITS}
    if check_files:
        # a missing image is found now, not in the middle of training
        for split, store in stores.items():
            missing = store.missing()
            if missing:
                raise DatasetNotFoundError(
                    f"{len(missing)} of {len(store)} images of {directory / array_file(split, 'images')} are missing "
                    f"under {image_root}, first: {', '.join(missing[:5])}. Restore them, or prepare again with: "
                    f"{prepare_command(key, data_root)}"
                )
        names = [str(n) for s in SPLITS for n in arrays[array_file(s, "images")]]
        check_images(meta["manifest"], image_root, names, str(directory / META_FILE), prepare_command(key, data_root))
    labels = {s: arrays[array_file(s, "labels")].astype(np.uint8) for s in SPLITS}
    return Dataset(
        name=key,
        class_names=list(meta["class_names"]),
        pool=LabelledImages(stores["train"], labels["train"]),
        test=LabelledImages(stores["val"], labels["val"]),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        provenance={
            "directory": str(directory),
            "image_root": str(image_root),
            "image_size": image_size,
            "digest": meta["manifest"]["digest"],
            **{k: meta[k] for k in ("created", "tool", "counts", "source") if k in meta},
        },
    )
