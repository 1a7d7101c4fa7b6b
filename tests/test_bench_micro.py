"""pytest-benchmark micro-benchmarks of the hot per-batch and per-evaluation code: every
registered method's loss (forward and backward) on a COCO-sized batch, and the vectorised mAP
against the reference's per-class scikit-learn loop. CI runs them once as tests
(``--benchmark-disable``); ``pytest tests/test_bench_micro.py --benchmark-enable`` times them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import methods
from benchmark.bench.reference import loss_an, reference_average_precision
from benchmark.run.metrics import average_precision

B, C = 16, 80  # COCO's batch and classes


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, C, generator=g)
    observed = torch.zeros(B, C)
    observed[torch.arange(B), torch.randint(0, C, (B,), generator=g)] = 1.0  # one positive per image
    return logits, observed


@pytest.mark.parametrize("key", methods.available())
def test_loss_forward_backward(benchmark: Any, key: str) -> None:
    cls = methods.get(key)
    regime_labels = batch()[1]
    if "full" in cls.regimes:  # an oracle: everything observed
        regime_labels = torch.where(regime_labels == 1, 1.0, -1.0)
    method = methods.build(key, num_classes=C, dataset="coco", **dict(cls.test_config))
    method.setup(methods.TrainInfo(B, C, regime_labels))
    logits0 = batch()[0]

    def step() -> torch.Tensor:
        logits = logits0.clone().requires_grad_(True)
        loss = method.loss(logits, regime_labels, index=torch.arange(B))
        loss.backward()
        return logits.grad

    grad = benchmark(step)
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_reference_style_loss_matches_an(benchmark: Any) -> None:
    logits, observed = batch(1)
    ours = methods.build("an", num_classes=C).loss(logits, observed)
    ref = benchmark(lambda: loss_an(torch.sigmoid(logits), observed))
    assert float(ref) == pytest.approx(float(ours), rel=1e-6)


def _scores(n: int = 5000, c: int = C) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.RandomState(0)
    targets = (rng.rand(n, c) < 0.05).astype(np.float32)
    scores = np.clip(targets * 0.3 + rng.rand(n, c) * 0.7, 0, 1).astype(np.float32)
    return torch.from_numpy(scores), torch.from_numpy(targets)


def test_map_vectorised(benchmark: Any) -> None:
    scores, targets = _scores()
    ap = benchmark(lambda: average_precision(scores, targets))
    expected = reference_average_precision(targets.numpy(), scores.numpy().astype(np.float64))
    np.testing.assert_allclose(ap.numpy(), expected, rtol=0, atol=1e-9)


def test_map_reference_sklearn_loop(benchmark: Any) -> None:
    scores, targets = _scores()
    ap = benchmark(lambda: reference_average_precision(targets.numpy(), scores.numpy()))
    assert ap.shape == (C,) and 0 < ap.mean() < 1
