"""Where a run ran, for its record's ``provenance``: the code identity and package versions
(``benchmark.core.provenance``, torch-free) with the device, its name and torch's thread count."""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from benchmark.core.provenance import PACKAGES, code_identity, git_commit, package_version


def cpu_name() -> str:
    """The CPU's model name where the OS says it (Linux), else the architecture. CPU runs are
    bit-identical only on the same kernels, which depend on the CPU model and its instruction
    sets, so a record names them to explain a rerun that differs on another machine."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            first = fh.read().split("\n\n", 1)[0]  # the first processor: all are alike
        pairs = (line.split(":", 1) for line in first.splitlines() if ":" in line)
        info = {key.strip(): value.strip() for key, value in pairs}
    except OSError:
        return platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    isa = [name for name in ("avx512f", "avx512_bf16", "amx_tile", "avx2") if name in flags]
    return f"{info.get('model name', platform.machine())} ({' '.join(isa) or 'no avx2'})"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


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


@contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` inside (``None``: as it is), the caller's count
    restored after: a CPU run's last bits depend on it, so code called in-process (a study's
    ``main``, a resumed run) must not leave the caller's changed."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


__all__ = ["cpu_name", "device_name", "provenance", "torch_threads"]
