"""Run and sweep configuration: defaults, validation, identity."""

from __future__ import annotations

import pydantic
import pytest

import methods
from benchmark.core.cli import describe_validation
from benchmark.spec.config import RunConfig, SweepConfig
from methods.base import Range


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
    with pytest.raises(pydantic.ValidationError, match=r"hparams.*'alpah'.*known: \['alpha'\]"):
        RunConfig(dataset="digits", method="em", hparams={"alpah": 0.1})


def test_hyperparameter_of_the_wrong_type_names_the_field() -> None:
    with pytest.raises(pydantic.ValidationError, match="'alpha' must be float"):
        RunConfig(dataset="digits", method="em", hparams={"alpha": "high"})


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("dataset", "imagenet", "valid datasets: digits, voc"),
        ("method", "magic", "valid methods: "),
        ("labels", "2p", "valid regimes: 1p"),
    ],
)
def test_unknown_names_list_the_valid_ones(field: str, value: str, match: str) -> None:
    kwargs = {"dataset": "digits", "method": "an", field: value}
    with pytest.raises((KeyError, ValueError), match=match):
        RunConfig(**kwargs)


def test_run_id_ignores_how_it_runs_but_not_what_it_computes_nor_the_device() -> None:
    base = RunConfig(dataset="digits", method="an")
    assert base.run_id() == RunConfig(dataset="digits", method="an", num_workers=3, data_root="/x").run_id()
    assert base.run_id() == RunConfig(dataset="digits", method="an", epochs=base.resolve().epochs).run_id()
    assert base.run_id() != RunConfig(dataset="digits", method="an", seed=1).run_id()
    assert base.run_id() != RunConfig(dataset="digits", method="an", lr=0.5).run_id()
    # a rerun on another device is another run: it is not left alone behind the failed one
    assert base.run_id() != RunConfig(dataset="digits", method="an", device="cpu").run_id()


@pytest.mark.parametrize(
    "field,value,needles",
    [
        ("lr", float("inf"), ["field 'lr' is inf", "finite"]),
        ("lr", float("nan"), ["field 'lr' is nan", "finite"]),
        ("lr", -1e-3, ["field 'lr' is -0.001", "greater than 0"]),
        ("lr", 0.0, ["field 'lr' is 0.0", "greater than 0"]),
        ("epochs", 0, ["field 'epochs' is 0", "greater than 0"]),
        ("batch_size", -8, ["field 'batch_size' is -8", "greater than 0"]),
        ("patience", -1, ["field 'patience' is -1", "greater than or equal to 0"]),
        ("seed", -1, ["field 'seed' is -1", "greater than or equal to 0"]),
        ("device", "gpu7", ["device 'gpu7'", "auto, cpu, cuda, cuda:N"]),
        ("device", "cuda:x", ["device 'cuda:x'", "auto, cpu, cuda, cuda:N"]),
        ("backbone", "resnet9000", ["backbone 'resnet9000'", "smallcnn", "timm model name"]),
        ("amp", "fp8", ["field 'amp' is 'fp8'", "'off', 'bf16' or 'fp16'"]),
        ("learning_rate", 0.1, ["unknown field 'learning_rate'", "expected one of dataset, method"]),
    ],
)
def test_invalid_values_are_one_line_naming_field_value_and_what_is_valid(
    field: str, value: object, needles: list[str]
) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        RunConfig(dataset="digits", method="an", **{field: value})
    text = describe_validation(info.value, model=RunConfig)
    assert "\n" not in text
    for needle in needles:
        assert needle in text, text


def test_valid_devices_and_backbones_pass() -> None:
    for device in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        RunConfig(dataset="digits", method="an", device=device)  # whether it exists is checked where it runs
    for backbone in ("smallcnn", "smallcnn-wide", "resnet18", "resnet50.tv_in1k"):
        RunConfig(dataset="digits", method="an", backbone=backbone)
    # a wider model is another configuration: never one run id, never one table cell
    wide, small = (RunConfig(dataset="digits", method="an", backbone=b).run_id() for b in ("smallcnn-wide", "smallcnn"))
    assert wide != small


class Scheduled(methods.Method):
    """A stand-in plugin with declared ranges and a schedule rule that needs the run's epochs."""

    key = "scheduled_for_tests"
    defaults = {"*": {"rate": 0.5, "start": 2}}
    ranges = {"rate": Range(0, 1), "start": Range(1, integer=True)}

    @classmethod
    def check_hparams(cls, hp, *, epochs=None) -> None:
        super().check_hparams(hp, epochs=epochs)
        if epochs is not None and hp["start"] > epochs:
            raise methods.HParamError(
                f"method '{cls.key}' hyper-parameter 'start' is {hp['start']}; expected <= epochs ({epochs})"
            )


@pytest.fixture()
def scheduled(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(methods, "_REGISTRY", {**methods.registry(), Scheduled.key: Scheduled})
    return Scheduled.key


@pytest.mark.parametrize(
    "kwargs,needles",
    [
        ({"hparams": {"rate": 2}}, ["'rate' is 2", "[0, 1]"]),
        ({"hparams": {"start": 1.5}}, ["'start' is 1.5", "an integer"]),
        # the resolved epochs: the digits default (7) when not given, else the given ones
        ({"hparams": {"start": 11}}, ["'start' is 11", "epochs (7)"]),
        ({"hparams": {"start": 4}, "epochs": 3}, ["'start' is 4", "epochs (3)"]),
    ],
)
def test_hyperparameter_ranges_are_checked_with_the_resolved_epochs(
    scheduled: str, kwargs: dict, needles: list[str]
) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        RunConfig(dataset="digits", method=scheduled, **kwargs)
    text = describe_validation(info.value, model=RunConfig)
    for needle in [f"method '{scheduled}'", *needles]:
        assert needle in text, text
    RunConfig(dataset="digits", method=scheduled, hparams={"start": 3}, epochs=3)  # on the bound: valid


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
