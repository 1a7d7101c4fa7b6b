"""The vectorised mAP against scikit-learn's ``average_precision_score``, to 1e-9."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from benchmark.run.metrics import average_precision, mean_average_precision


def sklearn_ap(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """PROTOCOL.md: per-class sklearn AP, a class without positives has AP 0."""
    return np.array(
        [
            average_precision_score(targets[:, k], scores[:, k]) if targets[:, k].any() else 0.0
            for k in range(targets.shape[1])
        ]
    )


@pytest.mark.parametrize("levels", [None, 3, 7, 50])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_sklearn_with_ties(levels: int | None, seed: int) -> None:
    rng = np.random.RandomState(seed)
    n, c = 257, 9
    scores = rng.rand(n, c)
    if levels is not None:  # few distinct values: many tied scores, ties across positives and negatives
        scores = np.floor(scores * levels) / levels
    targets = (rng.rand(n, c) < 0.3).astype(np.float64)
    targets[:, 0] = 0  # a class without positives: AP 0, still in the mean
    targets[:, 1] = 1  # a class of positives only: AP 1
    targets[0, 2], targets[1:, 2] = 1, 0  # a single positive
    ours = average_precision(torch.from_numpy(scores), torch.from_numpy(targets)).numpy()
    expected = sklearn_ap(scores, targets)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)
    assert ours[0] == 0.0 and ours[1] == pytest.approx(1.0)
    assert mean_average_precision(torch.from_numpy(scores), torch.from_numpy(targets)) == pytest.approx(
        expected.mean() * 100, abs=1e-7
    )


def test_float32_scores_and_all_tied() -> None:
    rng = np.random.RandomState(3)
    scores = rng.rand(100, 4).astype(np.float32)
    scores[:, 3] = 0.5  # every score tied: AP is the positive rate
    targets = (rng.rand(100, 4) < 0.5).astype(np.float32)
    ours = average_precision(torch.from_numpy(scores), torch.from_numpy(targets)).numpy()
    np.testing.assert_allclose(ours, sklearn_ap(scores.astype(np.float64), targets), rtol=0, atol=1e-9)
    assert ours[3] == pytest.approx(targets[:, 3].mean())


def test_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"must both be \[N, C\]"):
        average_precision(torch.zeros(4, 3), torch.zeros(4, 2))
