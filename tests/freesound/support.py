"""Helpers shared by the pull tests: the test key, a fast clock, filling the fake catalogue."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from .fake_server import CC0, CC_BY, CC_BY_NC, FakeFreesound

KEY = "fs-test-key-5c1e0a9b7d3f4e2a8b6c"
LICENSE_CYCLE = (CC_BY, CC0, CC_BY_NC)


class ScaledClock:
    """Clock time runs `speed` times faster than real time, so minute windows pass in seconds.

    Starts at the real wall-clock time; `sleep` waits `seconds / speed` real seconds.
    """

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._start_wall = time.time()
        self._start_mono = time.monotonic()

    def time(self) -> float:
        return self._start_wall + (time.monotonic() - self._start_mono) * self.speed

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0.0) / self.speed)


def populate(server: FakeFreesound, emotions, instruments, *, per_query: int = 5, licenses=LICENSE_CYCLE,
             duration_s: float = 5.0) -> dict[str, list[int]]:
    """Give every "<emotion> <instrument>" query `per_query` sounds with ids unique per query."""
    ids: dict[str, list[int]] = {}
    base = 1000
    for emotion in emotions:
        for instrument in instruments:
            query = f"{emotion} {instrument}"
            ids[query] = [base + k for k in range(per_query)]
            server.add_query(query, [
                server.sound(sound_id, name=f"{query} take {k}", license=licenses[k % len(licenses)],
                             duration_s=duration_s)
                for k, sound_id in enumerate(ids[query])
            ])
            base += 1000
    return ids


def staged(staging_root: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(audio files, sidecars, leftovers with dot names) under the staging area."""
    files = [p for p in (staging_root / "emotion_samples").rglob("*") if p.is_file()] \
        if (staging_root / "emotion_samples").exists() else []
    audio = sorted(p for p in files if not p.name.startswith(".") and not p.name.endswith(".json"))
    sidecars = sorted(p for p in files if not p.name.startswith(".") and p.name.endswith(".json"))
    leftovers = sorted(p for p in files if p.name.startswith("."))
    return audio, sidecars, leftovers


def request_times(state_db: Path) -> list[float]:
    """The request times (clock seconds) the pull recorded in its own table."""
    with sqlite3.connect(state_db) as db:
        return [row[0] for row in db.execute("SELECT at_s FROM freesound_requests")]


# Real seconds allowed between the client's decision to send and the server's stamp on arrival.
ARRIVAL_SLACK_S = 0.3  # generous: CI machines are busy; the client-side count is checked exactly
