"""The watcher: real watchdog observers on real folders."""

from __future__ import annotations

import logging
import os

import pytest

from kellyd.watch import ChangeQueue, Watcher
from tests.daemon.harness import wait_for


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_records_created_and_renamed_files_and_new_folders(tmp_path, polling):
    queue = ChangeQueue()
    watcher = Watcher([tmp_path], queue, polling=polling, poll_interval_s=0.05)
    watcher.start()
    try:
        seen = []
        (tmp_path / "a.mid").write_bytes(b"x")
        (tmp_path / "b.part").write_bytes(b"y")
        os.rename(tmp_path / "b.part", tmp_path / "b.mid")
        outside = tmp_path.parent / f"{tmp_path.name}-outside"
        outside.mkdir()
        (outside / "c.mid").write_bytes(b"z")
        os.rename(outside, tmp_path / "moved_in")

        def found() -> bool:
            seen.extend(queue.drain())
            names = {(os.path.basename(c.path), c.immediate, c.is_directory) for c in seen}
            # The polling observer sees the renamed file as a new one: a snapshot cannot tell.
            return {("a.mid", False, False), ("b.mid", not polling, False), ("moved_in", False, True)} <= names

        wait_for(found, 10, "the observer's changes")
    finally:
        watcher.stop()


def test_a_dead_observer_is_restarted_and_asks_for_a_rescan(tmp_path):
    queue = ChangeQueue()
    watcher = Watcher([tmp_path], queue)
    watcher.start()
    try:
        assert watcher.check() is False
        watcher._observer.stop()  # what an exception inside watchdog does to its thread
        watcher._observer.join(5)
        assert not watcher.is_healthy()
        assert watcher.check() is True and watcher.restarts == 1
        assert queue.rescan_requested.is_set()
        queue.drain()
        (tmp_path / "after.mid").write_bytes(b"x")
        wait_for(lambda: any(c.path.endswith("after.mid") for c in queue.drain()), 10, "events after the restart")
    finally:
        watcher.stop()


def test_an_inotify_overflow_asks_for_a_rescan(tmp_path):
    queue = ChangeQueue()
    watcher = Watcher([tmp_path], queue)
    watcher.start()
    try:
        # watchdog reports a kernel queue overflow only through this logger
        logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed; filesystem events were lost")
        assert queue.rescan_requested.is_set()
    finally:
        watcher.stop()
    queue.rescan_requested.clear()
    logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed")
    assert not queue.rescan_requested.is_set(), "a stopped watcher no longer listens"


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_reads_and_deletions_bring_no_events(tmp_path, monkeypatch, polling):
    """The import reads each file several times and then removes it: none of that is work, and the
    observer is not told of it at all (the kernel is asked only for the events that can bring work)."""
    import kellyd.watch as watch

    delivered: list[str] = []
    recorded = watch._Recorder.on_any_event

    def counting(self, event):
        delivered.append(event.event_type)
        recorded(self, event)

    monkeypatch.setattr(watch._Recorder, "on_any_event", counting)
    queue = ChangeQueue()
    watcher = Watcher([tmp_path], queue, polling=polling, poll_interval_s=0.05)
    watcher.start()
    try:
        staged = tmp_path.parent / f"{tmp_path.name}-staged.mid"
        staged.write_bytes(b"MThd")
        os.rename(staged, tmp_path / "take.mid")
        wait_for(lambda: any(c.path.endswith("take.mid") for c in queue.drain()), 10, "the renamed file")
        delivered.clear()
        for _ in range(20):
            (tmp_path / "take.mid").read_bytes()
        # A link kept outside holds the inode: a polling snapshot would take a new file on the freed one for a move.
        os.link(tmp_path / "take.mid", tmp_path.parent / f"{tmp_path.name}-kept.mid")
        os.unlink(tmp_path / "take.mid")
        (tmp_path / "next.mid").write_bytes(b"x")  # events come in order: once this one is in, the others were
        wait_for(lambda: any(c.path.endswith("next.mid") for c in queue.drain()), 10, "the next file")
        assert set(delivered) <= {"created", "modified", "closed"}, delivered
    finally:
        watcher.stop()
