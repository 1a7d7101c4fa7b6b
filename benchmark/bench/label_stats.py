"""Which label statistics move the methods relative to AN? One statistic at a time, from the
embedded set's statistics to VOC's (docs/predict.md, "What drives the misses"):

    python -m benchmark.bench.label_stats                                # every step, the default methods
    python -m benchmark.bench.label_stats --methods an nls role --seeds 0 --steps digits classes

Steps (cumulative, each a ``benchmark.data.lookalike`` recipe built offline, registered for this
process only): ``digits`` (10 classes, 2.45 positives an image, uniform, independent: the embedded
set's statistics), ``classes`` (20 classes), ``positives`` (VOC's 1.45 an image), ``tail`` (VOC's class
frequencies), ``cooccurrence`` (scene contexts: the ``digits-voc`` recipe itself). ROLE's and EPR's
``k`` is each step's own positives an image (a label statistic, not a knob). Each run trains with the
embedded set's defaults (``--set`` overrides ``RunConfig`` fields) by the sweep machinery, its records
in a temporary folder; printed per step and method: test mAP and its difference from AN's.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import pandas as pd

from benchmark.bench.resolution import check_sweep_args, overrides_of
from benchmark.bench.study import add_study_flags, beside_an, command, cpu_overrides, run_sweep, study_folder
from benchmark.core.cli import OneLineParser, add_methods, add_seeds
from benchmark.data import DATASETS, lookalike, variant_spec
from benchmark.spec.config import SweepConfig
from leaderboard.mdutil import table

PROG = "python -m benchmark.bench.label_stats"
#: one statistic changed at each step, in order; the last is ``digits-voc``
STEPS: dict[str, dict[str, Any]] = {
    "digits": {"styles": ("plain",), "count_probs": (0.1, 0.3, 0.4, 0.2), "weights": (), "contexts": 0},
    "classes": {"count_probs": (0.1, 0.3, 0.4, 0.2), "weights": (), "contexts": 0},
    "positives": {"weights": (), "contexts": 0},
    "tail": {"contexts": 0},
    "cooccurrence": {},
}
METHODS = ["an", "nls", "role", "em", "ll_r", "boostlu_ll_r", "gr_loss"]
WITH_K = {"role", "role_li", "epr"}  # k: the expected positives an image


def parse_args(argv: list[str] | None = None, prog: str = PROG) -> argparse.Namespace:
    p = OneLineParser(prog=prog, description=__doc__)
    add_methods(p, study=METHODS)
    p.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS), help="default: all, in order")
    add_seeds(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a RunConfig field for every run, e.g. epochs=1")  # fmt: skip
    add_study_flags(p)
    return p.parse_args(argv)


def register(step: str) -> tuple[str, float]:
    """Register step ``step`` as dataset ``digits-step-<step>`` in this process; (key, its positives an image)."""
    key, recipe = f"digits-step-{step}", lookalike.variant("digits-voc", **STEPS[step])
    lookalike.RECIPES[key] = recipe
    DATASETS[key] = variant_spec(key, recipe)
    return key, lookalike.label_statistics(lookalike.build(recipe)["pool_labels"])["positives_per_image"]


def run(args: argparse.Namespace) -> dict[str, Any]:
    shared = cpu_overrides(args, **overrides_of(args.overrides))
    rows = []
    with study_folder(args) as tmp:
        for step in args.steps:
            key, k = register(step)
            # ROLE's and EPR's k is the step's positives an image: one sweep each, the rest together
            groups = [([m for m in args.methods if m not in WITH_K], shared)]
            groups += [([m], {**shared, "hparams": {"k": round(k, 2)}}) for m in args.methods if m in WITH_K]
            for i, (keys, overrides) in enumerate(groups):
                sweep = SweepConfig(datasets=[key], methods=keys, seeds=args.seeds, labels=["1p"], overrides=overrides)
                records = run_sweep(sweep, tmp / step / str(i))
                rows += [(step, rec["method"], rec["seed"], rec["test_map"]) for rec in records.raw]
    return {"seeds": args.seeds, "runs": rows}


def summarise(result: dict[str, Any]) -> str:
    runs = pd.DataFrame(result["runs"], columns=["step", "method", "seed", "test_map"])
    means = runs.groupby(["step", "method"], sort=False)["test_map"].mean().unstack("step")
    steps = [s for s in STEPS if s in means.columns]
    body = beside_an(means, steps)
    return (
        f"test mAP (difference from AN), mean over seeds {' '.join(map(str, result['seeds']))}; "
        "each step changes one label statistic of the one before:\n\n" + table(["method", *steps], body)
    )


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    return command(prog, argv, parse_args, check_sweep_args, run, lambda args, result: summarise(result))


if __name__ == "__main__":
    sys.exit(main())
