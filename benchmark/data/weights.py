"""Pretrained backbone weights: where timm finds them, fetching them ahead of a sweep, and a local
checkpoint file instead of a download.

Compute nodes are often offline, and a run that asks timm for pretrained weights downloads them
(from the Hugging Face hub, or a URL for older weights) into the local cache. So, on a machine
with internet access:

- ``python -m benchmark.data weights MODEL`` downloads them into the timm / Hugging Face cache
  (``$HF_HUB_CACHE``, by default ``$HF_HOME/hub`` = ``~/.cache/huggingface/hub``; for URL weights
  ``$TORCH_HOME/hub/checkpoints``). Runs on nodes that see the same cache folder (a shared home, or
  the same ``HF_HOME``) find them there; set ``HF_HUB_OFFLINE=1`` on offline nodes so that the hub
  is not even asked.
- ``... weights MODEL --out DIR`` also writes the backbone's state dict to ``DIR/MODEL.pth``; runs
  given ``--pretrained-file DIR/MODEL.pth`` read that file and never touch a cache or the network.

``weights_problem`` says, without any network access, whether a run would find the weights;
``benchmark.sweep.checks`` uses it before a sweep is submitted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from benchmark.core.atomic import atomic_path
from benchmark.data.embedded import LOCAL_BACKBONES
from benchmark.data.manifest import hash_file

#: keys under which checkpoints commonly nest the state dict
_NESTED = ("state_dict", "model", "model_state_dict", "module")


class WeightsError(ValueError):
    """A model name without pretrained weights, or a checkpoint file that does not fit the backbone."""


class WeightsUnavailableError(OSError):
    """Pretrained weights are neither in the local cache nor downloadable here; the message says how to get them."""


def offline() -> bool:
    """Whether the Hugging Face hub is set to offline mode (``HF_HUB_OFFLINE=1``)."""
    try:
        from huggingface_hub import constants  # why: huggingface_hub (timm's) loads only where the hub is asked

        ask = getattr(constants, "is_offline_mode", None)
        return bool(ask() if callable(ask) else constants.HF_HUB_OFFLINE)
    except ImportError:
        return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def fix_command(name: str) -> str:
    return (
        f"on a machine with internet access run: python -m benchmark.data weights {name} (into the same cache "
        f"folder), or fetch them with --out DIR there and run with --pretrained-file DIR/{name}.pth"
    )


def pretrained_cfg(name: str) -> Any:
    """timm's pretrained config of ``name`` (``arch`` or ``arch.tag``); ``WeightsError`` if there is none."""
    # why: timm takes seconds to import; a smallcnn sweep's checks never need it
    import timm
    from timm.models import get_pretrained_cfg

    if name in LOCAL_BACKBONES:
        raise WeightsError(
            f"'{name}' (the embedded set's backbone) builds its pretrained weights locally on first "
            "use; there is nothing to fetch"
        )
    if not timm.is_model(name.split(".")[0]):
        raise WeightsError(f"unknown backbone '{name}': not a timm model name")
    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError as exc:  # timm: "Invalid pretrained tag (x) for arch."
        raise WeightsError(f"timm model '{name}': {exc}") from None
    if cfg is None:
        raise WeightsError(
            f"timm model '{name}' has no pretrained weights (its pretrained tags: "
            f"{', '.join(timm.list_pretrained(name.split('.')[0] + '.*')[:6]) or 'none'})"
        )
    return cfg


def url_cache_file(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def cached_weights(name: str) -> Path | None:
    """The local file timm would load ``name``'s pretrained weights from, or ``None`` if it would
    have to download them. Follows timm's choice of source: a local file or in-memory state dict
    in the config, then (with ``TIMM_USE_OLD_CACHE``) a URL already in torch's cache, then the
    Hugging Face hub (``model.safetensors`` or ``pytorch_model.bin``), then the URL."""
    cfg = pretrained_cfg(name)
    if cfg.state_dict:
        return Path("<state dict in timm's config>")
    if cfg.file and cfg.source != "hf-hub":
        return Path(cfg.file) if Path(cfg.file).is_file() else None
    old_cache = os.environ.get("TIMM_USE_OLD_CACHE", "").lower() in ("1", "true", "yes", "on")
    if old_cache and cfg.url and url_cache_file(cfg.url).is_file():
        return url_cache_file(cfg.url)
    if cfg.hf_hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache  # why: as in offline(); may be absent
        except ImportError:
            pass  # no hub client: timm's URL cache below
        else:
            repo, _, revision = cfg.hf_hub_id.partition("@")
            names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
            for filename in names:
                found = try_to_load_from_cache(repo, filename, revision=revision or None)
                if isinstance(found, str) and Path(found).is_file():
                    return Path(found)
            return None
    if cfg.url and url_cache_file(cfg.url).is_file():
        return url_cache_file(cfg.url)
    return None


def where_cached(name: str) -> str:
    cfg = pretrained_cfg(name)
    if cfg.hf_hub_id:
        from huggingface_hub import constants  # why: huggingface_hub (timm's) loads only where the hub is asked

        return str(Path(constants.HF_HUB_CACHE))
    return str(url_cache_file(cfg.url or "x").parent)


def weights_problem(name: str) -> str | None:
    """``None`` if a run could load ``name``'s pretrained weights without network access; else why
    not and the command that fixes it."""
    try:
        found = cached_weights(name)
    except WeightsError as exc:
        return str(exc)
    if found is not None:
        return None
    return (
        f"pretrained weights of '{name}' are not in the local cache ({where_cached(name)}), so an offline "
        f"compute node cannot load them: {fix_command(name)}"
    )


# -- building a pretrained backbone ---------------------------------------------------------------
def create_pretrained(name: str, **kwargs: Any) -> nn.Module:
    """``timm.create_model(name, pretrained=True, **kwargs)``, with a download that fails (offline, or
    no such weights) turned into one clear ``WeightsUnavailableError``."""
    import timm  # why: seconds to import; a smallcnn sweep never needs it

    if offline() and cached_weights(name) is None:
        # timm would try anyway and fail with the hub's generic message; say what to do instead
        raise WeightsUnavailableError(
            f"HF_HUB_OFFLINE is set and the pretrained weights of '{name}' are not in the "
            f"local cache ({where_cached(name)}): {fix_command(name)}"
        )
    try:
        return timm.create_model(name, pretrained=True, **kwargs)
    except OSError as exc:  # the hub's and urllib's errors, offline or not found, are OSErrors
        reason = " ".join(str(exc).split())[:300]
        raise WeightsUnavailableError(
            f"cannot load the pretrained weights of '{name}' ({type(exc).__name__}: {reason}); {fix_command(name)}"
        ) from None


def fetch_weights(name: str, out: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """Download ``name``'s pretrained weights into the local cache (if not there yet) and, with
    ``out``, save the backbone's state dict to ``out/<name>.pth``. Returns the file a run reads."""
    found = cached_weights(name)
    backbone: nn.Module | None = None
    if found is not None:
        log(f"{name}: pretrained weights already in the local cache: {found}")
    else:
        if offline():
            raise WeightsUnavailableError(
                f"cannot fetch the pretrained weights of '{name}': HF_HUB_OFFLINE is set; "
                "run this command on a machine with internet access, without it"
            )
        backbone = create_pretrained(name, num_classes=0)
        found = cached_weights(name)
        if found is None:  # downloaded somewhere this module does not know: say so rather than pretend
            raise WeightsUnavailableError(
                f"{name}: timm loaded the weights but they are not where runs look for "
                f"them ({where_cached(name)}); use --out DIR and --pretrained-file"
            )
        log(f"{name}: pretrained weights fetched into the local cache: {found}")
    log(
        f"runs on nodes that see {where_cached(name)} (the same HF_HOME / TORCH_HOME) load them offline; "
        "set HF_HUB_OFFLINE=1 there"
    )
    if out is None:
        return found
    if backbone is None:
        backbone = create_pretrained(name, num_classes=0)
    target = Path(out) / f"{name}.pth"
    with atomic_path(target) as tmp:
        torch.save(backbone.state_dict(), tmp)
    log(f"{name}: backbone state dict saved to {target}; run with --pretrained-file {target}")
    return target


# -- a local checkpoint file ----------------------------------------------------------------------
_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """A short content hash of a checkpoint file (memoised per path, size and mtime): what keys
    anything derived from its weights, such as the linear probe's cached features."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = hash_file(path, hashlib.blake2b(digest_size=8))
    return _DIGESTS[key]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` or torch checkpoint file (plain or nested under a usual key),
    read without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"pretrained file {path} does not exist (expected a state dict of the backbone)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file  # why: only a .safetensors file needs safetensors

            data: Any = load_file(str(path), device="cpu")
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch and safetensors raise many types for a file that is not a checkpoint
        reason = " ".join(str(exc).split())[:200]
        raise WeightsError(
            f"pretrained file {path} cannot be read as a state dict ({type(exc).__name__}: {reason}); "
            "expected a .pth/.pt/.bin saved with torch.save(model.state_dict()) or a .safetensors file"
        ) from None
    while isinstance(data, Mapping) and not any(isinstance(v, torch.Tensor) for v in data.values()):
        nested = [k for k in _NESTED if isinstance(data.get(k), Mapping)]
        if not nested:
            break
        data = data[nested[0]]
    if not isinstance(data, Mapping) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsError(
            f"pretrained file {path} holds no state dict of tensors (a "
            f"{type(data).__name__}); expected torch.save(model.state_dict())"
        )
    return {str(k).removeprefix("module."): v for k, v in data.items()}


def fit_state_dict(
    backbone: nn.Module, state: dict[str, torch.Tensor], name: str, path: Path
) -> dict[str, torch.Tensor]:
    """``state`` restricted to ``backbone``'s keys, after dropping a classifier the backbone does not
    have (a full ImageNet model's checkpoint); ``WeightsError`` naming the file and the first
    missing, unexpected or mis-shaped keys unless every backbone tensor is there with its shape."""
    own = backbone.state_dict()
    classifier = (getattr(backbone, "pretrained_cfg", None) or {}).get("classifier")
    heads = [classifier] if isinstance(classifier, str) else list(classifier or [])
    extra = [k for k in state if k not in own and not any(k == h or k.startswith(h + ".") for h in heads)]
    missing = [k for k in own if k not in state]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = (("backbone keys missing", missing, 3), ("unexpected keys", extra, 3), ("shapes differ", shapes, 1))
    parts = [f"{len(keys)} {what} (first: {', '.join(keys[:n])})" for what, keys, n in problems if keys]
    if parts:
        raise WeightsError(
            f"pretrained file {path} does not match timm backbone '{name}': {'; '.join(parts)}; "
            f"expected a state dict of '{name}' (python -m benchmark.data weights {name} --out DIR "
            "writes one)"
        )
    return {k: state[k] for k in own}


def load_pretrained_file(backbone: nn.Module, name: str, path: str | Path) -> None:
    """Load the checkpoint at ``path`` into the timm ``backbone`` (built with ``num_classes=0``)."""
    state = fit_state_dict(backbone, read_state_dict(Path(path)), name, Path(path))
    backbone.load_state_dict(state, strict=True)


def pretrained_file_problem(name: str, path: str | Path, in_chans: int = 3) -> str | None:
    """``None`` if ``path`` loads into ``name``'s backbone; else why not (for the pre-submit check)."""
    import timm  # why: seconds to import; a smallcnn sweep never needs it

    try:
        backbone = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
        fit_state_dict(backbone, read_state_dict(Path(path)), name, Path(path))
    except WeightsError as exc:
        return str(exc)
    return None


__all__ = [
    "WeightsError",
    "WeightsUnavailableError",
    "cached_weights",
    "create_pretrained",
    "fetch_weights",
    "file_digest",
    "load_pretrained_file",
    "pretrained_file_problem",
    "read_state_dict",
    "weights_problem",
]
