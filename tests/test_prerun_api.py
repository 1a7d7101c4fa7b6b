"""The Python API refuses up front what the CLI refuses: ``run_and_record`` and the launchers run
the pre-run checks of ``benchmark.sweep.checks``, so a user's mistake raises ``PreRunError`` with
one line before any training, and writes nothing. The CLI's same mistake exits 2 with the same
words (through the same functions)."""

from __future__ import annotations

import errno
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmark import run_and_record
from benchmark.cli.run import main as cli_main
from benchmark.run import train
from benchmark.spec.config import RunConfig
from benchmark.sweep.checks import PreRunError
from benchmark.sweep.executors import LocalLauncher
from benchmark.sweep.launch import InlineLauncher, LaunchOptions
from benchmark.sweep.plan import Job

FAST = {"epochs": 1, "batch_size": 256}


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (``None`` for a folder)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def trained(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("a run started although a pre-run check should have refused it")

    monkeypatch.setattr(train, "run", trained)


def read_only_fs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating any file fails as on a read-only file system (root may write into a chmod-ed folder)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.TemporaryFile", refuse)


# case → (how to set up the mistake: returns the config and the results folder; the CLI flags; words)
Setup = Callable[[Path, pytest.MonkeyPatch], tuple[RunConfig, Path, list[str]]]


def results_is_a_file(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[RunConfig, Path, list[str]]:
    (tmp / "results").write_text("not a folder")
    return RunConfig(dataset="digits", method="an", seed=0, data_root=str(tmp / "data"), **FAST), tmp / "results", []


def results_not_writable(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[RunConfig, Path, list[str]]:
    (tmp / "results").mkdir()
    read_only_fs(mp)
    return RunConfig(dataset="digits", method="an", seed=0, data_root=str(tmp / "data"), **FAST), tmp / "results", []


def data_root_is_a_file(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[RunConfig, Path, list[str]]:
    (tmp / "data").write_text("not a folder")
    return RunConfig(dataset="digits", method="an", seed=0, data_root=str(tmp / "data"), **FAST), tmp / "results", []


def device_absent(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[RunConfig, Path, list[str]]:
    cfg = RunConfig(dataset="digits", method="an", seed=0, data_root=str(tmp / "data"), device="cuda:99", **FAST)
    return cfg, tmp / "results", ["--device", "cuda:99"]


def unprepared_dataset(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[RunConfig, Path, list[str]]:
    (tmp / "data").mkdir()
    cfg = RunConfig(dataset="voc", method="an", seed=0, data_root=str(tmp / "data"), pretrained=False, **FAST)
    return cfg, tmp / "results", ["--datasets", "voc", "--no-pretrained"]


CASES: dict[str, tuple[Setup, tuple[str, ...]]] = {
    "results-dir-file": (results_is_a_file, ("results", "is a file, expected a folder")),
    "results-dir-read-only": (results_not_writable, ("results", "is not writable", "Read-only file system")),
    "data-root-file": (data_root_is_a_file, ("data", "is a file, expected a folder")),
    "device-absent": (device_absent, ("device 'cuda:99'",)),
    "dataset-unprepared": (
        unprepared_dataset,
        ("dataset 'voc' is not prepared", "python -m benchmark.data prepare voc"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_run_and_record_refuses_before_training_and_writes_nothing(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_training: None
) -> None:
    setup, words = CASES[case]
    cfg, results, _ = setup(tmp_path, monkeypatch)
    before = snapshot(tmp_path)
    with pytest.raises(PreRunError) as info:
        run_and_record(cfg, results)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message
    assert snapshot(tmp_path) == before  # no record, no checkpoint, no folder made


@pytest.mark.parametrize("case", list(CASES))
def test_the_cli_refuses_the_same_mistake_with_the_same_words(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_training: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup, words = CASES[case]
    cfg, results, flags = setup(tmp_path, monkeypatch)
    before = snapshot(tmp_path)
    argv = [
        "--methods",
        "an",
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--batch-size",
        "256",
        "--quiet",
        "--no-leaderboard",
        "--results-dir",
        str(results),
        "--data-root",
        str(cfg.data_root),
        *flags,
    ]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(w in err for w in words), err
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed here")
def test_tensorboard_without_the_package_is_refused_up_front(tmp_path: Path, no_training: None) -> None:
    cfg = RunConfig(dataset="digits", method="an", seed=0, data_root=str(tmp_path / "data"), **FAST)
    with pytest.raises(PreRunError, match="tensorboard"):
        run_and_record(cfg, tmp_path / "results", tensorboard_dir=tmp_path / "tb")
    assert list(tmp_path.iterdir()) == []


def test_launchers_run_the_same_checks(tmp_path: Path, no_training: None) -> None:
    (tmp_path / "results").write_text("not a folder")
    cfg = RunConfig(dataset="digits", method="an", seed=0, data_root=str(tmp_path / "data"), **FAST)
    before = snapshot(tmp_path)
    with pytest.raises(PreRunError, match="is a file, expected a folder"):
        InlineLauncher().launch([Job(cfg, tmp_path / "results")], verbose=False)
    with pytest.raises(PreRunError, match="--runs-per-gpu needs --executor local or slurm"):
        InlineLauncher(LaunchOptions(sweep_dir=tmp_path / "logs", runs_per_gpu=2))
    with pytest.raises(PreRunError, match="--runs-per-gpu must be at least 1"):
        LocalLauncher(LaunchOptions(sweep_dir=tmp_path / "logs", runs_per_gpu=0))
    with pytest.raises(PreRunError, match="--mps shares one GPU"):
        LocalLauncher(LaunchOptions(sweep_dir=tmp_path / "logs", runs_per_gpu=1, mps=True))
    assert snapshot(tmp_path) == before
