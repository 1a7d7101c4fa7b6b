"""``prepare``: official files → a formatted directory compatible with the reference codebases.

Writes ``formatted_{train,val}_{images,labels}.npy`` (arrays as the reference formatters write
them), ``formatted_{train,val}_labels_obs.npy`` (the ``1p`` regime of PROTOCOL.md's observation
routine, seed 1200, over each whole split, as Cole et al.'s ``generate_observed_labels.py``), and
``dataset.json`` (class names, image root, provenance) last, so a directory with a JSON is whole.
Formatted files already in the output directory (e.g. the NUS-WIDE files the ECCV authors
distribute) are used as they are unless ``force``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from benchmark.core.atomic import atomic_path, atomic_write_text
from benchmark.core.provenance import git_commit, package_version
from benchmark.data import DATASETS, coco, cub, get_spec, nuswide, voc
from benchmark.data.formatted import (
    CORE_FILES,
    META_FILE,
    OBSERVED_FILES,
    SPLITS,
    array_file,
    check_arrays,
    read_arrays,
    read_meta,
)
from benchmark.data.identity import DatasetIdentityError, check_class_list, official_class_names
from benchmark.data.manifest import build_manifest, check_files, sha256_file
from benchmark.data.official import Formatted, MissingImagesError, quote, require_root
from benchmark.data.protocol import DATA_SEED, observe
from benchmark.data.validate import check_image_files, check_image_names, check_splits, split_warnings

FORMATTERS: dict[str, ModuleType] = {"voc": voc, "coco": coco, "nuswide": nuswide, "cub": cub}
OBSERVED_REGIME = "1p"
FORMAT_VERSION = 1
#: where the official class list lies under the raw root, for messages
CLASS_LIST_FILES = {
    "voc": "built in",
    "coco": "annotations/instances_train2014.json",
    "nuswide": "Concepts81.txt",
    "cub": "attributes.txt",
}
#: ``<split>_dropped_<reason>`` count keys of the formatters → the reason in words
DROP_REASONS = {
    "no_positive": "have no positive label",
    "no_annotation": "have no annotation",
    "no_concept": "have no concept",
}


def tool_version() -> dict[str, Any]:
    return {
        "name": "spml-bench benchmark.data prepare",
        "format_version": FORMAT_VERSION,
        "version": package_version("spml-bench"),
        "git": git_commit(),
    }


def save_array(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a path would get '.npy' appended
        np.save(fh, array, allow_pickle=False)


def observed_labels(labels: np.ndarray) -> np.ndarray:
    """The ``1p`` observed labels (+1/0/-1) in the labels' dtype, as the reference writes them."""
    return observe(labels, OBSERVED_REGIME, seed=DATA_SEED).astype(labels.dtype)


def missing_images(image_root: Path, names: list[str] | np.ndarray) -> list[str]:
    return [str(n) for n in names if not (image_root / str(n)).is_file()]


def _describe(path: Path, raw_root: Path) -> dict[str, Any]:
    try:
        shown = str(path.resolve().relative_to(raw_root.resolve()))
    except ValueError:
        shown = str(path.resolve())
    return {"path": shown, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _check_images(
    image_root: Path, splits: dict[str, list[str]], listed_in: str, skip_missing: bool
) -> dict[str, list[str]]:
    missing = {s: missing_images(image_root, names) for s, names in splits.items()}
    total = sum(len(m) for m in missing.values())
    if total and not skip_missing:
        first = [n for s in SPLITS for n in missing[s]]
        raise MissingImagesError(
            f"{total} of {sum(len(n) for n in splits.values())} images listed in {listed_in} are missing under "
            f"{image_root}: {quote(first)}. Unpack the official images there, or pass --skip-missing-images to "
            "drop them (they are listed in dataset.json)"
        )
    return missing


def _dropped(formatted: Formatted, missing: dict[str, list[str]], split: str) -> str:
    """Why images were removed from ``split``, in words (for the message of an empty split)."""
    parts = [
        f"{n} listed images {DROP_REASONS.get(k.split('_dropped_', 1)[1], k)} and were dropped"
        for k, n in formatted.counts.items()
        if k.startswith(f"{split}_dropped_") and isinstance(n, int) and n
    ]
    if missing[split]:
        parts.append(
            f"{len(missing[split])} listed images are missing on disk and were dropped (--skip-missing-images)"
        )
    return "; ".join(parts)


def _check_out(key: str, out: Path) -> None:
    """Refuse an output folder named after another dataset: the loaders look for ``key`` under
    ``DATA_ROOT/key``, and a folder named ``voc`` holding COCO invites the wrong run."""
    if out.name in DATASETS and out.name != key:
        raise DatasetIdentityError(
            f"--out {out} is named after dataset '{out.name}' but would hold {key}; the runs "
            f"read {key} from DATA_ROOT/{key}: use --out {out.parent / key}"
        )


def prepare(key: str, root: Path, out: Path, *, force: bool = False, skip_missing: bool = False) -> dict[str, Any]:
    """Write the formatted directory ``out`` from the raw root ``root``; returns the JSON written.

    Everything is checked before the first file is written (``benchmark.data.validate``): a
    refused dataset leaves ``out`` as it was."""
    spec = get_spec(key)
    if key not in FORMATTERS:
        raise ValueError(
            f"'{key}' has no official files to prepare; datasets with a formatter: {', '.join(FORMATTERS)}"
        )
    module = FORMATTERS[key]
    root, out = Path(root), Path(out)
    _check_out(key, out)
    existing = [name for name in CORE_FILES if (out / name).is_file()]
    if existing and not force and (out / META_FILE).is_file():
        previous = read_meta(out)
        if previous.get("dataset") != key:
            raise DatasetIdentityError(
                f"{out / META_FILE}: {out} holds prepared dataset {previous.get('dataset')!r}, "
                f"not '{key}'; pass --force to replace it, or choose another --out"
            )
        if previous.get("source", {}).get("kind") == "official files" and len(existing) == len(CORE_FILES):
            # our own earlier output: nothing to redo (--force rebuilds it); its files must be the ones written
            check_arrays(read_arrays(out), out, previous.get("class_names"))
            check_files(out, previous.get("manifest"), str(out / META_FILE), f"--out {out}")
            previous["already_prepared"] = True
            return previous
    if existing and not force:
        return _adopt_existing(key, module, root, out, existing)

    formatted: Formatted = module.format_official(root)
    image_root = module.image_root(root)
    splits = dict(formatted.splits)
    listed_in = ", ".join(str(p) for p in formatted.sources[:3]) + (" ..." if len(formatted.sources) > 3 else "")
    check_image_names({s: sp.images for s, sp in splits.items()}, listed_in, image_root)
    missing = _check_images(image_root, {s: sp.images for s, sp in splits.items()}, listed_in, skip_missing)
    for split in SPLITS:
        gone = set(missing[split])
        splits[split] = splits[split].keep(np.array([n not in gone for n in splits[split].images], dtype=bool))
    labels = {s: splits[s].labels for s in SPLITS}
    check_splits(labels, formatted.split_origin, {s: _dropped(formatted, missing, s) for s in SPLITS})
    images = [n for s in SPLITS for n in splits[s].images]
    check_image_files(image_root, images)

    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        typed = labels[split].astype(formatted.label_dtype)
        arrays[array_file(split, "images")] = np.array(splits[split].images, dtype=str)
        arrays[array_file(split, "labels")] = typed
        arrays[array_file(split, "labels_obs")] = observed_labels(typed)
    check_arrays(arrays, out, formatted.class_names, "class names")
    out.mkdir(parents=True, exist_ok=True)
    # without its JSON a directory reads as not prepared: an interrupted rebuild cannot pass for whole
    (out / META_FILE).unlink(missing_ok=True)
    for name, array in arrays.items():
        save_array(out / name, array)

    meta = _meta(key, spec.title, formatted.class_names, root, image_root, arrays)
    meta["source"] = {"kind": "official files", "files": [_describe(p, root) for p in formatted.sources]}
    meta["counts"].update(formatted.counts)
    meta["counts"]["missing_images_dropped"] = {s: len(missing[s]) for s in SPLITS}
    meta["missing_images_dropped"] = {s: missing[s] for s in SPLITS if missing[s]}
    meta["notes"] = formatted.notes
    meta["warnings"] = split_warnings(labels, {s: splits[s].images for s in SPLITS}, formatted.class_names)
    meta["manifest"] = build_manifest(out, arrays, image_root, images)
    atomic_write_text(out / META_FILE, json.dumps(meta, indent=1) + "\n")
    return meta


def _meta(
    key: str, title: str, class_names: list[str], root: Path, image_root: Path, arrays: dict[str, np.ndarray]
) -> dict[str, Any]:
    try:
        in_raw = str(image_root.resolve().relative_to(root.resolve()))
    except ValueError:
        in_raw = None
    train, val = arrays[array_file("train", "labels")], arrays[array_file("val", "labels")]
    return {
        "dataset": key,
        "title": title,
        "num_classes": len(class_names),
        "class_names": class_names,
        # image paths in the arrays are relative to this directory
        "image_root": str(image_root.resolve()),
        "raw_root": str(root.resolve()),
        "image_root_in_raw_root": in_raw,
        "splits": {
            "train": "official training split (train + validation pool)",
            "val": "official split used as the test set",
        },
        "counts": {
            "train_images": int(train.shape[0]),
            "val_images": int(val.shape[0]),
            "train_positives": int(train.sum()),
            "val_positives": int(val.sum()),
        },
        "observed": {
            "regime": OBSERVED_REGIME,
            "seed": DATA_SEED,
            "files": list(OBSERVED_FILES),
            "routine": "PROTOCOL.md observe_uniform over each whole split",
        },
        "files": {name: {"shape": list(arrays[name].shape), "dtype": str(arrays[name].dtype)} for name in arrays},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tool": tool_version(),
        "official_num_classes": get_spec(key).num_classes,
    }


def _adopt_existing(key: str, module: ModuleType, root: Path, out: Path, existing: list[str]) -> dict[str, Any]:
    """Formatted files already in ``out``: checked and used as they are; observed labels written
    only where absent."""
    absent = [name for name in CORE_FILES if name not in existing]
    if absent:
        raise FileNotFoundError(
            f"{out} holds some formatted files ({', '.join(existing)}) but lacks {', '.join(absent)}; add them, "
            f"or pass --force to rebuild all of them from the official files under --root"
        )
    require_root(root, key)
    arrays = read_arrays(out)
    num_classes = arrays[array_file("train", "labels")].shape[1]
    labels_file = out / array_file("train", "labels")
    class_names = module.class_names(root)
    names_from = "official files under --root"
    if class_names is None and official_class_names(key) is not None:
        # the column names are what tells these files are the dataset they claim to be
        raise DatasetIdentityError(
            f"cannot name the {num_classes} columns of {labels_file}: no class list found under "
            f"--root {root}; put the official one there ({CLASS_LIST_FILES[key]})"
        )
    if class_names is None:
        class_names = [f"class_{i}" for i in range(num_classes)]
        names_from = "generic (no class list found under --root)"
    check_class_list(key, class_names, f"the class list for {labels_file} ({names_from})")
    check_arrays(arrays, out, class_names, "class names")
    image_root = module.image_root(root)
    names = {s: arrays[array_file(s, "images")] for s in SPLITS}
    check_image_names(names, f"{out / array_file('train', 'images')}, {out / array_file('val', 'images')}", image_root)
    missing = {s: missing_images(image_root, names[s]) for s in SPLITS}
    if any(missing.values()):
        # dropping rows changes the arrays, so the adopted files cannot stay as they are
        raise MissingImagesError(
            f"{sum(len(m) for m in missing.values())} images of the formatted files in {out} are missing under "
            f"{image_root}, first: {quote([n for s in SPLITS for n in missing[s]])}; existing formatted files are "
            "used as they are, so restore the images (or remove the files and prepare from the official files)"
        )
    split_labels = {s: arrays[array_file(s, "labels")] for s in SPLITS}
    check_splits(split_labels, {s: str(out / array_file(s, "labels")) for s in SPLITS}, {})
    all_names = [str(n) for s in SPLITS for n in names[s]]
    check_image_files(image_root, all_names)
    observed_match: dict[str, bool] = {}
    for split in SPLITS:
        expected = observed_labels(split_labels[split])
        name = array_file(split, "labels_obs")
        if name not in arrays:
            (out / META_FILE).unlink(missing_ok=True)
            arrays[name] = expected
            save_array(out / name, expected)
        observed_match[name] = bool(np.array_equal(arrays[name], expected))
    meta = _meta(key, get_spec(key).title, class_names, root, image_root, arrays)
    meta["source"] = {
        "kind": "existing formatted files, used as they are",
        "files": [_describe(out / name, out) for name in CORE_FILES],
        "class_names_from": names_from,
        "observed_files_match_protocol": observed_match,
    }
    meta["warnings"] = split_warnings(split_labels, names, class_names)
    meta["manifest"] = build_manifest(out, arrays, image_root, all_names)
    atomic_write_text(out / META_FILE, json.dumps(meta, indent=1) + "\n")
    return meta
