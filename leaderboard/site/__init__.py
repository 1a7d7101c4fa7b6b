"""The leaderboard as a static web site (``python -m leaderboard`` writes it beside the markdown):
sortable, filterable tables, interactive charts and one page per cell, built from the same frames as
the markdown page. Opens from disk (``file://``) and from any static host: every page carries its
data as embedded JSON and every asset (plotly.js included) is copied in; nothing is fetched.

This module is light (no pandas): the command line asks it where the site goes before the heavy
imports; ``leaderboard.site.build.write_site`` builds it."""

from __future__ import annotations

from pathlib import Path

#: the site's folder beside the markdown file: ``leaderboard/_site`` for the repository's results
#: (git-ignored; ``leaderboard/site`` is this package), ``<results>/_leaderboard/_site`` elsewhere
SITE = "_site"


def default_site(markdown_out: str | Path) -> Path:
    """Where the site goes when ``--site`` is not given: the ``_site`` folder beside the markdown."""
    return Path(markdown_out).parent / SITE
