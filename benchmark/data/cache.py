"""The decoded-image cache: a split's images decoded and resized once, then read as uint8 rows.

Decoding full-size JPEGs and resizing them on the CPU every epoch is the reference loop's main
cost. Here any ``ImageStore`` is decoded once, in parallel chunks, into a uint8 ``[N, C, H, W]``
``.npy`` file under ``<data_root>/_cache/<dataset>/``; every later run, seed and method of the same
dataset, split, resolution and image list opens it memory-mapped (the page cache shares it between
concurrent runs). The file name is the key, so a changed image list or resolution builds a new file
rather than reading a stale one; the file is written under a temporary name and renamed, so a
reader sees a whole cache or none.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from benchmark.data.store import ArrayImages, ImageStore, Subset
from benchmark.records import atomic_path

CACHE_DIRNAME = "_cache"
#: bumped when the file layout changes, so old caches are not read
CACHE_VERSION = 1


# -- what identifies a store's images -------------------------------------------------------------
def store_fingerprint(store: ImageStore) -> str:
    """A hash of a store's image list: what the cache key needs to know about the images.

    A store says what its images are by a ``fingerprint()`` method or a ``paths`` sequence (the
    image files, in order); an in-memory ``ArrayImages`` is hashed by content, a ``Subset`` by its
    base and rows. A store that offers none of these cannot be cached safely: ``ValueError``."""
    h = hashlib.blake2b(digest_size=12)
    own = getattr(store, "fingerprint", None)
    if callable(own):
        h.update(b"fp:" + str(own()).encode())
    elif isinstance(store, MappedImages):
        h.update(b"mapped:" + store.key.encode())
    elif isinstance(store, ArrayImages):
        arr = np.ascontiguousarray(store.array)
        h.update(f"array:{arr.shape}:".encode())
        h.update(memoryview(arr).cast("B"))
    elif isinstance(store, Subset):
        h.update(b"subset:" + store_fingerprint(store.base).encode())
        h.update(np.ascontiguousarray(store.index, dtype=np.int64).tobytes())
    elif getattr(store, "paths", None) is not None:
        h.update(b"paths:")
        for p in store.paths:  # type: ignore[attr-defined]
            h.update(str(p).encode() + b"\0")
    else:
        raise ValueError(
            f"cannot key a cache on a {type(store).__name__}: it has neither a fingerprint() method "
            f"nor a 'paths' list of its image files"
        )
    return h.hexdigest()


def cache_key(dataset: str, split: str, shape: tuple[int, ...], fingerprint: str) -> str:
    """File stem: ``<split>_<C>x<H>x<W>_<hash>``; the hash covers dataset, split, shape, the image
    list and the cache version."""
    c, hh, ww = shape
    blob = f"v{CACHE_VERSION}|{dataset}|{split}|{c}x{hh}x{ww}|{fingerprint}"
    digest = hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()
    return f"{split}_{c}x{hh}x{ww}_{digest}"


def cache_dir(data_root: str | Path, dataset: str) -> Path:
    return Path(data_root) / CACHE_DIRNAME / dataset


# -- the cached store -----------------------------------------------------------------------------
@dataclass
class MappedImages(ArrayImages):
    """An ``ArrayImages`` over a memory-mapped cache file. Pickled by path (DataLoader workers
    started by spawn/forkserver reopen the map instead of receiving a copy of the array)."""

    path: Path = field(default=Path())
    key: str = ""

    @classmethod
    def open(cls, path: Path) -> "MappedImages":
        return cls(np.load(path, mmap_mode="r"), path=Path(path), key=Path(path).stem)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "key": self.key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self.key = state["path"], state["key"]
        self.array = np.load(self.path, mmap_mode="r")


class _Chunks(torch.utils.data.Dataset):
    def __init__(self, store: ImageStore, chunks: list[np.ndarray]) -> None:
        self.store, self.chunks = store, chunks

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        return i, self.store.load(self.chunks[i])


def default_build_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


def build_cache(
    store: ImageStore,
    path: Path,
    *,
    num_workers: int = 0,
    chunk_size: int = 64,
    first: torch.Tensor | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Decode every image of ``store`` into the uint8 ``.npy`` at ``path``, in chunks decoded by
    ``num_workers`` DataLoader workers; written to a temporary file in the same folder, then
    renamed into place."""
    n = len(store)
    if n == 0:
        raise ValueError(f"cannot cache an empty image store for {path}")
    if first is None:
        first = store.load(np.arange(1))
    if first.dtype != torch.uint8 or first.ndim != 4:
        raise ValueError(
            f"{type(store).__name__}.load must return uint8 [b, C, H, W] images, got {first.dtype} "
            f"{tuple(first.shape)}"
        )
    shape = (n, *first.shape[1:])
    t0 = time.time()
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        chunks = [np.arange(i, min(i + chunk_size, n)) for i in range(0, n, chunk_size)]
        # its own generator: iterating a DataLoader draws a seed from torch's global RNG, and the
        # run that builds the cache would then initialise its model unlike every run that reads it
        loader = torch.utils.data.DataLoader(
            _Chunks(store, chunks), batch_size=None, shuffle=False, num_workers=num_workers,
            generator=torch.Generator(),
        )
        for i, images in loader:
            rows = chunks[int(i)]
            if tuple(images.shape[1:]) != shape[1:]:
                raise ValueError(
                    f"{type(store).__name__} returned images of shape {tuple(images.shape[1:])} for rows "
                    f"{rows[0]}..{rows[-1]}, expected {shape[1:]} like the first image"
                )
            out[rows[0] : rows[-1] + 1] = images.numpy()
        out.flush()
        del out
    if log is not None:
        log(f"cached {n} images {shape[1:]} in {time.time() - t0:.1f}s → {path}")
    return path


def cached_images(
    store: ImageStore,
    data_root: str | Path,
    dataset: str,
    split: str,
    *,
    num_workers: int | None = None,
    log: Callable[[str], None] | None = None,
) -> ArrayImages:
    """``store`` as a memory-mapped ``ArrayImages``, building its cache file on first use.

    An ``ArrayImages`` (already decoded) is returned as it is. The key is the dataset, the split,
    the decoded image shape (read from the first image, so the resolution the store resizes to is
    part of the key) and the store's image list (``store_fingerprint``)."""
    if isinstance(store, ArrayImages):
        return store
    first = store.load(np.arange(1))
    key = cache_key(dataset, split, tuple(first.shape[1:]), store_fingerprint(store))
    path = cache_dir(data_root, dataset) / f"{key}.npy"
    if not path.exists():
        workers = default_build_workers() if num_workers is None else num_workers
        build_cache(store, path, num_workers=workers, first=first, log=log)
    mapped = MappedImages.open(path)
    if len(mapped) != len(store):
        raise ValueError(f"image cache {path} holds {len(mapped)} images but the store has {len(store)}; delete it")
    return mapped


__all__ = [
    "CACHE_DIRNAME",
    "MappedImages",
    "build_cache",
    "cache_dir",
    "cache_key",
    "cached_images",
    "default_build_workers",
    "store_fingerprint",
]
