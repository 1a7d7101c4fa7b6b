"""How numbers and tables are written on the markdown page (shared by its sections)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from leaderboard.table import DECIMALS

DASH = "—"
WARN = "⚠"
LIT = "‡"


def table(headers: Sequence[str], rows: list[list[str]]) -> str:
    return tabulate(rows, headers=list(headers), tablefmt="github", disable_numparse=True)


def escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def plural(n: int, word: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{n} {word}{'s' if n != 1 else ''}"


def clip(text: str, width: int = 200) -> str:
    return text[:width] + ("…" if len(text) > width else "")


def runs_aside(failed: int, diverged: int) -> str:
    """``2 failed, 1 diverged``: the runs named beside a count ("" when none)."""
    parts = [f"{failed} failed" if failed else "", f"{diverged} diverged" if diverged else ""]
    return ", ".join(p for p in parts if p)


def fmt_cell(
    mean: float,
    std: float,
    n: int,
    failed: int = 0,
    decimals: int = DECIMALS,
    bold: bool = False,
    diverged: int = 0,
    excluded: str = "",
) -> str:
    """``mean ± std (n=k)``; one run: ``mean (n=1)``, no std; failed and diverged runs are named
    beside the count (they are never in the mean); no done run: only those; a cell left out: says so."""
    if excluded:
        return f"{DASH} (left out {WARN})"
    aside = runs_aside(failed, diverged)
    if n == 0:
        return f"{DASH} ({aside})" if aside else DASH
    count = f"n={n}" + (f", {aside}" if aside else "")
    text = f"{mean:.{decimals}f} ({count})" if n == 1 else f"{mean:.{decimals}f} ± {std:.{decimals}f} ({count})"
    return f"**{text}**" if bold else text


def fmt_ci(low: float, high: float, decimals: int = DECIMALS) -> str:
    if math.isnan(low) or math.isnan(high):
        return DASH
    return f"[{low:.{decimals}f}, {high:.{decimals}f}]"


def fmt_published(mean: float, std: float, source: str) -> str:
    if source == "paper":
        return f"{mean:.2f} ± {std:.2f}"
    if source == "literature":
        return f"{mean:.2f} {LIT}"
    return DASH


def fmt_delta(delta: float, outside: bool) -> str:
    if math.isnan(delta):
        return DASH
    return f"{delta:+.2f}" + (f" {WARN}" if outside else "")


def cell_texts(r: Mapping[str, Any], bold: bool = False) -> tuple[str, str, str, str]:
    """A ``table.main_cells`` row as the main tables write it: the mean (``fmt_cell``), its 95% CI, the
    published figure and Δ; the CI and Δ a dash for a cell left out."""
    excluded = r["excluded"]
    return (
        fmt_cell(r["mean"], r["std"], r["n"], r["failed"], bold=bold, diverged=r["diverged"], excluded=excluded),
        DASH if excluded else fmt_ci(r["ci_low"], r["ci_high"]),
        fmt_published(r["published_mean"], r["published_std"], r["published_source"]),
        DASH if excluded else fmt_delta(r["delta"], bool(r["outside_2sigma"])),
    )
