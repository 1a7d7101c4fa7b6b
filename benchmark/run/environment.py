"""Where a run ran, for its record's ``provenance``: the code identity and package versions
(``benchmark.core.provenance``, torch-free) with the device, its name and torch's thread count."""

from __future__ import annotations

import platform
import sys
from typing import Any

import torch

from benchmark.core.provenance import PACKAGES, code_identity, git_commit, package_version


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def provenance(device: torch.device, determinism: dict[str, Any]) -> dict[str, Any]:
    return {
        "git": git_commit(),
        "code": code_identity(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": platform.node(),
        "device": str(device),
        "device_name": device_name(device),
        "torch_threads": torch.get_num_threads(),
        "determinism": determinism,
    }


__all__ = ["device_name", "provenance"]
