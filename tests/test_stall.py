"""Stall detection with `now` passed in: a table of queue views and the reason given."""

from __future__ import annotations

import pytest

from kellyd.stall import QueueView, stall

NOW = 10_000.0


def view(**changes) -> QueueView:
    base = dict(pending=5, runnable=5, next_retry_at=None, longest_running=None, last_progress_at=NOW - 10,
                daemon_running=True, deaths_since_progress=0, last_death=None)
    return QueueView(**{**base, **changes})


@pytest.mark.parametrize("queue, reason", [
    (view(), None),  # recent progress
    (view(pending=0, last_progress_at=NOW - 9999), None),  # nothing to do is not a stall
    (view(daemon_running=False), "no daemon is running; 5 job(s) wait for one"),
    (view(last_progress_at=NOW - 600, longest_running=("features", "a.wav", NOW - 500)),
     "step features on a.wav has been running for 500 s"),
    (view(last_progress_at=NOW - 600, deaths_since_progress=7, last_death="signal SIGSEGV in features on a.wav"),
     "worker processes keep dying (7 since the last finished step; last: signal SIGSEGV in features on a.wav)"),
    (view(last_progress_at=NOW - 600, runnable=0, next_retry_at=NOW + 120),
     "every pending job is waiting to retry; the next attempt is in 120 s"),
    (view(last_progress_at=NOW - 600), "no step finished for 600 s while 5 job(s) are due"),
])
def test_stall_reason(queue, reason):
    found = stall(queue, now=NOW, stall_after_s=300.0)
    assert (found.reason if found else None) == reason


def test_idle_time_is_measured_from_the_last_progress():
    assert stall(view(last_progress_at=NOW - 301), now=NOW, stall_after_s=300.0).idle_s == pytest.approx(301)
    assert stall(view(last_progress_at=NOW - 299), now=NOW, stall_after_s=300.0) is None
