"""A faithful reference-style training/evaluation loop, kept only to be measured against.

It does what the two reference codebases (Cole et al. 2021, Zhou et al. 2022) do every epoch:
a per-item ``Dataset`` that opens the full-size JPEG with PIL, resizes it, ``ToTensor`` and
``Normalize`` in DataLoader workers; float32 NCHW; the loss built by boolean-mask assignment into
a zero matrix; predictions and the loss copied to the CPU batch by batch and appended to Python
lists; mAP as a Python loop over classes calling scikit-learn's ``average_precision_score``.
Nothing here is used by the benchmark's own training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from sklearn.metrics import average_precision_score
from torch import nn

from benchmark.data import IMAGENET_MEAN, IMAGENET_STD

try:  # why: torchvision is optional (not a dependency)
    from torchvision import transforms
except ImportError:  # a GPU box with timm but no torchvision: the same three steps by hand
    transforms = None


class ReferenceImages(torch.utils.data.Dataset):
    """Per item: PIL decode of the full-size file, resize, ToTensor, Normalize (and the flip)."""

    def __init__(self, paths: list[Path], labels: np.ndarray, size: int, train: bool) -> None:
        self.paths, self.labels = paths, labels
        self.size, self.train = size, train
        self.transform: Any = None
        if transforms is not None:
            steps: list[Any] = [transforms.Resize((size, size))]
            if train:
                steps.append(transforms.RandomHorizontalFlip())
            steps += [transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
            self.transform = transforms.Compose(steps)

    def __len__(self) -> int:
        return len(self.paths)

    def _by_hand(self, im: Image.Image) -> torch.Tensor:
        im = im.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
        if self.train and torch.rand(1) < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
        return (x - mean) / std

    def __getitem__(self, i: int) -> dict[str, Any]:
        with Image.open(self.paths[i]) as im:
            image = self.transform(im.convert("RGB")) if self.transform is not None else self._by_hand(im)
        return {"image": image, "label_vec_obs": torch.from_numpy(self.labels[i].astype(np.float32)), "idx": i}


def reference_loader(
    dataset: ReferenceImages, batch_size: int, num_workers: int, shuffle: bool, pin: bool, seed: int = 0
) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        drop_last=False,
        pin_memory=pin,
        generator=torch.Generator().manual_seed(seed),
    )


def neg_log(x: torch.Tensor) -> torch.Tensor:
    return -torch.log(x + 1e-5)


def loss_an(preds: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """The AN loss as the reference code writes it: boolean-mask assignment into a zero matrix."""
    loss_mtx = torch.zeros_like(observed)
    loss_mtx[observed == 1] = neg_log(preds[observed == 1])
    loss_mtx[observed == 0] = neg_log(1.0 - preds[observed == 0])
    return loss_mtx.mean()


def reference_train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: torch.utils.data.DataLoader,
    device: torch.device,
    max_batches: int | None = None,
) -> dict[str, Any]:
    """One training epoch, reference style; returns the per-batch lists it keeps."""
    model.train()
    preds_list: list[np.ndarray] = []
    loss_list: list[np.ndarray] = []
    images_seen = 0
    for b, batch in enumerate(loader):
        if max_batches is not None and b >= max_batches:
            break
        image = batch["image"].to(device, non_blocking=True)
        observed = batch["label_vec_obs"].to(device, non_blocking=True)
        optimizer.zero_grad()
        with torch.set_grad_enabled(True):
            logits = model(image)
            preds = torch.sigmoid(logits)
            loss = loss_an(preds, observed)
            loss.backward()
            optimizer.step()
        preds_list.append(preds.detach().cpu().numpy())
        loss_list.append(loss.clone().detach().cpu().numpy())
        images_seen += image.shape[0]
    return {"preds": preds_list, "losses": loss_list, "images": images_seen}


def reference_average_precision(targets: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Per-class AP by a Python loop over scikit-learn; a class without positives has AP 0."""
    ap = np.zeros(targets.shape[1])
    for k in range(targets.shape[1]):
        if targets[:, k].sum() > 0:
            ap[k] = average_precision_score(targets[:, k], preds[:, k])
    return ap


@torch.no_grad()
def reference_evaluate(
    model: nn.Module, loader: torch.utils.data.DataLoader, targets: np.ndarray, device: torch.device
) -> float:
    """One evaluation pass, reference style: per-batch ``.cpu()``, list appends, per-class sklearn AP."""
    model.eval()
    preds_list: list[np.ndarray] = []
    for batch in loader:
        image = batch["image"].to(device, non_blocking=True)
        preds_list.append(torch.sigmoid(model(image)).cpu().numpy())
    model.train()
    preds = np.concatenate(preds_list)
    return float(reference_average_precision(targets[: len(preds)], preds).mean()) * 100


__all__ = [
    "ReferenceImages",
    "loss_an",
    "reference_average_precision",
    "reference_evaluate",
    "reference_loader",
    "reference_train_epoch",
]
