"""The decoded-image cache: a split's images decoded and resized once, then read as uint8 rows.

Decoding full-size JPEGs and resizing them on the CPU every epoch is the reference loop's main
cost. Here any ``ImageStore`` is decoded once, in parallel chunks, into a uint8 ``[N, C, H, W]``
``.npy`` file under ``<data_root>/_cache/<dataset>/``; every later run, seed and method of the same
dataset, split, resolution and image list opens it memory-mapped (the page cache shares it between
concurrent runs). The file name is the key, so a changed image list or resolution builds a new file
rather than reading a stale one; the key includes the prepared data's digest (its manifest), so
data prepared again gets a new cache. The file is written under a temporary name and renamed, so a
reader sees a whole cache or none; a sidecar ``<cache>.npy.json`` written after it records its name,
shape, dtype, size and a digest of sampled rows, and every open checks them (``verified``): a cache
of another size copied under this name, a truncated or an edited one is refused, naming the file
(one without its sidecar is built again). Processes that find a cache missing at the same time (the
jobs of a sweep starting together) build it once: the first takes ``<cache>.npy.lock`` (``benchmark.data.lock``)
and builds, the others wait and read its file. The cache's size is checked against the free space
before building; ``python -m benchmark.data cache`` builds a dataset's caches ahead of a sweep.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.core.atomic import atomic_path, atomic_write_text
from benchmark.core.jsonio import read_json
from benchmark.data import get_spec, load
from benchmark.data.lock import build_lock
from benchmark.data.store import ArrayImages, ImageStore, Subset

CACHE_DIRNAME = "_cache"
#: bumped when the file layout changes, so old caches are not read
CACHE_VERSION = 2
#: the file beside a cache that says what it holds: ``<cache>.npy.json``
SIDECAR_SUFFIX = ".json"
#: rows of a cache hashed into its sidecar's digest (first, last and evenly spaced between)
DIGEST_ROWS = 8
#: an .npy header is padded to a multiple of 64 bytes; 128 covers a 4-D uint8 array's
NPY_HEADER_BYTES = 128


class CacheSpaceError(OSError):
    """The file system has less free space than a cache needs; nothing was written."""


class CacheBuildError(OSError):
    """An image could not be decoded while building a cache; the message names it. Nothing was kept."""


class CacheCorruptError(ValueError):
    """A cache file is not what its name and its sidecar say (another size, truncated, edited); the message
    names it and says to delete it (the next run rebuilds it)."""


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
        h.update(arr.data.cast("B"))  # ndarray.data: the memoryview, typed so for every Python
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


def cache_key(
    dataset: str, split: str, shape: tuple[int, ...], fingerprint: str, data_digest: str | None = None
) -> str:
    """File stem: ``<split>_<C>x<H>x<W>_<hash>``; the hash covers dataset, split, shape, the image
    list, the prepared data's digest (its manifest, ``benchmark.data.manifest``) and the cache version."""
    c, hh, ww = shape
    blob = f"v{CACHE_VERSION}|{dataset}|{split}|{c}x{hh}x{ww}|{fingerprint}|{data_digest or ''}"
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
    def open(cls, path: Path) -> MappedImages:
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

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | str]:
        try:
            return i, self.store.load(self.chunks[i])
        except (OSError, ValueError) as exc:
            # returned, not raised: a DataLoader worker's exception reaches the caller wrapped in
            # its traceback's text, and the file the message names is what the user needs
            return i, f"{type(exc).__name__}: {exc}"


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
            f"{type(store).__name__}.load must return uint8 [b, C, H, W] images, got {first.dtype} {tuple(first.shape)}"
        )
    shape = (n, *first.shape[1:])
    t0 = time.time()
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        chunks = [np.arange(i, min(i + chunk_size, n)) for i in range(0, n, chunk_size)]
        # its own generator: a DataLoader draws its base seed from the global RNG otherwise, and a run
        # that built the cache would then train from another random state than one that found it
        loader = torch.utils.data.DataLoader(
            _Chunks(store, chunks),
            batch_size=None,
            shuffle=False,
            num_workers=num_workers,
            generator=torch.Generator(),
        )
        for i, images in loader:
            rows = chunks[int(i)]
            if isinstance(images, str):
                raise CacheBuildError(f"cannot build the image cache {path}: {images}")
            if tuple(images.shape[1:]) != shape[1:]:
                raise ValueError(
                    f"{type(store).__name__} returned images of shape {tuple(images.shape[1:])} for rows "
                    f"{rows[0]}..{rows[-1]}, expected {shape[1:]} like the first image"
                )
            out[rows[0] : rows[-1] + 1] = images.numpy()
        out.flush()
        del out
    write_sidecar(path)
    if log is not None:
        log(f"cached {n} images {shape[1:]} in {time.time() - t0:.1f}s → {path}")
    return path


# -- what a cache file claims, beside it ----------------------------------------------------------
def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _rows_digest(array: np.ndarray) -> str:
    """sha256 of the shape, dtype and ``DIGEST_ROWS`` rows of ``array`` (reading all of a 50 GB cache
    on every open would cost minutes; a truncated file is found by its size, an edited one where
    the rows fall)."""
    n = array.shape[0]
    rows = sorted({0, n - 1, *(int(i * n / DIGEST_ROWS) for i in range(DIGEST_ROWS))}) if n else []
    h = hashlib.sha256(f"{array.dtype.str}|{array.shape}|".encode())
    for i in rows:
        h.update(np.ascontiguousarray(array[i]).tobytes())
    return h.hexdigest()


def write_sidecar(path: Path) -> None:
    """``<cache>.npy.json``: the cache's name, shape, dtype, size and rows digest, written after it."""
    array = np.load(path, mmap_mode="r")
    info = {
        "key": path.stem,
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "bytes": path.stat().st_size,
        "rows_sha256": _rows_digest(array),
    }
    del array
    atomic_write_text(sidecar_path(path), json.dumps(info, indent=1) + "\n")


def verified(path: Path, shape: tuple[int, ...]) -> MappedImages:
    """The cache at ``path`` mapped, once it is what its name and sidecar say: ``shape`` uint8, the
    size, name and rows digest its sidecar recorded; ``CacheCorruptError`` naming the file otherwise."""
    fix = "delete it (and its .json) and the next run rebuilds it"
    side = sidecar_path(path)
    try:
        info = read_json(side, CacheCorruptError, "the sidecar of an image cache")
    except (CacheCorruptError, OSError) as exc:
        raise CacheCorruptError(f"image cache {path}: its sidecar cannot be read ({exc}); {fix}") from None
    try:
        array = np.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        raise CacheCorruptError(f"image cache {path} cannot be read as an array ({exc}); truncated? {fix}") from None
    found = (tuple(array.shape), str(array.dtype))
    if found != (tuple(shape), "uint8"):
        raise CacheCorruptError(
            f"image cache {path} holds {found[1]} images of shape {found[0]}, expected uint8 "
            f"{tuple(shape)} (a cache of another size or image list under this name); {fix}"
        )
    if (
        not isinstance(info, dict)
        or info.get("key") != path.stem
        or info.get("bytes") != path.stat().st_size
        or info.get("shape") != list(shape)
        or info.get("rows_sha256") != _rows_digest(array)
    ):
        raise CacheCorruptError(
            f"image cache {path} is not the file its sidecar {side.name} describes (copied, truncated or edited); {fix}"
        )
    return MappedImages(array, path=Path(path), key=Path(path).stem)


def cache_bytes(num_images: int, image_shape: tuple[int, ...]) -> int:
    """Size on disk of a cache of ``num_images`` uint8 images of ``image_shape`` (plus the .npy header)."""
    return int(num_images) * int(np.prod(image_shape)) + NPY_HEADER_BYTES


def format_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def check_space(directory: Path, need: int, what: str) -> None:
    """Refuse to start writing ``need`` bytes into ``directory`` when its file system has less free."""
    probe = Path(directory)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if need > free:
        raise CacheSpaceError(
            f"{what} needs {format_bytes(need)} but {probe} has {format_bytes(free)} free; free some "
            "space there or use a data root on a larger disk (--data-root, SPML_DATA)"
        )


def _remove_stale_parts(path: Path) -> None:
    """Temporary files of ``path`` left by a builder that was killed (only the lock holder calls this)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def cache_path(
    store: ImageStore,
    data_root: str | Path,
    dataset: str,
    split: str,
    first: torch.Tensor | None = None,
    data_digest: str | None = None,
) -> tuple[Path, tuple[int, ...]]:
    """Where ``store``'s cache lives, and the shape of one decoded image (read from the first one)."""
    if first is None:
        first = store.load(np.arange(1))
    shape = tuple(first.shape[1:])
    key = cache_key(dataset, split, shape, store_fingerprint(store), data_digest)
    return cache_dir(data_root, dataset) / f"{key}.npy", shape


def cached_images(
    store: ImageStore,
    data_root: str | Path,
    dataset: str,
    split: str,
    *,
    num_workers: int | None = None,
    log: Callable[[str], None] | None = None,
    data_digest: str | None = None,
) -> ArrayImages:
    """``store`` as a memory-mapped ``ArrayImages``, building its cache file on first use.

    An ``ArrayImages`` (already decoded) is returned as it is. The key is the dataset, the split,
    the decoded image shape (read from the first image, so the resolution the store resizes to is
    part of the key) and the store's image list (``store_fingerprint``). Concurrent callers that
    find the cache missing take its lock (``build_lock``): one builds, the others wait and then
    read its file; a builder that dies releases the lock and the next one builds."""
    if isinstance(store, ArrayImages):
        return store
    first = store.load(np.arange(1))
    path, shape = cache_path(store, data_root, dataset, split, first, data_digest)
    # a cache without its sidecar (a builder killed between the two, or a file copied in by hand) is built again
    if not (path.exists() and sidecar_path(path).exists()):
        with build_lock(path, log):
            if not (path.exists() and sidecar_path(path).exists()):  # else another process built it meanwhile
                _remove_stale_parts(path)
                need = cache_bytes(len(store), shape)
                what = (
                    f"the decoded-image cache of {dataset} {split} ({len(store)} images at {'x'.join(map(str, shape))})"
                )
                check_space(path.parent, need, what)
                if log is not None:
                    log(f"building {what}: {format_bytes(need)} → {path}")
                workers = default_build_workers() if num_workers is None else num_workers
                build_cache(store, path, num_workers=workers, first=first, log=log)
    return verified(path, (len(store), *shape))


def cache_dataset(
    key: str,
    data_root: str | Path,
    *,
    image_size: int | None = None,
    num_workers: int | None = None,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Build ``key``'s pool and test caches at ``image_size`` (default: the dataset's), as the runs
    would on first use; their total size is checked against the free space before either is built.
    Returns the cache files (none for a dataset held in memory)."""
    size = image_size if image_size is not None else get_spec(key).image_size
    ds = load(key, data_root, image_size=size)
    todo: list[tuple[str, ImageStore, Path, int]] = []
    paths: list[Path] = []
    for split, store in (("pool", ds.pool.images), ("test", ds.test.images)):
        if isinstance(store, ArrayImages):
            log(f"{key} {split}: {len(store)} images held in memory, nothing to cache")
            continue
        path, shape = cache_path(store, data_root, key, split, data_digest=ds.provenance.get("digest"))
        need = cache_bytes(len(store), shape)
        paths.append(path)
        if path.exists():
            log(f"{key} {split}: already cached, {format_bytes(path.stat().st_size)} in {path}")
        else:
            log(f"{key} {split}: {len(store)} images at {'x'.join(map(str, shape))} → {format_bytes(need)} in {path}")
            todo.append((split, store, path, need))
    if todo:
        check_space(todo[0][2].parent, sum(t[3] for t in todo), f"the decoded-image caches of {key} at {size}px")
    for split, store, _, _ in todo:
        cached_images(
            store, data_root, key, split, num_workers=num_workers, log=log, data_digest=ds.provenance.get("digest")
        )
    return paths


__all__ = [
    "CACHE_DIRNAME",
    "CacheBuildError",
    "CacheCorruptError",
    "CacheSpaceError",
    "MappedImages",
    "build_cache",
    "cache_bytes",
    "cache_dataset",
    "cache_dir",
    "cache_key",
    "cache_path",
    "cached_images",
    "check_space",
    "default_build_workers",
    "store_fingerprint",
]
