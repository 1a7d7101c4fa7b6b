"""Hyper-parameter values outside a method's declared range are refused when they are resolved —
naming the method, the hyper-parameter, the value and the valid range — not in a failed record."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

import methods
from benchmark.spec.config import RunConfig
from methods import HParamError, Range

# issue 10, item 4, and one of each kind of rule for the methods since the paper
OUT_OF_RANGE = [
    ("em_apl", {"theta": 2}, None, "theta", "2", "[0, 1]"),
    ("em_apl", {"T_w": 20}, 10, "T_w", "20", "[1, 9] (T_w < T_t = 10 and T_w <= the run's 10 epochs)"),
    ("em_apl", {"T_w": 20, "T_t": 30}, 10, "T_w", "20", "[1, 10] (T_w < T_t = 30 and T_w <= the run's 10 epochs)"),
    ("em_apl", {"T_w": 6, "T_t": 5}, None, "T_w", "6", "[1, 4] (T_w < T_t = 5)"),
    ("em_apl", {"T_w": 2.5}, None, "T_w", "2.5", "an integer in [1, inf)"),
    ("dw", {"gamma": -1}, None, "gamma", "-1", "[0, 1]"),
    ("nls", {"rate": 1e10}, None, "rate", "10000000000.0", "[-1, 0)"),
    ("nls", {"rate": 0.1}, None, "rate", "0.1", "[-1, 0)"),
    ("ls", {"epsilon": 5}, None, "epsilon", "5", "[0, 0.5]"),
    ("role_li", {"li_lr": 1e9}, None, "li_lr", "1000000000.0", "(0, 1]"),
    ("role", {"k": 0}, None, "k", "0", "(0, inf)"),
    ("em", {"alpha": float("nan")}, None, "alpha", "nan", "[0, inf)"),
    ("asl", {"margin": 1.0}, None, "margin", "1.0", "[0, 1)"),
    ("focal", {"gamma": -0.5}, None, "gamma", "-0.5", "[0, inf)"),
    ("ll_r", {"delta_rel": -1.0}, None, "delta_rel", "-1.0", "[0, 100]"),
    ("hill", {"lamb": 0.5}, None, "lamb", "0.5", "[1, inf)"),
    ("splc", {"tau": 1.5}, None, "tau", "1.5", "[0, 1]"),
    ("gr_loss", {"sigma_T": 0.0}, None, "sigma_T", "0.0", "(0, inf)"),
    ("gr_loss", {"q2": 2.0}, None, "q2", "2.0", "(0, 1]"),
    ("boostlu_ll_r", {"alpha": 0.0}, None, "alpha", "0.0", "(0, inf)"),
    ("epr", {"k": -2.0}, None, "k", "-2.0", "(0, inf)"),
]


@pytest.mark.parametrize("key,overrides,epochs,field,value,expected", OUT_OF_RANGE)
def test_out_of_range_names_method_field_value_and_range(
    key: str, overrides: dict, epochs: int | None, field: str, value: str, expected: str
) -> None:
    cls = methods.get(key)
    with pytest.raises(HParamError) as err:
        cls.resolve_hparams("voc", overrides, epochs=epochs)
    message = str(err.value)
    assert f"method '{key}'" in message and f"'{field}'" in message and value in message, message
    assert expected in message, message
    assert "\n" not in message
    if epochs is None:  # a rule that needs no schedule is also refused when a RunConfig is built
        with pytest.raises(ValidationError, match=re.escape(f"'{field}'")):
            RunConfig(dataset="digits", method=key, hparams=overrides)


def test_the_warm_up_must_fit_in_the_run() -> None:
    cls = methods.get("em_apl")
    assert cls.resolve_hparams("voc", {"T_w": 10, "T_t": 12}, epochs=10)["T_w"] == 10
    with pytest.raises(HParamError, match=r"\[1, 4\] .*the run's 4 epochs"):
        cls.resolve_hparams("voc", {}, epochs=4)  # VOC's T_w = 5
    # without a schedule the rule cannot be checked; setup() checks it against the run's epochs
    apl = methods.build("em_apl", num_classes=3, dataset="voc")
    import torch

    with pytest.raises(HParamError, match=r"'T_w' is 5"):
        apl.setup(methods.TrainInfo(4, 3, torch.zeros(4, 3), num_epochs=3))


def test_integral_floats_are_integers() -> None:
    hp = methods.get("em_apl").resolve_hparams("voc", {"T_w": 3.0, "T_t": 9.0})
    assert (hp["T_w"], hp["T_t"]) == (3, 9) and isinstance(hp["T_w"], int)
    li = methods.build("role_li", num_classes=4, dataset="voc", li_epochs=2.0, li_batch_size=4.0)
    assert (li.li_epochs, li.li_batch_size) == (2, 4)
    same = RunConfig(dataset="digits", method="em_apl", hparams={"T_w": 3})
    assert RunConfig(dataset="digits", method="em_apl", hparams={"T_w": 3.0}).run_id() == same.run_id()


def test_range_semantics() -> None:
    r = Range(0, 1, low_open=True, search=(0.1, 1.0), log=True)
    assert not r.contains(0) and r.contains(1) and not r.contains(True) and not r.contains("0.5")
    assert not r.contains(float("inf")) and r.describe() == "a finite number in (0, 1]"
    assert Range(1, integer=True).describe() == "an integer in [1, inf)"
    with pytest.raises(ValueError, match="not inside the valid range"):
        Range(0, 1, search=(0.5, 2.0))
    with pytest.raises(ValueError, match="log-scale search interval must be positive"):
        Range(0, 1, search=(0.0, 1.0), log=True)


def test_a_method_that_makes_its_own_logits_refuses_the_linear_protocol() -> None:
    with pytest.raises(ValidationError, match=r"boostlu_ll_r.*unpooled feature map.*--protocol finetune"):
        RunConfig(dataset="digits", method="boostlu_ll_r", protocol="linear")
    assert RunConfig(dataset="digits", method="ll_r", protocol="linear").protocol == "linear"
