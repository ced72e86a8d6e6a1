from __future__ import annotations

import sqlite3

from kellyd.freesound.ledger import Ledger, Progress
from kellyd.freesound.ratelimit import DAY_S

AT = "2026-01-01T00:00:00+00:00"


def test_own_tables_in_a_shared_wal_file(tmp_path):
    db = tmp_path / "state" / "catalog.sqlite3"
    db.parent.mkdir()
    with sqlite3.connect(db) as other:
        other.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY)")
    with Ledger(db):
        pass
    with sqlite3.connect(db) as check:
        tables = {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        mode = check.execute("PRAGMA journal_mode").fetchone()[0]
    assert {"jobs", "freesound_sounds", "freesound_requests", "freesound_progress"} <= tables
    assert mode == "wal"


def test_downloads_and_rejections_are_remembered(tmp_path):
    db = tmp_path / "s.db"
    with Ledger(db) as ledger:
        ledger.record_download(1, emotion="happy", instrument="piano", file_path="a.mp3", size_bytes=100, at=AT)
        ledger.record_download(2, emotion="happy", instrument="piano", file_path="b.mp3", size_bytes=50, at=AT)
        ledger.record_rejection(3, emotion="happy", instrument="piano", reason="does not decode", at=AT)
    with Ledger(db) as ledger:  # a new process sees the same
        assert ledger.downloaded("happy", "piano") == (2, 150)
        assert ledger.downloaded("sad", "piano") == (0, 0)
        assert all(ledger.is_known(i) for i in (1, 2, 3)) and not ledger.is_known(4)


def test_adopting_counts_only_new_rows(tmp_path):
    with Ledger(tmp_path / "s.db") as ledger:
        ledger.record_download(1, emotion="sad", instrument="drums", file_path="a.mp3", size_bytes=10, at=AT)
        added = ledger.adopt([(1, "sad", "drums", "a.mp3", 10, AT), (2, "sad", "drums", "b.mp3", 20, AT)])
        assert added == 1
        assert ledger.downloaded("sad", "drums") == (2, 30)


def test_request_times_outlive_the_process_and_expire_after_a_day(tmp_path):
    db = tmp_path / "s.db"
    now = 1_700_000_000.0
    with Ledger(db) as ledger:
        for t in (now - DAY_S - 5, now - 100, now - 1):
            ledger.record_request(t)
    with Ledger(db) as ledger:
        assert ledger.request_times(now) == (now - 100, now - 1)


def test_progress_resets_when_the_search_changes(tmp_path):
    with Ledger(tmp_path / "s.db") as ledger:
        assert ledger.progress("happy", "piano", "key-1") == Progress(next_page=1, exhausted_day="")
        ledger.save_progress("happy", "piano", "key-1", Progress(next_page=4), at=AT)
        assert ledger.progress("happy", "piano", "key-1").next_page == 4
        assert ledger.progress("happy", "piano", "key-2") == Progress()
