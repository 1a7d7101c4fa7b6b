"""Build the leaderboard from the run records: ``leaderboard/README.md`` and its figures, or the
main table as CSV, JSON or LaTeX. Reads JSON records with pandas; never imports torch or the
training code."""

from __future__ import annotations

from pathlib import Path

from leaderboard import figures as figs
from leaderboard.formats import FORMATS
from leaderboard.markdown import render
from leaderboard.records import Records, read_records

HERE = Path(__file__).resolve().parent
REPO_RESULTS = HERE.parent / "results"
FIGURES = "figures"  # beside the markdown file; links are relative to it
DEFAULT_GAIN_METHOD = "em"


def markdown(results_dir: str | Path, gain_method: str = DEFAULT_GAIN_METHOD) -> str:
    """The leaderboard markdown for the records under ``results_dir`` (draws nothing)."""
    records = read_records(results_dir)
    return render(records, figs.plan(records, gain_method), gain_method)


def export(results_dir: str | Path, fmt: str) -> str:
    """The main table as ``csv``, ``json`` or ``latex`` (``markdown``: the whole leaderboard)."""
    if fmt == "markdown":
        return markdown(results_dir)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}'; expected one of markdown, {', '.join(FORMATS)}")
    return FORMATS[fmt](read_records(results_dir))


def _clear_stale(folder: Path, keep: set[str]) -> None:
    """Remove figures the records no longer support, so no link points at an old picture."""
    if folder.is_dir():
        for png in folder.glob("*.png"):
            if png.name not in keep:
                png.unlink()


def default_out(results_dir: str | Path) -> Path:
    """Where the markdown goes by default: the committed ``leaderboard/README.md`` for the
    repository's own ``results/``; for any other results folder (a scratch sweep, a test),
    ``<results_dir>/_leaderboard/README.md``, so it never overwrites the committed leaderboard
    (a ``_`` folder is not read as records)."""
    if Path(results_dir).resolve() == REPO_RESULTS:
        return HERE / "README.md"
    return Path(results_dir) / "_leaderboard" / "README.md"


def write_leaderboard(results_dir: str | Path, out: str | Path | None = None,
                      gain_method: str = DEFAULT_GAIN_METHOD, class_name: str | None = None) -> str:
    """Write the markdown to ``out`` (default: ``default_out``) and its figures to ``figures/``
    beside it; returns the markdown. ``class_name`` also draws the per-class density figures of
    that class (not linked)."""
    records: Records = read_records(results_dir)
    out = default_out(results_dir) if out is None else out
    specs = figs.plan(records, gain_method)
    text = render(records, specs, gain_method)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = out.parent / FIGURES
    extra = [s for s in figs.plan(records, gain_method, class_name) if s.class_name] if class_name else []
    _clear_stale(folder, {s.name for s in specs + extra} | _on_demand(folder))
    figs.draw(records, specs + extra, folder)
    out.write_text(text, encoding="utf-8")
    return text


def _on_demand(folder: Path) -> set[str]:
    """Per-class figures drawn on request earlier: kept, they are not linked from the markdown."""
    return {p.name for p in folder.glob("*_class-*.png")} if folder.is_dir() else set()
