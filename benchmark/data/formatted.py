"""Loaders of the real datasets from their formatted directories (reference-codebase layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.data import Dataset, DatasetNotFoundError, get_spec


def _load(key: str, data_root: Path, **kwargs: Any) -> Dataset:
    directory = Path(data_root) / key
    spec = get_spec(key)
    if not directory.is_dir():
        raise DatasetNotFoundError(
            f"dataset '{key}' is not prepared: {directory} does not exist. Prepare it with: "
            f"{spec.prepare_hint.replace('DATA_ROOT', str(data_root))}"
        )
    raise NotImplementedError(f"loading the formatted '{key}' directory is not implemented yet")


def load_voc(data_root: Path, **kwargs: Any) -> Dataset:
    return _load("voc", data_root, **kwargs)


def load_coco(data_root: Path, **kwargs: Any) -> Dataset:
    return _load("coco", data_root, **kwargs)


def load_nuswide(data_root: Path, **kwargs: Any) -> Dataset:
    return _load("nuswide", data_root, **kwargs)


def load_cub(data_root: Path, **kwargs: Any) -> Dataset:
    return _load("cub", data_root, **kwargs)
