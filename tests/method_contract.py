"""The contract every method plugin must meet, as plain functions of the method's class.

``tests/test_method_contract.py`` runs each check over ``methods.available()``, so a new plugin is
tested without writing a test; ``tests/test_adding_a_method.py`` runs them on the documentation's example.
A check builds the method with its ``test_config`` on a tiny fake training set (12 images, 4
classes, one observed positive each) and a tiny model with a 2x3 feature map, average pooling and
a linear head, the shapes the training loop hands over. Logits are made as the loop makes them:
the model's own, or the method's ``logits_from_map`` where it overrides it.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

from methods.base import LabelError, Method, TrainContext, TrainInfo

NUM_TRAIN = 12
NUM_CLASSES = 4
FEATURES = 6
MAP = (2, 3)  # the feature map's height and width
EPOCHS = 3
BATCH = 5


class TinyModel(nn.Module):
    """``feature_map`` → average pooling (``features``) → ``head``, like
    ``benchmark.run.models.Classifier``, on ``[N, FEATURES, 2, 3]`` inputs."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(FEATURES, 5, 1), nn.Tanh())
        self.head = nn.Linear(5, num_classes)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def logits_of(model: TinyModel, method: Method, x: torch.Tensor) -> torch.Tensor:
    """The logits as the training loop makes them for ``method``."""
    if method.makes_own_logits():
        return method.logits_from_map(model.feature_map(x), model.head)
    return model(x)


@dataclass
class FakeRun:
    """A tiny training set, model, method and context, wired as the training loop wires them."""

    inputs: torch.Tensor
    observed: torch.Tensor
    model: TinyModel
    method: Method
    info: TrainInfo
    ctx: TrainContext
    calls: dict[str, int]


def tiny_observed(num_train: int = NUM_TRAIN, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """One observed positive per image (the 1p regime), cycling over the classes."""
    observed = torch.zeros(num_train, num_classes)
    observed[torch.arange(num_train), torch.arange(num_train) % num_classes] = 1
    return observed


def build(cls: type[Method], num_classes: int = NUM_CLASSES, **overrides: Any) -> Method:
    return cls(num_classes=num_classes, dataset=None, **{**cls.test_config, **overrides})


def fake_run(cls: type[Method], seed: int = 0, **overrides: Any) -> FakeRun:
    """Seeded like a run: model init, method setup (ROLE draws its estimator here), attach."""
    inputs = torch.randn(NUM_TRAIN, FEATURES, *MAP, generator=torch.Generator().manual_seed(1234))
    torch.manual_seed(seed)
    observed = tiny_observed()
    model = TinyModel()
    method = build(cls, **overrides)
    info = TrainInfo(NUM_TRAIN, NUM_CLASSES, observed.clone(), num_epochs=EPOCHS)
    method.setup(info)
    method.attach(model)
    calls = {"predict_train": 0, "train_features": 0}

    @torch.no_grad()
    def predict_train() -> torch.Tensor:
        calls["predict_train"] += 1
        model.eval()
        probs = torch.sigmoid(logits_of(model, method, inputs))
        model.train()
        return probs

    @torch.no_grad()
    def train_features() -> torch.Tensor:
        calls["train_features"] += 1
        return model.features(inputs)

    ctx = TrainContext(
        num_epochs=EPOCHS,
        lr=1e-2,
        batch_size=BATCH,
        device=torch.device("cpu"),
        predict_train=predict_train,
        train_features=train_features,
        head=model.head,
        generator=torch.Generator().manual_seed(seed),
    )
    return FakeRun(inputs, observed, model, method, info, ctx, calls)


def batch_loss(run: FakeRun, index: torch.Tensor) -> torch.Tensor:
    """The loss of one batch as the training loop computes it."""
    logits = logits_of(run.model, run.method, run.inputs[index])
    labels = run.method.batch_labels(run.observed[index], index)
    return run.method.loss(logits, labels, index=index, model=run.model)


def train_cycle(run: FakeRun, epochs: int = EPOCHS) -> list[float]:
    """What the training loop does: optimiser with the method's groups, ``before_training``, then
    per epoch ``on_epoch_start``, the batches and ``on_epoch_end``. Returns the batch losses."""
    params = [p for p in run.model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam([{"params": params, "lr": run.ctx.lr}, *run.method.param_groups(run.ctx.lr)])
    run.method.before_training(run.ctx)
    losses = []
    for epoch in range(1, epochs + 1):
        run.method.on_epoch_start(epoch, run.ctx)
        order = torch.randperm(NUM_TRAIN, generator=run.ctx.generator)
        for index in order.split(BATCH):
            labels = run.method.batch_labels(run.observed[index], index)
            assert labels.shape == (len(index), NUM_CLASSES)
            loss = batch_loss(run, index)
            assert loss.ndim == 0 and torch.isfinite(loss), f"epoch {epoch}: loss {loss}"
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        run.method.on_epoch_end(epoch, run.ctx)
    return losses


# -- the checks --------------------------------------------------------------------------------
def check_metadata(cls: type[Method]) -> None:
    assert cls.key and cls.key == cls.key.lower() and " " not in cls.key, f"bad key {cls.key!r}"
    assert cls.summary and "\n" not in cls.summary, f"{cls.key}: summary must be one line"
    assert cls.paper, f"{cls.key}: paper is empty"
    doc = sys.modules[cls.__module__].__doc__ or ""
    assert len(doc.strip()) > 40, f"{cls.key}: its module needs a docstring with the formula and the paper"
    assert cls.regimes, f"{cls.key}: no label regime"


def check_defaults(cls: type[Method], dataset_keys: set[str]) -> None:
    unknown = set(cls.defaults) - {"*"} - dataset_keys
    assert not unknown, f"{cls.key}: defaults for unknown dataset keys {sorted(unknown)}"
    for dataset in [None, *sorted(dataset_keys)]:
        cls.resolve_hparams(dataset, dict(cls.test_config))


def check_scalar_and_gradient(cls: type[Method]) -> None:
    run = fake_run(cls)
    index = torch.arange(BATCH)
    logits = logits_of(run.model, run.method, run.inputs[index]).detach().requires_grad_()
    labels = run.method.batch_labels(run.observed[index], index)
    loss = run.method.loss(logits, labels, index=index, model=run.model)
    assert loss.ndim == 0, f"{cls.key}: loss has shape {tuple(loss.shape)}, expected a scalar"
    assert torch.isfinite(loss), f"{cls.key}: loss is {loss}"
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0, f"{cls.key}: no gradient reaches the logits"


def check_deterministic(cls: type[Method]) -> None:
    def once() -> tuple[torch.Tensor, list[float]]:
        run = fake_run(cls, seed=3)
        first = batch_loss(run, torch.arange(BATCH)).detach()
        return first, train_cycle(run)

    a, b = once(), once()
    assert torch.equal(a[0], b[0]) and a[1] == b[1], f"{cls.key}: two identical runs differ"


def _bad_labels(cls: type[Method]) -> list[float]:
    bad = [2.0, 0.5, -2.0, float("nan"), 1.5]
    return bad if cls.allows_soft_labels else [*bad, -0.5]


def check_rejects_bad_labels(cls: type[Method]) -> None:
    run = fake_run(cls)
    index = torch.arange(BATCH)
    logits = logits_of(run.model, run.method, run.inputs[index])
    for value in _bad_labels(cls):
        observed = run.observed[index].clone()
        observed[1, 2] = value
        with pytest.raises(LabelError, match=r"observed labels must be in"):
            run.method.loss(logits, observed, index=index)
    if cls.allows_soft_labels:  # APL's soft pseudo-labels are in range
        observed = run.observed[index].clone()
        observed[1, 2] = -0.25
        assert torch.isfinite(run.method.loss(logits, observed, index=index))


def check_rejects_bad_shapes(cls: type[Method]) -> None:
    run = fake_run(cls)
    index = torch.arange(BATCH)
    logits = logits_of(run.model, run.method, run.inputs[index])
    observed = run.observed[index]
    with pytest.raises(LabelError, match=r"shape"):
        run.method.loss(logits, observed[:, :-1], index=index)
    with pytest.raises(LabelError, match=r"shape"):
        run.method.loss(logits, observed[:-1], index=index)
    with pytest.raises(LabelError, match=r"\[B, C\]"):
        run.method.loss(logits[0], observed[0], index=index)
    wider = torch.cat([logits, logits[:, :1]], 1)
    with pytest.raises(LabelError, match=rf"built for {NUM_CLASSES} classes"):
        run.method.loss(wider, torch.cat([observed, observed[:, :1]], 1), index=index)


def _finite_loss_and_grad(run: FakeRun, index: torch.Tensor, observed: torch.Tensor) -> None:
    logits = logits_of(run.model, run.method, run.inputs[index]).detach().requires_grad_()
    loss = run.method.loss(logits, observed, index=index, model=run.model)
    assert loss.ndim == 0 and torch.isfinite(loss), f"{run.method.key}: loss {loss}"
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def check_edge_batches(cls: type[Method]) -> None:
    run = fake_run(cls)
    # a batch of one image
    _finite_loss_and_grad(run, torch.tensor([7]), run.observed[[7]])
    # a row with no positive at all
    index = torch.arange(BATCH)
    observed = run.observed[index].clone()
    observed[2] = 0
    _finite_loss_and_grad(run, index, observed)
    # every class of every image unannotated
    _finite_loss_and_grad(run, index, torch.zeros_like(observed))
    # extreme logits: saturated sigmoids must not give inf or NaN
    logits = torch.tensor([[-60.0, 60.0, 0.0, 30.0]] * BATCH, requires_grad=True)
    loss = run.method.loss(logits, run.observed[index], index=index, model=run.model)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all(), f"{cls.key}: not finite at |g| = 60"


def check_epoch_cycle(cls: type[Method]) -> None:
    run = fake_run(cls)
    losses = train_cycle(run)
    assert len(losses) == EPOCHS * -(-NUM_TRAIN // BATCH)
    # labels the loss will see next are still valid observed labels
    labels = run.method.batch_labels(run.observed, torch.arange(NUM_TRAIN))
    run.method.check_inputs(torch.zeros(NUM_TRAIN, NUM_CLASSES), labels)


def check_state_round_trip(cls: type[Method]) -> None:
    run = fake_run(cls, seed=1)
    train_cycle(run)
    buf = io.BytesIO()
    torch.save(run.method.state_dict(), buf)
    # a fresh run as the harness builds it on resume (setup with another RNG state), then restore
    fresh = fake_run(cls, seed=2)
    fresh.model.load_state_dict(run.model.state_dict())
    fresh.method.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    before, after = run.method.state_dict(), fresh.method.state_dict()
    assert before.keys() == after.keys()
    for name in before:
        a, b = before[name], after[name]
        same = torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b  # extra state: the schedule
        assert same, f"{cls.key}: {name} differs after load_state_dict"
    index = torch.arange(NUM_TRAIN)
    assert torch.equal(batch_loss(run, index), batch_loss(fresh, index)), f"{cls.key}: loss differs after restore"


def check_first_epoch_loss(cls: type[Method]) -> None:
    """Before any ``on_epoch_start`` a method's loss is the first epoch's."""
    run = fake_run(cls)
    index = torch.arange(BATCH)
    with torch.no_grad():
        before = batch_loss(run, index)
        run.method.on_epoch_start(1, run.ctx)
        assert torch.equal(batch_loss(run, index), before), f"{cls.key}: the loss changed at on_epoch_start(1)"


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_ranges(cls: type[Method]) -> None:
    """Every numeric hyper-parameter has a declared range that holds each dataset's default; each
    search interval lies inside its valid range (``Range`` checks that when it is built)."""
    known: dict[str, list[Any]] = {}
    for values in cls.defaults.values():
        for name, value in values.items():
            known.setdefault(name, []).append(value)
    assert set(cls.ranges) <= set(known), (
        f"{cls.key}: ranges for unknown hyper-parameters {set(cls.ranges) - set(known)}"
    )
    for name, values in known.items():
        if any(_numeric(v) for v in values):
            assert name in cls.ranges, f"{cls.key}: numeric hyper-parameter '{name}' declares no range"
        for value in values if name in cls.ranges else []:
            assert value is None or cls.ranges[name].contains(value), (
                f"{cls.key}: default {name}={value!r} is outside {cls.ranges[name].describe()}"
            )
    for name, valid in cls.ranges.items():
        if valid.search is not None:
            lo, hi = valid.search
            assert valid.contains(lo) and valid.contains(hi) and lo <= hi, f"{cls.key}: {name}'s search {valid.search}"


def check_logits(cls: type[Method]) -> None:
    """A method's logits have the shape ``[B, C]`` and a gradient reaches the backbone and the head;
    a method that makes its own logits says which protocol it cannot run under."""
    run = fake_run(cls)
    logits = logits_of(run.model, run.method, run.inputs[:BATCH])
    assert logits.shape == (BATCH, NUM_CLASSES) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in run.model.parameters()), f"{cls.key}: a model parameter gets no gradient"
    assert cls.protocol_problem("finetune") is None
    if cls.makes_own_logits():
        assert cls.protocol_problem("linear"), f"{cls.key}: the linear protocol's pooled features cannot serve it"


CHECKS: dict[str, Callable[[type[Method]], None]] = {
    "metadata": check_metadata,
    "scalar_and_gradient": check_scalar_and_gradient,
    "deterministic": check_deterministic,
    "rejects_bad_labels": check_rejects_bad_labels,
    "rejects_bad_shapes": check_rejects_bad_shapes,
    "edge_batches": check_edge_batches,
    "epoch_cycle": check_epoch_cycle,
    "state_round_trip": check_state_round_trip,
    "first_epoch_loss": check_first_epoch_loss,
    "ranges": check_ranges,
    "logits": check_logits,
}


def run_all_checks(cls: type[Method]) -> None:
    for check in CHECKS.values():
        check(cls)
