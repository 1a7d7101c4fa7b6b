"""The training loop's side of the hooks that the methods since the paper need: the epoch reaches
a method before each training phase (also after a resume), a method that makes its own logits is
used for every forward pass of a run, and the other methods keep the model's plain forward.
A run interrupted after an epoch and started again ends with the record of an uninterrupted one,
for each method with an epoch schedule or state of its own (LL-Cp's corrected labels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import methods
from benchmark.records import comparable
from benchmark.run.models import MapLogits, SmallCNN, build_model, forward_for
from benchmark.run.train import Trainer
from benchmark.spec.config import RunConfig
from methods.an import AssumeNegative
from methods.base import Scheduled

# small and quick: large batches, no early stop so that every epoch runs
FAST: dict[str, Any] = {"epochs": 3, "batch_size": 256, "patience": 0}


class EpochSpy(Scheduled, AssumeNegative):
    """AN, recording the order of the epoch hooks and the epoch each loss sees."""

    key = "epoch_spy_for_tests"
    summary = "AN that records its hooks"
    paper = "test"
    events: list[tuple[str, int]] = []

    def on_epoch_start(self, epoch: int, ctx: methods.TrainContext) -> None:
        super().on_epoch_start(epoch, ctx)
        EpochSpy.events.append(("start", epoch))

    def loss(self, logits: torch.Tensor, observed: torch.Tensor, **kw: Any) -> torch.Tensor:
        if not EpochSpy.events or EpochSpy.events[-1] != ("loss", self.epoch):
            EpochSpy.events.append(("loss", self.epoch))
        return super().loss(logits, observed, **kw)

    def on_epoch_end(self, epoch: int, ctx: methods.TrainContext) -> None:
        EpochSpy.events.append(("end", epoch))


class LogitsSpy(AssumeNegative):
    """AN on logits made by the method (the plain pooling + head), counting the images it saw."""

    key = "logits_spy_for_tests"
    summary = "AN that makes its own logits"
    paper = "test"
    images = 0

    def logits_from_map(self, feature_map: torch.Tensor, head: torch.nn.Module) -> torch.Tensor:
        LogitsSpy.images += feature_map.shape[0]
        return super().logits_from_map(feature_map, head)


@pytest.fixture()
def spies(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = dict(methods.registry())
    reg[EpochSpy.key], reg[LogitsSpy.key] = EpochSpy, LogitsSpy
    monkeypatch.setattr(methods, "_REGISTRY", reg)
    EpochSpy.events, LogitsSpy.images = [], 0


class Interrupted(Exception):
    pass


def stop_at(epoch: int):
    """An observer that stops the run while ``epoch`` is evaluated, before its checkpoint: the
    state a kill during that epoch leaves behind."""

    def observe(entry: dict[str, Any]) -> None:
        if entry["epoch"] == epoch:
            raise Interrupted

    return observe


def cfg(data_root: Path, method: str, **kw: Any) -> RunConfig:
    return RunConfig(dataset="digits", method=method, data_root=str(data_root), **{**FAST, **kw})


def test_the_epoch_reaches_the_method_before_each_training_phase_and_after_a_resume(
    data_root: Path, tmp_path: Path, spies: None
) -> None:
    ckpt = tmp_path / "run.pt"
    with pytest.raises(Interrupted):
        Trainer(cfg(data_root, EpochSpy.key), ckpt, observers=[stop_at(3)]).run()
    first = list(EpochSpy.events)
    assert first == [
        ("start", 1),
        ("loss", 1),
        ("end", 1),
        ("start", 2),
        ("loss", 2),
        ("end", 2),
        ("start", 3),
        ("loss", 3),
        ("end", 3),
    ]
    EpochSpy.events = []
    Trainer(cfg(data_root, EpochSpy.key), ckpt).run()  # resumes after epoch 2
    assert EpochSpy.events == [("start", 3), ("loss", 3), ("end", 3)]


def test_a_method_that_makes_its_logits_is_used_for_every_forward_pass(data_root: Path, spies: None) -> None:
    trainer = Trainer(cfg(data_root, LogitsSpy.key, epochs=2))
    rec = trainer.run()
    assert isinstance(trainer.forward, MapLogits)
    n_train, n_val, n_test = rec["num_train"], rec["num_val"], rec["num_test"]
    # per epoch: the training batches, the validation and test predictions; at the end the
    # training-set prediction of the record's analyses
    assert LogitsSpy.images == 2 * (n_train + n_val + n_test) + n_train
    plain = Trainer(cfg(data_root, "an", epochs=2))
    plain.set_up()
    assert plain.forward is plain.model  # every other method: the model's own forward, unchanged


def test_the_feature_map_pools_to_the_features() -> None:
    torch.manual_seed(0)
    for name, shape, x in [
        ("smallcnn", (3, SmallCNN().num_features, 6, 6), torch.randn(3, 1, 24, 24)),
        ("smallcnn-wide", (3, 4 * SmallCNN().num_features, 6, 6), torch.randn(3, 1, 24, 24)),
        ("resnet18", (3, 512, 1, 1), torch.randn(3, 3, 32, 32)),
    ]:
        model = build_model(name, 5, in_chans=x.shape[1]).eval()
        fmap = model.feature_map(x)
        assert tuple(fmap.shape) == shape
        torch.testing.assert_close(fmap.mean(dim=(2, 3)), model.features(x), rtol=1e-5, atol=1e-6)
        assert forward_for(model, None) is model
        boost_one = methods.build("boostlu_ll_r", num_classes=5, alpha=1.0)
        torch.testing.assert_close(forward_for(model, boost_one.logits_from_map)(x), model(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("key", ["ll_cp", "gr_loss", "splc", "boostlu_ll_r"])
def test_a_run_interrupted_after_an_epoch_resumes_to_the_same_record(data_root: Path, tmp_path: Path, key: str) -> None:
    # rates large enough on 3 epochs that LL's selection and SPLC's correction happen at epoch 2
    hparams = {"delta_rel": 5.0} if key in ("ll_cp", "boostlu_ll_r") else {}
    whole = Trainer(cfg(data_root, key, hparams=hparams), tmp_path / "whole.pt")
    reference = whole.run()
    ckpt = tmp_path / "cut.pt"
    cut = Trainer(cfg(data_root, key, hparams=hparams), ckpt, observers=[stop_at(3)])
    with pytest.raises(Interrupted):
        cut.run()
    saved = torch.load(ckpt, weights_only=True)  # plain tensors and JSON: loads without running code
    method_state = saved["tensors"]["method"]
    assert json.loads(saved["progress"])["epoch"] == 2 and method_state["_extra_state"]["epoch"] == 2
    if key == "ll_cp":  # the corrections of epoch 2 are in the checkpoint
        corrected = method_state["labels"].cpu() != cut.data.observed
        assert corrected.any() and (method_state["labels"].cpu()[corrected] == 1).all()
    again = Trainer(cfg(data_root, key, hparams=hparams), ckpt)
    assert comparable(again.run()) == comparable(reference)
    if key == "ll_cp":  # and the corrections made after the resume are those of the whole run
        assert torch.equal(again.method.labels, whole.method.labels)


def test_ll_cp_killed_after_its_corrections_resumes_to_the_same_record(data_root: Path, tmp_path: Path) -> None:
    """The real thing for the method with the most state: ``run_all.py`` is killed (SIGKILL) once
    the checkpoint of epoch 2 — the first epoch that corrects labels — exists; the same command
    resumes from it and ends with the record of an uninterrupted sweep."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import run_all
    from benchmark.records import read_record
    from benchmark.run import train
    from tests.runs_compare import assert_same_run, sweep_jobs

    repo = Path(__file__).resolve().parent.parent
    sweep = [
        "--methods",
        "ll_cp",
        "--hparam",
        "delta_rel=5.0",
        "--seeds",
        "0",
        "--epochs",
        "4",
        "--batch-size",
        "256",
        "--patience",
        "0",
        "--data-root",
        str(data_root),
        "--quiet",
        "--no-leaderboard",
    ]
    reference_dir = tmp_path / "uninterrupted"
    assert run_all.main([*sweep, "--results-dir", str(reference_dir)]) == 0
    (reference,) = [read_record(p) for p in (reference_dir / "digits").glob("*.json")]

    results = tmp_path / "results"
    (job,) = sweep_jobs(sweep, results)
    ckpt = train.checkpoint_path(results, job.cfg)
    proc = subprocess.Popen(
        [sys.executable, "run_all.py", *sweep, "--results-dir", str(results)],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    saved: dict[str, Any] = {}
    try:
        deadline = time.time() + 300
        while proc.poll() is None and time.time() < deadline:
            if ckpt.exists():
                saved = torch.load(ckpt, weights_only=True)
                if json.loads(saved["progress"])["epoch"] >= 2:
                    break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    caught = saved and json.loads(saved["progress"])["epoch"] >= 2 and not job.record_path.exists()
    assert caught, "the run was not caught between epochs 2 and 4"
    labels = torch.load(ckpt, weights_only=True)["tensors"]["method"]["labels"].cpu()
    assert int((labels == 1).sum()) > labels.shape[0]  # 1p: one observed positive per image, plus corrections
    assert run_all.main([*sweep, "--results-dir", str(results)]) == 0
    assert_same_run(read_record(job.record_path), reference)
