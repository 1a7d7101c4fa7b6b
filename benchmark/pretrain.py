"""ImageNet-style pretrained weights for the embedded set's small CNN, built offline.

The real protocol fine-tunes an ImageNet-pretrained ResNet-50. The embedded analogue: the small
CNN is first trained, fully supervised and single-label, to classify one handwritten digit placed
anywhere on the canvas, using only the handwriting of the training pool's half of
``load_digits`` (never the mosaics, never their multi-label annotations). Deterministic, a few
seconds on a CPU, cached beside the embedded data.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmark.data import embedded
from benchmark.records import atomic_write_bytes

VERSION = 1
NUM_IMAGES = 6000
EPOCHS = 3
BATCH = 128
LR = 1e-2


def weights_path(data_root: Path) -> Path:
    return Path(data_root) / "digits" / f"smallcnn_pretrained_v{VERSION}.pt"


def _single_digit_canvases(rng: np.random.RandomState) -> tuple[torch.Tensor, torch.Tensor]:
    digits, targets = embedded.source_digits("pool")
    x = np.zeros((NUM_IMAGES, 1, embedded.CANVAS, embedded.CANVAS), dtype=np.uint8)
    y = np.zeros(NUM_IMAGES, dtype=np.int64)
    span = embedded.CANVAS - 8 + 1
    for i in range(NUM_IMAGES):
        j = rng.randint(len(digits))
        top, left = rng.randint(span), rng.randint(span)
        x[i, 0, top : top + 8, left : left + 8] = digits[j]
        y[i] = targets[j]
    return (torch.from_numpy(x).float() / 255.0 - 0.5) / 0.5, torch.from_numpy(y)


def pretrain(backbone: nn.Module, num_features: int) -> dict[str, torch.Tensor]:
    """Train ``backbone`` with a temporary 10-way softmax head; return its state_dict."""
    rng = np.random.RandomState(0)
    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        head = nn.Linear(num_features, 10)
        x, y = _single_digit_canvases(rng)
        opt = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=LR)
        backbone.train()
        for _ in range(EPOCHS):
            order = torch.randperm(len(x), generator=gen)
            for s in range(0, len(x), BATCH):
                i = order[s : s + BATCH]
                loss = nn.functional.cross_entropy(head(backbone(x[i])), y[i])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return {k: v.detach().clone() for k, v in backbone.state_dict().items()}


def load_or_build(backbone: nn.Module, num_features: int, data_root: Path) -> None:
    """Load the cached pretrained weights into ``backbone``, building them on first use."""
    path = weights_path(data_root)
    if path.exists():
        backbone.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return
    state = pretrain(backbone, num_features)
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())
    backbone.load_state_dict(state)
