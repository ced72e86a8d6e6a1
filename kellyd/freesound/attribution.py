"""The credits a dataset built from Freesound sounds owes, as Markdown and as an HTML fragment.

Creative Commons BY licences require crediting the author (title, author,
source, licence); BY-NC adds that the sound may not be used commercially. CC0
needs no credit; those sounds are listed apart, as thanks. A licence we cannot
read is treated as one that needs credit.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import quote, urlsplit

from kellyd.freesound.licenses import parse_license

# Characters that mean something inside a Markdown line (none of our texts starts a line).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


@dataclass(frozen=True)
class Attribution:
    """One sound to credit. `license` is the text the API gave; `license_label` is e.g. "CC BY 4.0"."""

    freesound_id: int | None
    name: str
    author: str
    url: str
    license: str
    license_label: str
    deed_url: str
    requires_attribution: bool
    non_commercial: bool


def _source_of(sample: Mapping[str, Any]) -> Mapping[str, Any] | None:
    source = sample.get("source")
    if isinstance(source, Mapping) and source.get("type") == "freesound":
        return source
    return None


def _attribution(source: Mapping[str, Any]) -> Attribution:
    license_text = str(source.get("license") or "")
    info = parse_license(license_text)
    raw_id = source.get("freesound_id")
    freesound_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
    return Attribution(
        freesound_id=freesound_id,
        name=str(source.get("name") or (f"sound {freesound_id}" if freesound_id else "untitled sound")),
        author=str(source.get("author") or source.get("username") or "unknown author"),
        url=str(source.get("url") or ""),
        license=license_text,
        license_label=info.label if info else (license_text or "licence unknown"),
        deed_url=info.deed_url if info else "",
        requires_attribution=info.requires_attribution if info else True,
        non_commercial=info.non_commercial if info else False,
    )


def attributions(samples: Iterable[Mapping[str, Any]]) -> tuple[Attribution, ...]:
    """The Freesound sounds among manifest samples, one entry per sound, sorted by author then name.

    `samples`: manifest-style dicts whose `source` is {"type": "freesound",
    "license", "author" or "username", "url", "name", "freesound_id"}; other
    samples are ignored. Derived samples that repeat their parent's source
    collapse into one entry.
    """
    seen: dict[Any, Attribution] = {}
    for sample in samples:
        source = _source_of(sample)
        if source is None:
            continue
        item = _attribution(source)
        identity = item.freesound_id if item.freesound_id is not None else (item.url, item.name, item.author)
        seen.setdefault(identity, item)
    return tuple(sorted(seen.values(), key=lambda a: (a.author.lower(), a.name.lower(), a.freesound_id or 0)))


def _safe_url(url: str) -> str:
    """The URL when it is http(s), else "" (no javascript: links in a report)."""
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else ""


def _md(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_link(text: str, url: str) -> str:
    url = _safe_url(url)
    return f"[{_md(text)}]({quote(url, safe=':/?#&=%~+,;@!$*')})" if url else _md(text)


def _markdown_line(item: Attribution) -> str:
    line = f"- {_md_link(item.name, item.url)} by {_md(item.author)}, {_md_link(item.license_label, item.deed_url)}"
    return line + (" (non-commercial use only)" if item.non_commercial else "")


def render_markdown(items: Iterable[Attribution], *, title: str = "Sounds from Freesound") -> str:
    """A Markdown section: the credits owed, then the CC0 sounds (credit not required)."""
    items = tuple(items)
    required = [i for i in items if i.requires_attribution]
    thanks = [i for i in items if not i.requires_attribution]
    lines = [f"## {_md(title)}", ""]
    if not items:
        return "\n".join([*lines, "No Freesound sounds are used.", ""])
    if required:
        lines += ["These sounds are used under licences that require credit:", ""]
        lines += [_markdown_line(i) for i in required] + [""]
    if thanks:
        lines += ["These sounds are in the public domain (CC0); credit is not required, given with thanks:", ""]
        lines += [_markdown_line(i) for i in thanks] + [""]
    return "\n".join(lines)


def _html_link(text: str, url: str) -> str:
    url = _safe_url(url)
    escaped = html.escape(text)
    return f'<a href="{html.escape(url, quote=True)}">{escaped}</a>' if url else escaped


def _html_item(item: Attribution) -> str:
    note = " (non-commercial use only)" if item.non_commercial else ""
    return (f"<li>{_html_link(item.name, item.url)} by {html.escape(item.author)}, "
            f"{_html_link(item.license_label, item.deed_url)}{html.escape(note)}</li>")


def render_html(items: Iterable[Attribution], *, title: str = "Sounds from Freesound") -> str:
    """An HTML fragment (a <section>) with the same content as `render_markdown`; every text is escaped."""
    items = tuple(items)
    required = [i for i in items if i.requires_attribution]
    thanks = [i for i in items if not i.requires_attribution]
    parts = ['<section class="freesound-attributions">', f"<h2>{html.escape(title)}</h2>"]
    if not items:
        parts.append("<p>No Freesound sounds are used.</p>")
    if required:
        parts.append("<p>These sounds are used under licences that require credit:</p>")
        parts += ["<ul>", *(_html_item(i) for i in required), "</ul>"]
    if thanks:
        parts.append("<p>These sounds are in the public domain (CC0); credit is not required, given with thanks:</p>")
        parts += ["<ul>", *(_html_item(i) for i in thanks), "</ul>"]
    parts.append("</section>")
    return "\n".join(parts)
