"""The embedded set and its pretrained backbone: cached under keys that change with everything
they depend on, built the same way whatever the caller's RNG and thread count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.data import embedded
from benchmark.data.protocol import split_train_val
from benchmark.run import models, pretrain
from benchmark.run.environment import torch_threads
from benchmark.run.metrics import average_precision
from benchmark.run.models import SmallCNN
from benchmark.run.train import Trainer
from benchmark.spec.config import RunConfig


@pytest.mark.parametrize(
    "name, change",
    [
        ("VERSION", lambda v: v + 1),
        ("NUM_POOL", lambda v: v + 1),
        ("NUM_TEST", lambda v: v + 1),
        ("COUNT_PROBS", lambda v: (0.25, 0.25, 0.25, 0.25)),
        ("SEED", lambda v: v + 1),
        ("CELL", lambda v: v + 1),
    ],
)
def test_every_generator_parameter_is_in_the_data_cache_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, change
) -> None:
    before = embedded.cache_path(tmp_path)
    monkeypatch.setattr(embedded, name, change(getattr(embedded, name)))
    assert embedded.cache_path(tmp_path) != before


def test_a_cached_file_of_other_sizes_is_refused_with_its_name(tmp_path: Path) -> None:
    path = embedded.cache_path(tmp_path)
    path.parent.mkdir(parents=True)
    np.savez(
        path,
        pool_images=np.zeros((3, 1, 24, 24), np.uint8),
        pool_labels=np.zeros((3, 10), np.uint8),
        test_images=np.zeros((2, 1, 24, 24), np.uint8),
        test_labels=np.zeros((2, 10), np.uint8),
    )
    with pytest.raises(ValueError, match=rf"{path.name}: array 'pool_images' has shape \(3, 1, 24, 24\), expected"):
        embedded.load_arrays(tmp_path)


def test_the_built_set_has_the_documented_sizes(data_root: Path) -> None:
    arrays = embedded.load_arrays(data_root)
    assert arrays["pool_images"].shape == (embedded.NUM_POOL, 1, embedded.CANVAS, embedded.CANVAS)
    assert arrays["test_images"].shape == (embedded.NUM_TEST, 1, embedded.CANVAS, embedded.CANVAS)
    counts = arrays["pool_labels"].sum(1)
    assert counts.min() >= 1 and counts.max() <= 4


@pytest.mark.parametrize(
    "module, name",
    [
        (pretrain, "VERSION"),
        (pretrain, "NUM_IMAGES"),
        (pretrain, "EPOCHS"),
        (pretrain, "BATCH"),
        (pretrain, "LR"),
        (pretrain, "INIT_SEED"),
        (embedded, "NUM_POOL"),
        (embedded, "SEED"),
    ],
)
def test_pretraining_parameters_and_the_data_are_in_the_weights_key(
    monkeypatch: pytest.MonkeyPatch, module, name: str
) -> None:
    backbone = SmallCNN()
    before = pretrain.weights_key(backbone)
    monkeypatch.setattr(module, name, getattr(module, name) * 2 + 1)
    assert pretrain.weights_key(backbone) != before


def test_the_architecture_is_in_the_weights_key_and_in_the_feature_cache_tag() -> None:
    assert pretrain.weights_key(SmallCNN(width=8)) != pretrain.weights_key(SmallCNN())
    assert models.weights_tag(SmallCNN()) == f"pretrained-{pretrain.weights_key(SmallCNN())}"
    assert models.weights_tag(torch.nn.Conv2d(1, 1, 1)) == "pretrained"  # any other backbone: its name


def test_pretrained_weights_do_not_depend_on_the_callers_rng_or_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrain, "NUM_IMAGES", 256)
    monkeypatch.setattr(pretrain, "EPOCHS", 1)
    with torch_threads(1):
        torch.manual_seed(1)
        backbone = SmallCNN()
        a = pretrain.pretrain(backbone, backbone.num_features)
    with torch_threads(2):
        torch.manual_seed(2)
        backbone = SmallCNN()
        rng_before = torch.get_rng_state()
        b = pretrain.pretrain(backbone, backbone.num_features)
        assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is left alone
        assert torch.get_num_threads() == 2  # and its thread count restored
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("seed", [0, 1, pretrain.INIT_SEED])
def test_no_run_seed_starts_from_a_head_that_knows_the_pretrained_features(data_root: Path, seed: int) -> None:
    """A fine-tuning head drawn with the same RNG stream as the pretraining head's initial weights
    starts half-trained (an initial validation mAP of ~70 where chance is ~27)."""
    trainer = Trainer(RunConfig(dataset="digits", method="an", seed=seed, data_root=str(data_root), checkpoint=False))
    trainer.set_up()
    val_map = float(average_precision(trainer.predict(trainer.data.val), trainer.val_labels).mean()) * 100
    assert val_map < 45


def test_the_runs_split_sizes_follow_the_generator(data_root: Path) -> None:
    trainer = Trainer(RunConfig(dataset="digits", method="an", data_root=str(data_root), checkpoint=False))
    trainer.set_up()
    train_idx, val_idx = split_train_val(embedded.NUM_POOL)
    assert (len(trainer.data.train), len(trainer.data.val), len(trainer.data.test)) == (
        len(train_idx),
        len(val_idx),
        embedded.NUM_TEST,
    )
