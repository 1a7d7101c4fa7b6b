"""A run's variant: the hyper-parameters whose value differs from its method's default for the
dataset (contract 2). ``{}`` is the default configuration, the method's main row on the
leaderboard; ``{"alpha": 0.3}`` is the row ``em (alpha=0.3)`` beside it.

Values are compared by their JSON text, the form the run id hashes, so that the variant and the
run id always agree: ``1`` and ``1.0`` give two run ids, hence two variants, never two records
of one "default" cell. (The sweep builders write a whole number given for a float default as a
float, so that ``--hparam beta=1`` is not such a variant.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import methods


def default_hparams(method: str, dataset: str | None) -> dict[str, Any]:
    """The method's defaults for ``dataset`` as declared (``"*"``, then the dataset's own, or an embedded
    variant's inherited ones: ``Method.dataset_defaults``), without validation: a default left ``None``
    (computed by the method, e.g. DW's γ) stays ``None``."""
    cls = methods.get(method)
    return {**cls.defaults.get("*", {}), **(cls.dataset_defaults(dataset) if dataset is not None else {})}


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def variant(method: str, dataset: str | None, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``hparams`` (a run's resolved hyper-parameters) that differ from the method's
    defaults for ``dataset``, in sorted order; a name the defaults lack counts as differing."""
    defaults = default_hparams(method, dataset)
    return {k: hparams[k] for k in sorted(hparams) if k not in defaults or not _same(hparams[k], defaults[k])}


def as_default_kind(method: str, dataset: str | None, name: str, value: Any) -> Any:
    """``value`` with a whole number given for a float default written as a float (``1`` → ``1.0``):
    the same number, so the same run as the user means it."""
    reference = default_hparams(method, dataset).get(name)
    if isinstance(reference, float) and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # past float's range: left as given, for the range check to refuse
            return value
    return value


def label(method: str, variant_: Mapping[str, Any]) -> str:
    """``em (alpha=0.3)``; the method's key alone for the default configuration."""
    return f"{method} ({', '.join(f'{k}={v}' for k, v in variant_.items())})" if variant_ else method
