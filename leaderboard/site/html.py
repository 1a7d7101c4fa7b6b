"""HTML building blocks of the site: the page frame, tables, embedded JSON. Every piece of text from
a record goes through ``esc`` (a method key, a variant or an error may hold ``<``, ``&`` or quotes)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from leaderboard.mdutil import DASH

TITLE = "SPML leaderboard"


def esc(text: object) -> str:
    return escape(str(text), quote=True)


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, the value it sorts by (a number, or the text), an optional link and class."""

    text: str
    sort: float | str | None = None
    href: str = ""
    cls: str = ""
    title: str = ""

    def html(self) -> str:
        sort = self.text if self.sort is None else self.sort
        # no value (NaN, a dash) sorts last whichever the direction
        value = "" if (isinstance(sort, float) and not math.isfinite(sort)) or sort == DASH else sort
        attrs = f' data-v="{esc(value)}"' + (f' class="{esc(self.cls)}"' if self.cls else "")
        attrs += f' title="{esc(self.title)}"' if self.title else ""
        inner = f'<a href="{esc(self.href)}">{esc(self.text)}</a>' if self.href else esc(self.text)
        return f"<td{attrs}>{inner}</td>"


#: a table row: its ``data-*`` attributes (the filter reads them) and its cells
Row = tuple[dict[str, str], list[Cell | str]]


def table(headers: Sequence[str], rows: Sequence[Row], cls: str = "") -> str:
    """A sortable table (click a header); each row is (its ``data-*`` attributes, its cells)."""
    head = "".join(f'<th scope="col" tabindex="0">{esc(h)}</th>' for h in headers)
    body = []
    for attrs, cells in rows:
        data = "".join(f' data-{k}="{esc(v)}"' for k, v in attrs.items())
        body.append(f"<tr{data}>" + "".join((c if isinstance(c, Cell) else Cell(c)).html() for c in cells) + "</tr>")
    return (
        f'<div class="scroll"><table class="sortable {esc(cls)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def plain(value: Any) -> Any:
    """``value`` as strict JSON can hold it: NaN and infinities as null, numpy scalars as numbers."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # a numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def embed(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` can close the
    element or start markup (they are written as JSON ``\\u`` escapes, which JSON.parse reads back)."""
    text = json.dumps(plain(data), sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def page(title: str, body: str, depth: int = 0, data: Any = None, charts: bool = False) -> str:
    """A whole page; ``depth``: how many folders below the site's root it lies (links are relative,
    so the site works from disk and from any sub-path of a web host)."""
    up = "../" * depth
    scripts = f'<script src="{up}assets/plotly.min.js"></script>' if charts else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{esc(title)}</title><link rel="stylesheet" href="{up}assets/site.css"></head>\n'
        f'<body><header><a class="home" href="{up}index.html">{TITLE}</a></header>\n<main>\n{body}\n</main>\n'
        f'<script type="application/json" id="site-data">{embed(data or {})}</script>\n'
        f'{scripts}<script src="{up}assets/site.js"></script></body></html>\n'
    )


def section(title: str, *parts: str, anchor: str = "", level: int = 2) -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h{level}>{esc(title)}</h{level}>\n" + "\n".join(p for p in parts if p) + "</section>\n"


def para(text: str) -> str:
    return f"<p>{esc(text)}</p>"
