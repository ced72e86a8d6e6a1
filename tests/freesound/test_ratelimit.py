from __future__ import annotations

import pytest

from kellyd.freesound.ratelimit import (
    DAY_S, MARGIN_S, MINUTE_S, RateLimits, daily_wait_s, minute_wait_s, prune, record, wait_s,
)

T0 = 1_700_000_000.0
LIMITS = RateLimits(per_minute=3, per_day=5)


@pytest.mark.parametrize(
    "times, now, expected",
    [
        ((), T0, 0.0),                                          # nothing yet
        ((T0 - 10, T0 - 5), T0, 0.0),                           # two in the minute, limit 3
        ((T0 - 10, T0 - 5, T0 - 1), T0, 50.0 + MARGIN_S),       # full: the oldest frees at T0 - 10 + 60 + margin
        ((T0 - 60 - MARGIN_S, T0 - 5, T0 - 1), T0, 0.0),        # a request a minute and the margin old is gone
        ((T0 - 60, T0 - 5, T0 - 1), T0, MARGIN_S),              # exactly 60 s old still holds its slot
        ((T0 - 59.99, T0 - 5, T0 - 1), T0, 0.01 + MARGIN_S),    # the case a server saw as 4 in 59.99 s
        ((T0 - 59.5, T0 - 5, T0 - 1), T0, 0.5 + MARGIN_S),
        ((T0 - 1, T0 - 10, T0 - 5), T0, 50.0 + MARGIN_S),       # any order
        ((T0 - 30, T0 - 20, T0 - 10, T0 - 5), T0, 40.0 + MARGIN_S),  # 4 in the minute: wait for the 2nd oldest
        ((T0 + 30, T0 - 5, T0 - 1), T0, 55.0 + MARGIN_S),       # a time after now (clock went back) counts as now
    ],
)
def test_minute_wait(times, now, expected):
    assert minute_wait_s(times, now, LIMITS) == pytest.approx(expected)


@pytest.mark.parametrize(
    "times, now, expected",
    [
        ((T0 - 5000, T0 - 4000, T0 - 3000, T0 - 2000), T0, 0.0),       # 4 of 5
        ((T0 - 5000, T0 - 4000, T0 - 3000, T0 - 2000, T0 - 1000), T0, DAY_S - 5000),
        ((T0 - DAY_S, T0 - 4000, T0 - 3000, T0 - 2000, T0 - 1000), T0, 0.0),  # the oldest just expired
        ((T0 - 9000, T0 - 5000, T0 - 4000, T0 - 3000, T0 - 2000, T0 - 1000), T0, DAY_S - 5000),
    ],
)
def test_daily_wait(times, now, expected):
    assert daily_wait_s(times, now, LIMITS) == pytest.approx(expected)


def test_the_wait_is_the_longer_of_the_two():
    times = (T0 - 5000, T0 - 4000, T0 - 30, T0 - 20, T0 - 10)
    assert minute_wait_s(times, T0, LIMITS) == pytest.approx(30.0 + MARGIN_S)
    assert wait_s(times, T0, LIMITS) == pytest.approx(DAY_S - 5000)


def test_record_adds_and_prunes_the_day():
    times = record((T0 - DAY_S - 1, T0 - 10), T0)
    assert times == (T0 - 10, T0)
    assert prune((T0, T0 - 10), T0) == (T0 - 10, T0)


def test_following_the_waits_never_exceeds_either_limit():
    limits = RateLimits(per_minute=4, per_day=10)
    times: tuple[float, ...] = ()
    now = T0
    for _ in range(25):
        now += wait_s(times, now, limits)
        times = record(times, now)
        in_minute = [t for t in times if t > now - 60]
        assert len(in_minute) <= limits.per_minute
        assert len(times) <= limits.per_day
        now += 0.5


@pytest.mark.parametrize("latency_s", [0.0, 0.3, 2.0, 7.5])
def test_counting_requests_when_they_end_keeps_every_server_minute_within_the_limit(latency_s):
    """The server stamps a request when it arrives, any time between send and answer.

    Worst case for a limit counted at send time: the first request of a window
    arrives late (after `latency_s`), the next ones at once. Counted when the
    answer came (as the client does), no 60 s span of arrivals holds more than
    the limit, whatever the latency.
    """
    limits = RateLimits(per_minute=3, per_day=10_000)
    times: tuple[float, ...] = ()
    arrivals: list[float] = []
    now = T0
    for i in range(30):
        now += wait_s(times, now, limits)
        sent = now
        late = latency_s if i % 3 == 0 else 0.0
        arrivals.append(sent + late)
        now = sent + late  # the answer comes once the request has arrived
        times = record(times, now)
    arrivals.sort()
    for i in range(len(arrivals) - limits.per_minute):
        assert arrivals[i + limits.per_minute] - arrivals[i] > MINUTE_S


@pytest.mark.parametrize("per_minute, per_day", [(0, 10), (5, -1), (True, 10), (2.5, 10)])
def test_limits_must_be_positive_ints(per_minute, per_day):
    with pytest.raises(ValueError, match="must be a positive int"):
        RateLimits(per_minute=per_minute, per_day=per_day)
