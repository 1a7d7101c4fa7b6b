"""The decoded-image cache: built once, keyed, atomic, shared, and wired into prepare_data."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.data import Dataset, LabelledImages
from benchmark.data.cache import MappedImages, build_cache, cached_images, store_fingerprint
from benchmark.data.store import ArrayImages, Subset
from benchmark.spec.config import RunConfig


@dataclass
class CountingStore:
    """A file-like store: deterministic pixels per path, counting how many images it decodes."""

    paths: list[str]
    size: int = 8
    decoded: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: np.ndarray) -> torch.Tensor:
        index = np.asarray(index)
        self.decoded.extend(int(i) for i in index)
        out = np.stack(
            [
                np.random.RandomState(zlib.crc32(self.paths[int(i)].encode())).randint(
                    0, 256, (3, self.size, self.size)
                )
                for i in index
            ]
        ).astype(np.uint8)
        return torch.from_numpy(out)


def store(n: int = 10, size: int = 8, prefix: str = "img") -> CountingStore:
    return CountingStore([f"{prefix}{i:03d}.jpg" for i in range(n)], size)


def test_builds_once_and_reads_the_same_pixels(tmp_path: Path) -> None:
    s = store()
    first = cached_images(s, tmp_path, "toy", "pool", num_workers=0)
    assert isinstance(first, MappedImages) and isinstance(first.array, np.memmap)
    assert sorted(s.decoded[1:]) == list(range(10))  # item 0 read for the shape, then all once
    expected = s.load(np.arange(10))
    s.decoded.clear()
    again = cached_images(s, tmp_path, "toy", "pool", num_workers=0)
    assert s.decoded == [0]  # only the shape probe: no rebuild
    assert again.path == first.path
    idx = np.array([7, 2, 2, 9])
    assert torch.equal(again.load(idx), expected[idx])
    # atomic write: nothing but the cache file, its sidecar and the lock the builders share is left in its folder
    assert sorted(p.name for p in first.path.parent.iterdir()) == [
        first.path.name,
        first.path.name + ".json",
        first.path.name + ".lock",
    ]


def test_key_covers_split_size_and_image_list(tmp_path: Path) -> None:
    base = cached_images(store(), tmp_path, "toy", "pool", num_workers=0).path
    assert cached_images(store(), tmp_path, "toy", "test", num_workers=0).path != base
    assert cached_images(store(size=12), tmp_path, "toy", "pool", num_workers=0).path != base
    assert cached_images(store(prefix="other"), tmp_path, "toy", "pool", num_workers=0).path != base
    assert cached_images(store(), tmp_path, "toy2", "pool", num_workers=0).path != base
    assert "3x12x12" in cached_images(store(size=12), tmp_path, "toy", "pool", num_workers=0).path.name


def test_parallel_build_equals_serial(tmp_path: Path) -> None:
    s = store(n=23)
    serial = build_cache(s, tmp_path / "a.npy", num_workers=0, chunk_size=4)
    parallel = build_cache(s, tmp_path / "b.npy", num_workers=2, chunk_size=4)
    assert np.array_equal(np.load(serial), np.load(parallel))


@pytest.mark.parametrize("workers", [0, 2])
def test_building_a_cache_leaves_the_global_rng_alone(tmp_path: Path, workers: int) -> None:
    # a run that builds the cache must train from the same random state as one that finds it built
    torch.manual_seed(0)
    cached_images(store(n=12), tmp_path, "toy", f"pool{workers}", num_workers=workers)
    after_build = torch.rand(4)
    torch.manual_seed(0)
    cached_images(store(n=12), tmp_path, "toy", f"pool{workers}", num_workers=workers)
    after_read = torch.rand(4)
    assert torch.equal(after_build, after_read)


def test_decoded_stores_pass_through_and_fingerprints(tmp_path: Path) -> None:
    arr = ArrayImages(np.zeros((3, 1, 4, 4), dtype=np.uint8))
    assert cached_images(arr, tmp_path, "toy", "pool") is arr
    assert not (tmp_path / "_cache").exists()
    other = ArrayImages(np.ones((3, 1, 4, 4), dtype=np.uint8))
    assert store_fingerprint(arr) != store_fingerprint(other)
    assert store_fingerprint(Subset(arr, np.array([0, 1]))) != store_fingerprint(Subset(arr, np.array([0, 2])))

    class Anonymous:
        def __len__(self) -> int:
            return 1

        def load(self, index: np.ndarray) -> torch.Tensor:
            return torch.zeros(1, 3, 2, 2, dtype=torch.uint8)

    with pytest.raises(ValueError, match="neither a fingerprint"):
        store_fingerprint(Anonymous())


def test_wrong_image_shape_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    class Ragged(CountingStore):
        def load(self, index: np.ndarray) -> torch.Tensor:
            x = super().load(index)
            return x[:, :, :4] if int(np.asarray(index)[0]) > 0 else x

    with pytest.raises(ValueError, match="expected"):
        build_cache(Ragged([f"r{i}" for i in range(6)]), tmp_path / "r.npy", chunk_size=2)
    assert list(tmp_path.iterdir()) == []


def test_mapped_images_pickle_by_path(tmp_path: Path) -> None:
    mapped = cached_images(store(n=50, size=32), tmp_path, "toy", "pool", num_workers=0)
    blob = pickle.dumps(mapped)
    assert len(blob) < 2000  # the path, not the 150 kB of pixels
    back = pickle.loads(blob)
    assert torch.equal(back.load(np.arange(50)), mapped.load(np.arange(50)))


def test_prepare_data_uses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmark.run import rundata

    pool, test = store(n=20, prefix="pool"), store(n=6, prefix="test")
    labels = np.eye(10, dtype=np.uint8)
    fake = Dataset(
        "digits",
        [str(i) for i in range(10)],
        LabelledImages(pool, labels[np.arange(20) % 10]),
        LabelledImages(test, labels[np.arange(6) % 10]),
    )
    monkeypatch.setattr(rundata, "load_dataset", lambda *a, **k: fake)
    cfg = RunConfig(dataset="digits", method="an", data_root=str(tmp_path), num_workers=0)
    data = rundata.prepare_data(cfg)
    assert isinstance(data.train, Subset) and isinstance(data.train.base, MappedImages)
    assert isinstance(data.test, MappedImages)
    assert torch.equal(data.train.load(np.arange(3)), pool.load(data.train.index[:3]))
    assert len(list((tmp_path / "_cache" / "digits").glob("*.npy"))) == 2
    off = rundata.prepare_data(cfg.model_copy(update={"image_cache": False}))
    assert off.test is test
    # the switch does not change a run's identity: the numbers are the same either way
    assert cfg.run_id() == cfg.model_copy(update={"image_cache": False}).run_id()


def test_decoded_stores_are_read_ahead_in_order() -> None:
    from benchmark.run.loop import Normalizer, iterate

    arr = ArrayImages(np.random.RandomState(0).randint(0, 256, (37, 3, 6, 6)).astype(np.uint8))
    sub = Subset(arr, np.arange(5, 35))
    order = np.random.RandomState(1).permutation(30)
    plain = list(iterate(sub, order, 8, num_workers=0))
    ahead = list(iterate(sub, order, 8, num_workers=2))
    assert len(plain) == len(ahead) == 4
    for (x0, i0), (x1, i1) in zip(plain, ahead):
        assert torch.equal(x0, x1) and torch.equal(i0, i1)
    # leaving early stops the reader thread instead of hanging
    for _ in iterate(sub, order, 2, num_workers=1):
        break
    flip = torch.tensor([True, False, True, False, True, False, True, False])
    a = Normalizer((0.5,) * 3, (0.25,) * 3, torch.device("cpu"), channels_last=False)(plain[0][0], flip)
    b = Normalizer((0.5,) * 3, (0.25,) * 3, torch.device("cpu"), channels_last=True)(plain[0][0], flip)
    assert b.is_contiguous(memory_format=torch.channels_last) and torch.equal(a, b)
    assert torch.equal(a[0], (plain[0][0][0].flip(-1).float() - 127.5) / 63.75)


# -- built once across processes: the lock ----------------------------------------------------------------
class Slow:
    """640 images decoded in 10 chunks of 0.15 s each (a slow file system); pixels = row index % 251.
    ``stall``: the first chunk never finishes (a builder that hangs until killed)."""

    def __init__(self, mark: Path, stall: bool = False) -> None:
        self.paths, self.mark, self.stall = [f"img{i:04d}.jpg" for i in range(640)], mark, stall

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: np.ndarray) -> torch.Tensor:
        index = np.asarray(index)
        if len(index) > 1:
            self.mark.write_text(str(os.getpid()))
            time.sleep(3600 if self.stall else 0.15)
        return torch.from_numpy(np.stack([np.full((3, 4, 4), i % 251, np.uint8) for i in index]))


EXPECTED_SUM = sum(int(i % 251) * 48 for i in range(640))


def _child(root: Path, log: Path, go: Path, stall: bool) -> None:
    """One process of a sweep's start: waits for the others, then asks for the (missing) cache."""
    (go.parent / f"ready.{os.getpid()}").touch()
    while not go.exists():
        time.sleep(0.01)

    def note(msg: str) -> None:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {msg.split()[0]}\n")

    images = cached_images(Slow(log.with_suffix(".building"), stall), root, "toy", "pool", num_workers=0, log=note)
    total = int(np.asarray(images.array, dtype=np.int64).sum())
    os._exit(0 if total == EXPECTED_SUM else 3)


def _start(tmp_path: Path, n: int, stall: bool = False) -> list[multiprocessing.process.BaseProcess]:
    # forked: separate processes (own pids, own lock file descriptions) without paying torch's import 8 times
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_child, args=(tmp_path / "root", tmp_path / "log", tmp_path / "go", stall)) for _ in range(n)
    ]
    for p in procs:
        p.start()
    deadline = time.time() + 120
    while len(list(tmp_path.glob("ready.*"))) < n and time.time() < deadline:
        time.sleep(0.02)
    assert len(list(tmp_path.glob("ready.*"))) == n, "children did not start"
    (tmp_path / "go").touch()  # all at once: every one finds the cache missing
    return procs


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_eight_processes_asking_for_a_missing_cache_build_it_once(tmp_path: Path) -> None:
    procs = _start(tmp_path, 8)
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * 8  # every process read the same whole cache
    lines = (tmp_path / "log").read_text().split()
    events = list(zip(lines[::2], lines[1::2]))
    assert len({pid for pid, what in events if what == "building"}) == 1, events  # exactly one build ...
    assert sum(what == "cached" for _, what in events) == 1
    assert any(what == "waiting" for _, what in events), events  # ... while others waited for it
    cache = tmp_path / "root/_cache/toy"
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".lock", ".npy"]  # the cache, its sidecar, the lock


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_lock_left_by_a_killed_builder_is_recovered(tmp_path: Path) -> None:
    from benchmark.data.lock import holder

    (proc,) = _start(tmp_path, 1, stall=True)
    deadline = time.time() + 120
    while not (tmp_path / "log.building").exists() and time.time() < deadline:
        time.sleep(0.05)
    cache = tmp_path / "root/_cache/toy"
    lock = next(cache.glob("*.npy.lock"))
    assert f"pid {proc.pid}" in holder(lock.with_suffix(""))
    assert list(cache.glob(".*.tmp")), "the builder's temporary file"
    proc.kill()  # dies holding the lock, mid-build
    proc.join(timeout=60)
    # a later run takes the lock (the kernel released it), clears the dead builder's file, builds
    messages: list[str] = []
    images = cached_images(
        Slow(tmp_path / "mark"), tmp_path / "root", "toy", "pool", num_workers=0, log=messages.append
    )
    assert len(images) == 640 and int(np.asarray(images.array, dtype=np.int64).sum()) == EXPECTED_SUM
    assert any(m.startswith("building") for m in messages) and not any(m.startswith("waiting") for m in messages)
    assert not list(cache.glob(".*.tmp"))


def test_a_cache_that_would_not_fit_is_refused_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmark.data.cache as cache_mod

    monkeypatch.setattr(cache_mod.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))  # type: ignore[attr-defined]
    with pytest.raises(cache_mod.CacheSpaceError) as err:
        cached_images(store(n=10, size=8), tmp_path, "toy", "pool", num_workers=0)
    msg = str(err.value)
    assert "decoded-image cache of toy pool (10 images at 3x8x8) needs 2.0 kB" in msg and "1.0 kB free" in msg
    assert not list((tmp_path / "_cache/toy").glob("*.npy*")) or [
        p.suffix for p in (tmp_path / "_cache/toy").iterdir()
    ] == [".lock"]


def test_cache_command_builds_ahead_then_runs_find_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmark.data.__main__ import main as data_main
    from benchmark.data.prepare import prepare
    from tests.fixtures_official import write_voc

    write_voc(tmp_path / "raw")
    prepare("voc", tmp_path / "raw", tmp_path / "data" / "voc")
    args = ["cache", "voc", "--image-size", "16", "--data-root", str(tmp_path / "data"), "--workers", "0"]
    assert data_main(args) == 0
    out = capsys.readouterr().out
    assert "voc pool: 5 images at 3x16x16 → 4.0 kB" in out and "voc test: 2 images at 3x16x16" in out
    files = sorted((tmp_path / "data/_cache/voc").glob("*.npy"))
    assert len(files) == 2
    assert data_main(args) == 0
    assert capsys.readouterr().out.count("already cached") == 2
    # a run at that size reads these files and builds nothing
    from benchmark.run import rundata

    cfg = RunConfig(
        dataset="voc",
        method="an",
        data_root=str(tmp_path / "data"),
        image_size=16,
        backbone="resnet18",
        pretrained=False,
    ).resolve()
    messages: list[str] = []
    run = rundata.prepare_data(cfg, log=messages.append)
    assert isinstance(run.test, MappedImages) and run.test.path in files and messages == []
    # not enough room: one line, nothing built
    import benchmark.data.cache as cache_mod

    monkeypatch.setattr(cache_mod.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 10, 10))  # type: ignore[attr-defined]
    assert data_main(["cache", "voc", "--image-size", "32", "--data-root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the decoded-image caches of voc at 32px needs" in err[0] and "10 B free" in err[0]
    assert sorted((tmp_path / "data/_cache/voc").glob("*.npy")) == files
