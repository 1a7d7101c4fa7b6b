"""Checks of run settings that need no pydantic (the bench uses them too): device names, whether
a device exists on this machine, backbone names. Each raises ``ValueError`` with one line naming
the value and what is valid."""

from __future__ import annotations

import re

from benchmark.data.embedded import LOCAL_BACKBONES

#: what ``--device`` accepts: auto (CUDA when present, else CPU), cpu, cuda, cuda:N, mps
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
DEVICE_CHOICES = "auto, cpu, cuda, cuda:N (N a GPU index) or mps"


def check_device_name(name: str) -> str:
    if not isinstance(name, str) or not DEVICE_PATTERN.fullmatch(name):
        raise ValueError(f"device {name!r} is not a device name; expected {DEVICE_CHOICES}")
    return name


def check_device_available(name: str) -> None:
    """That ``name`` (a valid device name) exists here: CUDA present, the GPU index in range."""
    import torch  # why: config validation stays torch-free; only this check asks the hardware

    check_device_name(name)
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r} requested but CUDA is not available on this machine "
                f"(torch {torch.__version__}); use --device auto or cpu"
            )
        index = int(name.split(":")[1]) if ":" in name else 0
        count = torch.cuda.device_count()
        if index >= count:
            raise ValueError(
                f"device {name!r} requested but this machine has {count} CUDA device(s): cuda:0 to cuda:{count - 1}"
            )
    elif name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested but MPS is not available on this machine; use --device auto or cpu")


def check_backbone(name: str) -> str:
    """``LOCAL_BACKBONES`` or a timm model name (an optional ``.tag`` names its pretrained weights)."""
    if name in LOCAL_BACKBONES:
        return name
    import timm  # why: validating a smallcnn config (the default sweep) never imports timm

    if not name or not timm.is_model(name):
        raise ValueError(
            f"backbone {name!r} is neither {', '.join(sorted(LOCAL_BACKBONES))} nor a timm model name "
            f"(e.g. resnet50.tv_in1k; timm.list_models() lists them)"
        )
    return name


__all__ = ["DEVICE_CHOICES", "check_backbone", "check_device_available", "check_device_name"]
