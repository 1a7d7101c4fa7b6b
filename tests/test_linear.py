"""The linear-probe protocol: features extracted once per (dataset, backbone, weights, size,
split), cached on disk, a linear head trained per method on them, recorded as such."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import methods
from benchmark.run import linear, loop, train
from benchmark.run.environment import torch_threads
from benchmark.run.models import SmallCNN
from benchmark.spec.config import RunConfig
from methods.an import AssumeNegative


class FeatureSpy(AssumeNegative):
    """AN, plus what ROLE+LI's linear phase does first: read the training features."""

    key = "feature_spy"
    seen: list[torch.Tensor] = []

    def before_training(self, ctx: methods.TrainContext) -> None:
        FeatureSpy.seen.append(ctx.train_features().cpu())


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    # tiny head-only steps: a second intra-op thread only adds synchronisation (tens of ms per op
    # on a loaded 2-core machine)
    with torch_threads(1):
        yield


@pytest.fixture
def counted_extraction(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = linear.extract_features

    def counting(*args: Any, **kwargs: Any) -> np.ndarray:
        out = real(*args, **kwargs)
        calls.append(len(out))
        return out

    monkeypatch.setattr(linear, "extract_features", counting)
    return calls


def cfg(tmp_path: Path, method: str = "an", **kw: Any) -> RunConfig:
    settings: dict[str, Any] = {"epochs": 2, "lr": 1e-2, "patience": 0, **kw}
    return RunConfig(dataset="digits", method=method, protocol="linear", data_root=str(tmp_path / "data"), **settings)


def test_features_extracted_once_and_shared_by_methods(tmp_path: Path, counted_extraction: list[int]) -> None:
    first = train.run(cfg(tmp_path, "an"))
    assert first["status"] == "done", first.get("error")
    assert first["protocol"] == "linear" and first["config"]["protocol"] == "linear"
    assert counted_extraction == [first["num_train"], first["num_val"], first["num_test"]]
    files = sorted((tmp_path / "data" / "_features" / "digits").glob("*.npy"))
    assert [f.name.split("_")[0] for f in files] == ["test", "train", "val"]
    second = train.run(cfg(tmp_path, "em"))
    assert second["status"] == "done", second.get("error")
    assert len(counted_extraction) == 3  # the second method read the cached features
    assert len(first["history"]) == 2 and 0 < first["test_map"] <= 100
    # the pretrained backbone is the same for every seed, so are its features
    train.run(cfg(tmp_path, "an", seed=1))
    assert len(counted_extraction) == 3
    # a randomly initialised backbone differs per seed, so its features do too
    train.run(cfg(tmp_path, "an", seed=1, pretrained=False))
    train.run(cfg(tmp_path, "an", seed=2, pretrained=False))
    assert len(counted_extraction) == 9


def test_same_numbers_from_cache_and_from_extraction(tmp_path: Path) -> None:
    a = train.run(cfg(tmp_path))  # extracts
    b = train.run(cfg(tmp_path))  # reads the cache
    assert a["status"] == b["status"] == "done"
    assert a["test_map"] == b["test_map"] and a["history"][-1]["train_loss"] == b["history"][-1]["train_loss"]


def test_train_features_hook_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(methods.registry(), FeatureSpy.key, FeatureSpy)
    FeatureSpy.seen = []
    rec = train.run(cfg(tmp_path, FeatureSpy.key, epochs=1))
    assert rec["status"] == "done", rec.get("error")
    (feats,) = FeatureSpy.seen
    cached = np.load(next((tmp_path / "data" / "_features" / "digits").glob("train_*.npy")))
    assert feats.shape == (rec["num_train"], SmallCNN().num_features)
    assert np.array_equal(feats.numpy(), cached)


def test_probe_trains_only_the_head(tmp_path: Path) -> None:
    probe = linear.LinearProbe(torch.nn.Linear(32, 10))
    assert [n for n, _ in probe.named_parameters()] == ["head.weight", "head.bias"]
    x = torch.randn(4, 32)
    assert torch.equal(probe.features(x), x)
    feats = linear.DeviceFeatures(torch.arange(12.0).view(6, 2))
    assert torch.equal(feats.load(np.array([5, 0])), torch.tensor([[10.0, 11.0], [0.0, 1.0]]))


def test_batched_nonfinite_check_names_the_first_bad_batch() -> None:
    """The shared training step checks the loss every ``check_every`` batches (on accelerators,
    to avoid a host sync per batch) and still reports the first non-finite batch."""
    from benchmark.data.store import ArrayImages

    class NaNAfter(AssumeNegative):
        key = "nan_after"

        def loss(self, logits: torch.Tensor, observed: torch.Tensor, **kw: Any) -> torch.Tensor:
            out = super().loss(logits, observed, **kw)
            self.calls = getattr(self, "calls", 0) + 1
            return out * float("nan") if self.calls >= 3 else out

    store = ArrayImages(np.zeros((40, 1, 4, 4), dtype=np.uint8))
    model = linear.LinearProbe(torch.nn.Linear(16, 3))
    flat = lambda x, flip=None: x.float().flatten(1)  # noqa: E731
    observed = torch.zeros(40, 3)
    observed[:, 0] = 1
    method = NaNAfter(num_classes=3)
    opt = torch.optim.Adam(model.parameters())
    with pytest.raises(loop.NonFiniteLossError, match="batch 2 "):
        loop.train_epoch(
            model,
            method,
            opt,
            torch.amp.GradScaler(enabled=False),
            flat,
            store,
            observed,
            np.arange(40),
            None,
            batch_size=4,
            autocast=contextlib.nullcontext,
            describe=lambda step, loss: f"loss is {loss} at batch {step} ",
            check_every=5,
        )
