"""The decoded-image cache: built once, keyed, atomic, shared, and wired into prepare_data."""

from __future__ import annotations

import pickle
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.config import RunConfig
from benchmark.data import Dataset, LabelledImages
from benchmark.data.cache import MappedImages, build_cache, cached_images, store_fingerprint
from benchmark.data.store import ArrayImages, Subset


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
        out = np.stack([
            np.random.RandomState(zlib.crc32(self.paths[int(i)].encode())).randint(0, 256, (3, self.size, self.size))
            for i in index
        ]).astype(np.uint8)
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
    # atomic write: nothing but the cache file is left in its folder
    assert [p.name for p in first.path.parent.iterdir()] == [first.path.name]


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
    from benchmark import rundata

    pool, test = store(n=20, prefix="pool"), store(n=6, prefix="test")
    labels = np.eye(10, dtype=np.uint8)
    fake = Dataset("digits", [str(i) for i in range(10)], LabelledImages(pool, labels[np.arange(20) % 10]),
                   LabelledImages(test, labels[np.arange(6) % 10]))
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
    from benchmark.loop import Normalizer, iterate

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
