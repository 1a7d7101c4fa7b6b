"""Datasets: a registry of the benchmark's datasets and what a loaded dataset looks like.

This package knows nothing of methods. A loaded ``Dataset`` is the official training pool and the
official test split, each as an image store plus a 0/1 label matrix; ``benchmark.data.protocol``
turns the pool into train/val and observed labels.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.core.cli import default_data_root  # the one definition of $SPML_DATA (the --data-root default)
from benchmark.data import lookalike  # the embedded set's variants (digits-voc, digits-coco)
from benchmark.data.store import ArrayImages, ImageStore

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's prepared files are missing; the message says which command prepares them."""


class UnknownDatasetError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class LabelledImages:
    images: ImageStore
    labels: np.ndarray  # [N, C] uint8 in {0, 1}

    def __post_init__(self) -> None:
        if len(self.images) != self.labels.shape[0]:
            raise ValueError(f"{len(self.images)} images but {self.labels.shape[0]} label rows")


@dataclass
class Dataset:
    name: str
    class_names: list[str]
    pool: LabelledImages  # official training split: train + validation pool
    test: LabelledImages  # official split used as the test set
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True)
class DatasetSpec:
    key: str
    title: str
    num_classes: int
    description: str
    #: the resolution images are decoded (and cached) at unless a run asks for another: the
    #: protocol's (PROTOCOL.md), 24 for the embedded set. Training defaults: ``benchmark.spec.defaults``
    image_size: int
    #: "module:function" loading the dataset from a data root (called with the dataset's ``key``)
    loader: str
    #: the command that prepares the data, for error messages
    prepare_hint: str

    def load(self, data_root: str | Path, **kwargs: Any) -> Dataset:
        module, func = self.loader.split(":")
        fn: Callable[..., Dataset] = getattr(importlib.import_module(module), func)
        return fn(Path(data_root), key=self.key, **kwargs)


def variant_spec(key: str, recipe: lookalike.Recipe) -> DatasetSpec:
    """The entry of the embedded variant ``key`` (``<family>-<like>``, e.g. ``digits-voc``)."""
    like = key.partition("-")[2].upper()
    return DatasetSpec(
        key,
        f"Digit mosaics like {like} (embedded)",
        recipe.num_classes,
        f"embedded, with {like}'s label statistics: {recipe.num_classes} (digit, style) classes",
        recipe.canvas,
        "benchmark.data.digits:load_variant",
        "built automatically on first use",
    )


def official_spec(key: str, title: str, num_classes: int, description: str) -> DatasetSpec:
    """The entry of a dataset prepared from its official files and read by ``benchmark.data.formatted``."""
    prepare = f"python -m benchmark.data prepare {key} --root RAW --out DATA_ROOT/{key}"
    return DatasetSpec(key, title, num_classes, description, 448, "benchmark.data.formatted:load", prepare)


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        "digits",
        "Digit mosaics (embedded)",
        10,
        "embedded default: 2x2 mosaics of sklearn's handwritten digits, 10 classes, CPU-sized",
        24,
        "benchmark.data.digits:load",
        "built automatically on first use",
    ),
    "voc": official_spec("voc", "PASCAL VOC 2012", 20, "PASCAL VOC 2012, 20 classes (train → pool, val → test)"),
    "coco": official_spec("coco", "MS-COCO 2014", 80, "MS-COCO 2014, 80 classes (train2014 → pool, val2014 → test)"),
    "nuswide": official_spec("nuswide", "NUS-WIDE", 81, "NUS-WIDE, 81 concepts (official release)"),
    "cub": official_spec("cub", "CUB-200-2011", 312, "CUB-200-2011, 312 binary attributes"),
    **{key: variant_spec(key, recipe) for key, recipe in lookalike.RECIPES.items()},
}


def get_spec(key: str) -> DatasetSpec:
    if key not in DATASETS:
        raise UnknownDatasetError(f"unknown dataset '{key}'; valid datasets: {', '.join(DATASETS)}")
    return DATASETS[key]


def load(key: str, data_root: str | Path | None = None, **kwargs: Any) -> Dataset:
    return get_spec(key).load(default_data_root() if data_root is None else data_root, **kwargs)


__all__ = [
    "DATASETS",
    "ArrayImages",
    "Dataset",
    "DatasetNotFoundError",
    "DatasetSpec",
    "LabelledImages",
    "UnknownDatasetError",
    "default_data_root",
    "get_spec",
    "load",
    "variant_spec",
]
