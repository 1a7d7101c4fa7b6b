"""spml-bench harness: configuration, data, models, the training loop, metrics, launching and
run records. Submodules are imported where needed so that ``import benchmark`` stays cheap.

The Python API that runs one configuration and writes its record::

    from benchmark import run_and_record
    from benchmark.spec.config import RunConfig

    record = run_and_record(RunConfig(dataset="digits", method="an", seed=0), "results")
"""

from __future__ import annotations

from typing import Any

from benchmark.core.version import __version__

__all__ = ["__version__", "run_and_record"]


def __getattr__(name: str) -> Any:
    # lazy, so ``import benchmark`` (and ``spml-bench leaderboard``) never imports torch
    if name == "run_and_record":
        from benchmark.sweep.launch import run_and_record  # why: ``import benchmark`` stays torch-free

        return run_and_record
    raise AttributeError(f"module 'benchmark' has no attribute '{name}'")
