"""Where everything lives in a results folder. Records are ``<dataset>/<method>__<labels>__seed<seed>__
<run id>.json``; what is not a record lives beside them under a name readers skip: a folder starting
with ``_`` (checkpoints, logs, quarantined files, measured throughput, a scratch leaderboard, a study's
records), a file starting with ``.`` (an unfinished atomic write) or not ending in ``.json`` (the epoch
CSV)."""

from __future__ import annotations

from pathlib import Path

RECORD_SUFFIX = ".json"
#: a run's last epoch-end checkpoint, until the run ends
CHECKPOINTS = "_checkpoints"
#: submitit logs and job ledgers, one folder per submission
LOGS = "_logs"
#: a copy of each corrupt record the sweep replaced, in case it holds something worth reading
CORRUPT = "_corrupt"
#: measured throughput (``spml-bench bench cost``), which the dry run prices GPU sweeps by
BENCH = "_bench"
#: the leaderboard of a results folder other than the repository's own
LEADERBOARD = "_leaderboard"
#: the records of a study in the docs that is not the default sweep (a candidate not adopted), each a
#: results folder of its own (``<STUDIES>/<study>/<dataset>/...``): kept, checkable, never in the table
STUDIES = "_studies"


def record_path(results_dir: str | Path, dataset: str, method: str, labels: str, seed: int, run_id: str) -> Path:
    return Path(results_dir) / dataset / f"{method}__{labels}__seed{seed}__{run_id}{RECORD_SUFFIX}"


def checkpoint_path(results_dir: str | Path, run_id: str) -> Path:
    return Path(results_dir) / CHECKPOINTS / f"{run_id}.pt"


def epochs_csv_path(record: Path) -> Path:
    """``results/digits/an__1p__seed0__<id>.json`` → ``results/digits/an__1p__seed0__<id>.epochs.csv``."""
    return record.with_name(record.stem + ".epochs.csv")


def corrupt_copy_path(results_dir: str | Path, record: Path, digest: str) -> Path:
    """Where a corrupt ``record`` is kept before it is replaced: the same relative folder under
    ``_corrupt/``, its name suffixed with a digest of its content (copies of two versions both stay)."""
    return Path(results_dir) / CORRUPT / record.relative_to(results_dir).parent / f"{record.name}.{digest}"
