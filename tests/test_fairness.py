"""Retries get a lane of their own: new files always find a worker."""

from __future__ import annotations

import pytest

from kellyd.fairness import DispatchPlan, plan_dispatch, retry_lane


@pytest.mark.parametrize("workers, lane", [(1, 1), (2, 1), (3, 1), (4, 2), (16, 8)])
def test_retry_lane_is_half_the_workers_at_least_one(workers, lane):
    assert retry_lane(workers) == lane


@pytest.mark.parametrize("room, retries_in_flight, workers, plan", [
    (8, 0, 2, DispatchPlan(1, 8)),
    (8, 1, 2, DispatchPlan(0, 8)),  # the lane is full: only new jobs
    (0, 0, 4, DispatchPlan(0, 0)),
    (1, 0, 4, DispatchPlan(1, 1)),
    (16, 1, 8, DispatchPlan(3, 16)),
    (16, 9, 8, DispatchPlan(0, 16)),
])
def test_plan_dispatch(room, retries_in_flight, workers, plan):
    assert plan_dispatch(room=room, retries_in_flight=retries_in_flight, workers=workers) == plan


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        retry_lane(0)
