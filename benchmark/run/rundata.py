"""A run's data: the dataset after PROTOCOL.md's split and label regime, its images read through the
decoded-image cache where the config asks for it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from benchmark.data import Dataset, default_data_root
from benchmark.data import load as load_dataset
from benchmark.data.cache import cached_images
from benchmark.data.protocol import draw_seed, observe, split_train_val
from benchmark.data.store import ImageStore, subset
from benchmark.spec.config import RunConfig


@dataclass
class RunData:
    """A dataset after PROTOCOL.md's split and label regime."""

    dataset: Dataset
    train: ImageStore
    val: ImageStore
    test: ImageStore
    train_labels: torch.Tensor  # [N, C] 0/1, clean (for the analyses only; never trained on)
    observed: torch.Tensor  # [N, C] observed training labels
    val_labels: torch.Tensor
    test_labels: torch.Tensor
    #: the prepared data's digest (``benchmark.data.manifest``; a hash of the arrays for the embedded
    #: set), also in the record as ``data.digest``; "" for a dataset whose loader gives none
    data_digest: str = ""


def prepare_data(cfg: RunConfig, log: Callable[[str], None] | None = None) -> RunData:
    ds = load_dataset(cfg.dataset, cfg.data_root, image_size=cfg.image_size)
    if cfg.image_cache:
        # decoded once into a memory-mapped uint8 file shared by every run; ArrayImages pass through
        root = cfg.data_root if cfg.data_root is not None else default_data_root()
        workers = cfg.num_workers or None
        digest = ds.provenance.get("digest")
        pool = cached_images(
            ds.pool.images, root, cfg.dataset, "pool", num_workers=workers, log=log, data_digest=digest
        )
        test = cached_images(
            ds.test.images, root, cfg.dataset, "test", num_workers=workers, log=log, data_digest=digest
        )
        ds = dataclasses.replace(
            ds, pool=dataclasses.replace(ds.pool, images=pool), test=dataclasses.replace(ds.test, images=test)
        )
    # observed labels are drawn over the whole pool, then the pool is split (the reference order), each
    # from a fresh generator of the run's data seed
    seed = draw_seed(cfg.data_seed)
    observed_pool = observe(ds.pool.labels, cfg.labels, seed=seed)
    train_idx, val_idx = split_train_val(len(ds.pool.images), seed=seed)
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float()  # noqa: E731
    return RunData(
        dataset=ds,
        train=subset(ds.pool.images, train_idx),
        val=subset(ds.pool.images, val_idx),
        test=ds.test.images,
        train_labels=as_tensor(ds.pool.labels[train_idx]),
        observed=as_tensor(observed_pool[train_idx]),
        val_labels=as_tensor(ds.pool.labels[val_idx]),
        test_labels=as_tensor(ds.test.labels),
        data_digest=str(ds.provenance.get("digest") or ""),
    )


__all__ = ["RunData", "prepare_data"]
