"""A run's epoch-end checkpoint: a file that cannot carry code, bound to what made it.

The file is read with ``torch.load(weights_only=True)``: it holds only tensors, containers and
plain numbers (the model's, the method's, the optimiser's and the grad scaler's state dicts and the
RNG states as tensors) and one JSON string (the loop's progress: history, best epoch, stopping
state). A pickle planted at a run's checkpoint path — the path is computable from the run's
config — is refused by the loader and never executed.

A checkpoint is bound to the run id, the code digest (``benchmark.core.provenance.code_identity``)
and the data digest (``data_digest``); a run resumes from it only when all three match the run
being started. Anything else — another code version (a method's loss edited between an
interruption and the rerun), other data, a file that is not a checkpoint — is named in one line
and the run starts afresh, so the record is the one a fresh run writes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.core.atomic import atomic_write_bytes
from benchmark.core.provenance import code_identity

#: bumped when the layout below changes: an older file is then stale, not misread
FORMAT = 2
Log = Callable[[str], None]


@dataclass(frozen=True)
class Binding:
    """What a checkpoint belongs to: resume only when every field matches."""

    run_id: str
    code_sha256: str
    data_digest: str

    def mismatch(self, saved: Any) -> str | None:
        """Why ``saved`` (a checkpoint's ``binding``) is not this run's, or ``None``."""
        if not isinstance(saved, dict):
            return "it names no run, code or data"
        for name, key, want in (
            ("run id", "run_id", self.run_id),
            ("code digest", "code_sha256", self.code_sha256),
            ("data digest", "data_digest", self.data_digest),
        ):
            got = saved.get(key)
            if got != want:
                return f"its {name} is {str(got)[:16]}, this run's is {want[:16]}"
        return None


def binding(run_id: str, data: str) -> Binding:
    """This process's binding for run ``run_id`` on data of digest ``data`` (``data_digest``)."""
    return Binding(run_id=run_id, code_sha256=str(code_identity()["sha256"]), data_digest=data)


def data_digest(provenance: dict[str, Any], arrays: dict[str, torch.Tensor], manifest: str | None = None) -> str:
    """sha256 over what a run trains and is scored on: the label matrices it uses (clean, observed,
    validation, test), the dataset's provenance and ``manifest`` — the prepared data's content
    digest where the data layer provides one (it covers the images, which the labels do not).
    The provenance is hashed whole, so a digest the data layer adds to it is bound too."""
    digest = hashlib.sha256()
    digest.update(json.dumps(provenance, sort_keys=True, default=str).encode())
    digest.update(b"\0" + (manifest or "").encode() + b"\0")
    for name in sorted(arrays):
        t = arrays[name].detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}:".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


# -- RNG states as tensors and numbers (``weights_only`` refuses numpy arrays) --------------------
def pack_rng(generator: torch.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tensors, JSON-able) of Python's, numpy's, torch's (CPU, CUDA) and the batch generator's state."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors: dict[str, Any] = {
        "python": torch.tensor(internal, dtype=torch.int64),
        "numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
    }
    if torch.cuda.is_available():
        tensors["cuda"] = torch.cuda.get_rng_state_all()
    plain = {"python": [version, gauss], "numpy": [kind, int(pos), int(has_gauss), float(cached)]}
    return tensors, plain


def unpack_rng(tensors: dict[str, Any], plain: dict[str, Any], generator: torch.Generator) -> None:
    version, gauss = plain["python"]
    random.setstate((int(version), tuple(int(x) for x in tensors["python"].tolist()), gauss))
    kind, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((kind, tensors["numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["torch"])
    generator.set_state(tensors["generator"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(tensors["cuda"])


# -- the file ---------------------------------------------------------------------------------------
def save(path: Path, bound: Binding, tensors: dict[str, Any], progress: dict[str, Any]) -> None:
    """Write atomically: ``tensors`` (state dicts, RNG tensors) and ``progress`` (JSON-able)."""
    buf = io.BytesIO()
    torch.save(
        {
            "format": FORMAT,
            "binding": {"run_id": bound.run_id, "code_sha256": bound.code_sha256, "data_digest": bound.data_digest},
            "tensors": tensors,
            # JSON keeps NaN (a diverged epoch's mAP) and every float exactly; ``default=str`` as the record writer
            "progress": json.dumps(progress, default=str),
        },
        buf,
    )
    atomic_write_bytes(path, buf.getvalue())


def load(path: Path | None, bound: Binding, device: torch.device, log: Log, label: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it is this run's (``bound``), else ``None`` after one line
    saying why: a file that cannot be read as a checkpoint is set aside as ``<name>.unreadable``
    (only a damaged disk or a hand makes one: worth a look, never loaded), a stale one is deleted."""
    if path is None:
        return None
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode):
        # a link, FIFO or folder at a checkpoint's path is nobody's checkpoint: not opened, not followed
        log(f"[{label}] checkpoint {path} is not a regular file; ignored, starting the run afresh")
        if not stat.S_ISDIR(mode):
            path.unlink()
        return None
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
            raise ValueError(f"not a checkpoint of format {FORMAT}")
        ckpt["progress"] = json.loads(ckpt["progress"])
    except Exception as exc:  # noqa: BLE001 - any unreadable file: a resume must not fail forever on it
        aside = path.with_name(path.name + ".unreadable")
        path.replace(aside)
        log(
            f"[{label}] checkpoint {path} cannot be read ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); ignored and moved to {aside}, starting the run afresh"
        )
        return None
    why = bound.mismatch(ckpt.get("binding"))
    if why is not None:
        path.unlink(missing_ok=True)
        log(f"[{label}] checkpoint {path} is stale ({why}); deleted, starting the run afresh")
        return None
    return ckpt


__all__ = ["FORMAT", "Binding", "binding", "data_digest", "load", "pack_rng", "save", "unpack_rng"]
