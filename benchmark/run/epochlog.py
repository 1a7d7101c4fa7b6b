"""Per-epoch logs a person can follow while a run trains: ``Trainer`` observers, called with each
epoch's history entry once it is complete.

- ``EpochCSV``: one row per epoch in ``<record path without .json>.epochs.csv`` beside the run's
  record (record readers only read ``*.json``), flushed after every epoch.
- ``TensorBoardLog``: the same scalars as TensorBoard events, one folder per run under a chosen
  directory (needs the optional ``tensorboard`` package: ``pip install "spml-bench[tensorboard]"``).

A resumed run replays the epochs after its last checkpoint; both logs drop what they hold from the
replayed epoch on before writing it again, so an epoch appears once. A run started afresh (epoch 1)
replaces the log of an earlier run of the same config.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path
from typing import Any

from benchmark.core.atomic import atomic_write_bytes

#: CSV columns, in order: what a person watches (loss, mAPs, time, throughput, learning rate)
COLUMNS = (
    "epoch",
    "train_loss",
    "val_map",
    "test_map",
    "seconds",
    "train_seconds",
    "images_per_second",
    "lr",
    "train_observed_pos_loss",
)
#: TensorBoard tag → history field
SCALARS = {
    "loss/train": "train_loss",
    "loss/train_observed_positives": "train_observed_pos_loss",
    "map/val": "val_map",
    "map/test": "test_map",
    "time/epoch_seconds": "seconds",
    "time/images_per_second": "images_per_second",
    "lr": "lr",
}
TENSORBOARD_HINT = 'pip install "spml-bench[tensorboard]" (or pip install tensorboard)'


class EpochCSV:
    """Appends each epoch's row to a CSV file, header first; see the module docstring for resumes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _rows_before(self, epoch: int) -> list[dict[str, str]] | None:
        """The rows already logged for epochs before ``epoch``, or ``None`` when the file holds
        exactly those under our header (nothing to drop: append) or does not exist."""
        if not self.path.exists():
            return None
        with open(self.path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames
        kept = [r for r in rows if _epoch(r) < epoch]
        if len(kept) == len(rows) and header is not None and tuple(header) == COLUMNS:
            return None
        return kept

    def __call__(self, entry: dict[str, Any]) -> None:
        kept = self._rows_before(int(entry["epoch"]))
        if kept is not None or not self.path.exists():
            # new file, or rows of replayed epochs to drop: rewrite whole (atomically)
            buf = io.StringIO()
            writer = csv.DictWriter(buf, COLUMNS, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(kept or [])
            atomic_write_bytes(self.path, buf.getvalue().encode())
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, COLUMNS, extrasaction="ignore", lineterminator="\n").writerow(
                {k: entry.get(k, "") for k in COLUMNS}
            )
            fh.flush()


def _epoch(row: dict[str, str]) -> int:
    try:
        return int(row.get("epoch") or 0)
    except ValueError:  # a torn last line (the process died mid-write): drop it with the replay
        return 1 << 30


class TensorBoardUnavailableError(RuntimeError):
    """``--tensorboard`` was asked for without the ``tensorboard`` package."""


def tensorboard_installed() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def check_tensorboard() -> None:
    """Raise ``TensorBoardUnavailableError`` with the install command if TensorBoard logging
    cannot work here (checked before a sweep starts, not after its first epoch)."""
    if not tensorboard_installed():
        raise TensorBoardUnavailableError(
            f"--tensorboard needs the tensorboard package, which is not installed: {TENSORBOARD_HINT}"
        )


class TensorBoardLog:
    """Writes each epoch's scalars (``SCALARS``) at step = epoch into ``log_dir``. The writer is
    opened at the first epoch it sees with ``purge_step`` = that epoch, so events a resumed run
    replays replace the old ones."""

    def __init__(self, log_dir: Path) -> None:
        check_tensorboard()
        self.log_dir = log_dir
        self.writer: Any = None

    def __call__(self, entry: dict[str, Any]) -> None:
        epoch = int(entry["epoch"])
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=epoch)
        for tag, key in SCALARS.items():
            if entry.get(key) is not None:
                self.writer.add_scalar(tag, float(entry[key]), global_step=epoch)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def tensorboard_run_dir(root: Path, record_path: Path) -> Path:
    """One folder per run under ``root``: ``<root>/<dataset>/<record file name without .json>``."""
    return root / record_path.parent.name / record_path.stem
