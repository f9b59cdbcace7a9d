"""Self-contained HTML pages with matplotlib figures embedded as PNG data URIs (open offline, no assets).

Shared by the TrainingRun report (a pipeline step) and the ModelDeployment report (the kubectl plugin).
"""
from __future__ import annotations

import base64
import html
import io
from typing import Any, Iterable

import matplotlib

matplotlib.use("Agg")  # no display: components and the plugin run headless
import matplotlib.pyplot as plt  # noqa: E402

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
h3{margin-bottom:.3rem} .muted{color:#666} .ok{color:#1a7f37;font-weight:600} .bad{color:#b42318;font-weight:600}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem} th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}
th{background:#f5f5f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:.5rem 1rem .5rem 0;vertical-align:top} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.8rem;color:#666} nav a{margin-right:1rem}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if f != f:
        return "-"
    return f"{f:.{digits}g}" if abs(f) >= 1e4 or (0 < abs(f) < 1e-3) else f"{f:.{digits}f}"


def figure(fig, alt: str, caption: str | None = None, dpi: int = 90, tight: bool = True) -> str:
    """The figure as an <img> with a PNG data URI, closed afterwards (no figure leaks in long runs).

    tight=False skips the trimming pass (it draws the figure twice): for many small plots laid out by hand."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="plot"><img alt="{esc(alt)}" src="data:image/png;base64,{data}">{cap}</figure>'


def table(headers: Iterable[str], rows: Iterable[Iterable[Any]], numeric: Iterable[int] = ()) -> str:
    numeric = set(numeric)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{esc(c)}</td>' if i in numeric else f"<td>{esc(c)}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def section(id_: str, title: str, body: str) -> str:
    return f'<section id="{esc(id_)}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """A whole document: title, a table of contents, then each (id, title, html) section."""
    nav = "".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t, _ in sections)
    body = "".join(section(i, t, b) for i, t, b in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1><p class=\"muted\">{esc(subtitle)}</p>"
            f"<nav>{nav}</nav>{body}</body></html>")


def new_figure(width: float = 4.2, height: float = 3.2):
    fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax
