"""Bar timing that fills the requested duration exactly."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.synth.common import MICROSECONDS_PER_MINUTE, Timing, fit_timing


@pytest.mark.parametrize(("duration_s", "tempo", "beats"), [
    (16.0, (60, 140), 4), (10.0, (100, 180), 4), (7.3, (50, 70), 3), (30.0, (66, 120), 4), (2.0, (60, 80), 4),
])
def test_fit_timing_fills_the_duration_with_whole_bars(duration_s, tempo, beats):
    for seed in range(20):
        timing = fit_timing(duration_s, tempo_bpm=tempo, beats_per_bar=beats, rng=np.random.default_rng(seed))
        assert timing.duration_s == pytest.approx(duration_s, abs=1e-4)
        assert timing.bars >= 1 and timing.beats_per_bar == beats
        microseconds = MICROSECONDS_PER_MINUTE / timing.bpm
        assert microseconds == pytest.approx(round(microseconds), abs=1e-6), "a tempo a MIDI file stores exactly"


def test_fit_timing_stays_in_the_tempo_range_when_whole_bars_allow():
    for seed in range(50):
        timing = fit_timing(20.0, tempo_bpm=(90, 110), beats_per_bar=4, rng=np.random.default_rng(seed))
        assert 90 - 0.01 <= timing.bpm <= 110 + 0.01


def test_timing_arithmetic():
    timing = Timing(bpm=120.0, bars=3, beats_per_bar=4)
    assert (timing.beat_s, timing.bar_s, timing.duration_s) == (0.5, 2.0, 6.0)
    assert timing.time_at(2.5) == 1.25 and timing.time_signature == "4/4"
