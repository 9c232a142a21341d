"""A self-contained HTML report: headings, paragraphs, tables and plotly figures, with
plotly.js embedded once (the file opens offline, no CDN)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1d2733; margin: 24px auto;
       max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; } .muted { color: #64707d; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #d9dee4; }
th { color: #64707d; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""


class ReportDocument:
    """Build a report part by part, then `html()`."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = []
        self._figures = 0

    def heading(self, text: str) -> ReportDocument:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")
        return self

    def paragraph(self, text: str, muted: bool = False) -> ReportDocument:
        css = ' class="muted"' if muted else ""
        self.parts.append(f"<p{css}>{html.escape(text)}</p>")
        return self

    def table(self, columns: Sequence[tuple[str, Callable[[Any], Any]]],
              rows: Sequence[Any]) -> ReportDocument:
        """columns: (label, value of a row); numbers are right-aligned."""
        head = "".join(f"<th>{html.escape(label)}</th>" for label, _ in columns)
        body = []
        for row in rows:
            cells = []
            for _, value in columns:
                shown = value(row)
                css = ' class="num"' if isinstance(shown, int | float) else ""
                cells.append(f"<td{css}>{html.escape('—' if shown is None else str(shown))}</td>")
            body.append(f"<tr>{''.join(cells)}</tr>")
        self.parts.append(f"<table><thead><tr>{head}</tr></thead>"
                          f"<tbody>{''.join(body)}</tbody></table>")
        return self

    def figure(self, figure: go.Figure) -> ReportDocument:
        """A plotly figure; the first one carries plotly.js inline."""
        self.parts.append(figure.to_html(full_html=False, include_plotlyjs=self._figures == 0,
                                         config={"displaylogo": False}))
        self._figures += 1
        return self

    def html(self) -> str:
        made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{STYLE}</style></head><body>"
                f"<h1>{html.escape(self.title)}</h1><p class=\"muted\">Made {made}.</p>"
                f"{''.join(self.parts)}</body></html>")
