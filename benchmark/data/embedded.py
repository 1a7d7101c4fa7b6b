"""The embedded default dataset: multi-label mosaics of scikit-learn's bundled handwritten digits.

Each image is a 2x2 grid of cells on a black canvas holding 1-4 digits at jittered positions; its
labels are the digit classes present (10 classes). The training pool and the test split draw their
digits from disjoint halves of ``load_digits``, so test images hold unseen handwriting. Built
offline in well under a second, deterministically, and cached as one ``.npz``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

VERSION = 1
CELL = 12  # a cell of the 2x2 grid; a digit is 8x8, so the jitter is 0..4 pixels
CANVAS = 2 * CELL
NUM_POOL = 2500
NUM_TEST = 1000
#: probability of 1, 2, 3, 4 digits in an image: most images are multi-label
COUNT_PROBS = (0.1, 0.3, 0.4, 0.2)
CLASS_NAMES = [str(d) for d in range(10)]


def _mosaics(rng: np.random.RandomState, digits: np.ndarray, targets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
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


def _split_sources(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.random.RandomState, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

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
    digits, targets, _, pool_src, test_src = _split_sources()
    src = {"pool": pool_src, "test": test_src}[part]
    return digits[src], targets[src]


def build(seed: int = 0) -> dict[str, np.ndarray]:
    digits, targets, rng, pool_src, test_src = _split_sources(seed)
    pool_x, pool_y = _mosaics(rng, digits[pool_src], targets[pool_src], NUM_POOL)
    test_x, test_y = _mosaics(rng, digits[test_src], targets[test_src], NUM_TEST)
    return {"pool_images": pool_x, "pool_labels": pool_y, "test_images": test_x, "test_labels": test_y}


def cache_path(root: Path) -> Path:
    return Path(root) / "digits" / f"digits_mosaic_v{VERSION}.npz"


def load_arrays(root: Path) -> dict[str, np.ndarray]:
    """The cached arrays under ``root``, built and written atomically on first use."""
    path = cache_path(root)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = build()
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
        return arrays
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}
