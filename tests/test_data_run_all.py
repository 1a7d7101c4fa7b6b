"""``run_all.py`` on prepared fixtures: finds them under --data-root / SPML_DATA, names the prepare
command when they are missing, and runs end to end (timm resnet18, random init, 32x32 images)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import run_all
from benchmark.data.prepare import prepare
from tests.fixtures_official import write_voc

ARGS = [
    "--backbone",
    "resnet18",
    "--no-pretrained",
    "--image-size",
    "32",
    "--epochs",
    "1",
    "--seeds",
    "0",
    "--methods",
    "an",
    "--quiet",
    "--no-leaderboard",
]


def test_missing_dataset_names_the_prepare_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPML_DATA", str(tmp_path / "env-root"))
    assert run_all.main(["--datasets", "voc", "--results-dir", str(tmp_path / "r"), *ARGS]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'env-root' / 'voc'}" in err
    assert f"python -m benchmark.data prepare voc --root RAW --out {tmp_path / 'env-root'}/voc" in err
    # --data-root wins over SPML_DATA; a folder without the formatted files is not prepared either
    (tmp_path / "flag-root" / "coco").mkdir(parents=True)
    assert (
        run_all.main(
            [
                "--datasets",
                "coco",
                "--data-root",
                str(tmp_path / "flag-root"),
                "--results-dir",
                str(tmp_path / "r"),
                *ARGS,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "lacks formatted_train_images.npy" in err and "prepare coco --root RAW" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_end_to_end_on_prepared_voc_fixtures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_voc(tmp_path / "raw")
    prepare("voc", tmp_path / "raw", tmp_path / "data" / "voc")
    monkeypatch.setenv("SPML_DATA", str(tmp_path / "data"))  # found through the environment
    results = tmp_path / "results"
    assert run_all.main(["--datasets", "voc", "--results-dir", str(results), *ARGS]) == 0
    records = list((results / "voc").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["dataset"] == "voc" and record["status"] == "done", record.get("error")
    assert record["num_train"] == 4 and record["num_val"] == 1 and record["num_test"] == 2
    assert record["config"]["image_size"] == 32 and record["config"]["backbone"] == "resnet18"
    assert len(record["per_class_ap"]) == 20 and "tvmonitor" in record["per_class_ap"]
