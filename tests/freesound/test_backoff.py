from __future__ import annotations

import random

import pytest

from kellyd.freesound.backoff import backoff_delay_s, parse_retry_after_s

NOW_S = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class FixedRng(random.Random):
    """uniform(a, b) returns a + share * (b - a): pins the jitter."""

    def __init__(self, share: float) -> None:
        super().__init__(0)
        self.share = share

    def uniform(self, a: float, b: float) -> float:
        return a + self.share * (b - a)


@pytest.mark.parametrize(
    "attempt, share, expected",
    [
        (0, 0.0, 0.5), (0, 1.0, 1.0),        # ceiling 1 s: between 0.5 and 1
        (1, 0.0, 1.0), (2, 0.5, 3.0),        # ceilings 2 s, 4 s
        (5, 1.0, 10.0), (9, 0.0, 5.0),       # capped at max_s = 10
        (500, 1.0, 10.0),                    # no overflow for absurd attempts
    ],
)
def test_backoff_doubles_up_to_the_cap_with_bounded_jitter(attempt, share, expected):
    assert backoff_delay_s(attempt, base_s=1.0, max_s=10.0, rng=FixedRng(share)) == pytest.approx(expected)


def test_backoff_jitter_spreads_delays_with_a_real_rng():
    rng = random.Random(7)
    delays = [backoff_delay_s(3, base_s=0.5, max_s=60.0, rng=rng) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 150


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"attempt": -1, "base_s": 1.0, "max_s": 2.0}, "attempt"),
        ({"attempt": True, "base_s": 1.0, "max_s": 2.0}, "attempt"),
        ({"attempt": 0, "base_s": 0.0, "max_s": 2.0}, "base_s"),
        ({"attempt": 0, "base_s": float("nan"), "max_s": 2.0}, "base_s"),
        ({"attempt": 0, "base_s": 3.0, "max_s": 2.0}, "max_s"),
    ],
)
def test_backoff_refuses_bad_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words):
        backoff_delay_s(rng=random.Random(0), **kwargs)


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, None), ("", None), ("soon", None), ("nan", None), ("inf", None),
        ("1", 1.0), (" 2.5 ", 2.5), ("-3", 0.0),
        ("Tue, 14 Nov 2023 22:13:50 GMT", 30.0),   # an HTTP date 30 s after now
        ("Tue, 14 Nov 2023 22:13:00 GMT", 0.0),    # already past
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header, expected):
    result = parse_retry_after_s(header, NOW_S)
    assert result == (pytest.approx(expected) if expected is not None else None)
