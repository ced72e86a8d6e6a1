"""The Jinja2 environment of kellyd's HTML pages (templates in `kellyd/templates/`, autoescaped).

Charts are drawn by `kellyd.validate.svg` and passed in as markup; every other value is
escaped by the template engine, so a file name with `<` in it is shown, never run.
"""

from __future__ import annotations

import functools
from pathlib import PurePosixPath
from typing import Any

import jinja2

import kellyd
from kellyd.validate.html import size_text

PATH_CHARS = 64


def short_path(path: object, limit: int = PATH_CHARS) -> str:
    """A long path as its first folder, an ellipsis and its last two parts ('inbox/…/straight/take7.mid')."""
    text = str(path)
    if len(text) <= limit:
        return text
    parts = PurePosixPath(text.replace("\\", "/")).parts
    if len(parts) >= 4:
        shortened = "/".join((parts[0].rstrip("/") or "/", "…", *parts[-2:]))
        if len(shortened) <= limit:
            return shortened
    return "…" + text[-(limit - 1):]


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def age_text(seconds: float) -> str:
    """'45 s', '12 min', '3.5 h'."""
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _percent(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{float(value):.{digits}%}"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("kellyd", "templates"),
                             autoescape=jinja2.select_autoescape(("html", "css"), default_for_string=True,
                                                                 default=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(shortpath=short_path, num=_number, pct=_percent, size=size_text, age=age_text)
    env.globals["version"] = kellyd.__version__
    return env


def render(template: str, **context: Any) -> str:
    """The page `template` rendered with `context` (UTF-8 text of a complete HTML document)."""
    return environment().get_template(template).render(**context)
