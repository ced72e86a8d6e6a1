"""Tempo, beat grid and meter on hand-built onsets."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.notes import TempoMap, TimeSignature
from kellyd.music.tempo import (
    BeatGrid,
    beats_per_bar,
    estimate_tempo,
    grid_fit,
    main_time_signature,
    map_tempo_bpm,
    metrically_related,
    phase_offset_beats,
    resolve_tempo,
)


def two_tempo_map() -> TempoMap:
    # 120 bpm until 1.25 s (beat 2.5), then 60 bpm.
    return TempoMap(np.array([0.0, 1.25]), np.array([120.0, 60.0]), False)


def groove_onsets(bpm: float, bars: int = 8, phase_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Rock pattern: eighth-note hats (soft), kick on 1 and 3, snare on 2 and 4 (loud)."""
    b = 60.0 / bpm
    eighths = phase_s + np.arange(bars * 8) * b / 2
    beats = phase_s + np.arange(bars * 4) * b
    onset = np.concatenate((eighths, beats))
    weight = np.concatenate((np.full(len(eighths), 0.5), np.full(len(beats), 0.9)))
    order = np.argsort(onset, kind="stable")
    return onset[order], weight[order]


def test_tempo_map_beats_follow_a_change_between_beats():
    beats = two_tempo_map().beat_times_s(4.0)
    np.testing.assert_allclose(beats, [0.0, 0.5, 1.0, 1.75, 2.75, 3.75])


@pytest.mark.parametrize("t_s, beats", [(0.0, 0.0), (1.0, 2.0), (1.25, 2.5), (2.25, 3.5), (-0.5, -1.0)])
def test_beat_grid_maps_seconds_to_beats_and_back(t_s, beats):
    grid = BeatGrid.from_tempo_map(two_tempo_map())
    assert grid.to_beats(t_s) == pytest.approx(beats)
    assert grid.to_seconds(beats) == pytest.approx(t_s)


def test_beat_grid_shift_moves_every_beat_later():
    grid = BeatGrid.constant(120.0).shifted(0.25)
    assert grid.to_seconds(0.0) == pytest.approx(0.125)
    assert grid.to_seconds(4.0) == pytest.approx(2.125)


def test_constant_grid_rejects_a_non_positive_tempo():
    with pytest.raises(ValueError, match="-5"):
        BeatGrid.constant(-5.0)


@pytest.mark.parametrize(
    "time_s, bpm, start, end, expected",
    [
        ([0.0], [97.0], 0.0, 10.0, 97.0),
        # 100 bpm for 2 s then 80 bpm for 8 s: 80 covers most of the time.
        ([0.0, 2.0], [100.0, 80.0], 0.0, 10.0, 80.0),
        # A slow intro before the music starts does not count.
        ([0.0, 5.0], [60.0, 140.0], 5.0, 20.0, 140.0),
    ],
)
def test_map_tempo_is_the_tempo_in_force_longest(time_s, bpm, start, end, expected):
    tempo = TempoMap(np.array(time_s), np.array(bpm), False)
    assert map_tempo_bpm(tempo, start, end) == pytest.approx(expected)


@pytest.mark.parametrize("bpm", [72.0, 96.0, 120.0, 138.0])
def test_onset_estimate_finds_a_steady_rock_tempo(bpm):
    onset, weight = groove_onsets(bpm)
    est = estimate_tempo(onset, weight)
    assert est.bpm == pytest.approx(bpm, rel=0.04)
    assert 0.0 < est.strength <= 1.0


@pytest.mark.parametrize("bpm", [165.0, 190.0])
def test_a_fast_pattern_is_found_at_least_at_another_metrical_level(bpm):
    # Eighths at 165 bpm are sixteenths at 82.5: without accents the two readings are equally good.
    onset, weight = groove_onsets(bpm)
    assert metrically_related(estimate_tempo(onset, weight).bpm, bpm)


def test_onset_estimate_finds_the_phase_of_a_shifted_pattern():
    onset, weight = groove_onsets(100.0, phase_s=0.21)
    est = estimate_tempo(onset, weight)
    period = 60.0 / est.bpm
    # The phase names a beat position modulo the period.
    assert min(abs(est.phase_s - 0.21) % period, period - abs(est.phase_s - 0.21) % period) < 0.02


def test_onset_estimate_with_too_few_onsets_is_the_default_with_zero_strength():
    est = estimate_tempo(np.array([0.0, 0.5]))
    assert (est.bpm, est.strength) == (120.0, 0.0)


def test_onset_estimate_rejects_mismatched_weights():
    with pytest.raises(ValueError, match=r"\(3,\)"):
        estimate_tempo(np.zeros(3), np.ones(4))


def test_grid_fit_is_high_on_the_grid_and_low_between_or_at_random():
    grid = BeatGrid.constant(120.0)
    on_grid = np.arange(64) * 0.125
    assert grid_fit(on_grid, np.ones(64), grid) == pytest.approx(1.0)
    # Regular but half a sixteenth off: the grid does not fit, however periodic the notes are.
    assert grid_fit(on_grid + 0.0625, np.ones(64), grid) < 0.1
    rng = np.random.default_rng(3)
    random = np.sort(rng.uniform(0, 30, 300))
    assert grid_fit(random, np.ones(300), grid) < 0.15


@pytest.mark.parametrize("a, b, related", [(120, 60, True), (90, 270, True), (100, 103, True), (100, 133, False), (80, 120, False)])
def test_metrical_relation_is_acc2(a, b, related):
    assert metrically_related(a, b) is related


def test_phase_offset_finds_where_the_onsets_put_the_beat():
    beats = np.arange(32) + 0.3
    assert phase_offset_beats(beats, np.ones(32)) == pytest.approx(0.3, abs=1e-6)
    assert phase_offset_beats(np.arange(32) - 0.2, np.ones(32)) == pytest.approx(-0.2, abs=1e-6)


def test_a_tempo_map_the_onsets_fit_wins():
    onset, weight = groove_onsets(97.0)
    tempo = TempoMap(np.zeros(1), np.array([97.0]), False)
    result = resolve_tempo(tempo, onset, weight, float(onset[-1]))
    assert (result.bpm, result.source) == (97.0, "tempo_map")


def test_default_tempo_is_confirmed_when_the_notes_sit_on_its_grid():
    onset, weight = groove_onsets(120.0)
    result = resolve_tempo(TempoMap(np.zeros(1), np.array([120.0]), True), onset, weight, float(onset[-1]))
    assert (result.bpm, result.source) == (120.0, "default_confirmed")


def test_default_tempo_gives_way_to_the_onsets_of_a_performance_at_another_tempo():
    onset, weight = groove_onsets(97.0, bars=12, phase_s=0.07)
    result = resolve_tempo(TempoMap(np.zeros(1), np.array([120.0]), True), onset, weight, float(onset[-1]))
    assert result.source == "onsets"
    assert result.bpm == pytest.approx(97.0, rel=0.04)
    # The estimated grid puts the beats on the performance's beats.
    assert result.grid_fit > 0.8


def test_default_tempo_stays_when_too_few_notes_could_contradict_it():
    onset = np.array([0.0, 0.37, 0.81, 1.3, 1.77])
    result = resolve_tempo(TempoMap(np.zeros(1), np.array([120.0]), True), onset, np.ones(5), 2.0)
    assert (result.bpm, result.source) == (120.0, "default")


def test_a_grid_whose_beats_fall_between_the_notes_is_moved_onto_them():
    # A pickup: the file's beats are 0.4 beat before the music's (0.2 s at 120 bpm).
    onset, weight = groove_onsets(120.0, phase_s=0.2)
    result = resolve_tempo(TempoMap(np.zeros(1), np.array([120.0]), False), onset, weight, float(onset[-1]))
    assert result.grid_shift_beats == pytest.approx(0.4, abs=0.01)
    assert result.grid_fit > 0.9


def test_a_consistent_lag_within_a_players_feel_is_not_corrected():
    onset, weight = groove_onsets(120.0, phase_s=0.03)  # 30 ms behind: a laid-back drummer
    result = resolve_tempo(TempoMap(np.zeros(1), np.array([120.0]), False), onset, weight, float(onset[-1]))
    assert result.grid_shift_beats == 0.0


@pytest.mark.parametrize(
    "sigs, end_s, expected",
    [
        ((), 10.0, (4, 4)),
        ((TimeSignature(0.0, 3, 4),), 10.0, (3, 4)),
        ((TimeSignature(0.0, 4, 4), TimeSignature(2.0, 6, 8)), 10.0, (6, 8)),
        ((TimeSignature(0.0, 4, 4), TimeSignature(8.0, 6, 8)), 10.0, (4, 4)),
    ],
)
def test_main_time_signature_is_the_one_in_force_longest(sigs, end_s, expected):
    ts = main_time_signature(sigs, end_s)
    assert (ts.numerator, ts.denominator) == expected


@pytest.mark.parametrize("num, den, beats", [(4, 4, 4.0), (3, 4, 3.0), (6, 8, 3.0), (2, 2, 4.0), (5, 8, 2.5)])
def test_beats_per_bar_counts_quarter_notes(num, den, beats):
    assert beats_per_bar(TimeSignature(0.0, num, den)) == beats


def test_beats_per_bar_rejects_a_zero_denominator():
    with pytest.raises(ValueError, match="4/0"):
        beats_per_bar(TimeSignature(0.0, 4, 0))
