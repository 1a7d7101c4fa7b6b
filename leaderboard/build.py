"""Build the leaderboard from the run records: ``leaderboard/README.md`` and its figures, the main
table as CSV, JSON or LaTeX, every run as one row, or the seeds-needed table. Reads JSON records with
pandas; never imports torch or the training code.

The functions a command line calls (``write_leaderboard``, ``export``, ``power_text``, and
``leaderboard.summary.sweep_summary``) raise only ``LeaderboardError`` (``RecordError`` being one),
whose text is one line naming the path or cell at fault; a file that is not a run record is not an
error — it is listed on the page and passed to ``warn`` — and the rest is built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchmark.core.atomic import atomic_write_text
from leaderboard import figures as figs
from leaderboard.compare import POWER, POWER_DELTAS, power_frame, variance_frame
from leaderboard.errors import LeaderboardError
from leaderboard.formats import FORMATS
from leaderboard.markdown import render
from leaderboard.mdutil import plural
from leaderboard.page_stats import POWER_METHOD, VARIANCE_RULE, power_table, variance_table
from leaderboard.paths import check_out, check_results_dir, default_out
from leaderboard.records import Records, read_records
from leaderboard.site.build import write_site

__all__ = [
    "DEFAULT_GAIN_METHOD",
    "FIGURES",
    "export",
    "load",
    "markdown",
    "power_text",
    "write_leaderboard",
    "write_text",
]

FIGURES = "figures"  # beside the markdown file; links are relative to it
DEFAULT_GAIN_METHOD = "em"
Warn = Callable[[str], None]


def _write_text(path: Path, text: str) -> None:
    """Atomically: a full disk leaves the old file."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise LeaderboardError(f"cannot write {path}: {exc.strerror or exc}") from None


# -- reading ---------------------------------------------------------------------------------------
def load(
    results_dir: str | Path, warn: Warn | None = None, *, require: bool = True, allow_mixed_code: bool = False
) -> Records:
    """The records of an existing results folder; each invalid file and bad cell passed to ``warn``;
    ``require``: no valid record is an error; ``allow_mixed_code``: pool runs of different code in a
    cell (the page names such cells) instead of leaving the cell out."""
    root = check_results_dir(results_dir)
    records = read_records(root, allow_mixed_code=allow_mixed_code)
    for line in records.warnings():
        if warn is not None:
            warn(line)
    if require and records.frame.empty:
        bad = f" ({plural(len(records.invalid), 'invalid file')}, named above)" if records.invalid else ""
        raise LeaderboardError(
            f"no run records under {root}{bad}; run a sweep first: spml-bench run --results-dir {root}"
        )
    return records


# -- outputs ---------------------------------------------------------------------------------------
def markdown(results_dir: str | Path, gain_method: str = DEFAULT_GAIN_METHOD) -> str:
    """The leaderboard markdown for the records under ``results_dir`` (draws nothing; a missing or
    empty folder gives the page that says there are no records)."""
    records = read_records(results_dir)
    return render(records, figs.plan(records, gain_method), gain_method)


def export(results_dir: str | Path, fmt: str, warn: Warn | None = None, *, allow_mixed_code: bool = False) -> str:
    """``csv``/``json``/``latex``: the main table; ``runs``/``runs-jsonl``: one row per record;
    ``markdown``: the whole leaderboard (no figures)."""
    if fmt != "markdown" and fmt not in FORMATS:
        raise LeaderboardError(f"unknown format '{fmt}'; expected one of markdown, {', '.join(FORMATS)}")
    records = load(results_dir, warn, allow_mixed_code=allow_mixed_code)
    if fmt == "markdown":
        return render(records, figs.plan(records, DEFAULT_GAIN_METHOD), DEFAULT_GAIN_METHOD)
    return FORMATS[fmt](records)


def write_text(path: str | Path, text: str) -> None:
    """``text`` to ``path`` (an existing, writable folder), or a ``LeaderboardError``."""
    _write_text(check_out(path), text)


def power_text(
    results_dir: str | Path, delta: float = 1.0, warn: Warn | None = None, *, allow_mixed_code: bool = False
) -> str:
    """The variance components of the seeds and the seeds-needed table, each row against the best
    (``python -m leaderboard --power``), for a difference of ``delta`` mAP (and the page's 0.5 / 1 / 2)."""
    if not delta > 0:
        raise LeaderboardError(f"--delta is {delta}, expected a difference in mAP points > 0")
    deltas = tuple(sorted({*POWER_DELTAS, delta}))
    records = load(results_dir, warn, allow_mixed_code=allow_mixed_code)
    power = power_frame(records, deltas)
    if power.empty:
        raise LeaderboardError(
            f"no column under {results_dir} has two rows of two runs or more: nothing to compare; "
            "run more seeds (--seeds 0 1 8)"
        )
    parts = [
        f"Variance components of the seeds (std, mAP). {VARIANCE_RULE}",
        "",
        variance_table(variance_frame(records)),
        "",
        f"Seeds per row to resolve a difference of Δ mAP from the best row with {POWER:.0%} power ({POWER_METHOD}):",
    ]
    for (protocol, dataset), part in power.groupby(["protocol", "dataset"], sort=False):
        parts += ["", f"{dataset}, {protocol}:", "", power_table(part, deltas)]
    return "\n".join(parts) + "\n"


def write_leaderboard(
    results_dir: str | Path,
    out: str | Path | None = None,
    gain_method: str = DEFAULT_GAIN_METHOD,
    class_name: str | None = None,
    *,
    warn: Warn | None = None,
    create_parents: bool = True,
    site: str | Path | None = None,
    allow_mixed_code: bool = False,
) -> str:
    """Write the markdown to ``out`` (default: ``default_out``) and its figures to ``figures/``
    beside it (and the static web site to the folder ``site``, if given); returns the markdown.
    ``class_name`` also draws the per-class density figures of that class (not linked). Raises only
    ``LeaderboardError``: a missing or unreadable results folder, no valid record, an output that
    cannot be written, a class no dataset has."""
    out = Path(default_out(results_dir) if out is None else out)
    check_out(out, create_parents=create_parents or out == default_out(results_dir))
    records = load(results_dir, warn, allow_mixed_code=allow_mixed_code)
    if class_name is not None and not any(
        class_name in figs.class_names(records, d) for d in set(records.frame["dataset"])
    ):
        raise LeaderboardError(f"no dataset in {results_dir} has a class named '{class_name}'")
    specs = figs.plan(records, gain_method)
    text = render(records, specs, gain_method)
    folder = out.parent / FIGURES
    extra = [s for s in figs.plan(records, gain_method, class_name) if s.class_name] if class_name else []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _clear_stale(folder, {s.name for s in specs + extra} | _on_demand(folder))
        figs.draw(records, specs + extra, folder)
    except OSError as exc:
        raise LeaderboardError(f"cannot write the figures under {folder}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        # a record shaped in a way the figure code did not foresee: say which, keep the sweep's output readable
        raise LeaderboardError(
            f"cannot draw the figures under {folder} ({type(exc).__name__}: {exc}); "
            "the tables are unaffected: python -m leaderboard --format csv"
        ) from None
    _write_text(out, text)
    if site is not None:
        write_site(records, specs, folder, site)
    return text


def _clear_stale(folder: Path, keep: set[str]) -> None:
    """Remove figures the records no longer support, so no link points at an old picture."""
    if folder.is_dir():
        for png in folder.glob("*.png"):
            if png.name not in keep:
                png.unlink()


def _on_demand(folder: Path) -> set[str]:
    """Per-class figures drawn on request earlier: kept, they are not linked from the markdown."""
    return {p.name for p in folder.glob("*_class-*.png")} if folder.is_dir() else set()
