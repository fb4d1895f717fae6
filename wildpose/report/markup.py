"""Small HTML builders of the report page: inline images, figures, tables, formatted values.

Every text that comes from data passes through :func:`html.escape` here or at the caller.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from html import escape
from typing import Any

import numpy as np

__all__ = ["count", "fmt", "img", "figure", "key_values", "table"]


def img(png: bytes, alt: str, cls: str = "fig") -> str:
    """An ``<img>`` holding ``png`` as a base64 data URI (the page loads no other file)."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{cls}" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def figure(png: bytes, title: str, caption: str) -> str:
    """A titled figure; ``caption`` is HTML (escape data in it)."""
    return (
        f"<figure><h3>{escape(title)}</h3>{img(png, title)}"
        f"<figcaption>{caption}</figcaption></figure>"
    )


def table(header: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """A table of HTML cells (escape data in them)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def key_values(items: Iterable[tuple[str, str]], cls: str = "kv") -> str:
    """A two-column table: names (plain text) and HTML values."""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in items)
    return f'<table class="{cls}">{body}</table>'


def count(n: int, noun: str) -> str:
    """``"1 episode"``, ``"2 episodes"`` (``noun`` is singular, plain text)."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def fmt(value: Any, digits: int = 3) -> str:
    """``value`` for a table cell, escaped: "–" for None/NaN, ``digits`` significant digits
    for floats below 1000, thousands separators for larger numbers."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))
