"""What pulls remember, in their own `freesound_*` tables of the daemon's SQLite file.

- `freesound_sounds`: every sound fetched (downloaded, or rejected after its
  bytes came) so that nothing is ever fetched twice;
- `freesound_requests`: the wall-clock time of each request of the last day,
  so the rate limits hold across restarts;
- `freesound_progress`: the next search page per combination, so a resumed
  pull goes on where the last one stopped.

Our own connection, WAL mode and a busy timeout, so the daemon's catalog
connection and a pull can share the file.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from kellyd.freesound.ratelimit import DAY_S

BUSY_TIMEOUT_MS = 10_000

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS freesound_sounds (
        freesound_id INTEGER PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('downloaded', 'rejected')),
        emotion TEXT NOT NULL,
        instrument TEXT NOT NULL,
        file_path TEXT NOT NULL DEFAULT '',
        bytes INTEGER NOT NULL DEFAULT 0,
        reason TEXT NOT NULL DEFAULT '',
        recorded_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS freesound_sounds_by_combination ON freesound_sounds (emotion, instrument, status)",
    "CREATE TABLE IF NOT EXISTS freesound_requests (at_s REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS freesound_requests_by_time ON freesound_requests (at_s)",
    """CREATE TABLE IF NOT EXISTS freesound_progress (
        emotion TEXT NOT NULL,
        instrument TEXT NOT NULL,
        search_key TEXT NOT NULL,
        next_page INTEGER NOT NULL,
        exhausted_day TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL,
        PRIMARY KEY (emotion, instrument)
    )""",
)


@dataclass(frozen=True)
class Progress:
    """Where a combination's search goes on. `exhausted_day` is the UTC date its results last ran out ('' if never)."""

    next_page: int = 1
    exhausted_day: str = ""


class Ledger:
    """The pull's state in the SQLite file at `path`. One instance per pull; close it (or use `with`)."""

    def __init__(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._db:
            for statement in _SCHEMA:
                self._db.execute(statement)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # sounds ------------------------------------------------------------------

    def is_known(self, freesound_id: int) -> bool:
        row = self._db.execute("SELECT 1 FROM freesound_sounds WHERE freesound_id = ?", (freesound_id,)).fetchone()
        return row is not None

    def downloaded(self, emotion: str, instrument: str) -> tuple[int, int]:
        """(files, bytes) downloaded so far for one combination."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM freesound_sounds "
            "WHERE emotion = ? AND instrument = ? AND status = 'downloaded'",
            (emotion, instrument),
        ).fetchone()
        return int(row[0]), int(row[1])

    def record_download(
        self, freesound_id: int, *, emotion: str, instrument: str, file_path: str, size_bytes: int, at: str
    ) -> None:
        """Remember a file that now lies under its final name (`file_path` relative to the staging root)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO freesound_sounds "
                "(freesound_id, status, emotion, instrument, file_path, bytes, reason, recorded_at) "
                "VALUES (?, 'downloaded', ?, ?, ?, ?, '', ?)",
                (freesound_id, emotion, instrument, file_path, size_bytes, at),
            )

    def record_rejection(self, freesound_id: int, *, emotion: str, instrument: str, reason: str, at: str) -> None:
        """Remember a sound whose bytes were fetched and found unusable, so they are not fetched again."""
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO freesound_sounds "
                "(freesound_id, status, emotion, instrument, reason, recorded_at) VALUES (?, 'rejected', ?, ?, ?, ?)",
                (freesound_id, emotion, instrument, reason, at),
            )

    # requests ----------------------------------------------------------------

    def record_request(self, at_s: float) -> None:
        with self._db:
            self._db.execute("INSERT INTO freesound_requests (at_s) VALUES (?)", (at_s,))

    def request_times(self, now_s: float) -> tuple[float, ...]:
        """Times of the requests of the last 24 h (older ones are deleted), ascending."""
        with self._db:
            self._db.execute("DELETE FROM freesound_requests WHERE at_s <= ?", (now_s - DAY_S,))
        rows = self._db.execute("SELECT at_s FROM freesound_requests ORDER BY at_s").fetchall()
        return tuple(float(r[0]) for r in rows)

    # progress ----------------------------------------------------------------

    def progress(self, emotion: str, instrument: str, search_key: str) -> Progress:
        """Where this combination's search goes on; from page 1 when the search itself changed."""
        row = self._db.execute(
            "SELECT search_key, next_page, exhausted_day FROM freesound_progress WHERE emotion = ? AND instrument = ?",
            (emotion, instrument),
        ).fetchone()
        if row is None or row[0] != search_key:
            return Progress()
        return Progress(next_page=int(row[1]), exhausted_day=str(row[2]))

    def save_progress(self, emotion: str, instrument: str, search_key: str, progress: Progress, *, at: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO freesound_progress "
                "(emotion, instrument, search_key, next_page, exhausted_day, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (emotion, instrument, search_key, progress.next_page, progress.exhausted_day, at),
            )

    def adopt(self, rows: Iterable[tuple[int, str, str, str, int, str]]) -> int:
        """Record files found under their final names without a row (a pull killed after its rename).

        `rows`: (freesound_id, emotion, instrument, file_path, bytes, at). Returns how many were new.
        """
        added = 0
        with self._db:
            for freesound_id, emotion, instrument, file_path, size_bytes, at in rows:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO freesound_sounds "
                    "(freesound_id, status, emotion, instrument, file_path, bytes, reason, recorded_at) "
                    "VALUES (?, 'downloaded', ?, ?, ?, ?, '', ?)",
                    (freesound_id, emotion, instrument, file_path, size_bytes, at),
                )
                added += cursor.rowcount
        return added
