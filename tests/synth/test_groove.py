"""Drum grooves: GM drums on a drum track, 2:1 swing where labelled, micro-timing as labelled."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.synth.groove import CRASH, GROOVE_TEMPO_BPM, RIDE, groove_piece
from kellyd.taxonomy import GROOVE_TYPES

GM_DRUM_KEYS = range(35, 82)


def offbeat_phases(piece) -> np.ndarray:
    """Positions inside the beat of the notes that fall between beats (micro-timing included)."""
    notes = piece.score.tracks[0].notes
    beat_s = 60.0 / piece.annotations["tempo_bpm"]
    phase = (notes.start_s / beat_s) % 1.0
    return phase[(phase > 0.3) & (phase < 0.8)]


@pytest.mark.parametrize("groove_type", GROOVE_TYPES)
def test_a_groove_is_a_drum_track_of_general_midi_drums(groove_type):
    piece = groove_piece(groove_type, duration_s=12.0, seed=2)
    (track,) = piece.score.tracks
    assert track.is_drum
    assert set(track.notes.pitch.tolist()) <= set(GM_DRUM_KEYS)
    assert piece.annotations["groove_type"] == groove_type == piece.label
    assert piece.score.duration_s == pytest.approx(12.0, abs=1e-3)
    low, high = GROOVE_TEMPO_BPM[groove_type]
    assert low * 0.9 <= piece.annotations["tempo_bpm"] <= high * 1.1


@pytest.mark.parametrize(("groove_type", "ratio"), [
    ("straight", 0.5), ("swing", 0.667), ("shuffle", 0.667), ("laid_back", 0.5), ("rushed", 0.5),
])
def test_offbeats_sit_where_the_swing_ratio_says(groove_type, ratio):
    piece = groove_piece(groove_type, duration_s=16.0, seed=4)
    assert piece.annotations["swing_ratio"] == ratio
    beat_ms = 60000.0 / piece.annotations["tempo_bpm"]
    shift = piece.annotations["microtiming_ms"] / beat_ms
    assert float(np.median(offbeat_phases(piece))) == pytest.approx(ratio + shift, abs=0.01)


def test_swing_is_the_ride_pattern_and_shuffle_swings_every_beat():
    swing = groove_piece("swing", duration_s=16.0, seed=1)
    notes = swing.score.tracks[0].notes
    assert RIDE in notes.pitch
    beat_s = 60.0 / swing.annotations["tempo_bpm"]
    swung = notes.start_s[np.abs((notes.start_s / beat_s) % 1.0 - 2 / 3) < 0.02]
    beats_with_swung_offbeat = {int(t / beat_s) % 4 for t in swung}
    assert beats_with_swung_offbeat == {1, 3}, "the skip note falls on the 'and' of 2 and 4"
    shuffle = groove_piece("shuffle", duration_s=16.0, seed=1)
    s_notes = shuffle.score.tracks[0].notes
    s_beat = 60.0 / shuffle.annotations["tempo_bpm"]
    swung = s_notes.start_s[np.abs((s_notes.start_s / s_beat) % 1.0 - 2 / 3) < 0.02]
    assert {int(t / s_beat) % 4 for t in swung} == {0, 1, 2, 3}


@pytest.mark.parametrize(("groove_type", "sign"), [("laid_back", 1), ("rushed", -1)])
def test_laid_back_and_rushed_play_off_the_grid_by_the_labelled_ms(groove_type, sign):
    for seed in range(5):
        piece = groove_piece(groove_type, duration_s=10.0, seed=seed)
        offset_ms = piece.annotations["microtiming_ms"]
        assert sign * offset_ms >= 20.0
        notes = piece.score.tracks[0].notes
        beat_s = 60.0 / piece.annotations["tempo_bpm"]
        eighth = beat_s / 2
        measured_ms = (notes.start_s - np.round(notes.start_s / eighth) * eighth) * 1000.0
        inside = notes.start_s > 0.1  # the first downbeat of a rushed groove cannot start before 0
        assert float(np.mean(measured_ms[inside])) == pytest.approx(offset_ms, abs=2.0)


def test_the_last_crash_rings_to_the_end():
    piece = groove_piece("straight", duration_s=8.0, seed=0)
    notes = piece.score.tracks[0].notes
    last = int(np.argmax(notes.end_s))
    assert notes.pitch[last] == CRASH and notes.end_s[last] == pytest.approx(8.0, abs=1e-3)
