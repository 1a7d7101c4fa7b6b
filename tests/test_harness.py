"""The training loop end to end on the embedded set: records, determinism, failure handling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import methods
from benchmark.data import embedded
from benchmark.data.protocol import split_train_val
from benchmark.records import read_record
from benchmark.run import train
from benchmark.spec.config import RunConfig
from benchmark.sweep.launch import InlineLauncher
from benchmark.sweep.plan import Job

FAST = {"epochs": 2, "patience": 0}

REQUIRED = {
    "method",
    "dataset",
    "labels",
    "seed",
    "status",
    "test_map",
    "best_epoch",
    "per_class_ap",
    "history",
    "config",
    "wall_seconds",
    "images_per_second",
    "provenance",
}


def test_a_run_produces_a_complete_record(data_root: Path) -> None:
    rec = train.run(RunConfig(dataset="digits", method="an", data_root=str(data_root), **FAST))
    assert rec["status"] == "done", rec.get("error")
    assert set(rec) >= REQUIRED
    assert 0 < rec["test_map"] <= 100 and rec["best_epoch"] in (1, 2)
    assert [h["epoch"] for h in rec["history"]] == [1, 2]
    assert {"train_loss", "val_map", "test_map", "seconds"} <= set(rec["history"][0])
    assert rec["test_map"] == rec["history"][rec["best_epoch"] - 1]["test_map"]
    assert len(rec["per_class_ap"]) == 10 and set(rec["thresholds"]) == {"0.5", "0.75"}
    assert rec["config"]["hparams"] == {} and rec["config"]["backbone"] == "smallcnn"
    prov = rec["provenance"]
    assert prov["determinism"]["deterministic_algorithms"] is True and prov["packages"]["torch"]
    json.dumps(rec)  # serialisable as is


def test_same_config_and_seed_give_identical_numbers(data_root: Path) -> None:
    cfg = RunConfig(dataset="digits", method="em", data_root=str(data_root), **FAST)
    a, b = train.run(cfg), train.run(cfg)
    assert a["test_map"] == b["test_map"]
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    c = train.run(cfg.model_copy(update={"seed": 1}))
    assert c["test_map"] != a["test_map"]


def test_early_stopping_stops_at_first_non_improving_epoch(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vals = iter([10.0, 12.0, 11.0, 50.0])
    real = train.average_precision
    num_val = len(split_train_val(embedded.NUM_POOL)[1])
    assert num_val != embedded.NUM_TEST  # the scripted split is told apart by its size

    def scripted(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        ap = real(probs, labels)
        if len(labels) == num_val:  # the validation split of the embedded pool
            return torch.full_like(ap, next(vals) / 100)
        return ap

    monkeypatch.setattr(train, "average_precision", scripted)
    # the paper's rule (patience 1), which the real datasets' defaults keep
    rec = train.run(RunConfig(dataset="digits", method="an", data_root=str(data_root), epochs=4, patience=1))
    assert rec["epochs_run"] == 3 and rec["best_epoch"] == 2
    assert rec["test_map"] == rec["history"][1]["test_map"]


def test_patience_defaults_are_the_papers_rule_except_on_the_embedded_set() -> None:
    assert all(RunConfig(dataset=d, method="an").resolve().patience == 1 for d in ("voc", "coco", "nuswide", "cub"))
    assert RunConfig(dataset="digits", method="an").resolve().patience == 2  # adopted, PROTOCOL.md and docs/embedded.md


class NaNLoss(methods.Method):
    key = "nan_loss_for_tests"
    summary = "returns NaN"

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index: Any = None) -> torch.Tensor:
        return logits * float("nan")


class Unbounded(methods.Method):
    """A loss that can fall without bound, declaring the default bound 0: the same effect as label
    smoothing with ε > 1 (the loss leaves its valid range) reached inside any declared range."""

    key = "unbounded_for_tests"

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index: Any = None) -> torch.Tensor:
        return -logits


class PoisonsHead(methods.Method):
    """AN, but the head's weights become NaN after the first epoch."""

    key = "poisons_head_for_tests"

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index: Any = None) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits, (observed == 1).to(logits.dtype), reduction="none"
        )

    def on_epoch_end(self, epoch: int, ctx: methods.TrainContext) -> None:
        with torch.no_grad():
            ctx.head.weight.fill_(float("nan"))


@pytest.fixture()
def test_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = dict(methods.registry())
    for cls in (NaNLoss, Unbounded, PoisonsHead):
        reg[cls.key] = cls
    monkeypatch.setattr(methods, "_REGISTRY", reg)


def test_nan_loss_is_a_diverged_record_and_the_sweep_goes_on(
    data_root: Path, tmp_path: Path, test_methods: None
) -> None:
    jobs = [
        Job(RunConfig(dataset="digits", method=m, data_root=str(data_root), **FAST), tmp_path)
        for m in (NaNLoss.key, "an")
    ]
    summaries = InlineLauncher().launch(jobs, verbose=False)
    assert [s["status"] for s in summaries] == ["diverged", "done"]
    diverged = json.loads(jobs[0].record_path.read_text())
    assert diverged["status"] == "diverged" and diverged["test_map"] is None and diverged["history"] == []
    div = diverged["divergence"]
    assert div["rule"] == "non_finite_loss" and "loss is nan at epoch 1, batch 0" in div["reason"]
    assert div["evidence"] == {"epoch": 1, "batch": 0, "loss": "nan"}
    assert diverged["config"]["method"] == NaNLoss.key and "error" not in diverged
    assert json.loads(jobs[1].record_path.read_text())["status"] == "done"
    assert not list(tmp_path.rglob("*.pt")), "a diverged run has ended: its checkpoint goes, as a done run's"


def test_constant_predictions_are_diverged_with_the_numbers_kept(data_root: Path) -> None:
    """A learning rate that blows the network up: every image gets the same score per class."""
    rec = train.run(RunConfig(dataset="digits", method="an", lr=1e6, data_root=str(data_root), **FAST))
    assert rec["status"] == "diverged", rec.get("error")
    div = rec["divergence"]
    assert div["rule"] == "constant_predictions"
    ev = div["evidence"]
    assert ev["constant_classes"] >= ev["num_classes"] / 2 and ev["epoch"] == rec["best_epoch"]
    assert ev["split"] in ("val", "test") and ev["examples"][0]["share"] >= 0.99
    # kept for inspection: the chance-level number it would have reported
    assert 0 < rec["test_map"] < 40 and rec["per_class_ap"]


def test_a_loss_below_its_bound_is_diverged_and_stops_training(data_root: Path, test_methods: None) -> None:
    rec = train.run(RunConfig(dataset="digits", method=Unbounded.key, data_root=str(data_root), epochs=3, patience=0))
    assert rec["status"] == "diverged" and rec["epochs_run"] == 1
    div = rec["divergence"]
    assert div["rule"] == "loss_below_bound"
    assert div["evidence"]["train_loss"] < 0 and div["evidence"]["lower_bound"] == 0.0
    assert div["evidence"]["train_loss"] == rec["history"][0]["train_loss"]


def test_non_finite_parameters_are_diverged_and_never_reported(data_root: Path, test_methods: None) -> None:
    rec = train.run(RunConfig(dataset="digits", method=PoisonsHead.key, data_root=str(data_root), epochs=3, patience=0))
    assert rec["status"] == "diverged" and rec["epochs_run"] == 1
    div = rec["divergence"]
    assert div["rule"] == "non_finite_parameters" and div["evidence"]["tensors"] == ["head.weight"]
    # the only epoch had NaN predictions: nothing to report, and no NaN in the record
    assert rec["test_map"] is None and rec["best_epoch"] is None
    assert rec["history"][0]["val_map"] != rec["history"][0]["val_map"]  # NaN in memory, null once written


def test_a_diverged_record_is_strict_json(tmp_path: Path, data_root: Path, test_methods: None) -> None:
    job = Job(RunConfig(dataset="digits", method=PoisonsHead.key, data_root=str(data_root), epochs=1), tmp_path)
    InlineLauncher().launch([job], verbose=False)
    rec = read_record(job.record_path)  # refuses NaN and Infinity, which are not JSON
    assert rec["status"] == "diverged" and rec["history"][0]["val_map"] is None
