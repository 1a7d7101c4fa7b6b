"""run_all.py: the command researchers type. Bad input exits 2 naming the valid choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import methods
import run_all


def test_list_names_methods_datasets_and_regimes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_all.main(["--list"]) == 0
    out = capsys.readouterr().out
    for key in methods.available():
        assert f"  {key} " in out
    for name in ("digits", "voc", "coco", "nuswide", "cub", "1p_all_n", "full"):
        assert name in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--datasets", "imagenet"], "unknown dataset 'imagenet'; valid datasets: digits, voc, coco, nuswide, cub"),
        (["--methods", "an", "magic"], "unknown method 'magic'; valid methods: "),
        (["--labels", "2p"], "unknown label regime '2p'; valid regimes: 1p, 1p_all_n, full"),
        (["--methods", "em", "--hparam", "alpah=0.1"], "method 'em' has no hyper-parameter 'alpah'"),
        (["--methods", "em", "--hparam", 'alpha="high"'], "'alpha' must be float"),
        (["--epochs", "0"], "epochs"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_all.main([*argv, "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert not list(tmp_path.rglob("*.json"))


def test_missing_dataset_names_the_path_and_the_prepare_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "nodata"
    assert run_all.main(["--datasets", "voc", "--data-root", str(root), "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(root / "voc") in err and "python -m benchmark.data prepare voc" in err


@pytest.mark.slow
def test_sweep_writes_records_and_skips_them_next_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--methods",
        "an",
        "bce",
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--results-dir",
        str(tmp_path / "res"),
        "--quiet",
        "--no-leaderboard",
    ]
    assert run_all.main(argv) == 0
    records = sorted((tmp_path / "res").rglob("*.json"))
    assert len(records) == 3  # an under 1p; bce under full and 1p_all_n
    assert {json.loads(p.read_text())["labels"] for p in records} == {"1p", "full", "1p_all_n"}
    mtimes = [p.stat().st_mtime_ns for p in records]
    capsys.readouterr()
    assert run_all.main(argv) == 0
    assert "0 runs to do (inline); left alone: 3 done" in capsys.readouterr().err
    assert [p.stat().st_mtime_ns for p in records] == mtimes


@pytest.mark.slow
def test_checkpoints_are_removed_unless_kept(tmp_path: Path) -> None:
    base = ["--methods", "an", "--seeds", "0", "--epochs", "1", "--quiet", "--no-leaderboard"]
    assert run_all.main([*base, "--results-dir", str(tmp_path / "a")]) == 0
    assert not list((tmp_path / "a" / "_checkpoints").glob("*.pt"))
    assert run_all.main([*base, "--results-dir", str(tmp_path / "b"), "--keep-checkpoints"]) == 0
    assert len(list((tmp_path / "b" / "_checkpoints").glob("*.pt"))) == 1
