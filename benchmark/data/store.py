"""Image stores: where a split's pixels come from. The training loop asks a store for a batch of
uint8 images ``[b, C, H, W]`` at the training resolution; flip and normalisation happen on the
device, so a store does no per-epoch float work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # torch is imported where pixels are loaded: the data CLI's download/prepare start without it
    import torch


class ImageStore(Protocol):
    def __len__(self) -> int: ...

    def load(self, index: np.ndarray) -> torch.Tensor:
        """uint8 images ``[len(index), C, H, W]``."""
        ...


@dataclass
class ArrayImages:
    """Images already decoded and resized: a uint8 ``[N, C, H, W]`` array (in memory or mmap)."""

    array: np.ndarray

    def __post_init__(self) -> None:
        if self.array.dtype != np.uint8 or self.array.ndim != 4:
            raise ValueError(f"ArrayImages needs a uint8 [N, C, H, W] array, got {self.array.dtype} {self.array.shape}")

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def load(self, index: np.ndarray) -> torch.Tensor:
        import torch  # why: the data CLI's download/prepare never load torch

        return torch.from_numpy(np.ascontiguousarray(self.array[np.asarray(index)]))


@dataclass
class Subset:
    """Rows ``index`` of another store (the train / val parts of a training pool)."""

    base: ImageStore
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def load(self, index: np.ndarray) -> torch.Tensor:
        return self.base.load(self.index[np.asarray(index)])


def subset(store: ImageStore, index: Sequence[int] | np.ndarray) -> ImageStore:
    return Subset(store, np.asarray(index, dtype=np.int64))
