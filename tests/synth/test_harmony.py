"""Roman numerals rendered in any key and mode, voice-led, with the right labels."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.synth.harmony import (
    HARMONY_PROGRESSIONS, Chord, accompaniment, bass_line, collapse, fill_slots, harmony_piece, parse_roman,
    render_progression, voice_lead,
)
from kellyd.synth.common import Timing


@pytest.mark.parametrize(("numeral", "tonic_pc", "mode", "symbol"), [
    ("I", 0, "major", "C:maj"),
    ("ii", 0, "major", "D:min"),
    ("iii", 0, "major", "E:min"),
    ("V7", 0, "major", "G:7"),
    ("viio", 0, "major", "B:dim"),
    ("viio7", 0, "major", "B:dim7"),
    ("IVmaj7", 0, "major", "F:maj7"),
    ("ii7", 2, "major", "E:min7"),
    ("iiø7", 0, "major", "D:hdim7"),
    ("iih7", 0, "major", "D:hdim7"),
    ("bVII", 0, "major", "Bb:maj"),
    ("bVI", 0, "major", "Ab:maj"),
    ("iv", 0, "major", "F:min"),          # borrowed from the parallel minor
    ("Vsus4", 7, "major", "D:sus4"),
    ("V/V", 0, "major", "D:maj"),
    ("V7/V", 7, "major", "A:7"),
    ("V7/vi", 0, "major", "E:7"),
    ("V/ii", 5, "major", "D:maj"),
    ("viio7/V", 0, "major", "F#:dim7"),
    ("i", 9, "minor", "A:min"),
    ("III", 9, "minor", "C:maj"),
    ("VI", 9, "minor", "F:maj"),
    ("VII", 9, "minor", "G:maj"),         # the subtonic: natural minor
    ("viio7", 9, "minor", "Ab:dim7"),     # the leading-tone chord on the raised seventh (G#, spelled Ab)
    ("V", 9, "minor", "E:maj"),
    ("iio", 9, "minor", "B:dim"),
    ("bII", 9, "minor", "Bb:maj"),        # Neapolitan
    ("III+", 9, "minor", "C:aug"),
    ("V7/iv", 9, "minor", "A:7"),
    ("V/V", 4, "minor", "F#:maj"),
])
def test_parse_roman(numeral, tonic_pc, mode, symbol):
    assert parse_roman(numeral, tonic_pc=tonic_pc, mode=mode).symbol == symbol


@pytest.mark.parametrize("bad", ["VIII", "Iv", "x", "V7/", "IVo", "iiø", "III+7", "vmaj7", "visus4", ""])
def test_parse_roman_refuses_what_it_cannot_read(bad):
    with pytest.raises(ValueError, match="Roman numeral|not a|diminished|half-diminished|augmented|minor-major|sus"):
        parse_roman(bad, tonic_pc=0, mode="major")


@pytest.mark.parametrize("mode", ["major", "minor"])
def test_every_progression_renders_the_same_in_every_key_up_to_transposition(mode):
    for progression in HARMONY_PROGRESSIONS[mode]:
        in_c = render_progression(progression.split(), tonic_pc=0, mode=mode)
        for tonic in range(1, 12):
            moved = render_progression(progression.split(), tonic_pc=tonic, mode=mode)
            assert [(c.root_pc - tonic) % 12 for c in moved] == [c.root_pc for c in in_c]
            assert [c.quality for c in moved] == [c.quality for c in in_c]


def test_voice_leading_moves_little_and_keeps_every_chord_tone():
    chords = render_progression("I vi IV V7 I iii IV viio7/V V".split(), tonic_pc=2, mode="major")
    voicings = voice_lead(chords)
    for chord, voicing in zip(chords, voicings):
        pcs = chord.pitch_classes
        wanted = set(pcs[1:]) if len(pcs) == 4 else set(pcs)
        assert {p % 12 for p in voicing} == wanted
        assert list(voicing) == sorted(voicing) and voicing[-1] - voicing[0] <= 14
    moves = [np.abs(np.subtract(b, a)).sum() for a, b in zip(voicings, voicings[1:])]
    assert max(moves) <= 7, f"total movement per chord change: {moves}"
    assert np.mean(moves) <= 4.0


def test_bass_plays_roots_near_each_other():
    chords = render_progression("i iv V i VI iio V7 i".split(), tonic_pc=4, mode="minor")
    bass = bass_line(chords)
    assert [p % 12 for p in bass] == [c.root_pc for c in chords]
    assert max(abs(b - a) for a, b in zip(bass, bass[1:])) <= 6


def test_fill_slots_loops_the_progression_and_closes_with_a_cadence():
    assert fill_slots(["I", "vi", "IV"], 8, "I") == ["I", "vi", "IV", "I", "vi", "IV", "V7", "I"]
    assert fill_slots(["I", "ii", "V"], 7, "I") == ["I", "ii", "V", "I", "ii", "V", "I"]
    assert fill_slots(["i", "iv"], 8, "i", closing_slots=2) == ["i", "iv", "i", "iv", "i", "V7", "i", "i"]
    assert fill_slots(["I", "IV"], 3, "I") == ["I", "IV", "I"], "too short to carry a cadence"
    assert collapse(["C", "C", "G", "C", "C"]) == ["C", "G", "C"]


@pytest.mark.parametrize("texture", ["block", "pulse", "eighths", "arpeggio"])
def test_accompaniment_ends_exactly_with_the_last_bar(texture):
    timing = Timing(bpm=90.0, bars=4, beats_per_bar=4)
    chords = render_progression(fill_slots(["I", "IV", "V"], 8, "I", closing_slots=2), tonic_pc=0, mode="major")
    upper, bass = accompaniment(chords, timing=timing, chords_per_bar=2, texture=texture, articulation="staccato",
                                velocity=(50, 70), rng=np.random.default_rng(0))
    assert max(e[1] for e in upper + bass) == pytest.approx(timing.duration_s)
    assert all(0 <= start < end <= timing.duration_s + 1e-9 for start, end, _, _ in upper + bass)
    assert all(1 <= v <= 127 for *_, v in upper + bass)


def test_harmony_piece_labels_what_it_plays():
    piece = harmony_piece("I vi ii V7", tonic_pc=7, mode="major", duration_s=30.0, seed=3)
    a = piece.annotations
    assert (a["key"], a["mode"]) == ("G", "major")
    assert a["chord_progression"][:5] == ["G:maj", "E:min", "A:min", "D:7", "G:maj"]
    assert a["roman_numerals"][:5] == ["I", "vi", "ii", "V7", "I"]
    assert a["chord_progression"] == [parse_roman(n, tonic_pc=7, mode="major").symbol for n in a["roman_numerals"]]
    assert a["chord_progression"][-2:] == ["D:7", "G:maj"], "it closes with a cadence"
    assert piece.label == "G_major"
    assert piece.score.duration_s == pytest.approx(30.0, abs=1e-3)


def test_chord_pitch_classes_and_symbol():
    chord = Chord(root_pc=11, quality="hdim7")
    assert chord.pitch_classes == (11, 2, 5, 9)
    assert chord.symbol == "B:hdim7"
    assert not chord.is_major_like
