"""Hostile and degenerate data through the real command lines (``python -m benchmark.data``,
``run_all.py``), as subprocesses: every user error exits 2 with one line naming the file, split or
class list, no traceback, and nothing written where it was refused.

Categories: dataset identity, degenerate datasets (refused) and what is only warned, hostile image
names and files, hostile archives, the CLI itself (usage errors, Ctrl-C).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data import download as dl
from benchmark.data.prepare import prepare
from tests.clirun import REPO, assert_no_traceback, assert_user_error, default_sigint, run_cli
from tests.fixtures_official import write_coco, write_cub, write_nuswide, write_voc

MAIN = "VOCdevkit/VOC2012/ImageSets/Main"
JPEG = "VOCdevkit/VOC2012/JPEGImages"


def data(*args: object, **kw: object) -> subprocess.CompletedProcess[str]:
    return run_cli("data", [str(a) for a in args], **kw)  # type: ignore[arg-type]


def refused(tmp_path: Path, key: str, *needles: str) -> str:
    """``prepare key`` from tmp_path/raw must exit 2 with one line naming ``needles``, writing nothing."""
    out = tmp_path / "out"
    line = assert_user_error(data("prepare", key, "--root", tmp_path / "raw", "--out", out), *needles)
    assert not out.exists(), f"prepare wrote {list(out.iterdir())} before refusing"
    return line


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# -- 1. dataset identity ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("identity")
    write_coco(base / "raw" / "coco")
    write_voc(base / "raw" / "voc")
    prepare("coco", base / "raw" / "coco", base / "prepared" / "coco")
    prepare("voc", base / "raw" / "voc", base / "prepared" / "voc")
    return base


RUN = [
    "--backbone",
    "resnet18",
    "--no-pretrained",
    "--image-size",
    "16",
    "--epochs",
    "1",
    "--seeds",
    "0",
    "--methods",
    "an",
    "--quiet",
    "--no-leaderboard",
]


def test_coco_prepared_into_voc_is_refused_by_prepare(prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "data" / "voc"
    assert_user_error(
        data("prepare", "coco", "--root", prepared / "raw/coco", "--out", out),
        "named after dataset 'voc'",
        "would hold coco",
        str(tmp_path / "data" / "coco"),
    )
    assert not out.exists()


def test_coco_folder_under_the_voc_key_is_refused_before_any_run(prepared: Path, tmp_path: Path) -> None:
    shutil.copytree(prepared / "prepared/coco", tmp_path / "data" / "voc")  # renamed by hand
    args = ["--datasets", "voc", "--data-root", str(tmp_path / "data"), "--results-dir", str(tmp_path / "r"), *RUN]
    proc = run_cli("run_all", args)
    assert_user_error(proc, "prepared for dataset 'coco' (80 classes), not 'voc'", "prepare voc there with")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda m: m.update(class_names=m["class_names"][:19]), "lacks 'tvmonitor'"),
        (lambda m: m["class_names"].__setitem__(0, "airplane"), "adds 'airplane'"),
        (lambda m: m.update(class_names=[m["class_names"][0]] * 20), "repeats 'aeroplane'"),
        (lambda m: m.pop("dataset"), "expected a 'dataset' field"),
        (lambda m: m.update(image_root=5), "'image_root' must be the path of the image folder, got 5"),
    ],
    ids=["count", "name", "repeated", "unnamed", "image-root"],
)
def test_a_class_list_not_the_keys_is_refused_at_load(
    prepared: Path, tmp_path: Path, edit: object, needle: str
) -> None:
    from benchmark import data as data_pkg

    out = tmp_path / "voc"
    shutil.copytree(prepared / "prepared/voc", out)
    meta = json.loads((out / "dataset.json").read_text())
    edit(meta)  # type: ignore[operator]
    (out / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")) as err:
        data_pkg.load("voc", tmp_path)
    assert str(out / "dataset.json") in str(err.value)


def test_preparing_over_another_prepared_dataset_is_refused(prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    shutil.copytree(prepared / "prepared/coco", out)
    before = tree(out)
    assert_user_error(
        data("prepare", "voc", "--root", prepared / "raw/voc", "--out", out),
        "holds prepared dataset 'coco', not 'voc'",
        "--force",
    )
    assert tree(out) == before


# -- 3. degenerate datasets: refused before anything is written --------------------------------------------
def _voc_phase(root: Path, phase: str, lines: dict[str, str] | None = None, listed: str | None = None) -> None:
    main = root / MAIN
    from benchmark.data.voc import CLASSES

    for cls in CLASSES:
        (main / f"{cls}_{phase}.txt").write_text(lines.get(cls, "") if lines else "")
    (main / f"{phase}.txt").write_text(listed if listed is not None else "")


def test_voc_with_no_test_image(tmp_path: Path) -> None:
    write_voc(tmp_path / "raw")
    _voc_phase(tmp_path / "raw", "val")
    refused(tmp_path, "voc", "the test split (official val", "has no image: no image is listed")


def test_voc_with_all_class_files_empty(tmp_path: Path) -> None:
    write_voc(tmp_path / "raw")
    _voc_phase(tmp_path / "raw", "train")
    _voc_phase(tmp_path / "raw", "val")
    refused(tmp_path, "voc", "the training pool (official train", "has no image")


def test_voc_whose_test_images_have_no_positive(tmp_path: Path) -> None:
    write_voc(tmp_path / "raw")
    from benchmark.data.voc import CLASSES

    ids = ["2008_000007", "2008_000008"]
    _voc_phase(
        tmp_path / "raw", "val", {c: "".join(f"{i} -1\n" for i in ids) for c in CLASSES}, "".join(f"{i}\n" for i in ids)
    )
    refused(tmp_path, "voc", "test split", "2 listed images have no positive label and were dropped")


def test_voc_pool_too_small_for_the_protocol_split(tmp_path: Path) -> None:
    write_voc(tmp_path / "raw")
    from benchmark.data.voc import CLASSES

    ids = ["2008_000001", "2008_000004"]
    lines = {
        c: "".join(f"{i} {1 if (c, i) in {('cat', ids[0]), ('aeroplane', ids[1])} else -1}\n" for i in ids)
        for c in CLASSES
    }
    _voc_phase(tmp_path / "raw", "train", lines, "".join(f"{i}\n" for i in ids))
    refused(tmp_path, "voc", "training pool", "has 2 images", "expected at least 3")


def _coco_edit(root: Path, split: str, edit: object) -> None:
    path = root / f"annotations/instances_{split}2014.json"
    blob = json.loads(path.read_text())
    edit(blob)  # type: ignore[operator]
    path.write_text(json.dumps(blob))


def test_coco_with_no_categories(tmp_path: Path) -> None:
    write_coco(tmp_path / "raw")
    for split in ("train", "val"):
        _coco_edit(tmp_path / "raw", split, lambda b: b.update(categories=[], annotations=[]))
    refused(tmp_path, "coco", "instances_train2014.json (its 'categories')", "the class list is empty")


def test_coco_with_a_duplicated_category_name(tmp_path: Path) -> None:
    write_coco(tmp_path / "raw")
    for split in ("train", "val"):
        _coco_edit(tmp_path / "raw", split, lambda b: b["categories"][5].update(name="person"))
    refused(tmp_path, "coco", "instances_train2014.json (its 'categories')", "repeats 'person'")


def test_coco_with_categories_other_than_the_official(tmp_path: Path) -> None:
    write_coco(tmp_path / "raw")
    for split in ("train", "val"):
        _coco_edit(tmp_path / "raw", split, lambda b: b["categories"][4].update(name="aeroplane"))
    refused(tmp_path, "coco", "not the 80 classes of MS-COCO 2014", "lacks 'airplane'", "adds 'aeroplane'")


def test_nuswide_with_no_concept_in_test(tmp_path: Path) -> None:
    write_nuswide(tmp_path / "raw")
    for path in (tmp_path / "raw/Groundtruth/TrainTestLabels").glob("*_Test.txt"):
        path.write_bytes(b"0\r\n" * 3)
    refused(tmp_path, "nuswide", "the test split (official Test", "3 listed images have no concept and were dropped")


def test_nuswide_with_a_concept_list_not_the_official(tmp_path: Path) -> None:
    write_nuswide(tmp_path / "raw")
    path = tmp_path / "raw/Concepts81.txt"
    path.write_bytes(path.read_bytes().replace(b"zebra\r\n", b""))
    refused(tmp_path, "nuswide", "Concepts81.txt: the class list is not the 81 classes of NUS-WIDE", "lacks 'zebra'")


def _cub_split(root: Path, value: object) -> None:
    path = root / "CUB_200_2011/train_test_split.txt"
    lines = path.read_text().splitlines()
    path.write_text("".join(f"{line.split()[0]} {value if not callable(value) else value(line)}\n" for line in lines))


def test_cub_with_no_training_image(tmp_path: Path) -> None:
    write_cub(tmp_path / "raw")
    _cub_split(tmp_path / "raw", 0)
    refused(tmp_path, "cub", "the training pool (is_training_image 1 in", "has no image: no image is listed")


def test_cub_with_no_test_image(tmp_path: Path) -> None:
    write_cub(tmp_path / "raw")
    _cub_split(tmp_path / "raw", 1)
    refused(tmp_path, "cub", "the test split (is_training_image 0 in", "has no image")


def test_cub_test_split_without_a_single_positive(tmp_path: Path) -> None:
    write_cub(tmp_path / "raw")
    path = tmp_path / "raw/CUB_200_2011/attributes/image_attribute_labels.txt"
    lines = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f[0] in ("1", "5"):  # the two test images
            f[2] = "0"
        lines.append(" ".join(f) + "\n")
    path.write_text("".join(lines))
    refused(tmp_path, "cub", "the test split", "has 2 images but not a single positive label")


def test_cub_with_311_attributes(tmp_path: Path) -> None:
    write_cub(tmp_path / "raw")
    path = tmp_path / "raw/attributes.txt"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:311]))
    labels = tmp_path / "raw/CUB_200_2011/attributes/image_attribute_labels.txt"
    labels.write_text(
        "".join(line for line in labels.read_text().splitlines(keepends=True) if line.split()[1] != "312")
    )
    refused(tmp_path, "cub", "attributes.txt: the class list has 311 classes, but CUB-200-2011 has 312")


def _distributed_voc(root: Path, out: Path, labels: dict[str, np.ndarray]) -> None:
    write_voc(root)
    out.mkdir(parents=True)
    names = {
        "train": ["2008_000001.jpg", "2008_000002.jpg", "2008_000004.jpg", "2008_000006.jpg"],
        "val": ["2008_000007.jpg", "2008_000008.jpg"],
    }
    for split in ("train", "val"):
        np.save(out / f"formatted_{split}_images.npy", np.array(names[split][: len(labels[split])], dtype=str))
        np.save(out / f"formatted_{split}_labels.npy", labels[split])


@pytest.mark.parametrize(
    "case, needle",
    [
        ("not 0/1", "expected labels 0/1, found values [0.0, 1.0, 2.0]"),
        ("empty test", "the test split"),
        ("no positive", "not a single positive label"),
    ],
)
def test_existing_formatted_files_that_are_degenerate(tmp_path: Path, case: str, needle: str) -> None:
    train = np.eye(4, 20)
    val = np.eye(2, 20)
    if case == "not 0/1":
        train[0, 0] = 2
    elif case == "empty test":
        val = val[:0]
    else:
        val = np.zeros_like(val)
    out = tmp_path / "out"
    _distributed_voc(tmp_path / "raw", out, {"train": train, "val": val})
    before = tree(out)
    assert_user_error(data("prepare", "voc", "--root", tmp_path / "raw", "--out", out), needle)
    assert tree(out) == before  # not even the observed labels were added


def test_what_the_protocol_allows_is_warned_not_refused(tmp_path: Path) -> None:
    write_voc(tmp_path / "raw")
    main = tmp_path / "raw" / MAIN
    # 2008_000007 also in the training pool: test images seen in training
    for cls_file in main.glob("*_train.txt"):
        cls_file.write_text(
            cls_file.read_text() + ("2008_000007  1\n" if cls_file.name == "dog_train.txt" else "2008_000007 -1\n")
        )
    (main / "train.txt").write_text((main / "train.txt").read_text() + "2008_000007\n")
    proc = data("prepare", "voc", "--root", tmp_path / "raw", "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert any("classes have no positive in the training pool" in w and "boat" in w for w in warnings), warnings
    assert any("no positive in the test split" in w and "their AP is 0 by PROTOCOL.md" in w for w in warnings)
    assert any(
        "1 images are in both the training pool and the test split (first: 2008_000007.jpg)" in w for w in warnings
    )
    meta = json.loads((tmp_path / "out/dataset.json").read_text())
    assert [f"warning: {w}" for w in meta["warnings"]] == warnings


# -- 7. hostile image names and files -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, reason",
    [("../../etc/x", "'..' component"), ("..\\..\\x", "'..' component"), ("/etc/passwd", "absolute path")],
)
def test_voc_image_ids_escaping_the_image_root(tmp_path: Path, name: str, reason: str) -> None:
    write_voc(tmp_path / "raw")
    main = tmp_path / "raw" / MAIN
    for path in main.glob("*_train.txt"):
        path.write_text(path.read_text().replace("2008_000004", name))
    (main / "train.txt").write_text((main / "train.txt").read_text().replace("2008_000004", name))
    refused(tmp_path, "voc", f"image name '{name}.jpg'" if "\\" not in name else "escapes the image root", reason)


def test_nuswide_list_entry_escaping_the_image_root(tmp_path: Path) -> None:
    write_nuswide(tmp_path / "raw")
    path = tmp_path / "raw/ImageList/TrainImagelist.txt"
    path.write_bytes(path.read_bytes().replace(b"airport\\0003_2143294632.jpg", b"..\\..\\..\\etc\\shadow"))
    refused(tmp_path, "nuswide", "TrainImagelist.txt", "image name '../../../etc/shadow' escapes the image root")


def test_cub_absolute_image_name(tmp_path: Path) -> None:
    write_cub(tmp_path / "raw")
    path = tmp_path / "raw/CUB_200_2011/images.txt"
    path.write_text(path.read_text().replace("002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg", "/etc/hostname"))
    refused(tmp_path, "cub", "image name '/etc/hostname' escapes the image root", "absolute path")


def test_formatted_image_names_escaping_the_root_are_refused_at_load(prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "data" / "voc"
    shutil.copytree(prepared / "prepared/voc", out)
    names = np.load(out / "formatted_val_images.npy").astype("<U64")
    names[1] = "../../../../etc/hostname"
    np.save(out / "formatted_val_images.npy", names)
    proc = run_cli(
        "run_all",
        ["--datasets", "voc", "--data-root", str(tmp_path / "data"), "--results-dir", str(tmp_path / "r"), *RUN],
    )
    assert_user_error(proc, "formatted_val_images.npy: image name '../../../../etc/hostname' escapes the image root")
    assert not (tmp_path / "r").exists()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (no real pixel data)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"", "is empty (0 bytes)"),
        (b"this is not a jpeg\n", "is not an image file PIL can read"),
        (png_claiming(100_000, 100_000), "claims more pixels than the decompression-bomb limit"),
        (png_claiming(10_000, 10_000), "claims 10000x10000 = 100000000 pixels, more than the decompression-bomb limit"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "cannot be opened as an image"),
    ],
    ids=["zero-bytes", "text", "bomb", "between-1x-and-2x", "truncated-header"],
)
def test_bad_image_files_are_found_at_prepare_time(tmp_path: Path, content: bytes, needle: str) -> None:
    write_voc(tmp_path / "raw")
    bad = tmp_path / "raw" / JPEG / "2008_000008.jpg"
    bad.write_bytes(content)
    line = refused(tmp_path, "voc", str(bad), needle)
    assert "--skip-missing-images" in line


@pytest.mark.parametrize("workers", ["0", "2"])
def test_an_image_cut_short_after_its_header_is_named_when_the_cache_is_built(tmp_path: Path, workers: str) -> None:
    write_voc(tmp_path / "raw")
    bad = tmp_path / "raw" / JPEG / "2008_000010.jpg"
    Image.effect_noise((64, 48), 80).convert("RGB").save(bad, format="JPEG", quality=95)
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # the header says 64x48: prepare accepts it
    assert data("prepare", "voc", "--root", tmp_path / "raw", "--out", tmp_path / "data/voc").returncode == 0
    line = assert_user_error(
        data("cache", "voc", "--image-size", "16", "--data-root", tmp_path / "data", "--workers", workers),
        "cannot build the image cache",
        str(bad),
        "truncated",
    )
    assert "Traceback" not in line
    cache = tmp_path / "data/_cache/voc"
    assert not list(cache.glob("*.npy")) and not list(cache.glob(".*.tmp"))


def test_deeply_nested_coco_json(tmp_path: Path) -> None:
    write_coco(tmp_path / "raw")
    (tmp_path / "raw/annotations/instances_train2014.json").write_text("[" * 200_000)
    refused(tmp_path, "coco", "instances_train2014.json: JSON nested too deeply")


def test_deeply_nested_dataset_json(prepared: Path, tmp_path: Path) -> None:
    shutil.copytree(prepared / "prepared/voc", tmp_path / "data" / "voc")
    (tmp_path / "data/voc/dataset.json").write_text("[" * 200_000)
    proc = run_cli(
        "run_all",
        ["--datasets", "voc", "--data-root", str(tmp_path / "data"), "--results-dir", str(tmp_path / "r"), *RUN],
    )
    assert_user_error(proc, "dataset.json: JSON nested too deeply")
    # and prepare over it
    assert_user_error(
        data("prepare", "voc", "--root", prepared / "raw/voc", "--out", tmp_path / "data/voc"), "nested too deeply"
    )


# -- 7. hostile archives -------------------------------------------------------------------------------------
DOWNLOAD = (
    "import json, sys\n"
    "from benchmark.data import download as dl\n"
    "dl.ARCHIVES.update({k: [dl.Archive(**a) for a in v] for k, v in json.loads(sys.argv[1]).items()})\n"
    "from benchmark.data.__main__ import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def download_cli(archives: dict[str, list[dict[str, str]]], *args: str, **kw: object) -> subprocess.Popen[str]:
    """``python -m benchmark.data download`` with the official archive table replaced (no internet here)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0"}
    return subprocess.Popen(
        [sys.executable, "-c", DOWNLOAD, json.dumps(archives), "download", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
        **kw,
    )  # type: ignore[call-overload]


def run_download(
    tmp_path: Path,
    archive: Path,
    marker: str = "VOCdevkit/VOC2012/ImageSets/Main/aeroplane_train.txt",
) -> tuple[subprocess.CompletedProcess[str], Path]:
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    shutil.copy(archive, raw / archive.name)  # already fetched: download verifies it, then unpacks
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    table = {"voc": [{"url": archive.as_uri(), "filename": archive.name, "md5": md5, "marker": marker}]}
    proc = download_cli(table, "voc", "--root", str(raw), "--no-progress")
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), raw


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for info, body in members:
            tf.addfile(info, io.BytesIO(body) if body is not None else None)
    return path


def _file(name: str, body: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    return info, body


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _device(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info, None


HOSTILE = {
    "dotdot": [_file("VOCdevkit/a.txt"), _file("../../outside.txt")],
    "absolute": [_file("VOCdevkit/a.txt"), _file("/tmp/spml-absolute-member.txt")],
    "symlink-out": [_file("VOCdevkit/a.txt"), _link("VOCdevkit/evil", "/etc")],
    "hardlink-out": [_file("VOCdevkit/a.txt"), _link("VOCdevkit/evil", "../../etc/passwd", tarfile.LNKTYPE)],
    "device": [_file("VOCdevkit/a.txt"), _device("VOCdevkit/null")],
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_tar_members_are_refused_and_nothing_is_left(tmp_path: Path, case: str) -> None:
    archive = _tar(tmp_path / "VOCtrainval_11-May-2012.tar", HOSTILE[case])
    proc, raw = run_download(tmp_path, archive)
    line = assert_user_error(proc, str(raw / archive.name), "cannot unpack", "nothing of it was left")
    assert case != "dotdot" or "outside.txt" in line
    assert sorted(p.name for p in raw.iterdir()) == [archive.name]  # no VOCdevkit/a.txt, no staging folder
    assert not (tmp_path / "outside.txt").exists() and not Path("/tmp/spml-absolute-member.txt").exists()


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_members_are_refused_where_tarfile_has_no_data_filter(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python before 3.10.12 / 3.11.4: the same rules, checked by benchmark.data.download itself
    monkeypatch.setattr(dl, "TAR_DATA_FILTER", False)
    archive = _tar(tmp_path / "a.tar", HOSTILE[case])
    with pytest.raises(dl.ArchiveError, match=r"refused|outside"):
        dl.unpack(archive, tmp_path / "raw")
    assert list((tmp_path / "raw").iterdir()) == []
    good = _tar(tmp_path / "good.tar", [_file("VOCdevkit/a.txt", b"hello"), _link("VOCdevkit/b", "a.txt")])
    dl.unpack(good, tmp_path / "raw")
    assert (tmp_path / "raw/VOCdevkit/b").read_text() == "hello"


def test_truncated_archive_leaves_no_partial_tree(tmp_path: Path) -> None:
    write_voc(tmp_path / "official")
    whole = tmp_path / "whole.tar.gz"
    with tarfile.open(whole, "w:gz") as tf:
        tf.add(tmp_path / "official/VOCdevkit", arcname="VOCdevkit")
    cut = tmp_path / "VOCtrainval_11-May-2012.tar"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    proc, raw = run_download(tmp_path, cut)
    assert_user_error(proc, str(raw / cut.name), "cannot unpack", "Delete the archive and run download again")
    assert sorted(p.name for p in raw.iterdir()) == [cut.name]


@pytest.mark.parametrize("content", [b"PK\x03\x04 not really a zip", b"neither zip nor tar", b""])
def test_unreadable_archives_are_one_line(tmp_path: Path, content: bytes) -> None:
    archive = tmp_path / "annotations_trainval2014.zip"
    archive.write_bytes(content)
    proc, raw = run_download(tmp_path, archive, marker="annotations/instances_train2014.json")
    assert_user_error(proc, str(raw / archive.name), "cannot unpack")


def test_zip_member_outside_the_root(tmp_path: Path) -> None:
    archive = tmp_path / "annotations_trainval2014.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("annotations/ok.json", "{}")
        zf.writestr("../../escaped.txt", "x")
    proc, raw = run_download(tmp_path, archive, marker="annotations/instances_train2014.json")
    assert_user_error(proc, "escaped.txt", "would unpack outside")
    assert sorted(p.name for p in raw.iterdir()) == [archive.name] and not (tmp_path / "escaped.txt").exists()


def test_unpack_into_place_merges_and_moves_the_marker_last(tmp_path: Path) -> None:
    (tmp_path / "raw/VOCdevkit/old").mkdir(parents=True)
    (tmp_path / "raw/VOCdevkit/old/keep.txt").write_text("kept")
    archive = _tar(
        tmp_path / "a.tar",
        [_file("VOCdevkit/VOC2012/x.txt", b"1"), _file("VOCdevkit/marker.txt", b"2"), _file("extra.txt", b"3")],
    )
    moved: list[str] = []
    real = os.replace

    def spy(src: object, dst: object) -> None:
        moved.append(Path(str(dst)).name)
        real(src, dst)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dl.os, "replace", spy)
        dl.unpack(archive, tmp_path / "raw", marker="VOCdevkit/marker.txt")
    assert moved[-1] == "marker.txt" and set(moved) == {"VOC2012", "marker.txt", "extra.txt"}
    assert (tmp_path / "raw/VOCdevkit/old/keep.txt").read_text() == "kept"
    assert (tmp_path / "raw/VOCdevkit/VOC2012/x.txt").read_text() == "1"
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["VOCdevkit", "extra.txt"]


def test_a_path_in_the_way_stops_the_unpack_before_anything_moves(tmp_path: Path) -> None:
    (tmp_path / "raw/VOCdevkit").mkdir(parents=True)
    (tmp_path / "raw/VOCdevkit/VOC2012").write_text("a file where the archive has a folder")
    archive = _tar(tmp_path / "a.tar", [_file("extra.txt"), _file("VOCdevkit/VOC2012/x.txt"), _file("VOCdevkit/y.txt")])
    before = tree(tmp_path / "raw")
    with pytest.raises(dl.ArchiveError, match=r"VOCdevkit/VOC2012 exists and is not a folder; nothing of it was left"):
        dl.unpack(archive, tmp_path / "raw")
    assert tree(tmp_path / "raw") == before and sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["VOCdevkit"]


def test_unreachable_download_is_one_line(tmp_path: Path) -> None:
    table = {"voc": [{"url": (tmp_path / "nowhere.tar").as_uri(), "filename": "v.tar", "md5": "0" * 32, "marker": "m"}]}
    proc = download_cli(table, "voc", "--root", str(tmp_path / "raw"), "--no-progress")
    out, err = proc.communicate(timeout=60)
    assert_user_error(
        subprocess.CompletedProcess(proc.args, proc.returncode, out, err),
        "cannot download",
        "nowhere.tar",
        "run download again",
    )
    assert list((tmp_path / "raw").iterdir()) == []


# -- the CLI itself ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, needle",
    [
        (["prepare", "imagenet", "--root", "x"], "invalid choice: 'imagenet'"),
        (["prepare", "voc"], "the following arguments are required: --root"),
        ([], "the following arguments are required: command"),
        (["cache", "voc", "--image-size", "0"], "--image-size must be a number of pixels from 1 to 4096, got 0"),
        (["cache", "voc", "--image-size", "100000"], "from 1 to 4096, got 100000"),
        (["cache", "voc", "--image-size", "big"], "invalid int value: 'big'"),
        (["download", "voc", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    assert_user_error(data(*args, cwd=tmp_path), needle)


def test_missing_raw_root_and_unprepared_cache(tmp_path: Path) -> None:
    assert_user_error(
        data("prepare", "cub", "--root", tmp_path / "nope", "--out", tmp_path / "o"),
        f"raw cub root {tmp_path / 'nope'} does not exist",
        "download cub",
    )
    assert_user_error(
        data("cache", "voc", "--data-root", tmp_path),
        "dataset 'voc' is not prepared",
        "python -m benchmark.data prepare voc",
    )


class _Silent(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the name is the handler's API
        time.sleep(60)  # a server that never answers: the download blocks until Ctrl-C


@pytest.fixture()
def silent_server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Silent)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_ctrl_c_exits_130_with_one_line_and_keeps_nothing_partial(tmp_path: Path, silent_server: str) -> None:
    table = {"voc": [{"url": f"{silent_server}/voc.tar", "filename": "voc.tar", "md5": "0" * 32, "marker": "m"}]}
    proc = download_cli(table, "voc", "--root", str(tmp_path / "raw"), "--no-progress")
    deadline = time.time() + 60
    while not (tmp_path / "raw").exists() and time.time() < deadline:  # the download has started
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()] == [
        "python -m benchmark.data download: interrupted; rerun to resume"
    ]
    assert list((tmp_path / "raw").iterdir()) == []  # no .part file
