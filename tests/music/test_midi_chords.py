"""Chord templates, bass awareness, smoothing and Roman numerals on hand-built notes."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.chords import (
    QUALITIES,
    QUALITY_NAMES,
    chord_segments,
    chord_symbol,
    collapse_progression,
    detect_chords,
    roman_numeral,
)
from kellyd.music.mir_scores import LabelledSpan, chord_root_triad_accuracy, parse_harte_chord
from kellyd.music.pitch_classes import bass_pitch_class, pitch_class_time
from tests.music.midi_builders import chord_notes, notes


def detect(rows, n_beats: int):
    n = notes(rows)
    bounds = np.arange(n_beats + 1, dtype=np.float64)
    return detect_chords(pitch_class_time(n, bounds), bass_pitch_class(n, bounds), bounds)


def symbols(frames) -> list[str]:
    return [chord_symbol(int(r), QUALITY_NAMES[int(q)] if q >= 0 else None) for r, q in zip(frames.root, frames.quality)]


@pytest.mark.parametrize("quality", QUALITY_NAMES)
@pytest.mark.parametrize("root", [0, 5, 10])
def test_every_quality_is_recognised_from_root_position_notes(root, quality):
    pitches = [48 + root] + [60 + root + i for i in QUALITIES[quality]]
    frames = detect(chord_notes(pitches, 0.0, 4.0), 4)
    expected = f"{['C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B'][root]}:{quality}"
    if quality in ("aug", "dim7"):
        # Symmetric chords name the same notes from several roots; the bass picks the written one.
        assert symbols(frames)[0] == expected
    else:
        assert set(symbols(frames)) == {expected}


@pytest.mark.parametrize(
    "pitches, expected",
    [
        ([45, 60, 64, 67], "A:min7"),  # A C E G over A
        ([41, 57, 60, 64], "F:maj7"),  # an A minor triad over F is F major seventh
        ([40, 55, 60, 67], "C:maj"),  # a first inversion stays C, not E minor
        ([48, 62, 67], "C:sus2"),  # C D G over C
        ([43, 60, 62], "G:sus4"),  # the same pitch classes over G
    ],
)
def test_the_bass_decides_between_chords_with_the_same_notes(pitches, expected):
    assert symbols(detect(chord_notes(pitches, 0.0, 2.0), 2))[0] == expected


def test_silence_is_no_chord():
    rows = chord_notes([48, 64, 67], 0.0, 2.0) + chord_notes([53, 65, 69], 4.0, 6.0)
    assert symbols(detect(rows, 6)) == ["C:maj", "C:maj", "N", "N", "F:maj", "F:maj"]


def test_a_lone_melody_note_names_no_chord():
    rows = [(0.0, 1.0, 72, 80), (1.0, 2.0, 60, 80), (1.0, 2.0, 48, 80)]  # one note, then octaves of C
    assert symbols(detect(rows, 2)) == ["N", "N"]


def test_a_passing_tone_does_not_flip_the_chord_for_one_beat():
    rows = chord_notes([48, 64, 67], 0.0, 8.0) + [(3.0, 4.0, 62, 80), (3.0, 4.0, 65, 80)]
    assert set(symbols(detect(rows, 8))) == {"C:maj"}


def test_segments_merge_runs_of_one_chord():
    frames = detect(chord_notes([48, 64, 67], 0.0, 3.0) + chord_notes([43, 62, 67], 3.0, 5.0), 5)
    segs = chord_segments(frames)
    assert [(s.start_s, s.end_s, s.symbol) for s in segs] == [(0.0, 3.0, "C:maj"), (3.0, 5.0, "G:maj")]


def test_detect_chords_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="3 frames"):
        detect_chords(np.zeros((2, 12)), np.zeros(2, dtype=int), np.arange(4.0))


def test_no_frames_gives_an_empty_result():
    assert len(detect_chords(np.zeros((0, 12)), np.zeros(0, dtype=int), np.zeros(1))) == 0


def test_collapse_drops_no_chord_and_repeats():
    assert collapse_progression(["N", "C:maj", "C:maj", "N", "C:maj", "G:7", "C:maj"]) == ["C:maj", "G:7", "C:maj"]


@pytest.mark.parametrize(
    "root, quality, tonic, mode, numeral",
    [
        (0, "maj", 0, "major", "I"),
        (7, "7", 0, "major", "V7"),
        (9, "min", 0, "major", "vi"),
        (2, "min7", 0, "major", "ii7"),
        (11, "hdim7", 0, "major", "viiø7"),
        (10, "maj", 0, "major", "bVII"),
        (8, "maj", 0, "major", "bVI"),
        (6, "dim7", 7, "major", "viio7"),  # F#o7 in G major
        (9, "min", 9, "minor", "i"),
        (0, "maj", 9, "minor", "III"),
        (4, "7", 9, "minor", "V7"),
        (8, "dim", 9, "minor", "#viio"),  # G#o in A minor: the raised leading tone
        (10, "maj", 9, "minor", "bII"),  # Neapolitan
        (0, "aug", 0, "major", "I+"),
        (5, "sus4", 0, "major", "IVsus4"),
    ],
)
def test_roman_numerals(root, quality, tonic, mode, numeral):
    assert roman_numeral(root, quality, tonic, mode) == numeral


def test_roman_numeral_refuses_unknown_quality_and_mode():
    with pytest.raises(ValueError, match="min9"):
        roman_numeral(0, "min9", 0, "major")
    with pytest.raises(ValueError, match="dorian"):
        roman_numeral(0, "maj", 0, "dorian")


@pytest.mark.parametrize(
    "label, parsed",
    [("B:maj", (11, "maj")), ("C#:min7", (1, "min")), ("Db:maj7/5", (1, "maj")), ("E:min/b3", (4, "min")),
     ("G:sus4", (7, "sus4")), ("F:hdim7", (5, "dim")), ("A", (9, "maj")), ("N", (-1, None))],
)  # fmt: skip
def test_parse_harte_chord(label, parsed):
    assert parse_harte_chord(label) == parsed


def test_chord_accuracy_counts_reference_time_with_the_same_root_and_triad():
    ref = [LabelledSpan(0, 2, "C:maj"), LabelledSpan(2, 4, "A:min7"), LabelledSpan(4, 5, "N")]
    est = [LabelledSpan(0, 1, "C:maj7"), LabelledSpan(1, 3, "F:maj"), LabelledSpan(3, 4, "A:min"), LabelledSpan(4, 5, "N")]
    # Right: 0-1 (maj7 is a major triad), 3-4, 4-5; wrong: 1-3.
    assert chord_root_triad_accuracy(ref, est) == pytest.approx(3 / 5)
