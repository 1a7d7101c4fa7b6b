"""The training loop end to end on the embedded set: records, determinism, failure handling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import methods
from benchmark import train
from benchmark.config import RunConfig
from benchmark.launch import InlineLauncher
from benchmark.sweep import Job

FAST = {"epochs": 2, "patience": 0}

REQUIRED = {"method", "dataset", "labels", "seed", "status", "test_map", "best_epoch", "per_class_ap", "history",
            "config", "wall_seconds", "images_per_second", "provenance"}


def test_a_run_produces_a_complete_record(data_root: Path) -> None:
    rec = train.run(RunConfig(dataset="digits", method="an", data_root=str(data_root), **FAST))
    assert rec["status"] == "done", rec.get("error")
    assert REQUIRED <= set(rec)
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

    def scripted(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        ap = real(probs, labels)
        if len(labels) == 500:  # the validation split of the embedded pool
            return torch.full_like(ap, next(vals) / 100)
        return ap

    monkeypatch.setattr(train, "average_precision", scripted)
    rec = train.run(RunConfig(dataset="digits", method="an", data_root=str(data_root), epochs=4))
    assert rec["epochs_run"] == 3 and rec["best_epoch"] == 2
    assert rec["test_map"] == rec["history"][1]["test_map"]


class NaNLoss(methods.Method):
    key = "nan_loss_for_tests"
    summary = "returns NaN"

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index: Any = None) -> torch.Tensor:
        return logits * float("nan")


@pytest.fixture()
def nan_method(monkeypatch: pytest.MonkeyPatch) -> str:
    reg = dict(methods.registry())
    reg[NaNLoss.key] = NaNLoss
    monkeypatch.setattr(methods, "_REGISTRY", reg)
    return NaNLoss.key


def test_nan_loss_is_a_failed_record_and_the_sweep_goes_on(data_root: Path, tmp_path: Path, nan_method: str) -> None:
    jobs = [Job(RunConfig(dataset="digits", method=m, data_root=str(data_root), **FAST), tmp_path)
            for m in (nan_method, "an")]
    summaries = InlineLauncher().launch(jobs, verbose=False)
    assert [s["status"] for s in summaries] == ["failed", "done"]
    failed = json.loads(jobs[0].record_path.read_text())
    assert failed["status"] == "failed" and failed["test_map"] is None
    assert failed["error"]["type"] == "NonFiniteLossError"
    assert "loss is nan at epoch 1, batch 0" in failed["error"]["message"]
    assert "Traceback" in failed["error"]["traceback"] and failed["config"]["method"] == nan_method
    assert json.loads(jobs[1].record_path.read_text())["status"] == "done"
