"""When is a dropped file ready? Pure logic; the clock and `stat` are passed in.

A file is ready when its size and mtime have stayed the same for `settle_s`
(measured with the monotonic clock from the last change we saw) and its mtime is
at least `settle_s` old on the wall clock: a file found by a scan after a
restart, whose mtime is old, is ready at once; a file still being written is not. A file renamed
into place (`immediate`) was complete before the rename and is ready at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple


class FileStat(NamedTuple):
    size: int
    mtime_ns: int


@dataclass
class _Candidate:
    stat: FileStat | None
    changed_at_s: float
    immediate: bool


@dataclass(frozen=True)
class Ready:
    path: str
    size: int
    mtime_ns: int


class SettleTracker:
    def __init__(self, settle_s: float) -> None:
        if settle_s < 0:
            raise ValueError(f"settle_s must be >= 0, got {settle_s}")
        self.settle_s = settle_s
        self._candidates: dict[str, _Candidate] = {}

    def __len__(self) -> int:
        return len(self._candidates)

    def note(self, path: str, *, now_s: float, immediate: bool = False) -> None:
        """Record that `path` changed (or appeared) at monotonic time `now_s`."""
        known = self._candidates.get(path)
        if known is None:
            self._candidates[path] = _Candidate(None, now_s, immediate)
        else:
            known.immediate = known.immediate or immediate

    def poll(self, stat: Callable[[str], FileStat | None], *, now_s: float, wall_now_ns: int) -> list[Ready]:
        """Return the candidates that are ready, and forget them and the vanished ones."""
        ready: list[Ready] = []
        for path, cand in list(self._candidates.items()):
            current = stat(path)
            if current is None:
                del self._candidates[path]
                continue
            if cand.stat is None:
                # First look. The change happened when it was noted, or, if the mtime is
                # older than that, when the mtime says (a file found by a scan after a restart).
                cand.stat = current
                mtime_mono_s = now_s - (wall_now_ns - current.mtime_ns) / 1e9
                cand.changed_at_s = min(cand.changed_at_s, mtime_mono_s)
            elif current != cand.stat:
                cand.stat = current
                cand.changed_at_s = now_s
            mtime_age_s = (wall_now_ns - current.mtime_ns) / 1e9
            still_long_enough = now_s - cand.changed_at_s >= self.settle_s and mtime_age_s >= self.settle_s
            if cand.immediate or still_long_enough:
                ready.append(Ready(path, current.size, current.mtime_ns))
                del self._candidates[path]
        return ready
