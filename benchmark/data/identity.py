"""What a dataset key promises: its official class list.

``prepare`` checks that the official files list the key's classes, and the loaders check that a
prepared folder is the dataset its key names (``dataset.json``'s ``dataset`` field and class list),
so a folder prepared from COCO and put where VOC is expected is refused instead of being trained and
ranked against VOC's published figure. Names are compared as sets: a formatter follows the order of
the official file (COCO's columns follow ``categories``), and mAP does not depend on the order.
CUB's 312 attribute names are not listed here; for it the class count is what is checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

from benchmark.data import get_spec
from benchmark.data.classes import COCO_CATEGORIES, NUSWIDE_CONCEPTS
from benchmark.data.official import quote
from benchmark.data.voc import CLASSES as VOC_CLASSES

#: official class names (any order) of the datasets whose list is fixed and public
_OFFICIAL: dict[str, frozenset[str]] = {
    "voc": frozenset(VOC_CLASSES),
    "coco": frozenset(name for _, name in COCO_CATEGORIES),
    "nuswide": frozenset(NUSWIDE_CONCEPTS),
}


def official_class_names(key: str) -> frozenset[str] | None:
    """The official class names of ``key``, or ``None`` where only the count is known (CUB, digits)."""
    return _OFFICIAL.get(key)


class DatasetIdentityError(ValueError):
    """A class list or a prepared folder is not the dataset its key names; the message names both."""


def _first(names: Collection[str]) -> str:
    return quote([repr(x) for x in sorted(names)])


def class_list_problem(key: str, names: Sequence[str]) -> str | None:
    """``None`` when ``names`` is the official class list of ``key``; else what differs, to follow
    the words "the class list"."""
    spec = get_spec(key)
    if not names:
        return f"is empty; {spec.title} has {spec.num_classes} classes"
    repeated = [name for name, n in Counter(names).items() if n > 1]
    if repeated:
        return f"repeats {_first(repeated)} (expected {spec.num_classes} distinct names)"
    official = official_class_names(key)
    if official is not None and set(names) != official:
        extra, missing = set(names) - official, official - set(names)
        parts = [f"it has {len(names)}"] + [
            f"{verb} {_first(s)}" for verb, s in (("lacks", missing), ("adds", extra)) if s
        ]
        return f"is not the {spec.num_classes} classes of {spec.title}: " + ", ".join(parts)
    if len(names) != spec.num_classes:
        return f"has {len(names)} classes, but {spec.title} has {spec.num_classes}"
    return None


def check_class_list(key: str, names: Sequence[str], source: str, hint: str = "") -> None:
    """Raise ``DatasetIdentityError`` naming ``source`` (then ``hint``) unless ``names`` are the key's classes."""
    problem = class_list_problem(key, names)
    if problem is not None:
        raise DatasetIdentityError(f"{source}: the class list {problem}{hint}")


def check_prepared_identity(key: str, meta: dict[str, Any], source: str, prepare_hint: str) -> None:
    """A prepared folder's ``dataset.json`` (``meta``, read from ``source``) must name ``key`` and
    carry its classes; otherwise ``DatasetIdentityError`` naming both and the command that prepares
    ``key`` there."""
    named = meta.get("dataset")
    spec = get_spec(key)
    if named != key:
        shown = f"'{named}'" if isinstance(named, str) else repr(named)
        names = meta.get("class_names")
        count = len(names) if isinstance(names, list) else meta.get("num_classes", "?")
        raise DatasetIdentityError(
            f"{source} was prepared for dataset {shown} ({count} classes), not '{key}' ({spec.title}, "
            f"{spec.num_classes} classes); prepare {key} there with: {prepare_hint}"
        )
    names = meta.get("class_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DatasetIdentityError(f"{source}: 'class_names' must be a list of strings, got {type(names).__name__}")
    check_class_list(key, names, source, f"; prepare {key} there with: {prepare_hint}")


__all__ = [
    "DatasetIdentityError",
    "check_class_list",
    "check_prepared_identity",
    "class_list_problem",
    "official_class_names",
]
