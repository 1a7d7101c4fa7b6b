"""Label regimes and the validation split on the prepared fixtures, against hand-computed values
and an independent statement of PROTOCOL.md's routine."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.prepare import prepare
from benchmark.data.protocol import observe, split_train_val
from tests import protocol_reference as ref
from tests.fixtures_official import write_coco, write_cub, write_voc

REGIMES = ["1p", "1p_all_n", "full", "frac20", "frac50", "frac80"]


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    base = tmp_path_factory.mktemp("regimes")
    out = {}
    for key, write in (("voc", write_voc), ("coco", write_coco), ("cub", write_cub)):
        write(base / "raw" / key)
        prepare(key, base / "raw" / key, base / key)
        out[key] = np.load(base / key / "formatted_train_labels.npy")
    return out


def test_split_of_the_voc_pool_by_hand(pools: dict[str, np.ndarray]) -> None:
    # N = 5: n_val = round(0.2 * 5) = 1, the last index of RandomState(1200).permutation(5)
    perm = np.random.RandomState(1200).permutation(5).tolist()
    train, val = split_train_val(5)
    assert val.tolist() == [perm[-1]] and train.tolist() == sorted(perm[:-1])
    assert (train.tolist(), val.tolist()) == ref.split(5)


@pytest.mark.parametrize("key", ["voc", "coco", "cub"])
@pytest.mark.parametrize("regime", REGIMES)
def test_regimes_match_the_reference_routine(pools: dict[str, np.ndarray], key: str, regime: str) -> None:
    labels = pools[key]
    got = observe(labels, regime)
    if regime.startswith("frac"):
        expected = ref.observe_fraction(labels, int(regime[4:]) / 100)
    else:
        expected = ref.observe(labels, *{"1p": (1, 0), "1p_all_n": (1, -1), "full": (-1, -1)}[regime])
    np.testing.assert_array_equal(got, expected)


def test_hand_computed_regimes_on_voc(pools: dict[str, np.ndarray]) -> None:
    labels = pools["voc"]
    full = observe(labels, "full")
    np.testing.assert_array_equal(full, np.where(labels == 1, 1.0, -1.0))
    one = observe(labels, "1p")
    # rows 1 (person) and 2 (aeroplane) have a single positive: it is the observed one
    assert np.flatnonzero(one[1]).tolist() == [14] and np.flatnonzero(one[2]).tolist() == [0]
    assert ((one == 1).sum(axis=1) == 1).all() and not (one == -1).any()
    all_n = observe(labels, "1p_all_n")
    # the same positive in 1p and 1p_all_n, and every negative observed
    np.testing.assert_array_equal(all_n == 1, one == 1)
    np.testing.assert_array_equal(all_n == -1, labels == 0)
    for fraction in (20, 50, 80):
        frac = observe(labels, f"frac{fraction}")
        assert ((frac != 0).sum(axis=1) == round(fraction / 100 * 20)).all()
        np.testing.assert_array_equal(frac[frac != 0], np.where(labels == 1, 1.0, -1.0)[frac != 0])


def test_same_positive_across_regimes_on_cub(pools: dict[str, np.ndarray]) -> None:
    labels = pools["cub"]
    np.testing.assert_array_equal(observe(labels, "1p") == 1, observe(labels, "1p_all_n") == 1)
    assert not observe(labels, "1p")[1].any()  # the image with no present attribute
