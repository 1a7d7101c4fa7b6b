"""Loaders of the embedded digit-mosaic dataset (see ``embedded``) and of its variants (``lookalike``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.data import Dataset, LabelledImages, lookalike
from benchmark.data.embedded import CLASS_NAMES, VERSION, cache_path, generator_key, load_arrays
from benchmark.data.manifest import array_digest
from benchmark.data.store import ArrayImages


def load(data_root: Path, **_: Any) -> Dataset:
    arrays = load_arrays(data_root)
    return Dataset(
        name="digits",
        class_names=list(CLASS_NAMES),
        pool=LabelledImages(ArrayImages(arrays["pool_images"]), arrays["pool_labels"]),
        test=LabelledImages(ArrayImages(arrays["test_images"]), arrays["test_labels"]),
        mean=(0.5,),
        std=(0.5,),
        provenance={
            "source": "sklearn.datasets.load_digits mosaics",
            "version": VERSION,
            "key": generator_key(),
            "file": str(cache_path(data_root)),
            # the content of its arrays (the .npz's bytes carry the time it was written)
            "digest": array_digest(arrays),
        },
    )


def load_variant(data_root: Path, key: str, **_: Any) -> Dataset:
    """The embedded variant ``key`` (``lookalike.RECIPES``)."""
    recipe = lookalike.RECIPES[key]
    arrays = lookalike.load_arrays(data_root, key, recipe)
    return Dataset(
        name=key,
        class_names=lookalike.class_names(recipe),
        pool=LabelledImages(ArrayImages(arrays["pool_images"]), arrays["pool_labels"]),
        test=LabelledImages(ArrayImages(arrays["test_images"]), arrays["test_labels"]),
        mean=(0.5,),
        std=(0.5,),
        provenance={
            "source": f"sklearn.datasets.load_digits mosaics, {key}",
            "version": lookalike.VERSION,
            "key": lookalike.generator_key(recipe),
            "file": str(lookalike.cache_path(data_root, key, recipe)),
            "digest": array_digest(arrays),
            "styles": list(recipe.styles),  # the pretraining's classes are (digit, style), as the set's
        },
    )
