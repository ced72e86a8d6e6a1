"""The settle rule, table-driven, with the clock and stat passed in (no sleeping)."""

from __future__ import annotations

import pytest

from kellyd.settle import FileStat, SettleTracker

S = 1_000_000_000  # ns per s


def run(events, settle_s=1.0):
    """events: (now_s, action, arg) with action in note/note_renamed/write/poll; returns ready paths per poll."""
    tracker = SettleTracker(settle_s)
    files: dict[str, FileStat] = {}
    out = []
    for now_s, action, arg in events:
        if action == "write":
            path, size = arg
            files[path] = FileStat(size, int(now_s * S))
        elif action == "delete":
            files.pop(arg, None)
        elif action == "note":
            tracker.note(arg, now_s=now_s)
        elif action == "note_renamed":
            tracker.note(arg, now_s=now_s, immediate=True)
        elif action == "poll":
            ready = tracker.poll(files.get, now_s=now_s, wall_now_ns=int(now_s * S))
            out.append(sorted(r.path for r in ready))
    return out


@pytest.mark.parametrize("events, expected", [
    # written once, still for settle_s: ready after 1 s, not before
    ([(0, "write", ("a", 10)), (0, "note", "a"), (0.5, "poll", None), (1.0, "poll", None)], [[], ["a"]]),
    # a slow writer keeps growing: not ready until it stops
    ([(0, "write", ("a", 10)), (0, "note", "a"), (0.6, "write", ("a", 20)), (0.9, "poll", None),
      (1.2, "write", ("a", 30)), (1.5, "poll", None), (2.0, "poll", None), (2.6, "poll", None)],
     [[], [], [], ["a"]]),
    # renamed into place: ready at once even with a fresh mtime
    ([(5, "write", ("b", 10)), (5, "note_renamed", "b"), (5.01, "poll", None)], [["b"]]),
    # found by a scan after a restart with an old mtime: ready at the first poll
    ([(0, "write", ("c", 10)), (100, "note", "c"), (100, "poll", None), (101, "poll", None)], [["c"], []]),
    # a fresh file found by a scan still waits for settle_s
    ([(99.8, "write", ("f", 10)), (100, "note", "f"), (100, "poll", None), (100.9, "poll", None)], [[], ["f"]]),
    # vanished before it settled: forgotten, never ready
    ([(0, "write", ("d", 10)), (0, "note", "d"), (0.5, "delete", "d"), (2, "poll", None), (3, "poll", None)],
     [[], []]),
    # noted twice: reported once
    ([(0, "write", ("e", 1)), (0, "note", "e"), (0.2, "note", "e"), (1.5, "poll", None), (3, "poll", None)],
     [["e"], []]),
])
def test_settle_rule(events, expected):
    assert run(events) == expected


def test_zero_settle_is_immediate():
    assert run([(0, "write", ("a", 1)), (0, "note", "a"), (0, "poll", None)], settle_s=0.0) == [["a"]]


def test_negative_settle_is_refused():
    with pytest.raises(ValueError, match="-1"):
        SettleTracker(-1)
