"""Note statistics on hand-built notes."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.notes import Notes
from kellyd.music.stats import (
    INTERVAL_BINS,
    MAX_INTERVAL,
    interval_histogram,
    melodic_contour,
    melody_line,
    note_density,
    pitch_class_histogram,
    pitch_stats,
    polyphony,
    sample_curve,
)
from tests.music.midi_builders import notes


def test_pitch_stats_of_three_notes():
    s = pitch_stats(notes([(0, 1, 60, 80), (1, 2, 64, 80), (2, 3, 71, 80)]))
    assert (s.count, s.pitch_min, s.pitch_max, s.pitch_range) == (3, 60, 71, 11)
    assert s.pitch_mean == pytest.approx(65.0)
    assert s.pitch_std == pytest.approx(np.std([60, 64, 71]))


def test_pitch_stats_of_nothing_are_zeros():
    s = pitch_stats(Notes.empty())
    assert (s.count, s.pitch_min, s.pitch_max, s.pitch_range, s.pitch_mean, s.pitch_std) == (0, 0, 0, 0, 0.0, 0.0)


def test_pitch_class_histogram_is_weighted_by_duration():
    # C for 3 s (two octaves), G for 1 s.
    hist = pitch_class_histogram(notes([(0, 2, 60, 80), (0, 1, 72, 80), (2, 3, 67, 80)]))
    assert hist[0] == pytest.approx(0.75)
    assert hist[7] == pytest.approx(0.25)
    assert hist.sum() == pytest.approx(1.0)


def test_pitch_class_histogram_counts_zero_length_notes():
    hist = pitch_class_histogram(notes([(0, 0, 62, 80), (1, 1, 62, 80)]))
    assert hist[2] == pytest.approx(1.0)


def test_pitch_class_histogram_of_nothing_is_zeros():
    assert not pitch_class_histogram(Notes.empty()).any()


def test_melody_line_keeps_the_highest_note_of_each_onset():
    chords = notes([(0, 1, 48, 80), (0, 1, 64, 80), (0.01, 1, 60, 80), (1, 2, 50, 80), (1, 2, 67, 80)])
    melody = melody_line(chords)
    assert melody.pitch.tolist() == [64, 67]
    assert melody.start_s.tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "pitches, bin_offsets",
    [
        ([60, 62, 64], {+2: 1.0}),
        ([60, 67, 60], {+7: 0.5, -7: 0.5}),
        ([60, 60, 84], {0: 0.5, +12: 0.5}),  # a two-octave leap is clipped to the octave bin
    ],
)
def test_interval_histogram(pitches, bin_offsets):
    melody = notes([(i, i + 1, p, 80) for i, p in enumerate(pitches)])
    hist = interval_histogram(melody)
    assert hist.shape == (INTERVAL_BINS,)
    for offset, share in bin_offsets.items():
        assert hist[offset + MAX_INTERVAL] == pytest.approx(share)
    assert hist.sum() == pytest.approx(1.0)


def test_interval_histogram_of_one_note_is_zeros():
    assert not interval_histogram(notes([(0, 1, 60, 80)])).any()


def test_contour_follows_the_melody_over_equal_spans():
    melody = notes([(0, 1, 60, 80), (1, 2, 72, 80)])
    contour = melodic_contour(melody, 0.0, 2.0, points=4)
    assert contour.tolist() == [60, 60, 72, 72]


def test_curve_of_nothing_is_zeros_and_points_must_be_positive():
    assert sample_curve(np.zeros(0), np.zeros(0), 0.0, 1.0, 32).tolist() == [0.0] * 32
    with pytest.raises(ValueError, match="0"):
        sample_curve(np.zeros(0), np.zeros(0), 0.0, 1.0, 0)


@pytest.mark.parametrize(
    "rows, mean, peak",
    [
        ([(0, 1, 60, 80)], 1.0, 1),
        ([(0, 2, 60, 80), (0, 2, 64, 80), (0, 2, 67, 80)], 3.0, 3),
        # Two notes together for 1 s, one alone for 1 s: 1.5 on average while something sounds.
        ([(0, 2, 60, 80), (0, 1, 64, 80)], 1.5, 2),
        # Touching notes do not overlap.
        ([(0, 1, 60, 80), (1, 2, 62, 80)], 1.0, 1),
        # Silence between notes does not lower the mean.
        ([(0, 1, 60, 80), (5, 6, 62, 80)], 1.0, 1),
    ],
)
def test_polyphony(rows, mean, peak):
    assert polyphony(notes(rows)) == (pytest.approx(mean), peak)


def test_polyphony_of_nothing_or_only_instants_is_zero():
    assert polyphony(Notes.empty()) == (0.0, 0)
    assert polyphony(notes([(1, 1, 60, 80)])) == (0.0, 0)


@pytest.mark.parametrize("count, duration, density", [(10, 5.0, 2.0), (0, 5.0, 0.0), (3, 0.0, 0.0)])
def test_note_density(count, duration, density):
    assert note_density(count, duration) == density
