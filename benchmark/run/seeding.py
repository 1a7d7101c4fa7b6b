"""Seeds and determinism: the same config and seed give bit-identical numbers on the CPU."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; return the generator that orders batches and draws flips."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_determinism(device: torch.device, deterministic: bool | None) -> dict[str, Any]:
    """Apply the determinism policy and return the flags for the record's provenance.

    ``None`` means deterministic on the CPU (cheap there) and cuDNN's benchmark mode on CUDA (the
    fast choice; results then vary in the last bits between runs)."""
    on = (device.type != "cuda") if deterministic is None else bool(deterministic)
    if on and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on, warn_only=False)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = not on
    return {
        "deterministic_algorithms": on,
        "cudnn_deterministic": on,
        "cudnn_benchmark": not on,
        "policy": "auto" if deterministic is None else ("on" if on else "off"),
    }
