"""PROTOCOL.md's data protocol: the validation split and the observed-label regimes.

Both draw from ``numpy.random.RandomState(1200)`` exactly as Cole et al.'s reference code does, so
the same label matrix gives the same split and the same single positive per image. A run's data seed
(``RunConfig.data_seed``) ``d`` draws both from ``RandomState([1200, d])`` instead (``draw_seed``): numpy
seeds a list by hashing it whole, so every ``d`` gives a stream of its own, none of them the fixed draw's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

DATA_SEED = 1200
VAL_FRACTION = 0.2

#: regime → (num_pos, num_neg); -1 means "all"
REGIMES: dict[str, tuple[int, int]] = {
    "1p": (1, 0),
    "1p_all_n": (1, -1),
    "full": (-1, -1),
}
REGIME_DESCRIPTIONS: dict[str, str] = {
    "1p": "one observed positive per image, everything else unannotated (the SPML setting)",
    "1p_all_n": "one observed positive and every negative (the '1 P & all N' oracle)",
    "full": "every label observed (the 'all P & all N' oracle)",
    "frac20": "20% of all labels observed, the rest unannotated (missing-labels scenario)",
    "frac50": "50% of all labels observed, the rest unannotated (missing-labels scenario)",
    "frac80": "80% of all labels observed, the rest unannotated (missing-labels scenario)",
}
_FRACTION = re.compile(r"^frac(\d{1,2})$")
#: what ``RandomState`` is seeded with: the fixed draw's 1200, or ``[1200, d]`` for data seed ``d``
Seed = int | Sequence[int]


def draw_seed(data_seed: int | None) -> Seed:
    """The generator seed of data seed ``data_seed``: ``None`` is the protocol's fixed draw."""
    return DATA_SEED if data_seed is None else [DATA_SEED, data_seed]


def regime_names() -> list[str]:
    return list(REGIME_DESCRIPTIONS)


def check_regime(regime: str) -> str:
    if regime not in REGIME_DESCRIPTIONS:
        raise ValueError(f"unknown label regime '{regime}'; valid regimes: {', '.join(regime_names())}")
    return regime


def split_train_val(
    num_pool: int, seed: Seed = DATA_SEED, fraction: float = VAL_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, val) indices of the training pool: the last ``round(0.2 N)`` of a permutation
    are validation."""
    perm = np.random.RandomState(seed).permutation(num_pool)
    n_val = int(round(fraction * num_pool))
    return np.sort(perm[: num_pool - n_val]), np.sort(perm[num_pool - n_val :])


def observe_uniform(labels: np.ndarray, num_pos: int, num_neg: int, seed: Seed = DATA_SEED) -> np.ndarray:
    """Cole et al.'s ``observe_uniform``: per image, in order, shuffle the true positives and keep
    ``num_pos`` as +1, then shuffle the true negatives (always, so the random stream and thus the
    chosen positive is the same in every regime) and keep ``num_neg`` as -1. -1 means all."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"label matrix must be [N, C], got shape {labels.shape}")
    rng = np.random.RandomState(seed)
    observed = np.zeros(labels.shape, dtype=np.float32)
    for i in range(labels.shape[0]):
        pos = np.flatnonzero(labels[i] == 1)
        rng.shuffle(pos)
        observed[i, pos if num_pos < 0 else pos[:num_pos]] = 1.0
        neg = np.flatnonzero(labels[i] == 0)
        rng.shuffle(neg)
        observed[i, neg if num_neg < 0 else neg[:num_neg]] = -1.0
    return observed


def observe_fraction(labels: np.ndarray, fraction: float, seed: Seed = DATA_SEED) -> np.ndarray:
    """Missing-labels scenario: per image, ``round(fraction*C)`` labels chosen uniformly are
    observed with their true value (+1/-1), the rest are unannotated."""
    rng = np.random.RandomState(seed)
    n, c = labels.shape
    k = int(round(fraction * c))
    observed = np.zeros((n, c), dtype=np.float32)
    signed = np.where(np.asarray(labels) == 1, 1.0, -1.0).astype(np.float32)
    for i in range(n):
        keep = rng.permutation(c)[:k]
        observed[i, keep] = signed[i, keep]
    return observed


def observe(labels: np.ndarray, regime: str, seed: Seed = DATA_SEED) -> np.ndarray:
    """Observed labels (+1 / 0 / -1, float32) of a 0/1 label matrix under a named regime."""
    check_regime(regime)
    if regime in REGIMES:
        return observe_uniform(labels, *REGIMES[regime], seed=seed)
    match = _FRACTION.match(regime)
    assert match is not None
    return observe_fraction(labels, int(match.group(1)) / 100.0, seed=seed)
