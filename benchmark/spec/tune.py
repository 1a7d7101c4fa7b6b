"""Equal-budget tuning: ``N`` configurations per method drawn from its declared search space.

Every method gets the same budget: trial 0 is its default configuration for the dataset, trials
1..N-1 are random draws from ``Method.ranges[name].search`` (log-uniform when ``log``, a whole
number when ``integer``), each hyper-parameter without a search interval keeping its default.
Selection (the trial with the best mean clean-validation mAP over the seeds) is the leaderboard's
job, from the records alone.

Reproducible and independent of everything else in the sweep: trial ``i`` of a method is drawn
from a generator seeded by a stable hash of (space seed, method key, i, attempt), so it does not
depend on the order of the methods, on which other methods are tuned, or on ``N`` (a study of 16
trials begins with the 8 of a study of 8 with the same seed, and reuses their runs). A draw that is
not a valid configuration (a cross-field or schedule rule of the method, e.g. EM+APL's
``T_w < T_t <= epochs``) or that repeats an earlier trial is drawn again with the next attempt
number, deterministically.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import methods
from benchmark.spec.variants import as_default_kind, default_hparams
from methods.base import Range

#: the study name written into every record of a tuning study (contract 3)
STUDY_NAME = "tune"
#: draws per trial before giving up on finding a valid, new configuration
MAX_ATTEMPTS = 200
#: significant digits kept of a drawn real value: readable variant labels, and the value's JSON
#: text (hence the run id) does not depend on the last bits of a float computation
SIGNIFICANT_DIGITS = 3

Check = Callable[[dict[str, Any]], None]


class TuningError(ValueError):
    """A search space from which no valid configuration can be drawn."""


@dataclass(frozen=True)
class Trial:
    """One configuration of a study: ``hparams`` are the overrides of the defaults (``{}`` for
    trial 0, the default configuration)."""

    index: int
    hparams: dict[str, Any] = field(default_factory=dict)


def search_space(method: str) -> dict[str, Range]:
    """The hyper-parameters a study varies (those declared with ``search=``), by name."""
    return {name: r for name, r in sorted(methods.get(method).ranges.items()) if r.search is not None}


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from ``parts`` that is the same on every machine and Python version (unlike
    ``hash``, which is salted per process)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def draw_value(r: Range, u: float) -> float | int:
    """The point at quantile ``u`` in [0, 1) of the search interval of ``r``."""
    assert r.search is not None
    lo, hi = r.search
    if r.integer:
        lo_i, hi_i = math.ceil(lo), math.floor(hi)
        if r.log:  # log-uniform over [lo, hi + 1), floored: each whole number gets its log-width
            x = math.exp(math.log(lo_i) + u * (math.log(hi_i + 1) - math.log(lo_i)))
            return min(max(int(math.floor(x)), lo_i), hi_i)
        return min(lo_i + int(u * (hi_i - lo_i + 1)), hi_i)
    x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if r.log else lo + u * (hi - lo)
    # rounded, then clipped into the interval again (rounding may step just outside it)
    return min(max(float(f"{x:.{SIGNIFICANT_DIGITS}g}"), lo), hi)


def draw(method: str, space: Mapping[str, Range], space_seed: int, trial: int, attempt: int) -> dict[str, Any]:
    """The raw draw of ``trial`` (≥ 1) at ``attempt``: one value per hyper-parameter of the space,
    in name order, from its own stably seeded generator. ``random.random()``'s sequence for a
    given integer seed is guaranteed across Python versions."""
    rng = random.Random(stable_seed("spml-bench tune", space_seed, method, trial, attempt))
    return {name: draw_value(r, rng.random()) for name, r in sorted(space.items())}


def default_check(method: str, dataset: str, epochs: int | None) -> Check:
    """Raise ``ValueError``/``TypeError`` for overrides that are not a valid configuration of
    ``method`` on ``dataset``: its declared ranges and rules (``check_hparams`` with the run's
    epochs) and whatever its constructor checks."""
    cls = methods.get(method)

    def check(overrides: dict[str, Any]) -> None:
        hp = cls.resolve_hparams(dataset, overrides)
        cls.check_hparams(hp, epochs=epochs)
        cls(num_classes=2, dataset=dataset, **overrides)

    return check


def draw_trials(
    method: str, dataset: str, trials: int, space_seed: int, *, epochs: int | None = None, check: Check | None = None
) -> list[Trial]:
    """Trials 0..``trials``-1 of ``method`` on ``dataset`` (``epochs``: the runs' resolved epochs,
    for schedule rules). A method with no search space has trial 0 only. ``check`` (default:
    ``default_check``) raises for an invalid configuration; such a draw, or one equal to an earlier
    trial, is drawn again. Raises ``TuningError`` when a space yields no new valid configuration
    in ``MAX_ATTEMPTS`` draws; fewer than ``trials`` trials come back only when the space holds
    fewer distinct configurations (a small integer space)."""
    if trials < 1:
        raise ValueError(f"a study needs at least 1 trial (the default configuration), got {trials}")
    space = search_space(method)
    out = [Trial(0, {})]
    if not space:
        return out
    check = check or default_check(method, dataset, epochs)
    defaults = default_hparams(method, dataset)
    seen = [{k: defaults.get(k) for k in space}]
    for i in range(1, trials):
        invalid: list[str] = []
        repeats = 0
        for attempt in range(MAX_ATTEMPTS):
            hp = {
                k: as_default_kind(method, dataset, k, v)
                for k, v in draw(method, space, space_seed, i, attempt).items()
            }
            if hp in seen:
                repeats += 1
                continue
            try:
                check(dict(hp))
            except (ValueError, TypeError) as exc:
                invalid.append(str(exc))
                continue
            seen.append(hp)
            out.append(Trial(i, hp))
            break
        else:
            if not repeats:
                raise TuningError(
                    f"method '{method}': no valid configuration for trial {i} in {MAX_ATTEMPTS} draws from its search "
                    f"space on {dataset} ({len(invalid)} invalid, e.g. {invalid[0]}); narrow its search= intervals"
                )
            break  # every draw repeats an earlier trial: the space holds no more configurations
    return out


def study_tag(trials: int, trial: int, space_seed: int, select_seeds: list[int]) -> dict[str, Any]:
    """The ``study`` field of a record (contract 3); ``select_seeds``: the model seeds the choice is made on."""
    return {
        "name": STUDY_NAME,
        "trials": trials,
        "trial": trial,
        "space_seed": space_seed,
        "select_seeds": select_seeds,
    }
