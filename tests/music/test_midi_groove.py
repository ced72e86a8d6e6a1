"""Swing, micro-timing, syncopation and groove type on hand-built onsets."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.groove import (
    GrooveType,
    analyse_groove,
    metrical_weight,
    swing_ratio,
    syncopation,
)
from kellyd.music.midi_features import extract_midi
from kellyd.music.tempo import BeatGrid
from kellyd.taxonomy import GROOVE_TYPES
from tests.music.midi_builders import score, swung_hats


def analyse(notes, bpm=120.0, bar_beats=4.0):
    return analyse_groove(notes.start_s, notes.velocity / 127.0, BeatGrid.constant(bpm), bar_beats)


@pytest.mark.parametrize("ratio", [0.5, 0.6, 2 / 3, 0.7])
def test_swing_ratio_is_the_long_share_of_each_eighth_pair(ratio):
    hats = swung_hats(120.0, ratio, bars=8)
    assert analyse(hats).swing.ratio == pytest.approx(ratio, abs=0.005)


def test_a_two_to_one_swing_built_as_a_file_measures_two_thirds():
    # 8 bars of triplet swing at 140 bpm, played by a human-ish drummer (5 ms timing jitter).
    s = score(drums=swung_hats(140.0, 2 / 3, bars=8, jitter_ms=5.0), bpm=140.0)
    labels = extract_midi(s).labels
    assert labels["swing_ratio"] == pytest.approx(0.667, abs=0.02)
    assert labels["groove_type"] == "shuffle"  # every beat swung


def test_straight_sixteenths_are_not_swing():
    beats = np.arange(64) * 0.25  # sixteenths as beat positions
    weight = np.where(np.arange(64) % 2 == 0, 0.8, 0.5)  # eighths louder than the sixteenths between
    assert swing_ratio(beats, weight).ratio == pytest.approx(0.5, abs=0.01)


def test_too_few_off_beats_leave_the_swing_undefined():
    est = swing_ratio(np.array([0.0, 0.67, 1.0, 1.67, 2.0]), np.ones(5))
    assert est.ratio is None


def test_swing_on_two_and_four_only_is_jazz_swing_not_shuffle():
    # Ride "spang-a-lang": quarter notes, plus the swung off-beat only after beats 2 and 4.
    beats = []
    for bar in range(8):
        for beat in range(4):
            beats.append(bar * 4 + beat)
            if beat in (1, 3):
                beats.append(bar * 4 + beat + 2 / 3)
    stats = analyse_groove(np.array(beats) * 0.5, np.ones(len(beats)), BeatGrid.constant(120.0), 4.0)
    assert stats.swing.beat_share == pytest.approx(0.5)
    assert stats.groove_type == "swing"


@pytest.mark.parametrize("lag_ms, groove", [(0.0, "straight"), (25.0, "laid_back"), (-25.0, "rushed"), (8.0, "straight")])
def test_timing_feel_from_the_signed_offset(lag_ms, groove):
    beats = np.arange(64) * 0.5  # straight eighths
    onset_s = beats * 0.5 + lag_ms / 1000.0
    stats = analyse_groove(onset_s, np.ones(64), BeatGrid.constant(120.0), 4.0)
    assert stats.timing.signed_mean_ms == pytest.approx(lag_ms, abs=0.01)
    assert stats.timing.mean_abs_ms == pytest.approx(abs(lag_ms), abs=0.01)
    assert stats.groove_type == groove


def test_microtiming_spread():
    rng = np.random.default_rng(7)
    offsets_s = rng.normal(0.0, 0.01, 400)
    onset_s = np.arange(400) * 0.25 + offsets_s
    stats = analyse_groove(onset_s, np.ones(400), BeatGrid.constant(120.0), 4.0)
    assert stats.timing.std_ms == pytest.approx(10.0, rel=0.15)


@pytest.mark.parametrize(
    "slot, weight",
    [(0, 0), (8, -1), (4, -2), (12, -2), (2, -3), (6, -3), (1, -4), (15, -4), (16, 0)],
)
def test_metrical_weights_of_a_four_four_bar(slot, weight):
    assert metrical_weight(np.array([slot]), 16)[0] == weight


@pytest.mark.parametrize(
    "positions_beats, expected",
    [
        ([0, 1, 2, 3, 4], 0.0),  # quarter notes on the beats
        ([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4], 0.0),  # straight eighths
        # Off-beat eighths, each followed by silence on a stronger position: the beat (gain 1),
        # the half bar (2), the beat (1), the next bar (3); the last onset has no successor.
        ([0.5, 1.5, 2.5, 3.5, 4.5], (1 + 2 + 1 + 3) / 4 / 4),
    ],
)
def test_syncopation(positions_beats, expected):
    assert syncopation(np.array(positions_beats, dtype=float), 4.0) == pytest.approx(expected)


def test_syncopation_of_one_onset_is_zero_and_bars_must_be_positive():
    assert syncopation(np.array([1.5]), 4.0) == 0.0
    with pytest.raises(ValueError, match="0"):
        syncopation(np.array([0.0, 1.0]), 0.0)


def test_density_counts_simultaneous_notes_once():
    onset_s = np.repeat(np.arange(16) * 0.5, 2)  # kick and hat together, every beat at 120 bpm
    stats = analyse_groove(onset_s, np.ones(32), BeatGrid.constant(120.0), 4.0)
    assert stats.density_per_beat == pytest.approx(16 / 15)


def test_empty_groove_is_defined():
    stats = analyse_groove(np.zeros(0), np.zeros(0), BeatGrid.constant(120.0), 4.0)
    assert stats.swing.ratio is None
    assert (stats.syncopation, stats.density_per_beat, stats.timing.mean_abs_ms) == (0.0, 0.0, 0.0)
    assert stats.groove_type == "straight"


def test_groove_type_literal_matches_the_taxonomy():
    assert set(GrooveType.__args__) == set(GROOVE_TYPES)
