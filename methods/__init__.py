"""Method registry: every ``Method`` subclass in a module of this folder, plus those that other
installed distributions declare under the entry-point group ``spml_bench.methods``.

>>> import methods
>>> methods.available()                                  # sorted keys
>>> m = methods.build("em", num_classes=20, dataset="voc", alpha=0.3)
>>> loss = m.loss(logits, observed)
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib import metadata
from typing import Any

from methods.base import HParamError, LabelError, Method, Range, Scheduled, TrainContext, TrainInfo

__all__ = [
    "ENTRY_POINT_GROUP",
    "HParamError",
    "LabelError",
    "Method",
    "Range",
    "Scheduled",
    "TrainContext",
    "TrainInfo",
    "UnknownMethodError",
    "available",
    "build",
    "get",
    "registry",
]

ENTRY_POINT_GROUP = "spml_bench.methods"
_SKIP = {"base"}
_REGISTRY: dict[str, type[Method]] | None = None


class UnknownMethodError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0])


def _methods_in(module: Any) -> list[type[Method]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Method) and obj is not Method and obj.key and obj.__module__ == module.__name__
    ]


def _add(reg: dict[str, type[Method]], cls: type[Method], origin: str) -> None:
    if cls.key in reg and reg[cls.key] is not cls:
        raise RuntimeError(
            f"method key '{cls.key}' is defined twice: {reg[cls.key].__module__} and {origin}"
        )
    reg[cls.key] = cls


def _discover() -> dict[str, type[Method]]:
    reg: dict[str, type[Method]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for cls in _methods_in(module):
            _add(reg, cls, module.__name__)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        found = [obj] if inspect.isclass(obj) and issubclass(obj, Method) else _methods_in(obj)
        if not found:
            raise RuntimeError(
                f"entry point '{ep.name} = {ep.value}' in group {ENTRY_POINT_GROUP} names no Method subclass"
            )
        for cls in found:
            _add(reg, cls, f"entry point {ep.value}")
    return reg


def registry(refresh: bool = False) -> dict[str, type[Method]]:
    """Key → class of every discovered method (cached; ``refresh`` rediscovers)."""
    global _REGISTRY
    if _REGISTRY is None or refresh:
        _REGISTRY = _discover()
    return _REGISTRY


def available() -> list[str]:
    """Sorted keys of every registered method."""
    return sorted(registry())


def get(key: str) -> type[Method]:
    reg = registry()
    if key not in reg:
        raise UnknownMethodError(f"unknown method '{key}'; valid methods: {', '.join(sorted(reg))}")
    return reg[key]


def build(key: str, num_classes: int, dataset: str | None = None, **overrides: Any) -> Method:
    """An instance of method ``key`` with ``dataset``'s defaults and keyword overrides."""
    return get(key)(num_classes=num_classes, dataset=dataset, **overrides)
