"""Time, passed in: the wall clock and a sleep that a stop request cuts short."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock time, epoch seconds."""
        ...

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait `seconds` (clock seconds); True when `stop` was set before the end."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0.0))


SYSTEM_CLOCK = SystemClock()
