"""Backbones: any timm model by name, or the small CNN of the embedded set, behind one shape:
``feature_map(x)`` → the unpooled ``[B, D, H, W]``, ``features(x)`` → pooled ``[B, D]``, ``head`` an
``nn.Linear(D, C)`` with bias. ``forward_for`` is the model's forward for a method: the model
itself, or the method's own way of making logits from the feature map and the head."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmark.data import Dataset, default_data_root, weights
from benchmark.data.embedded import LOCAL_BACKBONES
from benchmark.run.pretrain import load_or_build, weights_key
from benchmark.spec.config import ResolvedRunConfig


class SmallCNN(nn.Module):
    """Three 3x3 conv-BN-ReLU blocks, a 1x1 conv-BN-ReLU block widening the features, and global
    average pooling: enough for the digit mosaics on a CPU."""

    def __init__(self, in_chans: int = 1, width: int = 16, features: int = 128) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]

        # strided convolutions rather than max pooling: 4x faster on a CPU at the same accuracy.
        # The 1x1 block widens the pooled features (as ResNet-50's last 1x1 conv, to 2048): with
        # Adam, each weight of a new linear head moves by about lr per step, so a head on 32
        # features needed ~10 epochs to fit and its random start set a seed's mAP for the whole
        # run; on 128 it fits within the first epochs at a learning rate that keeps the
        # backbone's epoch-to-epoch jitter small (docs/embedded.md)
        self.net = nn.Sequential(
            *block(in_chans, width, stride=2),
            *block(width, 2 * width, stride=2),
            *block(2 * width, 2 * width),
            *block(2 * width, features, kernel=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.num_features = features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's unpooled map ``[B, D, H, W]`` (timm's name for it)."""
        for layer in self.net[:-2]:
            x = layer(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class WideSmallCNN(SmallCNN):
    """``SmallCNN`` with 4x the channels (about 16x the weights): on ``digits-voc`` it fits its
    training labels — the assumed negatives that are missing positives included — within about ten
    epochs, as the pretrained ResNet-50 does on the real sets, where the small one never does
    (docs/predict.md, "A model that memorises")."""

    def __init__(self, in_chans: int = 1, width: int = 64, features: int = 512) -> None:
        super().__init__(in_chans, width, features)


#: the backbones built here rather than by timm (their names: ``LOCAL_BACKBONES``)
LOCAL_MODELS: dict[str, type[SmallCNN]] = {"smallcnn": SmallCNN, "smallcnn-wide": WideSmallCNN}
assert set(LOCAL_MODELS) == LOCAL_BACKBONES


def weights_tag(backbone: nn.Module) -> str:
    """What names a backbone's pretrained weights in other caches (the linear probe's features):
    the small CNN's carry their key; any other backbone's are fixed by its name."""
    return f"pretrained-{weights_key(backbone)}" if isinstance(backbone, SmallCNN) else "pretrained"


class Classifier(nn.Module):
    """Backbone → pooled features → ``Linear(D, C)``: global average pooling and a linear head, as
    the protocol's ResNet-50."""

    def __init__(self, backbone: nn.Module, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(num_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's last feature map before pooling, ``[B, D, H, W]`` for a CNN (a vision
        transformer's tokens are ``[B, N, D]``: a method that needs a spatial map says so)."""
        forward_features = self.backbone.forward_features  # timm's and SmallCNN's method
        assert callable(forward_features)  # narrows nn.Module's attribute type (Tensor | Module)
        return forward_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


#: a method's way of making logits: (feature map, head) → ``[B, C]``
MakeLogits = Callable[[torch.Tensor, nn.Module], torch.Tensor]


class MapLogits(nn.Module):
    """The forward of a model whose logits a method makes from the unpooled feature map and the
    head (``Method.logits_from_map``): in training and at every prediction alike."""

    def __init__(self, model: Classifier, make_logits: MakeLogits) -> None:
        super().__init__()
        self.model = model
        self.make_logits = make_logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.make_logits(self.model.feature_map(x), self.model.head)


def forward_for(model: nn.Module, make_logits: MakeLogits | None) -> nn.Module:
    """The model itself (so every other method's numbers stay those of ``model(x)``), or a
    ``MapLogits`` when a method makes its own logits (from a ``Classifier``'s feature map)."""
    if make_logits is None:
        return model
    if not isinstance(model, Classifier):  # e.g. the linear protocol's head alone: RunConfig refuses it first
        raise TypeError(f"a method's own logits need a backbone's feature map, not a {type(model).__name__}")
    return MapLogits(model, make_logits)


def build_model(
    name: str,
    num_classes: int,
    *,
    pretrained: bool = False,
    in_chans: int = 3,
    weights_root: Path | None = None,
    pretrained_file: str | Path | None = None,
    pretrain_styles: tuple[str, ...] = (),
) -> Classifier:
    """``name`` is ``smallcnn`` or any timm model name (e.g. ``resnet50.tv_in1k``, ``resnet18``).
    ``smallcnn``'s pretrained weights are built offline under ``weights_root`` (see ``pretrain``);
    a timm backbone's come from ``pretrained_file`` (a local state dict) when given, else from the
    timm / Hugging Face cache, downloaded there if missing (``benchmark.data.weights``).
    ``pretrain_styles``: an embedded variant's glyph styles, which ``smallcnn``'s pretraining covers."""
    if pretrained_file is not None and (name in LOCAL_BACKBONES or not pretrained):
        raise ValueError(
            f"pretrained_file is for pretrained timm backbones, not for '{name}' with pretrained={pretrained}"
        )
    if name in LOCAL_BACKBONES:
        local = LOCAL_MODELS[name](in_chans=in_chans)
        if pretrained:
            if in_chans != 1 or weights_root is None:
                raise ValueError(f"pretrained '{name}' weights exist for the 1-channel digits set only")
            load_or_build(local, local.num_features, weights_root, pretrain_styles)
        return Classifier(local, local.num_features, num_classes)
    import timm  # why: a smallcnn run (the default sweep) never pays for importing timm

    if not timm.is_model(name.split(".")[0]):
        raise ValueError(f"unknown backbone '{name}': neither {sorted(LOCAL_BACKBONES)} nor a timm model name")
    # num_classes=0: timm returns pooled features and we own the head. Any: timm ships no types
    # (its models' num_features and forward_features are its documented API)
    backbone: Any
    if pretrained_file is not None:
        backbone = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
        weights.load_pretrained_file(backbone, name, pretrained_file)
    elif pretrained:
        backbone = weights.create_pretrained(name, num_classes=0, in_chans=in_chans)
    else:
        backbone = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
    return Classifier(backbone, backbone.num_features, num_classes)


def run_model(cfg: ResolvedRunConfig, ds: Dataset) -> Classifier:
    """The classifier a run of ``cfg`` starts from on ``ds`` (on the CPU): the config's backbone,
    pretrained as it says, its input channels and classes the dataset's."""
    return build_model(
        cfg.backbone,
        ds.num_classes,
        pretrained=bool(cfg.pretrained),
        in_chans=len(ds.mean),
        weights_root=Path(cfg.data_root) if cfg.data_root else default_data_root(),
        pretrained_file=cfg.pretrained_file,
        pretrain_styles=tuple(ds.provenance.get("styles", ())),  # an embedded variant's classes
    )
