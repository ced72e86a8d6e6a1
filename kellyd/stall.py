"""Is the queue stalled, and why: one pure function over what `kellyd status` read from the catalog."""

from __future__ import annotations

from dataclasses import dataclass

STALL_AFTER_S = 300.0


@dataclass(frozen=True)
class QueueView:
    pending: int
    runnable: int  # pending jobs due now (not waiting for a retry time)
    next_retry_at: float | None  # the earliest retry time of the others
    longest_running: tuple[str, str, float] | None  # (step, file, started_at) of the oldest step in flight
    last_progress_at: float | None  # a step finished, or the runner started
    daemon_running: bool
    deaths_since_progress: int
    last_death: str | None  # e.g. "signal SIGSEGV in features on a.wav"


@dataclass(frozen=True)
class Stall:
    idle_s: float
    reason: str


def stall(view: QueueView, *, now: float, stall_after_s: float = STALL_AFTER_S) -> Stall | None:
    """A Stall when jobs are pending and no step finished for `stall_after_s`, with its likely reason."""
    if view.pending <= 0:
        return None
    idle_s = max(0.0, now - view.last_progress_at) if view.last_progress_at is not None else float("inf")
    if not view.daemon_running:
        return Stall(idle_s, f"no daemon is running; {view.pending} job(s) wait for one")
    if idle_s < stall_after_s:
        return None
    if view.longest_running is not None and now - view.longest_running[2] >= stall_after_s:
        step, file, started_at = view.longest_running
        return Stall(idle_s, f"step {step} on {file} has been running for {now - started_at:.0f} s")
    if view.deaths_since_progress > 0:
        return Stall(idle_s, f"worker processes keep dying ({view.deaths_since_progress} since the last finished "
                             f"step; last: {view.last_death})")
    if view.runnable == 0 and view.next_retry_at is not None:
        return Stall(idle_s, f"every pending job is waiting to retry; the next attempt is in "
                             f"{max(0.0, view.next_retry_at - now):.0f} s")
    return Stall(idle_s, f"no step finished for {idle_s:.0f} s while {view.runnable} job(s) are due")
