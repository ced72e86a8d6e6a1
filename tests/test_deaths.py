"""What a dead worker means for its job: one table of cases for `judge_death`."""

from __future__ import annotations

import signal

import pytest

from kellyd.deaths import WorkerDeath, describe_exit, judge_death

SEGV, KILL = -signal.SIGSEGV, -signal.SIGKILL


def judge(death, *, audio=True, crashes=0, timeouts=0, max_attempts=5):
    return judge_death(death, step="features", audio_step=audio, earlier_deaths=crashes, earlier_timeouts=timeouts,
                       max_attempts=max_attempts, step_timeout_s=30.0)


@pytest.mark.parametrize("death, audio, crashes, timeouts, action, charged, reason", [
    # A segfault with code loaded from the worker's numba cache: the cache pays, not the file.
    (WorkerDeath(1, SEGV, 7, 0, cache_warm=True), True, 0, 0, "rebuild_cache", False, "numba cache"),
    # The same with an empty cache (compiled in this process): the file pays.
    (WorkerDeath(1, SEGV, 7, 0, cache_warm=False), True, 0, 0, "retry", True,
     "worker process died (signal SIGSEGV) 1 time while running features on this file"),
    # Not an audio step: numba was not involved.
    (WorkerDeath(1, SEGV, 7, 0, cache_warm=True), False, 1, 0, "retry", True, "(signal SIGSEGV) 2 times"),
    (WorkerDeath(1, SEGV, 7, 0), True, 4, 0, "quarantine", True,
     "worker process died (signal SIGSEGV) 5 times while running features on this file"),
    (WorkerDeath(1, KILL, 7, 0, cache_warm=True), True, 0, 0, "retry", True, "(signal SIGKILL) 1 time"),
    (WorkerDeath(1, 139, 7, 0, cache_warm=True), True, 0, 0, "retry", True, "exit code 139 (signal SIGSEGV)"),
    (WorkerDeath(1, KILL, 7, 0, timed_out=True), True, 0, 0, "retry", True, "exceeded 30 s"),
    (WorkerDeath(1, KILL, 7, 0, timed_out=True), True, 0, 1, "quarantine", True, "step features exceeded 30 s"),
])
def test_judge_death(death, audio, crashes, timeouts, action, charged, reason):
    verdict = judge(death, audio=audio, crashes=crashes, timeouts=timeouts)
    assert (verdict.action, verdict.charged) == (action, charged)
    assert reason in verdict.reason


def test_a_job_gets_one_cache_rebuild_then_pays():
    """A file that also crashes a freshly compiled cache is the cause: no endless free rebuilds."""
    death = WorkerDeath(1, SEGV, 7, 0, cache_warm=True)
    verdict = judge_death(death, step="features", audio_step=True, earlier_deaths=0, earlier_timeouts=0,
                          max_attempts=5, step_timeout_s=30.0, earlier_cache_rebuilds=1)
    assert (verdict.action, verdict.charged) == ("retry", True)
    assert verdict.reason == "worker process died (signal SIGSEGV) 1 time while running features on this file"


def test_timeout_reason_is_exactly_the_step_and_limit():
    verdict = judge(WorkerDeath(1, KILL, 7, timed_out=True), timeouts=1)
    assert verdict.reason == "step features exceeded 30 s" and verdict.cause == "timeout"


@pytest.mark.parametrize("code, text", [(None, "unknown exit"), (-11, "signal SIGSEGV"), (-9, "signal SIGKILL"),
                                        (3, "exit code 3"), (137, "exit code 137 (signal SIGKILL)")])
def test_describe_exit(code, text):
    assert describe_exit(code) == text
