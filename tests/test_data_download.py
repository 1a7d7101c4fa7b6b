"""The download path against a local HTTP server on 127.0.0.1 and a file:// URL: never the internet."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import download as dl
from benchmark.data.__main__ import main as data_main
from benchmark.data.prepare import prepare
from tests.fixtures_official import write_voc


def _tar_of(directory: Path, dest: Path) -> str:
    with tarfile.open(dest, "w") as tf:
        tf.add(directory / "VOCdevkit", arcname="VOCdevkit")
    return hashlib.md5(dest.read_bytes()).hexdigest()


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_verify_unpack_then_prepare(
    tmp_path: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = server
    write_voc(tmp_path / "official")
    md5 = _tar_of(tmp_path / "official", served / "VOCtrainval_11-May-2012.tar")
    archive = dl.Archive(
        f"{url}/VOCtrainval_11-May-2012.tar",
        "VOCtrainval_11-May-2012.tar",
        md5,
        marker="VOCdevkit/VOC2012/ImageSets/Main/aeroplane_train.txt",
    )
    monkeypatch.setitem(dl.ARCHIVES, "voc", [archive])
    raw = tmp_path / "raw"
    assert data_main(["download", "voc", "--root", str(raw), "--no-progress"]) == 0
    assert (raw / "VOCdevkit/VOC2012/JPEGImages/2008_000001.jpg").is_file()
    assert (raw / "VOCtrainval_11-May-2012.tar").is_file() and not list(raw.glob("*.part"))
    meta = prepare("voc", raw, tmp_path / "data" / "voc")
    assert meta["counts"]["train_images"] == 5
    # a second call finds it unpacked and fetches nothing
    (served / "VOCtrainval_11-May-2012.tar").unlink()
    lines: list[str] = []
    dl.download("voc", raw, progress=False, out=_Lines(lines))
    assert "already unpacked" in lines[0]


class _Lines(io.StringIO):
    def __init__(self, sink: list[str]) -> None:
        super().__init__()
        self.sink = sink

    def write(self, s: str) -> int:
        if s.strip():
            self.sink.append(s)
        return len(s)


def test_checksum_mismatch_keeps_nothing_and_says_so(
    tmp_path: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = server
    (served / "x.tar").write_bytes(b"corrupted bytes")
    archive = dl.Archive(f"{url}/x.tar", "x.tar", "0" * 32)
    with pytest.raises(dl.ChecksumError) as err:
        dl.fetch(archive, tmp_path / "raw", progress=False)
    assert f"{url}/x.tar" in str(err.value) and "0" * 32 in str(err.value)
    assert hashlib.md5(b"corrupted bytes").hexdigest() in str(err.value)
    assert list((tmp_path / "raw").iterdir()) == []
    monkeypatch.setitem(dl.ARCHIVES, "cub", [archive])
    assert data_main(["download", "cub", "--root", str(tmp_path / "raw"), "--no-progress"]) == 2


def test_file_url_and_zip_archives(tmp_path: Path) -> None:
    buf = tmp_path / "annotations.zip"
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("annotations/instances_train2014.json", "{}")
    md5 = hashlib.md5(buf.read_bytes()).hexdigest()
    table = {"coco": [dl.Archive(buf.as_uri(), "annotations.zip", md5, marker="annotations/instances_train2014.json")]}
    dl.download("coco", tmp_path / "raw", progress=False, archives=table, out=io.StringIO())
    assert (tmp_path / "raw/annotations/instances_train2014.json").read_text() == "{}"


def test_archive_members_outside_the_root_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../outside.txt", "x")
    with pytest.raises(ValueError, match="outside"):
        dl.unpack(path, tmp_path / "raw")
    assert not (tmp_path / "outside.txt").exists()


def test_nuswide_prints_the_manual_steps(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert data_main(["download", "nuswide", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "cannot be downloaded automatically" in out and "Groundtruth/TrainTestLabels" in out
    assert "python -m benchmark.data prepare nuswide" in out


def test_published_checksums_are_recorded_for_every_archive() -> None:
    assert set(dl.ARCHIVES) == {"voc", "coco", "cub"}
    for archives in dl.ARCHIVES.values():
        for a in archives:
            assert re.fullmatch(r"[0-9a-f]{32}", a.md5) and a.url.startswith(("http://", "https://"))
    assert np.unique([a.md5 for v in dl.ARCHIVES.values() for a in v]).size == 5
