"""A run's training recipe: ``common`` (the protocol, every method alike) or ``authors`` (the
method's declared ``methods.base.Recipe``), as the concrete settings the loop trains with.

On the real datasets the authors' values are taken as declared. The embedded set has no authors'
values, so its equivalents are stated by one rule, each value relative to the common protocol on
COCO (batch 16, lr 1e-5, 10 epochs, the setting every recipe here was published on) and applied to
the embedded set's own common values (batch 64, lr 3e-3, 7 epochs): batch ``64·b/16``, lr
``3e-3·lr/1e-5``, epochs (and a one-cycle's length) ``round(7·e/10)``. The head's multiplier,
weight decay, the stopping rule (in validation-mAP points) and the augmentations are kept as they are.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import methods
from benchmark.spec.defaults import training_defaults
from methods.base import COMMON, Recipe

RECIPES = ("common", "authors")
#: the common protocol the authors' values are read against, and the embedded set scaled to
REFERENCE = {"batch_size": 16, "lr": 1e-5, "epochs": 10}
EMBEDDED = "digits"


def recipe_of(method: str, recipe: str) -> Recipe:
    return methods.get(method).recipe if recipe == "authors" else COMMON


def scaled(rec: Recipe, dataset: str, protocol: str = "finetune") -> dict[str, Any]:
    """``rec``'s batch size, lr, epochs and one-cycle length on ``dataset`` (``None``: the
    dataset's common value), at the embedded scale on the embedded set."""
    out = {"batch_size": rec.batch_size, "lr": rec.lr, "epochs": rec.epochs, "cycle_epochs": rec.cycle_epochs}
    if dataset.partition("-")[0] != EMBEDDED:  # the embedded set and its variants (digits-voc)
        return out
    common = training_defaults(dataset, protocol)
    ratio = {"batch_size": "batch_size", "lr": "lr", "epochs": "epochs", "cycle_epochs": "epochs"}
    for name, ref in ratio.items():
        if out[name] is not None:
            value = common[ref] * out[name] / REFERENCE[ref]
            out[name] = float(f"{value:.6g}") if name == "lr" else max(1, round(value))
    return out


def recipe_defaults(method: str, dataset: str, protocol: str, recipe: str) -> dict[str, Any]:
    """What the recipe changes in a run's training defaults (``RunConfig.resolve``): the authors'
    batch size, lr and epochs where declared, and ``patience`` from a patience stopping rule (0 for
    any other rule, which the loop applies instead)."""
    rec = recipe_of(method, recipe)
    out = {k: v for k, v in scaled(rec, dataset, protocol).items() if v is not None and k != "cycle_epochs"}
    rule = rec.stop_rule()
    if rule is not None:
        out["patience"] = int(rule[1]) if rule[0] == "patience" else 0
    return out


def settings(method: str, dataset: str, protocol: str, recipe: str) -> dict[str, Any]:
    """The recipe's loop settings beside the config's fields, as the record states them."""
    rec = recipe_of(method, recipe)
    out = {k: v for k, v in asdict(rec).items() if k not in ("batch_size", "lr", "epochs")}
    out["cycle_epochs"] = scaled(rec, dataset, protocol)["cycle_epochs"]
    out["augment"], out["sources"] = list(rec.augment), dict(rec.sources)
    return out


__all__ = ["EMBEDDED", "RECIPES", "REFERENCE", "recipe_defaults", "recipe_of", "scaled", "settings"]
