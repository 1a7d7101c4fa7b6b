from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root shared by the session's tests; the embedded set is built there once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def _spml_data(monkeypatch: pytest.MonkeyPatch, data_root: Path) -> None:
    # tests never read or write the repository's ./data
    monkeypatch.setenv("SPML_DATA", str(data_root))
