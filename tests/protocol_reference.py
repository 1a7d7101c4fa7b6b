"""An independent re-statement of PROTOCOL.md's split and observation routine, written from the
spec (not from ``benchmark.data.protocol``), for the tests to compare against."""

from __future__ import annotations

import numpy as np


def split(num: int, seed: int = 1200) -> tuple[list[int], list[int]]:
    perm = list(np.random.RandomState(seed).permutation(num))
    n_val = int(round(0.2 * num))
    return sorted(perm[: num - n_val]), sorted(perm[num - n_val :])


def observe(labels: np.ndarray, num_pos: int, num_neg: int, seed: int = 1200) -> np.ndarray:
    rng = np.random.RandomState(seed)
    out = np.zeros(labels.shape)
    for i, row in enumerate(labels):
        positives = np.array([c for c in range(len(row)) if row[c] == 1], dtype=np.int64)
        rng.shuffle(positives)
        for c in positives if num_pos == -1 else positives[:num_pos]:
            out[i, c] = 1
        negatives = np.array([c for c in range(len(row)) if row[c] == 0], dtype=np.int64)
        rng.shuffle(negatives)
        for c in negatives if num_neg == -1 else negatives[:num_neg]:
            out[i, c] = -1
    return out


def observe_fraction(labels: np.ndarray, fraction: float, seed: int = 1200) -> np.ndarray:
    rng = np.random.RandomState(seed)
    n, c = labels.shape
    k = int(round(fraction * c))
    out = np.zeros((n, c))
    for i in range(n):
        for j in rng.permutation(c)[:k]:
            out[i, j] = 1 if labels[i, j] == 1 else -1
    return out
