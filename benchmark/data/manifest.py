"""The manifest of a prepared dataset: what its files are, by content, so a run can tell it trains on
the data ``prepare`` wrote.

``prepare`` writes it into ``dataset.json`` (``"manifest"``):

- ``files``: every array file (``formatted_*.npy``) with its size in bytes and sha256. The loaders
  check both on every load: they are small (labels and names; COCO's total some tens of MB), and a
  file that is not what the manifest says is refused, naming it.
- ``images``: the image count, ``list_sha256`` (sha256 of the sorted ``name\\tsize`` lines of every
  image) and a deterministic sample of ``SAMPLE`` images with their sha256. A load that checks the
  image files (the default) stats every image and hashes the sample: an image added, removed,
  renamed or resized is found, and a same-size replacement is found where it falls in the sample
  (hashing every image of COCO on each load would cost minutes).
- ``digest``: sha256 of the canonical JSON of ``files`` and ``images``: the data digest every record
  carries (``record["data"]["digest"]``) and the decoded-image cache is keyed by. It does not depend
  on where the images lie or when ``prepare`` ran, so two preparations of the same files agree.

The embedded digit set has no manifest: its digest is a sha256 of its arrays' content (``array_digest``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST_VERSION = 1
#: images hashed in full at prepare and at load
SAMPLE = 16


class ManifestError(ValueError):
    """A prepared file is not what the manifest says; the message names it."""


def hash_file(path: str | Path, digest: Any) -> str:
    """The hex digest of a file's bytes fed, in 1 MB blocks, to ``digest`` (a fresh ``hashlib`` object)."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return str(digest.hexdigest())


def sha256_file(path: Path) -> str:
    return hash_file(path, hashlib.sha256())


def _canonical_digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _image_list(image_root: Path, names: Iterable[str]) -> tuple[int, str]:
    lines = sorted(f"{n}\t{os.stat(os.path.join(image_root, n)).st_size}" for n in names)
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _sample(names: list[str]) -> list[str]:
    ordered = sorted(set(names))
    if len(ordered) <= SAMPLE:
        return ordered
    step = len(ordered) / SAMPLE
    return [ordered[int(i * step)] for i in range(SAMPLE)]


def build_manifest(directory: Path, array_files: Iterable[str], image_root: Path, names: list[str]) -> dict[str, Any]:
    """The manifest of ``directory``'s ``array_files`` and the images ``names`` under ``image_root``."""
    files = {
        name: {"bytes": (directory / name).stat().st_size, "sha256": sha256_file(directory / name)}
        for name in sorted(array_files)
    }
    count, list_sha = _image_list(image_root, names)
    images = {
        "count": count,
        "list_sha256": list_sha,
        "sample": {n: sha256_file(image_root / n) for n in _sample(names)},
    }
    return {
        "version": MANIFEST_VERSION,
        "files": files,
        "images": images,
        "digest": _canonical_digest({"files": files, "images": images}),
    }


def check_files(directory: Path, manifest: Any, source: str, hint: str) -> str:
    """The data digest, once every array file the manifest lists has its size and sha256; else
    ``ManifestError`` naming the file (``source``: the dataset.json, ``hint``: the prepare command)."""
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("files"), dict)
        or not isinstance(manifest.get("digest"), str)
    ):
        raise ManifestError(
            f"{source} has no manifest of its files (prepared by an older version, or edited); "
            f"prepare it again with --force: {hint}"
        )
    expected = _canonical_digest({"files": manifest["files"], "images": manifest.get("images")})
    if manifest["digest"] != expected:
        raise ManifestError(
            f"{source}: the manifest's digest does not match its entries (edited); prepare again with --force: {hint}"
        )
    for name, entry in manifest["files"].items():
        path = directory / name
        if not path.is_file():
            raise ManifestError(f"{path} is listed in the manifest of {source} but missing; prepare again: {hint}")
        size = path.stat().st_size
        if size != entry.get("bytes") or sha256_file(path) != entry.get("sha256"):
            raise ManifestError(
                f"{path} is not the file prepare wrote ({size} bytes, its manifest says "
                f"{entry.get('bytes')} bytes and another sha256): changed since prepare; "
                f"prepare again with --force: {hint}"
            )
    return str(manifest["digest"])


def check_images(manifest: dict[str, Any], image_root: Path, names: list[str], source: str, hint: str) -> None:
    """The images ``names`` under ``image_root`` against the manifest's list digest and sample."""
    images = manifest.get("images") or {}
    count, list_sha = _image_list(image_root, names)
    if count != images.get("count") or list_sha != images.get("list_sha256"):
        raise ManifestError(
            f"the images under {image_root} are not the ones prepared ({source}: {images.get('count')} "
            f"images; found {count}, or names or sizes changed); prepare again with --force: {hint}"
        )
    for name, digest in (images.get("sample") or {}).items():
        if sha256_file(image_root / name) != digest:
            raise ManifestError(
                f"{image_root / name} changed since prepare (its sha256 is not the one in {source}); "
                f"prepare again with --force: {hint}"
            )


def array_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of named arrays' names, dtypes, shapes and bytes (the embedded set's data digest)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.data.cast("B"))  # ndarray.data: the memoryview, typed so for every Python
    return h.hexdigest()


__all__ = [
    "MANIFEST_VERSION",
    "SAMPLE",
    "ManifestError",
    "array_digest",
    "build_manifest",
    "check_files",
    "check_images",
    "hash_file",
    "sha256_file",
]
