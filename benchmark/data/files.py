"""``FileImages``: an image store reading image files from disk.

Decoded with PIL, converted to RGB and resized to ``image_size x image_size`` without a crop
(bilinear, what torchvision's ``Resize((448, 448))`` does to a PIL image in the reference
codebases), returned as uint8 ``[b, 3, H, W]``. It holds only paths, so it pickles cheaply into
DataLoader workers.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # imported in load(): the data CLI's prepare starts without torch
    import torch


class ImageDecodeError(OSError):
    """An image file could not be opened or decoded; the message names the file."""


@dataclass
class FileImages:
    #: directory the names are relative to
    root: str
    #: 1-D array of relative paths
    names: np.ndarray
    image_size: int = 448

    def __post_init__(self) -> None:
        self.names = np.asarray(self.names)
        if self.names.ndim != 1:
            raise ValueError(f"FileImages needs a 1-D array of names, got shape {self.names.shape}")
        if self.image_size <= 0:
            raise ValueError(f"image_size must be positive, got {self.image_size}")

    def __len__(self) -> int:
        return int(self.names.shape[0])

    def fingerprint(self) -> str:
        """What the decoded-image cache is keyed on: the image root, the list and the size."""
        h = hashlib.sha256(f"{os.path.abspath(self.root)}|{self.image_size}|".encode())
        h.update("\n".join(map(str, self.names)).encode())
        return h.hexdigest()

    def path(self, i: int) -> str:
        return os.path.join(self.root, str(self.names[i]))

    def decode(self, i: int) -> np.ndarray:
        """uint8 ``[3, H, W]`` of image ``i``."""
        path = self.path(i)
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB").resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise ImageDecodeError(f"cannot read image {path}: {exc}") from exc
        return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)

    def load(self, index: np.ndarray) -> torch.Tensor:
        import torch  # why: the data CLI's prepare reads images without loading torch

        index = np.asarray(index).reshape(-1)
        out = np.empty((len(index), 3, self.image_size, self.image_size), dtype=np.uint8)
        for j, i in enumerate(index):
            out[j] = self.decode(int(i))
        return torch.from_numpy(out)

    def missing(self) -> list[str]:
        """Names whose file does not exist."""
        return [str(n) for n in self.names if not os.path.isfile(os.path.join(self.root, str(n)))]
