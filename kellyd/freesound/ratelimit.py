"""The request budget Freesound grants a key: N per minute and M per day.

Pure functions over the sorted wall-clock times (epoch seconds) of the
requests already made; `now_s` is passed in. The client records a request
when its answer has come (or failed), not when it was sent: the server saw
it at some moment in between, so counting from the end keeps any 60 s window
of arrivals within the limit, whatever the latency. The day is a rolling 24 hours,
which never exceeds a per-calendar-day quota however the server counts it.
Times come from the wall clock because they outlive the process (the state db
keeps them), so a restarted pull still respects the minute and the day.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Sequence

MINUTE_S = 60.0
DAY_S = 86_400.0
# A request holds its minute slot a little longer than the minute: the server counts
# arrival times, which the clocks and the server's own window edges blur by a fraction
# of a second. (Latency is covered by the client recording a request when it ends.)
MARGIN_S = 1.0


@dataclass(frozen=True)
class RateLimits:
    per_minute: int
    per_day: int

    def __post_init__(self) -> None:
        for name in ("per_minute", "per_day"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")


def _clamped(times_s: Sequence[float], now_s: float) -> list[float]:
    # A time after `now_s` means the clock went back: count it as now, never as free.
    return [min(t, now_s) for t in times_s]


def prune(times_s: Sequence[float], now_s: float) -> tuple[float, ...]:
    """The request times still inside the last 24 h, sorted ascending."""
    kept = sorted(t for t in _clamped(times_s, now_s) if t > now_s - DAY_S)
    return tuple(kept)


def daily_wait_s(times_s: Sequence[float], now_s: float, limits: RateLimits) -> float:
    """Seconds until the rolling day has a free slot (0.0 when it has one now).

    `times_s`: wall-clock times of past requests, any order. A request made at
    `t` holds a day slot until `t + 86400`.
    """
    window = prune(times_s, now_s)
    if len(window) < limits.per_day:
        return 0.0
    # The request whose expiry leaves per_day - 1 in the window.
    return max(window[len(window) - limits.per_day] + DAY_S - now_s, 0.0)


def minute_wait_s(times_s: Sequence[float], now_s: float, limits: RateLimits) -> float:
    """Seconds until the last minute has a free slot (a request holds one until `t + 60 + MARGIN_S`)."""
    held_s = MINUTE_S + MARGIN_S
    window = prune(times_s, now_s)
    in_minute = window[bisect.bisect_right(window, now_s - held_s):]
    if len(in_minute) < limits.per_minute:
        return 0.0
    return max(in_minute[len(in_minute) - limits.per_minute] + held_s - now_s, 0.0)


def wait_s(times_s: Sequence[float], now_s: float, limits: RateLimits) -> float:
    """Seconds to wait before the next request may start: the longer of the day's and the minute's wait."""
    return max(daily_wait_s(times_s, now_s, limits), minute_wait_s(times_s, now_s, limits))


def record(times_s: Sequence[float], now_s: float) -> tuple[float, ...]:
    """The request times after one more request at `now_s`, pruned to the last 24 h."""
    return prune((*times_s, now_s), now_s)
