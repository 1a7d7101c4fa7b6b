"""Benchmark fixtures: deterministic synthetic JPEGs of VOC-like size and their labels (the data
layer's ``FileImages`` decodes them for building our cache).

The pictures are smooth colour gradients with blobs and mild noise, so that they compress and
decode like photographs (about 30-60 kB at 500x375) rather than like white noise.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

#: VOC's typical image: 500 wide, 375 high
VOC_SIZE = (500, 375)


def _picture(i: int, size: tuple[int, int]) -> Image.Image:
    w, h = size
    rng = np.random.RandomState(i)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), dtype=np.float32)
    for c in range(3):
        a, b, phase = rng.uniform(-1, 1, 3)
        img[..., c] = 128 + 60 * np.sin((a * xx + b * yy) / 40.0 + 6 * phase)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(15, 90)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        img[mask] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 6, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def make_jpegs(folder: Path, n: int, size: tuple[int, int] = VOC_SIZE, threads: int = 4) -> list[Path]:
    """``n`` JPEGs in ``folder`` (created once; existing files are reused), named by index."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:06d}_{size[0]}x{size[1]}.jpg" for i in range(n)]

    def one(i: int) -> None:
        if not paths[i].exists():
            tmp = paths[i].with_suffix(".tmp")
            _picture(i, size).save(tmp, format="JPEG", quality=90)
            tmp.replace(paths[i])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    return paths


def make_labels(n: int, num_classes: int, seed: int = 0) -> np.ndarray:
    """A 0/1 label matrix with 1-3 positives per image (every image has at least one)."""
    rng = np.random.RandomState(seed)
    labels = np.zeros((n, num_classes), dtype=np.uint8)
    for i in range(n):
        labels[i, rng.choice(num_classes, size=rng.randint(1, 4), replace=False)] = 1
    return labels
