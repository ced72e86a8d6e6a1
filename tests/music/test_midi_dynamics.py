"""Velocity statistics, accents and articulation on hand-built notes."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.dynamics import accent_share, articulation, velocity_curve, velocity_stats
from kellyd.music.notes import Notes
from tests.music.midi_builders import notes


def test_velocity_stats():
    s = velocity_stats(np.array([40, 80, 120]))
    assert (s.min, s.max, s.range) == (40, 120, 80)
    assert s.mean == pytest.approx(80.0)
    assert s.std == pytest.approx(np.std([40, 80, 120]))


def test_velocity_stats_of_nothing_are_zeros():
    s = velocity_stats(np.zeros(0))
    assert (s.mean, s.std, s.min, s.max, s.range) == (0.0, 0.0, 0, 0, 0)


def test_velocity_curve_averages_each_span_and_fills_empty_ones():
    start = np.array([0.0, 0.1, 3.0])
    vel = np.array([40, 60, 100])
    curve = velocity_curve(start, vel, 0.0, 4.0, 4)
    # Span 0: mean of 40 and 60; spans 1 and 2 are empty: interpolated towards 100 at span 3.
    np.testing.assert_allclose(curve, [50.0, 200 / 3, 250 / 3, 100.0])


def test_velocity_curve_of_nothing_is_zeros():
    assert velocity_curve(np.zeros(0), np.zeros(0), 0.0, 1.0, 8).tolist() == [0.0] * 8


def test_accent_share_counts_notes_standing_out_of_their_neighbourhood():
    start = np.arange(16) * 0.25
    vel = np.full(16, 60)
    vel[::4] = 100  # one accent per beat
    assert accent_share(start, vel) == pytest.approx(0.25)
    assert accent_share(start, np.full(16, 60)) == 0.0
    assert accent_share(np.zeros(0), np.zeros(0)) == 0.0


@pytest.mark.parametrize(
    "durations, label",
    [
        ([1.0] * 8, "legato"),  # each note lasts until the next
        ([1.2] * 8, "legato"),  # overlapping
        ([0.2] * 8, "staccato"),
        ([1.0, 0.2] * 4, "mixed"),
        ([0.7] * 8, "mixed"),  # detached: neither legato nor staccato
    ],
)
def test_articulation_from_duration_to_inter_onset_ratio(durations, label):
    track = notes([(i, i + d, 60 + i, 80) for i, d in enumerate(durations)])
    assert articulation([track]).label == label


def test_articulation_judges_each_track_on_its_own():
    # Two staccato tracks interleaved: one merged line would look legato-ish.
    a = notes([(i, i + 0.3, 60, 80) for i in range(0, 16, 2)])
    b = notes([(i, i + 0.3, 72, 80) for i in range(1, 16, 2)])
    stats = articulation([a, b])
    assert stats.label == "staccato"
    assert stats.judged_notes == 14  # the last note of each track has no successor


def test_articulation_treats_a_chord_as_one_onset():
    chord_then_note = notes([(0, 1, 60, 80), (0, 1, 64, 80), (1, 2, 67, 80)])
    stats = articulation([chord_then_note])
    assert stats.judged_notes == 2
    assert stats.legato_share == 1.0


def test_articulation_without_successors_is_undefined():
    assert articulation([notes([(0, 1, 60, 80)])]).label is None
    assert articulation([Notes.empty()]).label is None
    assert articulation([]).judged_notes == 0
