"""PROTOCOL.md's data protocol: the validation split and the observation routine."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.protocol import observe, observe_uniform, split_train_val


def reference_observe(labels: np.ndarray, num_pos: int, num_neg: int) -> np.ndarray:
    """PROTOCOL.md's routine written out plainly, one image at a time."""
    rng = np.random.RandomState(1200)
    out = np.zeros(labels.shape)
    for i, row in enumerate(labels):
        pos = [c for c in range(len(row)) if row[c] == 1]
        pos = np.array(pos, dtype=int)
        rng.shuffle(pos)
        for c in pos if num_pos == -1 else pos[:num_pos]:
            out[i, c] = 1
        neg = np.array([c for c in range(len(row)) if row[c] == 0], dtype=int)
        rng.shuffle(neg)
        for c in neg if num_neg == -1 else neg[:num_neg]:
            out[i, c] = -1
    return out


@pytest.fixture()
def labels() -> np.ndarray:
    rng = np.random.RandomState(3)
    y = (rng.rand(40, 7) < 0.35).astype(np.uint8)
    y[y.sum(1) == 0, 0] = 1
    return y


def test_split_is_protocol_permutation() -> None:
    train, val = split_train_val(11)
    perm = np.random.RandomState(1200).permutation(11)
    assert len(val) == round(0.2 * 11) == 2
    assert list(train) == sorted(perm[:9]) and list(val) == sorted(perm[9:])
    assert sorted([*train, *val]) == list(range(11))


@pytest.mark.parametrize("regime,counts", [("1p", (1, 0)), ("1p_all_n", (1, -1)), ("full", (-1, -1))])
def test_observe_matches_reference(labels: np.ndarray, regime: str, counts: tuple[int, int]) -> None:
    np.testing.assert_array_equal(observe(labels, regime), reference_observe(labels, *counts))


def test_same_positive_in_every_single_positive_regime(labels: np.ndarray) -> None:
    one = observe(labels, "1p")
    all_neg = observe(labels, "1p_all_n")
    np.testing.assert_array_equal(one == 1, all_neg == 1)
    assert ((one == 1).sum(1) == 1).all()
    assert (one[labels == 0] != 1).all()  # the observed positive is a true positive
    np.testing.assert_array_equal(all_neg == -1, labels == 0)


def test_full_regime_is_the_label_matrix(labels: np.ndarray) -> None:
    np.testing.assert_array_equal(observe(labels, "full"), np.where(labels == 1, 1.0, -1.0))


def test_fraction_regime_observes_true_values(labels: np.ndarray) -> None:
    obs = observe(labels, "frac50")
    assert ((obs != 0).sum(1) == round(0.5 * labels.shape[1])).all()
    assert (obs[obs == 1] == 1).all() and (labels[obs == 1] == 1).all() and (labels[obs == -1] == 0).all()


def test_unknown_regime_names_the_valid_ones(labels: np.ndarray) -> None:
    with pytest.raises(ValueError, match="valid regimes: 1p, 1p_all_n, full"):
        observe(labels, "2p")


def test_observe_uniform_rejects_a_vector() -> None:
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        observe_uniform(np.zeros(4), 1, 0)
