"""The linear-probe protocol of Cole et al. (``protocol="linear"``): a frozen backbone, its pooled
features extracted once and cached on disk, and only a linear head trained per method.

Features are extracted in eval mode, in float32, without flips, in the default memory layout, so
the cached numbers do not depend on which run's settings built them. They are keyed by dataset,
split, backbone, weights (ImageNet, or the model seed for a randomly initialised backbone, whose
weights differ per seed), image size and the split's image list, and stored as float32 ``[N, D]``
``.npy`` files under ``<data_root>/_features/<dataset>/``: every method and seed of the same
dataset and backbone reads the same files. The training loop then runs unchanged on them: the
"model" is the head, a "store" returns feature rows and the "normaliser" moves them to the device.
ROLE+LI's linear phase (``TrainContext.train_features``) reads the same cache when the backbone
is pretrained.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmark.core.atomic import atomic_path
from benchmark.data import default_data_root
from benchmark.data.cache import store_fingerprint
from benchmark.data.store import ImageStore
from benchmark.data.weights import file_digest
from benchmark.run.loop import iterate
from benchmark.run.models import Classifier, weights_tag
from benchmark.run.rundata import RunData
from benchmark.spec.config import RunConfig

FEATURES_DIRNAME = "_features"
#: bumped when extraction changes, so old feature files are not read
FEATURES_VERSION = 1
EXTRACT_BATCH = 64


class DeviceFeatures:
    """Rows of a float32 ``[N, D]`` feature matrix held on the device (a few hundred MB at most)."""

    def __init__(self, features: torch.Tensor) -> None:
        if features.ndim != 2:
            raise ValueError(f"features must be [N, D], got shape {tuple(features.shape)}")
        self.features = features

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def load(self, index: np.ndarray) -> torch.Tensor:
        return self.features[torch.as_tensor(np.asarray(index), device=self.features.device)]


class LinearProbe(nn.Module):
    """The linear head alone: what the training loop trains under the linear protocol. Its input
    is already the pooled feature, so ``features`` is the identity and ``backbone`` is empty."""

    def __init__(self, head: nn.Linear) -> None:
        super().__init__()
        self.backbone = nn.Identity()
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


def to_device(device: torch.device) -> Callable[..., torch.Tensor]:
    """The normaliser of the linear protocol: features need no flip and no normalisation (the
    flip draws still happen in the loop, so the random stream matches the fine-tune protocol)."""

    def move(x: torch.Tensor, flip: torch.Tensor | None = None) -> torch.Tensor:
        return x.to(device, non_blocking=True)

    return move


def feature_path(
    data_root: str | Path, dataset: str, split: str, backbone: str, weights: str, image_size: int, images: str
) -> Path:
    blob = f"v{FEATURES_VERSION}|{dataset}|{split}|{backbone}|{weights}|{image_size}|{images}"
    digest = hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()
    safe_backbone = backbone.replace("/", "_")
    return (
        Path(data_root) / FEATURES_DIRNAME / dataset / f"{split}_{safe_backbone}_{weights}_{image_size}px_{digest}.npy"
    )


@torch.no_grad()
def extract_features(
    model: Classifier,
    store: ImageStore,
    normalize: Callable[..., torch.Tensor],
    *,
    num_workers: int = 0,
    pin: bool = False,
) -> np.ndarray:
    """Pooled ``model.features`` of every image of ``store``: eval mode, float32, no flip."""
    was_training = model.training
    model.eval()
    out: list[np.ndarray] = []
    for x, _ in iterate(store, np.arange(len(store)), EXTRACT_BATCH, num_workers, pin):
        out.append(model.features(normalize(x).contiguous()).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out).astype(np.float32, copy=False)


def cached_features(
    path: Path,
    model: Classifier,
    store: ImageStore,
    normalize: Callable[..., torch.Tensor],
    *,
    num_workers: int = 0,
    pin: bool = False,
    log: Callable[[str], None] | None = None,
) -> np.ndarray:
    """The features at ``path``, extracted and written atomically (temporary file, rename) on
    first use. The returned array is always the one read back from the file, so the first run and
    every later one see the same bits."""
    if not path.exists():
        t0 = time.time()
        feats = extract_features(model, store, normalize, num_workers=num_workers, pin=pin)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, feats)
        if log is not None:
            log(f"extracted {feats.shape[0]} features of dim {feats.shape[1]} in {time.time() - t0:.1f}s → {path}")
    feats = np.load(path)
    if feats.shape[0] != len(store):
        raise ValueError(f"feature cache {path} holds {feats.shape[0]} rows but the split has {len(store)}; delete it")
    return feats


def split_features(
    cfg: RunConfig,
    split: str,
    data: RunData,
    model: Classifier,
    normalize: Callable[..., torch.Tensor],
    device: torch.device,
    num_workers: int = 0,
    log: Callable[[str], None] | None = None,
) -> torch.Tensor:
    """Cached pooled features ``[N, D]`` of the (not yet trained) backbone on ``split`` of ``data``,
    on the device (``split="train"``: ``TrainContext.train_features`` for ROLE+LI's linear phase)."""
    store: ImageStore = getattr(data, split)
    root = cfg.data_root if cfg.data_root is not None else default_data_root()
    # a randomly initialised backbone's weights depend on the model seed, pretrained ones do not
    # (a local checkpoint by its content: another file is another backbone; the embedded set's
    # small CNN by its pretraining key, so features of weights pretrained differently are never read back)
    weights = (
        f"init-seed{cfg.seed}"
        if not cfg.pretrained
        else (
            weights_tag(model.backbone) if cfg.pretrained_file is None else f"file-{file_digest(cfg.pretrained_file)}"
        )
    )
    assert cfg.backbone is not None and cfg.image_size is not None, "call with a resolved RunConfig"
    path = feature_path(root, cfg.dataset, split, cfg.backbone, weights, cfg.image_size, store_fingerprint(store))
    feats = cached_features(path, model, store, normalize, num_workers=num_workers, pin=device.type == "cuda", log=log)
    return torch.from_numpy(feats).to(device)


__all__ = [
    "DeviceFeatures",
    "LinearProbe",
    "cached_features",
    "extract_features",
    "feature_path",
    "split_features",
    "to_device",
]
