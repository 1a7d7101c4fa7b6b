"""The rules that make a run ``diverged`` (``benchmark.run.divergence``): each method's declared loss
bound holds for its loss, tied predictions are told from a legitimate collapse (EntMin's), and a
collapsed but informative run stays ``done``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import methods
from benchmark.run.divergence import (
    CONSTANT_SHARE,
    LOSS_SLACK,
    MIN_IMAGES,
    check_constant,
    check_loss,
    check_predictions,
    constant_classes,
    non_finite_tensors,
    predictions_summary,
)
from benchmark.run.train import Trainer
from benchmark.spec.config import RunConfig
from tests.method_contract import NUM_TRAIN, batch_loss, fake_run

KEYS = methods.available()


def _patterns(observed: torch.Tensor) -> dict[str, torch.Tensor]:
    """Logits that push each kind of term to its extremes: confident either way, uncertain, mixed."""
    g = torch.Generator().manual_seed(0)
    pos = observed == 1
    big = 30.0
    return {
        "normal": torch.randn(observed.shape, generator=g),
        "wide": 30 * torch.randn(observed.shape, generator=g),
        "all_high": torch.full(observed.shape, big),
        "all_low": torch.full(observed.shape, -big),
        "zero": torch.zeros(observed.shape),
        # positives right, the rest uncertain (EM's least loss) or confidently negative (N-LS's)
        "pos_high_rest_zero": torch.where(pos, big, 0.0),
        "pos_high_rest_low": torch.where(pos, big, -big),
        "pos_low_rest_high": torch.where(pos, -big, big),
    }


@pytest.mark.parametrize("regime", ["1p", "full"])
@pytest.mark.parametrize("key", KEYS)
def test_every_method_loss_stays_above_its_declared_bound(key: str, regime: str) -> None:
    """``Method.loss_lower_bound`` is what the divergence rule trusts: a method whose loss can go
    below its declared bound would be flagged ``diverged`` on a healthy run."""
    run = fake_run(methods.get(key))
    bound = float(run.method.loss_lower_bound)
    index = torch.arange(NUM_TRAIN)
    observed = run.method.batch_labels(run.observed[index], index)
    if regime == "full":  # every unannotated entry an observed negative
        observed = torch.where(observed == 0, -1.0, observed)
    for name, logits in _patterns(run.observed).items():
        loss = float(run.method.loss(logits, observed, index=index, model=None).detach())
        assert loss >= bound - LOSS_SLACK, f"{key}: loss {loss} on '{name}' logits is below its declared bound {bound}"
    # and through the model, as the loop computes it
    assert float(batch_loss(run, index).detach()) >= bound - LOSS_SLACK


def test_a_bound_depends_on_the_hyperparameters_where_the_loss_does() -> None:
    assert methods.build("em", num_classes=3, alpha=0.2).loss_lower_bound == pytest.approx(-0.2 * 0.6931, abs=1e-4)
    assert methods.build("nls", num_classes=3, rate=-0.1).loss_lower_bound == pytest.approx(-0.05 * 11.513, abs=1e-3)
    assert methods.build("an", num_classes=3).loss_lower_bound == 0.0


def test_ties_not_a_small_spread_make_a_class_constant() -> None:
    g = torch.Generator().manual_seed(0)
    n = 1000
    entmin_like = 0.05 + 2e-4 * torch.rand(n, 3, generator=g)  # collapsed, yet ranks the images
    dead = torch.full((n, 3), 0.25)
    almost = dead.clone()
    almost[: int(n * (1 - CONSTANT_SHARE)), 0] = 0.9  # 1% of the images differ: still constant
    split = torch.cat([torch.zeros(n // 2, 1), torch.ones(n // 2, 1)]).expand(n, 3)  # two halves: a ranking
    assert not constant_classes(entmin_like)[0].any()
    assert constant_classes(dead)[0].all()
    const, value, share = constant_classes(almost)
    assert bool(const[0]) and float(value[0]) == 0.25 and float(share[0]) == pytest.approx(CONSTANT_SHARE)
    assert not constant_classes(split)[0].any()


def test_constant_predictions_need_half_the_classes() -> None:
    n = 200
    probs = torch.rand(n, 4, generator=torch.Generator().manual_seed(1))
    names = ["a", "b", "c", "d"]
    probs[:, 0] = 0.5
    summary = predictions_summary({"test": probs}, names)
    assert summary["test"]["constant_classes"] == 1 and check_constant(3, summary) is None
    probs[:, 1] = 1.0
    found = check_constant(3, predictions_summary({"val": probs}, names))
    assert found is not None and found["rule"] == "constant_predictions"
    assert found["evidence"]["constant_classes"] == 2 and found["evidence"]["epoch"] == 3
    assert [e["class"] for e in found["evidence"]["examples"]] == ["a", "b"]


def test_a_split_too_small_to_rank_is_not_judged() -> None:
    """One validation image is trivially "constant"; a run on a tiny fixture is not diverged for it."""
    one = torch.full((1, 4), 0.3)
    assert predictions_summary({"val": one}, ["a", "b", "c", "d"]) == {}
    assert check_constant(1, predictions_summary({"val": one, "test": torch.rand(MIN_IMAGES, 4)}, list("abcd"))) is None


def test_non_finite_checks_name_what_is_wrong() -> None:
    named = [("ok", torch.ones(3)), ("steps", torch.tensor([1, 2])), ("bad", torch.tensor([1.0, float("inf")]))]
    assert non_finite_tensors(named) == ["bad"]
    found = check_predictions(2, {"val": torch.ones(4, 2), "test": torch.tensor([[float("nan"), 0.1]])})
    assert found is not None and found["evidence"] == {"epoch": 2, "split": "test", "non_finite": 1, "total": 2}
    assert check_loss(1, -0.05, -0.0693) is None and check_loss(1, -0.0001, 0.0) is None
    assert check_loss(1, -0.5, 0.0)["evidence"]["train_loss"] == -0.5


def test_entmin_collapses_as_the_paper_reports_and_is_not_flagged(data_root: Path) -> None:
    """EntMin pushes every unannotated prediction to one side: by epoch 2 its scores squeeze into a
    sliver of [0, 1] (its loss ~2e-4), yet they still rank the images — an honest, poor result that
    no rule flags (the default sweep's EntMin records: ~28 mAP, done)."""
    trainer = Trainer(RunConfig(dataset="digits", method="entmin", epochs=2, patience=0, data_root=str(data_root)))
    trainer.set_up()
    trainer.resume()
    for epoch in (1, 2):
        trainer.evaluate(epoch, trainer.train_one_epoch(epoch))
    assert trainer.state.divergence is None, trainer.state.divergence
    splits = {"val": trainer.predict(trainer.data.val), "test": trainer.predict(trainer.data.test)}
    spread = max(float((p.max(0).values - p.min(0).values).max()) for p in splits.values())
    assert spread < 0.01, f"EntMin no longer collapses here (spread {spread}): this test checks nothing any more"
    summary = predictions_summary(splits, trainer.data.dataset.class_names)
    assert check_constant(2, summary) is None
    assert all(s["constant_classes"] == 0 for s in summary.values()), summary
