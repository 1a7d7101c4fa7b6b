"""The published figures the leaderboard sets beside its own: the paper's main table (Zhou et al.,
ECCV 2022) and later results on the same protocol. Both are copied verbatim, source lines included,
from the project's reference folder into ``leaderboard/published/``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

PUBLISHED_DIR = Path(__file__).resolve().parent / "published"
PAPER_CSV = PUBLISHED_DIR / "paper_results.csv"
LITERATURE_CSV = PUBLISHED_DIR / "literature_results.csv"
#: the benchmark's dataset keys → the column prefixes of the published tables
DATASET_COLUMNS = {"voc": "voc", "coco": "coco", "nuswide": "nus", "cub": "cub"}
#: the paper's own name for each dataset, for table headers of published-only figures
DATASET_NAMES = {"voc": "VOC 2012", "coco": "COCO 2014", "nuswide": "NUS-WIDE", "cub": "CUB-200-2011"}


def source_lines(path: Path) -> list[str]:
    """The ``#`` comment lines at the top of a published table (its source), without the ``#``."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        out.append(line.lstrip("#").strip())
    return out


@lru_cache(maxsize=1)
def paper_table() -> pd.DataFrame:
    """The paper's rows: method, labels, then ``<dataset>_mean`` and ``<dataset>_std`` per dataset key."""
    df = pd.read_csv(PAPER_CSV, comment="#")
    return df.rename(
        columns={f"{col}_{s}": f"{key}_{s}" for key, col in DATASET_COLUMNS.items() for s in ("mean", "std")}
    )


@lru_cache(maxsize=1)
def literature_table() -> pd.DataFrame:
    """Later published rows: method, venue, one column per dataset key, extra_model, source."""
    df = pd.read_csv(LITERATURE_CSV, comment="#")
    return df.rename(columns={col: key for key, col in DATASET_COLUMNS.items()})


def paper_figure(method: str, labels: str, dataset: str) -> tuple[float, float] | None:
    """(mean, std) the paper publishes for this row and dataset, or ``None``."""
    if dataset not in DATASET_COLUMNS:
        return None
    df = paper_table()
    row = df[(df["method"] == method) & (df["labels"] == labels)]
    if row.empty:
        return None
    return float(row[f"{dataset}_mean"].iloc[0]), float(row[f"{dataset}_std"].iloc[0])


def literature_figure(method: str, dataset: str) -> float | None:
    """The single number a later paper publishes for this method (SPML regime) and dataset, or ``None``."""
    if dataset not in DATASET_COLUMNS:
        return None
    df = literature_table()
    row = df[df["method"] == method]
    return None if row.empty else float(row[dataset].iloc[0])
