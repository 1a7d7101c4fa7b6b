"""Every registered method, including one added later, against the plugin contract."""

from __future__ import annotations

import pytest

import methods
from benchmark.data import DATASETS
from tests.method_contract import CHECKS, check_defaults

KEYS = methods.available()


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("key", KEYS)
def test_contract(key: str, check: str) -> None:
    CHECKS[check](methods.get(key))


@pytest.mark.parametrize("key", KEYS)
def test_defaults_name_known_datasets(key: str) -> None:
    check_defaults(methods.get(key), set(DATASETS))


def test_the_papers_table_is_registered() -> None:
    table = {"bce", "an", "dw", "l1r", "l2r", "ls", "nls", "entmin", "focal", "asl", "role", "role_li", "em", "em_apl"}
    assert table <= set(KEYS), f"missing: {sorted(table - set(KEYS))}"
    assert methods.get("bce").regimes == ("full", "1p_all_n")
    assert all(methods.get(k).regimes == ("1p",) for k in table - {"bce"})
