"""One self-contained HTML page: tables and inline images, no network request of any kind
(no scripts, fonts or style sheets from elsewhere), readable offline and printable."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
.warn { color: #a40; font-weight: bold; } p.note { color: #555; }
"""


@dataclass(frozen=True)
class Section:
    title: str
    table: pd.DataFrame | None = None
    text: str = ""  # plain text (escaped), shown before the table
    png: bytes | None = None  # an image, embedded as a data: URI
    alt: str = ""


def render(title: str, sections: list[Section]) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.text:
            css = " class='warn'" if s.text.startswith("Warning") else " class='note'"
            parts.append(f"<p{css}>{html.escape(s.text)}</p>")
        if s.table is not None and not s.table.empty:
            parts.append(s.table.to_html(index=False, escape=True, border=0, na_rep=""))
        if s.png is not None:
            data = base64.b64encode(s.png).decode()
            parts.append(f"<img alt='{html.escape(s.alt or s.title)}' "
                         f"src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)
