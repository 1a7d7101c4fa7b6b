"""Pretrained weights for offline compute nodes, without the internet: timm's tiny ``test_resnet``
with random weights stands in for a download, placed in a private Hugging Face cache the way the
hub lays it out (or served by a fake ``hf_hub_download``); then the cache detection, the offline
errors, ``--pretrained-file`` and the pre-submit availability check."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import timm
import torch
from safetensors.torch import save_file

import run_all
from benchmark.data import weights
from benchmark.data.prepare import prepare
from benchmark.run.models import build_model
from benchmark.spec.config import RunConfig
from benchmark.sweep.checks import check_available
from tests.clirun import assert_user_error, run_cli
from tests.fixtures_official import write_voc

MODEL = "test_resnet.r160_in1k"
REPO_ID = f"timm/{MODEL}"


def backbone_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return timm.create_model(MODEL, pretrained=False, num_classes=0).state_dict()


def full_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """What the hub holds: the ImageNet model, classifier included."""
    torch.manual_seed(seed)
    return timm.create_model(MODEL, pretrained=False).state_dict()


def put_in_hub_cache(cache: Path, state: dict[str, torch.Tensor], filename: str = "model.safetensors") -> Path:
    """``state`` where ``hf_hub_download`` leaves a download: models--org--name/snapshots/<commit>/."""
    folder = cache / f"models--{REPO_ID.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (folder / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    path = folder / "snapshots" / commit / filename
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


@pytest.fixture()
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private, empty Hugging Face cache, online as far as the settings go."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TIMM_USE_OLD_CACHE", raising=False)
    yield cache


def go_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


# -- where timm finds weights ---------------------------------------------------------------------------
def test_cache_detection_follows_the_hub_layout(hub: Path) -> None:
    assert weights.cached_weights(MODEL) is None
    problem = weights.weights_problem(MODEL)
    assert problem is not None and f"'{MODEL}' are not in the local cache ({hub})" in problem
    assert f"python -m benchmark.data weights {MODEL}" in problem and "--pretrained-file" in problem
    path = put_in_hub_cache(hub, full_state())
    assert weights.cached_weights(MODEL) == path and weights.weights_problem(MODEL) is None


def test_a_pytorch_bin_in_the_cache_counts_too(hub: Path) -> None:
    path = put_in_hub_cache(hub, full_state(), filename="pytorch_model.bin")
    assert weights.cached_weights(MODEL) == path


@pytest.mark.parametrize(
    "name, needle",
    [("no_such_net", "unknown backbone 'no_such_net'"), ("resnet18.no_such_tag", "Invalid pretrained tag")],
)
def test_names_without_weights(name: str, needle: str) -> None:
    with pytest.raises(weights.WeightsError, match=needle):
        weights.cached_weights(name)


def test_offline_with_the_weights_cached_loads_them(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = full_state(seed=3)
    put_in_hub_cache(hub, state)
    go_offline(monkeypatch)
    model = build_model(MODEL, 5, pretrained=True)
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, state[key]), key  # timm read our file, not a download


def test_offline_without_the_weights_is_one_clear_error(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    go_offline(monkeypatch)
    with pytest.raises(weights.WeightsUnavailableError) as err:
        build_model(MODEL, 5, pretrained=True)
    msg = str(err.value)
    assert "HF_HUB_OFFLINE is set" in msg and str(hub) in msg and f"benchmark.data weights {MODEL}" in msg


def test_a_failed_download_is_one_clear_error(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub.errors import LocalEntryNotFoundError

    def no_network(*args: Any, **kwargs: Any) -> str:
        raise LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub ...")

    monkeypatch.setattr(timm.models._hub, "hf_hub_download", no_network)
    with pytest.raises(
        weights.WeightsUnavailableError,
        match=rf"cannot load the pretrained weights of '{MODEL}' "
        r"\(LocalEntryNotFoundError: .*on a machine with internet",
    ):
        build_model(MODEL, 5, pretrained=True)


# -- the weights command ------------------------------------------------------------------------------------
@pytest.fixture()
def fake_download(hub: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``hf_hub_download`` as the hub would answer it, from a random test_resnet: writes the cache."""
    calls: list[str] = []

    def download(repo_id: str, filename: str, revision: str | None = None, cache_dir: Any = None, **_: Any) -> str:
        calls.append(f"{repo_id}/{filename}")
        assert repo_id == REPO_ID
        if filename != "model.safetensors":
            from huggingface_hub.errors import EntryNotFoundError

            raise EntryNotFoundError(filename)
        return str(put_in_hub_cache(hub, full_state(seed=7)))

    monkeypatch.setattr(timm.models._hub, "hf_hub_download", download)
    return calls


def test_weights_fetches_into_the_cache_once(
    fake_download: list[str], hub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmark.data.__main__ import main as data_main

    assert data_main(["weights", MODEL]) == 0
    out = capsys.readouterr().out
    assert "pretrained weights fetched into the local cache" in out and "HF_HUB_OFFLINE=1" in out
    assert fake_download == [f"{REPO_ID}/model.safetensors"]
    assert data_main(["weights", MODEL]) == 0
    assert "already in the local cache" in capsys.readouterr().out
    assert len(fake_download) == 1  # nothing fetched the second time


def test_weights_out_writes_a_file_runs_can_start_from(fake_download: list[str], tmp_path: Path) -> None:
    path = weights.fetch_weights(MODEL, out=tmp_path / "w", log=lambda s: None)
    assert path == tmp_path / "w" / f"{MODEL}.pth"
    model = build_model(MODEL, 3, pretrained=True, pretrained_file=path)
    expected = full_state(seed=7)
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_weights_command_offline_or_unknown_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    assert_user_error(
        run_cli("data", ["weights", MODEL], env=env),
        f"cannot fetch the pretrained weights of '{MODEL}'",
        "HF_HUB_OFFLINE is set",
    )
    from benchmark.data.__main__ import main as data_main

    assert data_main(["weights", "no_such_net"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "python -m benchmark.data weights: error: unknown backbone 'no_such_net': not a timm model name"
    ]


# -- a local checkpoint file -------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["backbone", "full model", "nested", "safetensors", "DataParallel"])
def test_pretrained_file_forms_that_load(tmp_path: Path, form: str) -> None:
    state = full_state(seed=5) if form != "backbone" else backbone_state(seed=5)
    path = tmp_path / ("w.safetensors" if form == "safetensors" else "w.pth")
    if form == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    elif form == "nested":
        torch.save({"epoch": 90, "state_dict": state}, path)
    elif form == "DataParallel":
        torch.save({f"module.{k}": v for k, v in state.items()}, path)
    else:
        torch.save(state, path)
    model = build_model(MODEL, 4, pretrained=True, pretrained_file=path)
    assert torch.equal(model.backbone.state_dict()["conv1.0.weight"], state["conv1.0.weight"])


def test_pretrained_file_of_another_backbone_names_the_file_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18", pretrained=False, num_classes=0).state_dict(), path)
    with pytest.raises(weights.WeightsError) as err:
        build_model(MODEL, 4, pretrained=True, pretrained_file=path)
    msg = str(err.value)
    assert f"pretrained file {path} does not match timm backbone '{MODEL}'" in msg
    assert "backbone keys missing (first: conv1.0.weight" in msg and "unexpected keys (first: conv1.weight" in msg
    shapes = dict(backbone_state())
    shapes["conv1.0.weight"] = torch.zeros(1, 1, 1, 1)
    torch.save(shapes, path)
    with pytest.raises(weights.WeightsError, match=r"1 shapes differ \(first: conv1\.0\.weight \(1, 1, 1, 1\) vs"):
        build_model(MODEL, 4, pretrained=True, pretrained_file=path)


@pytest.mark.parametrize(
    "content, needle",
    [
        (None, "does not exist"),
        (b"not a checkpoint", "cannot be read as a state dict"),
        ("list", "holds no state dict of tensors"),
    ],
)
def test_pretrained_files_that_are_not_checkpoints(tmp_path: Path, content: object, needle: str) -> None:
    path = tmp_path / "w.pth"
    if content == "list":
        torch.save([1, 2, 3], path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(weights.WeightsError, match=needle):
        weights.read_state_dict(path)


def test_config_pretrained_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = RunConfig(dataset="voc", method="an", backbone=MODEL, pretrained_file="w.pth")
    assert cfg.pretrained_file == str(tmp_path / "w.pth")  # absolute: a job elsewhere reads the same file
    assert cfg.run_id() != RunConfig(dataset="voc", method="an", backbone=MODEL).run_id()
    with pytest.raises(ValueError, match="pretrained_file: a pretrained checkpoint needs pretrained=True"):
        RunConfig(dataset="voc", method="an", backbone=MODEL, pretrained=False, pretrained_file="w.pth")
    for local in ("smallcnn", "smallcnn-wide"):
        with pytest.raises(ValueError, match=f"'{local}' builds its pretrained weights locally"):
            RunConfig(dataset="digits", method="an", backbone=local, pretrained_file="w.pth")


def test_file_digest_keys_the_weights_by_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    torch.save(backbone_state(0), a)
    torch.save(backbone_state(1), b)
    assert weights.file_digest(a) != weights.file_digest(b)
    assert weights.file_digest(a) == weights.file_digest(str(a))


# -- availability, and a sweep that uses these ------------------------------------------------------------
@pytest.fixture()
def voc_root(tmp_path: Path) -> Path:
    write_voc(tmp_path / "raw")
    prepare("voc", tmp_path / "raw", tmp_path / "data" / "voc")
    return tmp_path / "data"


def test_check_available(voc_root: Path, hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def ask(**kw: Any) -> list[str]:
        return check_available("voc", kw.pop("root", voc_root), backbone=MODEL, pretrained=True, image_size=16, **kw)

    (problem,) = ask()
    assert f"pretrained weights of '{MODEL}' are not in the local cache" in problem
    put_in_hub_cache(hub, full_state())
    assert ask() == []
    assert check_available("digits", voc_root, backbone="smallcnn", pretrained=True) == []
    (problem,) = ask(root=tmp_path / "elsewhere")
    assert "dataset 'voc' is not prepared" in problem and "python -m benchmark.data prepare voc" in problem
    wrong = tmp_path / "wrong"
    shutil.copytree(voc_root / "voc", wrong / "voc")
    meta = json.loads((wrong / "voc/dataset.json").read_text())
    (wrong / "voc/dataset.json").write_text(json.dumps({**meta, "dataset": "cub"}))
    (problem,) = ask(root=wrong)
    assert "prepared for dataset 'cub'" in problem
    other = tmp_path / "r18.pth"
    torch.save(timm.create_model("resnet18", pretrained=False, num_classes=0).state_dict(), other)
    (problem,) = ask(pretrained_file=str(other))
    assert f"pretrained file {other} does not match" in problem
    assert ask(pretrained_file=str(tmp_path / "missing.pth")) == [
        f"pretrained file {tmp_path / 'missing.pth'} does not exist (expected a state dict of the backbone)"
    ]
    shutil.move(str(tmp_path / "raw"), str(tmp_path / "raw-moved"))  # the images are not on this machine
    (problem,) = ask()
    assert "the images of voc are not on this machine" in problem
    shutil.move(str(tmp_path / "raw-moved"), str(tmp_path / "raw"))
    import benchmark.data.cache as cache_mod

    monkeypatch.setattr(cache_mod.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 5, 5))  # type: ignore[attr-defined]
    (problem,) = ask()
    assert "the decoded-image caches of voc the first job builds needs" in problem and "5 B free" in problem


RUN = [
    "--datasets",
    "voc",
    "--methods",
    "an",
    "--seeds",
    "0",
    "--epochs",
    "1",
    "--image-size",
    "32",
    "--backbone",
    MODEL,
    "--quiet",
    "--no-leaderboard",
]


def test_slurm_submission_without_the_weights_is_refused_before_submitting(voc_root: Path, tmp_path: Path) -> None:
    env = {"HF_HUB_CACHE": str(tmp_path / "empty-hub"), "HF_HUB_OFFLINE": "1"}
    proc = run_cli(
        "run_all",
        [*RUN, "--executor", "slurm", "--data-root", str(voc_root), "--results-dir", str(tmp_path / "r")],
        env=env,
    )
    line = assert_user_error(
        proc,
        "not submitted:",
        f"pretrained weights of '{MODEL}' are not in the local cache",
        f"python -m benchmark.data weights {MODEL}",
    )
    assert line.startswith("run_all.py: error: not submitted:")
    assert not (tmp_path / "r" / "_logs").exists()  # nothing was submitted


def test_each_problem_is_one_line(
    voc_root: Path, hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    go_offline(monkeypatch)
    shutil.move(str(tmp_path / "raw"), str(tmp_path / "raw-elsewhere"))  # the images are not on this machine either
    args = [*RUN, "--executor", "slurm", "--data-root", str(voc_root), "--results-dir", str(tmp_path / "r")]
    assert run_all.main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("run_all.py: error: not submitted: ") for line in lines)
    assert "the images of voc are not on this machine" in lines[0] and "not in the local cache" in lines[1]


def test_runs_offline_from_the_cache_or_a_file(
    voc_root: Path, hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_in_hub_cache(hub, full_state(seed=1))
    go_offline(monkeypatch)
    common = [*RUN, "--data-root", str(voc_root)]
    assert run_all.main([*common, "--results-dir", str(tmp_path / "cache")]) == 0
    path = tmp_path / "w.pth"
    torch.save(full_state(seed=1), path)  # the very weights the cache holds
    assert run_all.main([*common, "--pretrained-file", str(path), "--results-dir", str(tmp_path / "file")]) == 0
    (a,) = [json.loads(p.read_text()) for p in (tmp_path / "cache/voc").glob("*.json")]
    (b,) = [json.loads(p.read_text()) for p in (tmp_path / "file/voc").glob("*.json")]
    assert a["status"] == b["status"] == "done"
    assert b["config"]["pretrained_file"] == str(path) and a["config"]["pretrained_file"] is None
    # the same weights, from the cache or from the file: the same numbers
    assert a["test_map"] == b["test_map"] and a["run_id"] != b["run_id"]


def test_a_run_whose_weights_are_missing_offline_fails_with_the_fix(
    voc_root: Path, hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go_offline(monkeypatch)
    assert run_all.main([*RUN, "--data-root", str(voc_root), "--results-dir", str(tmp_path / "r")]) == 1
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "r/voc").glob("*.json")]
    assert record["status"] == "failed"
    assert "HF_HUB_OFFLINE is set" in record["error"]["message"]
    assert f"python -m benchmark.data weights {MODEL}" in record["error"]["message"]
