"""The paper's analysis of how predictions separate unannotated positives from unannotated
negatives, computed on the model of the best validation epoch and stored in the run record."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.stats import wasserstein_distance

#: histogram bins on [0, 1]: fine enough for the leaderboard's density figures (20 looked blocky), still
#: small in the record (2 x 50 counts per class: 31k integers for CUB's 312 attributes)
BINS = 50


def _hist(values: np.ndarray) -> list[int]:
    return np.histogram(values, bins=BINS, range=(0.0, 1.0))[0].astype(int).tolist()


def _wasserstein(a: np.ndarray, b: np.ndarray) -> float | None:
    return float(wasserstein_distance(a, b)) if len(a) and len(b) else None


def unannotated_separation(probs: torch.Tensor, labels: torch.Tensor, observed: torch.Tensor) -> dict[str, Any]:
    """Histograms (``BINS`` bins on [0, 1]) of the predicted probabilities of unannotated training
    entries that are truly positive and truly negative, overall and per class, and the
    Wasserstein distance between the two distributions."""
    p = probs.detach().cpu().double().numpy()
    y = labels.cpu().numpy() == 1
    unannotated = observed.cpu().numpy() == 0
    pos, neg = unannotated & y, unannotated & ~y
    per_class = []
    for c in range(p.shape[1]):
        pc, nc = p[pos[:, c], c], p[neg[:, c], c]
        per_class.append(
            {
                "pos_hist": _hist(pc),
                "neg_hist": _hist(nc),
                "pos_mean": float(pc.mean()) if len(pc) else None,
                "neg_mean": float(nc.mean()) if len(nc) else None,
                "wasserstein": _wasserstein(pc, nc),
            }
        )
    return {
        "bins": BINS,
        "num_unannotated_pos": int(pos.sum()),
        "num_unannotated_neg": int(neg.sum()),
        "pos_hist": _hist(p[pos]),
        "neg_hist": _hist(p[neg]),
        "pos_mean": float(p[pos].mean()) if pos.any() else None,
        "neg_mean": float(p[neg].mean()) if neg.any() else None,
        "wasserstein": _wasserstein(p[pos], p[neg]),
        "per_class": per_class,
    }
