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
import re
import sys
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
    "broken",
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


#: what a method key may be: it names files, table rows and page anchors (no ``/``, ``|``, newline)
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_BROKEN: list[str] = []


def _key_problem(reg: dict[str, type[Method]], cls: type[Method], origin: str) -> str | None:
    """Why ``cls`` cannot be registered (a malformed or taken key), or ``None``."""
    key = cls.key
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        return f"method key {key!r} of {origin} is not an identifier (expected {KEY_PATTERN.pattern})"
    if key in reg and reg[key] is not cls:
        return f"method key '{key}' is defined twice: {reg[key].__module__} and {origin}"
    return None


def _add(reg: dict[str, type[Method]], cls: type[Method], origin: str) -> None:
    problem = _key_problem(reg, cls, origin)
    if problem is not None:
        raise RuntimeError(problem)
    reg[cls.key] = cls


def _plugin(reg: dict[str, type[Method]], ep: metadata.EntryPoint) -> str | None:
    """Register the methods of third-party entry point ``ep`` — all of them or, when one cannot be,
    none — and return why not (``None``: registered). A plugin never breaks the harness."""
    dist = getattr(ep.dist, "name", None) or "an unknown distribution"
    where = f"plugin {dist}, entry point '{ep.name} = {ep.value}'"
    try:
        obj = ep.load()
    except Exception as exc:  # noqa: BLE001 - any failure of third-party code at import: reported, left out
        return f"{where}: cannot be imported ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); left out"
    if inspect.isclass(obj) and issubclass(obj, Method):
        found = [obj]
    else:
        found = _methods_in(obj) if inspect.ismodule(obj) else []
    if not found:
        return f"{where}: names no Method subclass (in group {ENTRY_POINT_GROUP}); left out"
    staged = dict(reg)
    for cls in found:
        problem = _key_problem(staged, cls, f"entry point {ep.value}")
        if problem is not None:
            return f"{where}: {problem}; left out"
        staged[cls.key] = cls
    reg.update(staged)
    return None


def _discover() -> dict[str, type[Method]]:
    reg: dict[str, type[Method]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for cls in _methods_in(module):
            _add(reg, cls, module.__name__)
    _BROKEN.clear()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        problem = _plugin(reg, ep)
        if problem is not None:
            _BROKEN.append(problem)
            # once per discovery, on stderr: every command still works without the plugin
            print(f"spml-bench: warning: {problem}", file=sys.stderr)
    return reg


def broken() -> list[str]:
    """One line per third-party plugin left out at discovery (why, naming its package and entry point)."""
    registry()
    return list(_BROKEN)


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
