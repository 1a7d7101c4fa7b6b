"""The committed leaderboard must be what the committed records give: regenerate it after adding
or changing records (``python -m leaderboard``) and commit both."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard.build import markdown
from leaderboard.records import read_records

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "results"
README = REPO / "leaderboard" / "README.md"


def test_committed_leaderboard_is_fresh() -> None:
    if read_records(RESULTS).frame.empty:
        pytest.skip(f"no run records under {RESULTS}: nothing to check the committed leaderboard against")
    expected = markdown(RESULTS)
    assert README.read_text(encoding="utf-8") == expected, (
        "leaderboard/README.md is stale against the records under results/: run `python -m leaderboard` and commit it"
    )


def test_committed_figures_exist() -> None:
    """Every figure the committed leaderboard links is committed beside it."""
    import re

    text = README.read_text(encoding="utf-8")
    missing = [link for link in re.findall(r"\]\((figures/[^)]+)\)", text) if not (README.parent / link).is_file()]
    assert not missing, f"linked from leaderboard/README.md but missing: {missing}; run `python -m leaderboard`"
