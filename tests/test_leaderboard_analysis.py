"""The harness side of the paper's analysis (``benchmark.run.analysis``): what the leaderboard's
density figures and Wasserstein table read from each record."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from benchmark.run.analysis import BINS, unannotated_separation


def test_histograms_and_distance_of_unannotated_entries() -> None:
    labels = torch.tensor([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]], dtype=torch.float32)
    observed = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float32)
    probs = torch.tensor([[0.9, 0.2, 0.7], [0.1, 0.8, 0.55], [0.6, 0.9, 0.05], [0.3, 0.15, 0.99]])
    out = unannotated_separation(probs, labels, observed)
    json.dumps(out)  # goes into the record as is
    unannotated = observed == 0
    pos = probs[unannotated & (labels == 1)].double().numpy()
    neg = probs[unannotated & (labels == 0)].double().numpy()
    assert (out["num_unannotated_pos"], out["num_unannotated_neg"]) == (len(pos), len(neg)) == (3, 5)
    assert out["bins"] == BINS and len(out["pos_hist"]) == BINS
    assert out["pos_hist"] == np.histogram(pos, bins=BINS, range=(0, 1))[0].tolist()
    assert out["neg_hist"] == np.histogram(neg, bins=BINS, range=(0, 1))[0].tolist()
    assert out["wasserstein"] == pytest.approx(wasserstein_distance(pos, neg))
    assert out["pos_mean"] == pytest.approx(pos.mean()) and out["neg_mean"] == pytest.approx(neg.mean())
    # class 1: its only unannotated entries are negatives (rows 0 and 3): no distance, no positive mean
    c1 = out["per_class"][1]
    assert sum(c1["pos_hist"]) == 0 and sum(c1["neg_hist"]) == 2
    assert c1["wasserstein"] is None and c1["pos_mean"] is None
    assert sum(sum(c["pos_hist"]) for c in out["per_class"]) == out["num_unannotated_pos"]


def test_fully_observed_labels_leave_nothing_to_analyse() -> None:
    labels = torch.tensor([[1.0, 0.0]])
    out = unannotated_separation(torch.tensor([[0.7, 0.2]]), labels, labels * 2 - 1)
    assert out["num_unannotated_pos"] == out["num_unannotated_neg"] == 0
    assert out["wasserstein"] is None and out["pos_mean"] is None and sum(out["neg_hist"]) == 0
