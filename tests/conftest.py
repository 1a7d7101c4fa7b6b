from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root shared by the session's tests; the embedded set is built there once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def _spml_data(monkeypatch: pytest.MonkeyPatch, data_root: Path) -> None:
    # tests never read or write the repository's ./data
    monkeypatch.setenv("SPML_DATA", str(data_root))


@pytest.fixture(autouse=True)
def _torch_threads_left_alone(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that changes the process's torch thread count and leaves it changed makes every later
    in-process run differ in its last bits from the same run in a fresh process: it fails here."""
    before = torch.get_num_threads()
    yield
    after = torch.get_num_threads()
    if after != before:
        torch.set_num_threads(before)
        pytest.fail(f"{request.node.nodeid} left torch's thread count at {after} (it was {before})")
