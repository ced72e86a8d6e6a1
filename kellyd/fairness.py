"""How many retries and how many new jobs one dispatch may hand to the workers.

A job that failed before (a file that crashes its worker, a step that timed out,
a server that is down) must not hold back files that have never been tried: the
process pool runs its queue in order, so retries get a lane of at most half the
workers (at least one), and new jobs fill the rest. A MIDI file dropped while
audio files keep failing therefore always finds a worker within one step's time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DispatchPlan:
    retries: int  # retries (jobs with attempts > 0) to submit now
    fresh: int  # upper bound on new jobs to submit now (room left once the retries are in)


def retry_lane(workers: int) -> int:
    """Retries allowed in flight at once."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return max(1, workers // 2)


def plan_dispatch(*, room: int, retries_in_flight: int, workers: int) -> DispatchPlan:
    """`room`: free places in the executor's queue; `retries_in_flight`: retries submitted and not back."""
    if room <= 0:
        return DispatchPlan(0, 0)
    retries = max(0, min(room, retry_lane(workers) - retries_in_flight))
    return DispatchPlan(retries, room)
