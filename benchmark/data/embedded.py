"""The embedded default dataset: multi-label mosaics of scikit-learn's bundled handwritten digits.

Each image is a 2x2 grid of cells on a black canvas holding 1-4 digits at jittered positions; its
labels are the digit classes present (10 classes). The training pool and the test split draw their
digits from disjoint halves of ``load_digits``, so test images hold unseen handwriting. Built
offline in about a second, deterministically, and cached as one ``.npz`` whose name carries a hash
of every parameter of the generator (``generator_key``): a changed generator can never be read
from an old cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.core.atomic import atomic_path

#: bumped when the generator's code changes in a way its parameters below do not show
VERSION = 2
CELL = 12  # a cell of the 2x2 grid; a digit is 8x8, so the jitter is 0..4 pixels
CANVAS = 2 * CELL
NUM_POOL = 4000
NUM_TEST = 1000
#: probability of 1, 2, 3, 4 digits in an image: most images are multi-label
COUNT_PROBS = (0.1, 0.3, 0.4, 0.2)
SEED = 0
CLASS_NAMES = [str(d) for d in range(10)]

#: the embedded sets' backbones, built by ``benchmark.run.models`` rather than timm; their
#: pretrained weights are built locally (``benchmark.run.pretrain``, under the data root), so there is
#: nothing to fetch. ``smallcnn-wide``: 4x the channels, a model that fits (memorises) its training
#: labels, as a pretrained ResNet-50 does on the real sets (docs/predict.md)
LOCAL_BACKBONES: frozenset[str] = frozenset({"smallcnn", "smallcnn-wide"})


def generator_key() -> str:
    """A short hash of the generator's version and parameters: the cache file's name carries it."""
    return params_key({"version": VERSION, "count_probs": list(COUNT_PROBS), "seed": SEED})


def params_key(params: dict[str, Any]) -> str:
    """A short hash of a generator's ``params`` and the sizes every mosaic set shares."""
    sizes = {"cell": CELL, "pool": NUM_POOL, "test": NUM_TEST}
    return hashlib.blake2b(json.dumps({**sizes, **params}, sort_keys=True).encode(), digest_size=6).hexdigest()


def _mosaics(
    rng: np.random.RandomState, digits: np.ndarray, targets: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    images = np.zeros((n, 1, CANVAS, CANVAS), dtype=np.uint8)
    labels = np.zeros((n, 10), dtype=np.uint8)
    for i in range(n):
        count = rng.choice(4, p=COUNT_PROBS) + 1
        for cell in rng.permutation(4)[:count]:
            j = rng.randint(len(digits))
            top = (cell // 2) * CELL + rng.randint(CELL - 8 + 1)
            left = (cell % 2) * CELL + rng.randint(CELL - 8 + 1)
            images[i, 0, top : top + 8, left : left + 8] = digits[j]
            labels[i, targets[j]] = 1
    return images, labels


def _split_sources(seed: int) -> tuple[np.ndarray, np.ndarray, np.random.RandomState, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # why: sklearn loads only when the set is built, not when it is read

    bunch = load_digits()
    # 0..16 grey levels → 0..255
    digits = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    targets = bunch.target.astype(np.int64)
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(digits))
    half = len(order) // 2
    return digits, targets, rng, order[:half], order[half:]


def source_digits(part: str) -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits (uint8) and their classes behind the ``pool`` or ``test`` mosaics."""
    digits, targets, _, pool_src, test_src = _split_sources(SEED)
    src = {"pool": pool_src, "test": test_src}[part]
    return digits[src], targets[src]


def build() -> dict[str, np.ndarray]:
    digits, targets, rng, pool_src, test_src = _split_sources(SEED)
    pool_x, pool_y = _mosaics(rng, digits[pool_src], targets[pool_src], NUM_POOL)
    test_x, test_y = _mosaics(rng, digits[test_src], targets[test_src], NUM_TEST)
    return {"pool_images": pool_x, "pool_labels": pool_y, "test_images": test_x, "test_labels": test_y}


def cache_path(root: Path) -> Path:
    return Path(root) / "digits" / f"digits_mosaic_v{VERSION}_{generator_key()}.npz"


def read_or_build(
    path: Path, build: Callable[[], dict[str, np.ndarray]], canvas: int, num_classes: int
) -> dict[str, np.ndarray]:
    """The arrays of the mosaic set's ``.npz`` at ``path``; where there is none, ``build()``'s,
    written there atomically. A file whose pool/test arrays are not of the set's shapes is refused,
    naming it."""
    if not path.exists():
        arrays = build()
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a path would get '.npz' appended
            np.savez(fh, allow_pickle=False, **arrays)  # numeric arrays only
        return arrays
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for part, n in (("pool", NUM_POOL), ("test", NUM_TEST)):
        for name, shape in ((f"{part}_images", (n, 1, canvas, canvas)), (f"{part}_labels", (n, num_classes))):
            got = arrays.get(name)
            if got is None or got.shape != shape:
                raise ValueError(
                    f"{path}: array '{name}' has shape {None if got is None else got.shape}, "
                    f"expected {shape}; delete the file to rebuild it"
                )
    return arrays


def load_arrays(root: Path) -> dict[str, np.ndarray]:
    """The cached arrays under ``root``, built and written atomically on first use."""
    return read_or_build(cache_path(root), build, CANVAS, len(CLASS_NAMES))
