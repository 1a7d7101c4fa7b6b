"""Is everything a run needs on this machine? Asked in the submitting process before a sweep goes
to SLURM, whose compute nodes are often offline: a problem found here costs one line, found in the
jobs it costs every job of the sweep.

``check_available`` returns problems in words, each with the command that fixes it: the prepared
data missing or of another dataset, its images absent, not enough free space for the decoded-image
cache the first job would build, pretrained weights neither in the local cache nor given as a file.
An empty list means a run of that configuration finds all it needs without network access.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from benchmark.data import DatasetNotFoundError, UnknownDatasetError, get_spec

if TYPE_CHECKING:
    from benchmark.spec.config import RunConfig

#: backbones whose pretrained weights are built locally (``benchmark.run.pretrain``): nothing to fetch
LOCAL_WEIGHTS = frozenset({"smallcnn"})


def _data_problems(dataset: str, data_root: Path, image_size: int | None) -> list[str]:
    spec = get_spec(dataset)
    if not spec.loader.startswith("benchmark.data.formatted:"):
        return []  # built locally on first use (the embedded set)
    from benchmark.data.cache import cache_bytes, cache_path, check_space
    from benchmark.data.formatted import check_prepared, prepare_command

    try:
        check_prepared(dataset, data_root)  # the folder, its files, and that it is this dataset
        ds = spec.load(data_root, image_size=image_size or spec.image_size, check_files=False)
    except (DatasetNotFoundError, ValueError) as exc:  # FormattedDataError, DatasetIdentityError are ValueErrors
        return [" ".join(str(exc).split())]
    problems: list[str] = []
    stores = {"pool": ds.pool.images, "test": ds.test.images}
    for split, store in stores.items():
        # the first image of each split stands for all: a full check stats every file (the run does that)
        first = store.path(0) if hasattr(store, "path") and len(store) else None  # type: ignore[attr-defined]
        if first is not None and not Path(first).is_file():
            problems.append(f"the images of {dataset} are not on this machine: {first} (the first {split} image) "
                            f"does not exist; unpack them there or prepare again with: {prepare_command(dataset, data_root)}")
            return problems
    try:
        need, missing = 0, []
        for split, store in stores.items():
            path, shape = cache_path(store, data_root, dataset, split)
            if not path.exists():
                need += cache_bytes(len(store), shape)
                missing.append(path)
        if missing:
            check_space(missing[0].parent, need, f"the decoded-image caches of {dataset} the first job builds")
    except (OSError, ValueError) as exc:
        problems.append(" ".join(str(exc).split()))
    return problems


def _weights_problems(backbone: str, pretrained: bool, pretrained_file: str | None) -> list[str]:
    if backbone in LOCAL_WEIGHTS:
        return []
    from benchmark.data.weights import pretrained_file_problem, weights_problem

    if pretrained_file is not None:
        problem = pretrained_file_problem(backbone, pretrained_file)
    elif pretrained:
        problem = weights_problem(backbone)
    else:
        problem = None
    return [] if problem is None else [problem]


def check_available(dataset: str, data_root: str | Path, *, backbone: str, pretrained: bool,
                    pretrained_file: str | None = None, image_size: int | None = None) -> list[str]:
    """What would make a run of this configuration fail on an offline node, one line each with the
    command that fixes it; ``[]`` when all it needs is here."""
    try:
        get_spec(dataset)
    except UnknownDatasetError as exc:
        return [str(exc)]
    return (_data_problems(dataset, Path(data_root), image_size)
            + _weights_problems(backbone, pretrained, pretrained_file))


def sweep_problems(configs: Iterable["RunConfig"], default_root: str | Path) -> list[str]:
    """``check_available`` over the distinct (dataset, data root, backbone, weights, image size) of
    a sweep's runs, each asked once; problems in order, without repeats."""
    seen: set[tuple[object, ...]] = set()
    problems: list[str] = []
    for cfg in configs:
        r = cfg.resolve()
        key = (r.dataset, r.data_root or str(default_root), r.backbone, bool(r.pretrained), r.pretrained_file, r.image_size)
        if key in seen:
            continue
        seen.add(key)
        for problem in check_available(r.dataset, key[1], backbone=str(r.backbone), pretrained=bool(r.pretrained),
                                       pretrained_file=r.pretrained_file, image_size=r.image_size):
            if problem not in problems:
                problems.append(problem)
    return problems


__all__ = ["check_available", "sweep_problems"]
