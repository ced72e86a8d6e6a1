"""The page shell shared by kellyd's HTML reports: one self-contained file, inline CSS, no scripts."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import Iterable, Sequence

import kellyd

CSS = """
:root { --ink:#1f2328; --muted:#656d76; --line:#d8dee4; --bg:#f6f8fa; --card:#fff;
  --error:#c62828; --error-bg:#fdecea; --warning:#9a5b00; --warning-bg:#fff4e0;
  --info:#245b9e; --info-bg:#e8f1fb; --ok:#1b7a3a; --ok-bg:#e6f4ea; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 20px 48px; }
header.top { display:flex; flex-wrap:wrap; gap:8px 24px; align-items:baseline; justify-content:space-between; }
h1 { font-size: 22px; margin: 0; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 0 0 4px; color: var(--muted); font-weight: 600; }
.meta { color: var(--muted); font-size: 13px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 16px 18px; margin-top: 16px; }
.verdict { display:flex; gap:18px; align-items:center; border-width:2px; }
.verdict .badge { font-size: 20px; font-weight: 700; padding: 8px 16px; border-radius: 8px; white-space: nowrap; }
.verdict.invalid { border-color: var(--error); } .verdict.invalid .badge { background: var(--error); color:#fff; }
.verdict.usable_with_warnings { border-color: #e0a030; }
.verdict.usable_with_warnings .badge { background: #f2b233; color:#2b1d00; }
.verdict.ready { border-color: var(--ok); } .verdict.ready .badge { background: var(--ok); color:#fff; }
.verdict p { margin: 0; }
ul.reasons { list-style: none; padding: 0; margin: 0; }
ul.reasons li { padding: 8px 10px; border-radius: 6px; margin-bottom: 6px; }
li.error { background: var(--error-bg); } li.warning { background: var(--warning-bg); }
li.info { background: var(--info-bg); }
.pill { display:inline-block; font-size: 11px; font-weight: 700; text-transform: uppercase; letter-spacing: .04em;
  padding: 1px 7px; border-radius: 999px; margin-right: 6px; color:#fff; vertical-align: 1px; }
.pill.error { background: var(--error); } .pill.warning { background: var(--warning); }
.pill.info { background: var(--info); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
details { margin-top: 4px; } summary { cursor: pointer; color: var(--muted); font-size: 13px; }
details ul { margin: 4px 0 0; padding-left: 20px; max-height: 240px; overflow: auto; }
.figures { display:grid; grid-template-columns: repeat(auto-fit, minmax(118px, 1fr)); gap: 10px; }
.figure { background: var(--bg); border-radius: 8px; padding: 10px 12px; }
.figure b { display:block; font-size: 20px; } .figure span { color: var(--muted); font-size: 12px; }
.dists { display:grid; grid-template-columns: 2fr 1fr; gap: 12px 24px; }
.dists .dist-tempo { grid-column: 1 / -1; }
@media (max-width: 640px) { .dists { grid-template-columns: 1fr; } }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 8px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; background: var(--bg); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.legend { display:flex; flex-wrap: wrap; gap: 6px 14px; font-size: 12px; color: var(--muted); margin: 6px 0; }
.legend .key i { display:inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px;
  vertical-align: -1px; }
.empty { color: var(--muted); font-style: italic; margin: 0; }
.up { color: var(--ok); } .down { color: var(--error); }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; text-align: center; }
@media print { body { background: #fff; } section { break-inside: avoid; } }
"""


def esc(value: object) -> str:
    return escape(str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: Sequence[int] = (),
          raw: bool = False) -> str:
    """An HTML table; `numeric` column indexes are right-aligned; cells are escaped unless `raw`."""
    head = "".join(f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = str(cell) if raw else esc(cell)
            cells.append(f'<td class="num">{text}</td>' if i in numeric else f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def section(section_id: str, title: str, content: str, *, css_class: str = "") -> str:
    classes = f' class="{css_class}"' if css_class else ""
    return f'<section id="{esc(section_id)}"{classes}><h2>{esc(title)}</h2>{content}</section>'


def figure(value: str, caption: str) -> str:
    return f'<div class="figure"><b>{esc(value)}</b><span>{esc(caption)}</span></div>'


def size_text(n_bytes: float) -> str:
    """Bytes in decimal units: '512 B', '1.5 MB', '3.0 TB'."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n_bytes) < 1000 or unit == "TB":
            return f"{n_bytes:,.0f} {unit}" if unit == "B" else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def utc_text(moment: datetime | float) -> str:
    """ISO 8601 UTC text with a Z ('2024-05-01T12:00:00Z') of an aware datetime or a Unix time in s."""
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(float(moment), tz=timezone.utc)
    if moment.tzinfo is None:
        raise ValueError(f"a time zone is needed to write UTC times, got naive {moment.isoformat()}")
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def page(title: str, header: str, body: str) -> str:
    """A complete HTML document: inline CSS, no script, no external resource."""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{header}{body}"
        f"<footer>kellyd {esc(kellyd.__version__)}</footer></main></body></html>\n"
    )
