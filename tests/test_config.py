"""Run and sweep configuration: defaults, validation, identity."""

from __future__ import annotations

import pydantic
import pytest

import methods
from benchmark.config import RunConfig, SweepConfig


def test_resolve_fills_protocol_defaults() -> None:
    voc = RunConfig(dataset="voc", method="em").resolve()
    assert (voc.batch_size, voc.lr, voc.epochs, voc.image_size) == (8, 1e-5, 10, 448)
    assert voc.backbone == "resnet50.tv_in1k" and voc.pretrained is True
    assert voc.hparams == {"alpha": 0.2}
    cub = RunConfig(dataset="cub", method="em").resolve()
    assert (cub.batch_size, cub.lr, cub.hparams["alpha"]) == (8, 1e-4, 0.01)
    assert RunConfig(dataset="coco", method="em").resolve().batch_size == 16


def test_explicit_values_win_over_defaults() -> None:
    cfg = RunConfig(dataset="voc", method="em", lr=1e-3, hparams={"alpha": 0.5}).resolve()
    assert cfg.lr == 1e-3 and cfg.hparams == {"alpha": 0.5}


def test_unknown_field_is_an_error() -> None:
    with pytest.raises(pydantic.ValidationError, match="learning_rate"):
        RunConfig(dataset="digits", method="an", learning_rate=0.1)


def test_misspelt_hyperparameter_names_the_field() -> None:
    with pytest.raises(pydantic.ValidationError, match="hparams.*'alpah'.*known: \\['alpha'\\]"):
        RunConfig(dataset="digits", method="em", hparams={"alpah": 0.1})


def test_hyperparameter_of_the_wrong_type_names_the_field() -> None:
    with pytest.raises(pydantic.ValidationError, match="'alpha' must be float"):
        RunConfig(dataset="digits", method="em", hparams={"alpha": "high"})


@pytest.mark.parametrize("field,value,match", [
    ("dataset", "imagenet", "valid datasets: digits, voc"),
    ("method", "magic", "valid methods: "),
    ("labels", "2p", "valid regimes: 1p"),
])
def test_unknown_names_list_the_valid_ones(field: str, value: str, match: str) -> None:
    kwargs = {"dataset": "digits", "method": "an", field: value}
    with pytest.raises((KeyError, ValueError), match=match):
        RunConfig(**kwargs)


def test_run_id_ignores_where_it_runs_but_not_what_it_computes() -> None:
    base = RunConfig(dataset="digits", method="an")
    assert base.run_id() == RunConfig(dataset="digits", method="an", device="cpu", num_workers=3).run_id()
    assert base.run_id() == RunConfig(dataset="digits", method="an", epochs=base.resolve().epochs).run_id()
    assert base.run_id() != RunConfig(dataset="digits", method="an", seed=1).run_id()
    assert base.run_id() != RunConfig(dataset="digits", method="an", lr=0.5).run_id()


def test_default_sweep_is_every_method_in_its_table_regimes() -> None:
    runs = SweepConfig().runs()
    rows = {(r.method, r.labels) for r in runs}
    assert ("bce", "full") in rows and ("bce", "1p_all_n") in rows and ("bce", "1p") not in rows
    assert {m for m, _ in rows} == set(methods.available())
    assert {r.seed for r in runs} == {0, 1, 8}
    assert all(r.dataset == "digits" for r in runs)


def test_linear_probe_uses_the_linear_phase_schedule() -> None:
    voc = RunConfig(dataset="voc", method="an", protocol="linear").resolve()
    assert (voc.lr, voc.batch_size, voc.epochs) == (1e-3, 16, 25)
    assert RunConfig(dataset="cub", method="an", protocol="linear").resolve().batch_size == 8
    assert RunConfig(dataset="voc", method="an", protocol="linear", lr=0.1).resolve().lr == 0.1
