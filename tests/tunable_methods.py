"""Test-only methods that declare search spaces (``Method.ranges`` with ``search=``), so that the
tuning machinery is tested whatever the real plugins declare. Register them with the
``tunable`` fixture of the test modules (``monkeypatch.setitem(methods.registry(), ...)``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from methods.base import HParamError, Method, Range, log_1mp, log_p


class _WeakNegatives(Method):
    """y=+1: -log p; y=0: -0.1 log(1-p); y=-1: -log(1-p) — the hyper-parameters below only exist
    to be tuned; the loss does not read them."""

    summary = "test-only method with a declared search space"
    paper = "none (tests)"

    def loss_matrix(self, logits: torch.Tensor, observed: torch.Tensor, *, index=None) -> torch.Tensor:
        pos, neg, unannotated = ((observed == v).to(logits.dtype) for v in (1, -1, 0))
        return -pos * log_p(logits) - (neg + 0.1 * unannotated) * log_1mp(logits)


class Tunable(_WeakNegatives):
    """A log-scale real, a whole number, a string and a real that is not tuned."""

    key = "tunable_t"
    defaults = {"*": {"w": 0.1, "k": 2, "mode": "soft", "fixed": 0.5}, "voc": {"w": 0.2}}
    ranges = {
        "w": Range(low=0, high=1, low_open=True, search=(1e-3, 1.0), log=True),
        "k": Range(low=1, high=10, integer=True, search=(1, 6)),
        "fixed": Range(low=0, high=1),
    }


class Scheduled(_WeakNegatives):
    """A schedule with cross-field rules, like EM+APL's: ``T_w < T_t <= epochs``."""

    key = "scheduled_t"
    defaults = {"*": {"T_w": 2, "T_t": 4, "theta": 0.5}}
    ranges = {
        "T_w": Range(low=1, integer=True, search=(1, 12)),
        "T_t": Range(low=1, integer=True, search=(1, 12)),
        "theta": Range(low=0, high=1, search=(0.0, 1.0)),
    }

    @classmethod
    def check_hparams(cls, hp: Mapping[str, Any], *, epochs: int | None = None) -> None:
        super().check_hparams(hp, epochs=epochs)
        if not hp["T_w"] < hp["T_t"]:
            raise HParamError(f"method '{cls.key}': need T_w < T_t, got T_w={hp['T_w']}, T_t={hp['T_t']}")
        if epochs is not None and hp["T_t"] > epochs:
            raise HParamError(f"method '{cls.key}': need T_t <= epochs ({epochs}), got T_t={hp['T_t']}")


class Tiny(_WeakNegatives):
    """A search space of three configurations."""

    key = "tiny_t"
    defaults = {"*": {"k": 1}}
    ranges = {"k": Range(low=1, integer=True, search=(1, 3))}


TEST_METHODS: tuple[type[Method], ...] = (Tunable, Scheduled, Tiny)
