"""Small text helpers of kellyd's HTML reports (escaping, sizes, UTC times). The pages themselves are
Jinja2 templates in `kellyd/templates/` (see `kellyd.validate.templating`)."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape


def esc(value: object) -> str:
    return escape(str(value))


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
