"""How long to wait before trying a request again. Pure: the rng and `now_s` are passed in."""

from __future__ import annotations

import math
import random
from email.utils import parsedate_to_datetime


def backoff_delay_s(attempt: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter" for retry number `attempt` (0 for the first retry).

    The ceiling doubles per attempt from `base_s` up to `max_s`; the delay is
    half the ceiling plus a uniform draw over the other half, so delays grow
    with every attempt while retrying clients still spread out.
    """
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise ValueError(f"attempt must be an int >= 0, got {attempt!r}")
    if not (math.isfinite(base_s) and base_s > 0):
        raise ValueError(f"base_s must be a positive number, got {base_s!r}")
    if not (math.isfinite(max_s) and max_s >= base_s):
        raise ValueError(f"max_s must be a number >= base_s ({base_s}), got {max_s!r}")
    # 2**attempt overflows a float for absurd attempts; the cap makes them all equal anyway.
    ceiling_s = max_s if attempt >= 64 else min(max_s, base_s * 2.0**attempt)
    return ceiling_s / 2.0 + rng.uniform(0.0, ceiling_s / 2.0)


def parse_retry_after_s(value: str | None, now_s: float) -> float | None:
    """The wait a `Retry-After` header asks for, in seconds (>= 0), or None when absent or unreadable.

    The header is either a number of seconds or an HTTP date; `now_s` is the
    wall-clock time (epoch seconds) the date is measured from.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now_s
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)
