"""MIDI augmentation transforms and how labels follow them, on hand-built scores (no files)."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.notes import Notes, Score, TempoMap, TimeSignature, Track
from kellyd.music.transforms import (
    LabelEffect, apply_effect, apply_midi, drop_notes, effect_of, jitter_timing, labels_after, pitch_class_of,
    scale_velocity, time_stretch, transpose, transpose_symbol,
)


def make_score(*, pitches=(60, 64, 67, 72), drums=(36, 38), bpm=100.0, default_only=False) -> Score:
    n = len(pitches)
    piano = Track("piano", 0, False, Notes.from_lists(
        np.arange(n) * 0.5, np.arange(n) * 0.5 + 0.4, pitches, [40, 80, 100, 127][:n] + [64] * max(0, n - 4)))
    kit = Track("drums", 0, True, Notes.from_lists(
        np.arange(len(drums)) * 0.25, np.arange(len(drums)) * 0.25 + 0.1, drums, [90] * len(drums)))
    return Score(
        tracks=(piano, kit),
        tempo=TempoMap(np.array([0.0, 1.0]), np.array([bpm, bpm * 1.5]), is_default_only=default_only),
        time_signatures=(TimeSignature(0.0, 4, 4), TimeSignature(1.0, 3, 4)),
        duration_s=max(n * 0.5 - 0.1, 0.35),
    )


def test_transpose_moves_pitched_notes_and_never_drums():
    score = make_score()
    moved, effect = transpose(score, 5)
    assert list(moved.tracks[0].notes.pitch) == [65, 69, 72, 77]
    assert list(moved.tracks[1].notes.pitch) == [36, 38]
    assert effect == LabelEffect(semitones=5)
    assert list(score.tracks[0].notes.pitch) == [60, 64, 67, 72], "the input score is never changed"


@pytest.mark.parametrize(("pitches", "shift", "expected"), [
    ((120, 125, 60), 6, [66, 126]),   # 125 + 6 would leave MIDI: dropped, not folded
    ((2, 5, 60), -4, [1, 56]),        # 2 - 4 < 0: dropped
    ((0, 127), 0, [0, 127]),
])
def test_transpose_drops_notes_leaving_the_midi_range(pitches, shift, expected):
    moved, _ = transpose(make_score(pitches=pitches), shift)
    assert sorted(moved.tracks[0].notes.pitch.tolist()) == expected


def test_time_stretch_scales_times_and_the_tempo_map():
    score = make_score(bpm=100.0)
    slow, effect = time_stretch(score, 1.1)
    assert np.allclose(slow.tracks[0].notes.start_s, score.tracks[0].notes.start_s * 1.1)
    assert np.allclose(slow.tracks[1].notes.end_s, score.tracks[1].notes.end_s * 1.1)
    assert np.allclose(slow.tempo.time_s, [0.0, 1.1])
    assert np.allclose(slow.tempo.bpm, [100.0 / 1.1, 150.0 / 1.1])
    assert [ts.time_s for ts in slow.time_signatures] == pytest.approx([0.0, 1.1])
    assert slow.duration_s == pytest.approx(score.duration_s * 1.1)
    assert effect == LabelEffect(time_factor=1.1)


def test_time_stretch_keeps_a_default_only_tempo_map_at_the_default():
    score = make_score(bpm=120.0, default_only=True)
    fast, _ = time_stretch(score, 0.9)
    assert fast.tempo.is_default_only
    assert np.allclose(fast.tempo.bpm, score.tempo.bpm), "a meaningless tempo stays meaningless"
    assert np.allclose(fast.tracks[0].notes.start_s, score.tracks[0].notes.start_s * 0.9)


@pytest.mark.parametrize(("factor", "expected"), [
    (1.2, [48, 96, 120, 127]),   # 127 * 1.2 clamps at 127
    (0.8, [32, 64, 80, 102]),
    (0.1, [4, 8, 10, 13]),
])
def test_scale_velocity_rounds_and_clamps(factor, expected):
    scaled, effect = scale_velocity(make_score(), factor)
    assert scaled.tracks[0].notes.velocity.tolist() == expected
    assert effect == LabelEffect()


def test_scale_velocity_never_goes_below_one():
    score = make_score(pitches=(60,))
    quiet = Score(tuple(Track(t.name, t.program, t.is_drum, Notes(t.notes.start_s, t.notes.end_s, t.notes.pitch,
                                                                   np.ones(len(t.notes), np.int16)))
                        for t in score.tracks), score.tempo)
    scaled, _ = scale_velocity(quiet, 0.25)
    assert all(t.notes.velocity.min() == 1 for t in scaled.tracks)


def test_jitter_stays_within_bounds_keeps_durations_and_is_seeded():
    score = make_score()
    a, _ = jitter_timing(score, low_ms=-5.0, high_ms=5.0, seed=7)
    b, _ = jitter_timing(score, low_ms=-5.0, high_ms=5.0, seed=7)
    c, _ = jitter_timing(score, low_ms=-5.0, high_ms=5.0, seed=8)
    assert np.array_equal(a.tracks[0].notes.start_s, b.tracks[0].notes.start_s)
    assert not np.array_equal(a.tracks[0].notes.start_s, c.tracks[0].notes.start_s)
    for before, after in zip(score.tracks, a.tracks):
        moved_ms = (after.notes.start_s - before.notes.start_s) * 1000.0
        assert np.all(np.abs(moved_ms) <= 5.0 + 1e-9)
        assert np.allclose(after.notes.duration_s, before.notes.duration_s)
        assert after.notes.start_s.min() >= 0.0


def test_drop_notes_is_seeded_and_never_empties_a_track():
    score = make_score(pitches=tuple(range(40, 80)))
    thinned, _ = drop_notes(score, probability=0.3, seed=3)
    again, _ = drop_notes(score, probability=0.3, seed=3)
    assert 0 < len(thinned.tracks[0].notes) < 40
    assert np.array_equal(thinned.tracks[0].notes.pitch, again.tracks[0].notes.pitch)
    nearly_all, _ = drop_notes(make_score(pitches=(60,), drums=(36,)), probability=0.999, seed=1)
    assert [len(t.notes) for t in nearly_all.tracks] == [1, 1]


def test_combination_applies_steps_left_to_right_and_combines_effects():
    score = make_score()
    combined, effect = apply_midi(score, "transpose+stretch",
                                  {"transpose": {"semitones": -2}, "stretch": {"factor": 0.9}})
    assert list(combined.tracks[0].notes.pitch) == [58, 62, 65, 70]
    assert np.allclose(combined.tracks[0].notes.start_s, score.tracks[0].notes.start_s * 0.9)
    assert effect == LabelEffect(semitones=-2, time_factor=0.9)


@pytest.mark.parametrize(("symbol", "shift", "expected"), [
    ("C", 2, "D"),
    ("Gb", 1, "G"),
    ("Gb:maj", -1, "F:maj"),
    ("F#:minor", 6, "C:minor"),
    ("Bb", 1, "B"),
    ("B", 1, "C"),
    ("C#:min7", 1, "D:min7"),
    ("Am7", 3, "Cm7"),
    ("Bb/D", 2, "C/E"),
    ("C:maj/3", 4, "E:maj/3"),
    ("E", 13, "F"),
    ("C", 1, "C#"),   # spelled with PITCH_CLASS_NAMES
    ("C", 3, "Eb"),
    ("N", 5, "N"),
    ("H7", 1, None),
    ("", 1, None),
])
def test_transpose_symbol(symbol, shift, expected):
    assert transpose_symbol(symbol, shift) == expected


@pytest.mark.parametrize(("name", "pc"), [("C", 0), ("Eb", 3), ("F#", 6), ("Cb", 11), ("b", 11), ("X", None)])
def test_pitch_class_of(name, pc):
    assert pitch_class_of(name) == pc


PARENT = {
    "emotion": "joy", "base_emotion": "happy", "valence": 0.9, "arousal": 0.7,
    "key": "Gb", "mode": "major", "tempo_bpm": 100.0, "duration_s": 20.0,
    "chord_progression": ["Gb:maj", "Eb:min", "B:maj", "Db:7"], "roman_numerals": ["I", "vi", "IV", "V7"],
    "groove_type": "swing", "swing_ratio": 0.667, "microtiming_ms": 20.0, "articulation": "legato",
    "pitch_range": [55, 79],
}


@pytest.mark.parametrize(("transform", "params", "changed"), [
    ("transpose", {"semitones": 2},
     {"key": "Ab", "chord_progression": ["Ab:maj", "F:min", "C#:maj", "Eb:7"], "pitch_range": [57, 81]}),
    ("pitch_shift", {"semitones": -1},
     {"key": "F", "chord_progression": ["F:maj", "D:min", "Bb:maj", "C:7"], "pitch_range": [54, 78]}),
    ("stretch", {"factor": 1.25}, {"tempo_bpm": 80.0, "duration_s": 25.0, "microtiming_ms": 25.0}),
    ("time_stretch", {"factor": 0.8}, {"tempo_bpm": 125.0, "duration_s": 16.0, "microtiming_ms": 16.0}),
    ("velocity", {"factor": 1.2}, {}),
    ("jitter", {"low_ms": -5, "high_ms": 5, "seed": 1}, {}),
    ("dropout", {"probability": 0.02, "seed": 1}, {}),
    ("noise", {"amplitude": 0.003, "seed": 1}, {}),
    ("gain", {"factor": 0.9}, {}),
    ("transpose+stretch", {"transpose": {"semitones": 12}, "stretch": {"factor": 2.0}},
     {"key": "F#", "chord_progression": ["F#:maj", "Eb:min", "B:maj", "C#:7"], "pitch_range": [67, 91],
      "tempo_bpm": 50.0, "duration_s": 40.0, "microtiming_ms": 40.0}),
])
def test_labels_after(transform, params, changed):
    after = labels_after(transform, params, PARENT)
    assert after == {**PARENT, **changed}
    assert after["roman_numerals"] == PARENT["roman_numerals"], "numerals are relative to the key"
    assert PARENT["key"] == "Gb", "the parent's annotations are not changed in place"


def test_labels_after_removes_pitch_labels_it_cannot_read():
    after = labels_after("transpose", {"semitones": 1}, {"key": "unknown", "chord_progression": ["C", "??"],
                                                          "emotion": "sad"})
    assert after == {"emotion": "sad"}


def test_labels_after_leaves_a_missing_tempo_alone():
    assert labels_after("stretch", {"factor": 1.1}, {"emotion": "sad"}) == {"emotion": "sad"}
    assert apply_effect(LabelEffect(), PARENT) == PARENT


def test_effect_of_a_combination():
    assert effect_of("pitch_shift+time_stretch+gain", {
        "pitch_shift": {"semitones": 2}, "time_stretch": {"factor": 1.1}, "gain": {"factor": 1.0},
    }) == LabelEffect(semitones=2, time_factor=1.1)
