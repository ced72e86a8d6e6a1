"""extract_midi on hand-built scores: labels, layouts, and defined values at the edges."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from kellyd.music.midi_features import extract_midi, extract_midi_file
from kellyd.music.midi_io import write_score
from kellyd.music.midi_vector import FEATURE_NAMES, FEATURE_SIZE
from kellyd.music.notes import Notes
from kellyd.taxonomy import GROOVE_TYPES, PITCH_CLASS_NAMES
from tests.music.midi_builders import chord_notes, notes, score, swung_hats

NOTE_ARRAYS = ("note_start_s", "note_end_s", "note_pitch", "note_velocity", "note_is_drum", "note_track")


def assert_all_finite(extracted) -> None:
    for name, arr in extracted.arrays.items():
        if np.issubdtype(arr.dtype, np.floating):
            assert np.all(np.isfinite(arr)), name

    def walk(value, where):
        if isinstance(value, float):
            assert math.isfinite(value), where
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")

    walk(dict(extracted.scalars), "scalars")
    walk(dict(extracted.labels), "labels")
    # The features step writes scalars and labels as JSON: plain Python values only.
    json.dumps({"scalars": extracted.scalars, "labels": extracted.labels}, allow_nan=False)


def pop_song() -> tuple[Notes, Notes]:
    """8 bars of I-V-vi-IV in G major at 100 bpm (2.4 s bars): a melody and block chords, plus a rock beat."""
    bar = 2.4
    rows = []
    progression = [(43, [59, 62, 67]), (50, [57, 62, 66]), (52, [59, 64, 67]), (48, [60, 64, 67])]
    for i in range(8):
        bass, triad = progression[i % 4]
        rows += chord_notes([bass] + triad, i * bar, (i + 1) * bar, 70)
        for j, step in enumerate((0, 2, 4, 2)):
            melody_pitch = 79 + [0, 2, 4, 5, 7][(i + step) % 5]
            rows.append((i * bar + j * 0.6, i * bar + j * 0.6 + 0.55, melody_pitch, 90))
    beat = 0.6
    drums = []
    for k in range(32):
        drums.append((k * beat, k * beat + 0.05, 36 if k % 2 == 0 else 38, 110))
        drums += [(k * beat + h, k * beat + h + 0.05, 42, 70) for h in (0.0, 0.3)]
    return notes(rows), notes(drums)


def test_a_pop_song_gets_every_label():
    pitched, drums = pop_song()
    ex = extract_midi(score(pitched, drums, bpm=100.0))
    labels = ex.labels
    assert (labels["key"], labels["mode"]) == ("G", "major")
    assert 0.5 < labels["key_confidence"] <= 1.0
    assert labels["tempo_bpm"] == 100.0
    assert labels["time_signature"] == "4/4"
    assert labels["groove_type"] == "straight"
    assert labels["swing_ratio"] == pytest.approx(0.5, abs=0.01)
    assert labels["articulation"] in ("legato", "mixed", "staccato")
    assert labels["chord_progression"][:4] == ["G:maj", "D:maj", "E:min", "C:maj"]
    assert ex.scalars["chord_progression_roman"][:4] == ["I", "V", "vi", "IV"]
    assert_all_finite(ex)


def test_layouts_of_the_arrays():
    pitched, drums = pop_song()
    ex = extract_midi(score(pitched, drums, bpm=100.0))
    a = ex.arrays
    n = len(pitched) + len(drums)
    assert all(a[k].shape == (n,) for k in NOTE_ARRAYS)
    assert int(a["note_is_drum"].sum()) == len(drums)
    assert np.all(np.diff(a["note_start_s"]) >= 0)
    assert a["feature_vector"].shape == (FEATURE_SIZE,)
    assert a["feature_vector"][FEATURE_NAMES.index("tempo_bpm")] == pytest.approx(100.0)
    # 32 beats at four sixteenths each.
    assert a["piano_roll"].shape == (128, 128) and a["drum_roll"].shape == (128, 128)
    assert a["drum_roll"][36, 0] == 110 and a["drum_roll"][36, 1] == 0  # drums mark onsets only
    assert a["piano_roll"][43, :16].min() == 70  # the G bass sounds through bar 1
    assert a["pitch_class_histogram"].shape == (12,) and a["melodic_contour"].shape == (32,)
    assert len(a["chord_root"]) == len(a["chord_start_s"]) == 32


def test_the_key_label_uses_the_canonical_spelling():
    # F# major scale, tonic triad stressed.
    rows = [(i * 0.5, i * 0.5 + 0.5, 66 + d, 80) for i, d in enumerate([0, 4, 7, 2, 5, 11, 9, 0, 4, 7, 12, 7, 4, 0])]
    assert extract_midi(score(notes(rows))).labels["key"] == PITCH_CLASS_NAMES[6] == "F#"


def test_a_melody_alone_gets_a_key_but_no_chord_progression():
    rows = [(i * 0.5, i * 0.5 + 0.4, 67 + d, 80) for i, d in enumerate([0, 2, 4, 5, 7, 5, 4, 2, 0, -1, 0, 4, 7, 12, 7, 0])]
    ex = extract_midi(score(notes(rows)))
    assert ex.labels["key"] == "G"
    assert "chord_progression" not in ex.labels
    assert ex.labels["articulation"] == "mixed"  # 0.8 of each gap: detached, neither legato nor staccato


def test_drums_only_gives_groove_but_no_key_chords_or_articulation():
    ex = extract_midi(score(drums=swung_hats(110.0, 0.5, bars=8), bpm=110.0))
    assert set(ex.labels) == {"tempo_bpm", "time_signature", "groove_type", "swing_ratio"}
    assert ex.labels["groove_type"] in GROOVE_TYPES
    assert "no_pitched_notes" in ex.flags
    assert "chord_root" not in ex.arrays
    assert ex.scalars["groove_source"] == "drums"
    assert_all_finite(ex)


def test_an_empty_score_has_defined_values():
    ex = extract_midi(score())
    assert "no_notes" in ex.flags
    assert ex.arrays["feature_vector"].shape == (FEATURE_SIZE,)
    assert ex.scalars["note_count"] == 0 and ex.scalars["duration_s"] == 0.0
    assert set(ex.labels) == {"tempo_bpm", "time_signature"}
    assert all(len(ex.arrays[k]) == 0 for k in NOTE_ARRAYS)
    assert_all_finite(ex)


@pytest.mark.parametrize("duration_s", [0.5, 0.0])
def test_a_one_note_score_has_defined_values(duration_s):
    ex = extract_midi(score(notes([(1.0, 1.0 + duration_s, 60, 90)])))
    assert ex.scalars["pitch_min"] == ex.scalars["pitch_max"] == 60
    assert ex.scalars["polyphony_max"] == (1 if duration_s else 0)
    assert ex.labels["key"] == "C"  # one C: the best key still starts on C, with modest confidence
    assert "swing_ratio" not in ex.labels and "articulation" not in ex.labels
    assert_all_finite(ex)


def test_notes_at_the_same_instant_have_defined_values():
    ex = extract_midi(score(notes([(0.0, 0.0, 60, 90), (0.0, 0.0, 64, 90), (0.0, 0.0, 67, 90)])))
    assert_all_finite(ex)


def test_a_default_tempo_performance_is_labelled_with_the_onset_tempo():
    pitched, drums = pop_song()
    # The same song stored without a tempo event: it plays at 120 bpm, its notes don't sit on that grid.
    ex = extract_midi(score(pitched, drums, bpm=120.0, default_only=True))
    assert ex.labels["tempo_bpm"] == pytest.approx(100.0, rel=0.04)
    assert "tempo_from_onsets" in ex.flags


def test_a_written_and_reread_file_gives_the_same_labels(tmp_path):
    pitched, drums = pop_song()
    s = score(pitched, drums, bpm=100.0)
    path = tmp_path / "song.mid"
    write_score(s, path)
    assert extract_midi_file(path).labels == extract_midi(s).labels
