"""The theory layer shared by MIDI and audio (kellyd.music.chords) and the shared audio key estimator."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music import audio_key
from kellyd.music.chords import (
    QUALITY_NAMES,
    detect_chords,
    find_cadences,
    numeral_degree,
    progression_complexity,
)


@pytest.mark.parametrize(
    ("numerals", "expected"),
    [(["I", "IV", "V7", "I"], [(3, "authentic")]),
     (["I", "IV", "I"], [(2, "plagal")]),
     (["I", "V", "vi"], [(2, "deceptive")]),
     (["i", "iv", "V"], [(2, "half")]),
     (["I", "ii", "V", "vi", "IV", "V", "I"], [(3, "deceptive"), (6, "authentic")]),
     (["i", "viio7", "i"], [(2, "authentic")]),
     (["I", "I", "IV"], [])],
)
def test_cadences(numerals, expected):
    assert [(c.index, c.kind) for c in find_cadences(numerals)] == expected


def test_numeral_degree():
    assert [numeral_degree(n) for n in ("V7", "bVII", "viio", "#iv", "Imaj7", "iiø7")] == \
        ["V", "bVII", "VII", "#IV", "I", "II"]


def test_progression_complexity():
    loop = progression_complexity(["C:maj", "G:maj", "A:min", "F:maj"] * 4, ["I", "V", "vi", "IV"] * 4)
    assert loop.distinct_chords == 4 and loop.changes == 15
    assert loop.transition_entropy_bits == pytest.approx(0.0)  # a loop: each chord has one successor
    assert loop.chromatic_share == 0.0
    # After C the music goes to F or to G equally often: one bit of surprise at C; N is skipped.
    branching = progression_complexity(["C:maj", "F:maj", "C:maj", "G:maj", "N", "C:maj", "F:maj", "C:maj", "G:maj"],
                                       ["I", "IV", "I", "V", "bVII"])
    assert branching.transition_entropy_bits > 0.4
    assert branching.chromatic_share == pytest.approx(0.2)


def test_quality_penalty_turns_a_weak_seventh_into_its_triad():
    # C E G with a faint B: the maj7 template fits a little better, until sevenths must earn it.
    weights = np.zeros((4, 12))
    weights[:, [0, 4, 7]] = 1.0
    weights[:, 11] = 0.5
    bass = np.zeros(4, dtype=np.int64)
    boundaries = np.arange(5, dtype=np.float64)
    plain = detect_chords(weights, bass, boundaries)
    penalised = detect_chords(weights, bass, boundaries, {"maj7": 0.1})
    assert QUALITY_NAMES[plain.quality[0]] == "maj7"
    assert QUALITY_NAMES[penalised.quality[0]] == "maj"
    with pytest.raises(ValueError, match="unknown chord qualities"):
        detect_chords(weights, bass, boundaries, {"maj9": 0.1})


def harmonic_semitones(notes_midi: list[int], lowest_midi: int = 24, partials: int = 5) -> np.ndarray:
    """(84, 1) semitone amplitudes of harmonic notes whose partial k has amplitude 1/k."""
    s = np.zeros((84, 1))
    for note in notes_midi:
        for k in range(1, partials + 1):
            row = note + int(round(12 * np.log2(k))) - lowest_midi
            if row < 84:
                s[row, 0] += 1.0 / k
    return s


def test_overtones_are_taken_out_before_folding():
    """A lone low E: its 3rd partial (a B) and 5th (a G#) are not notes of the music."""
    raw = harmonic_semitones([40])
    folded = np.zeros(12)
    for i, v in enumerate(raw[:, 0]):
        folded[(24 + i) % 12] += v
    cleaned = audio_key.chroma_from_semitones(raw, 24)[:, 0]
    assert cleaned[11] / cleaned[4] < folded[11] / folded[4]
    assert cleaned[8] / cleaned[4] < folded[8] / folded[4]


@pytest.mark.parametrize("transpose", [0, 5])
def test_near_tie_goes_to_the_key_whose_tonic_sounds_most(transpose):
    """Half E minor, half B minor: the two keys tie exactly; B sounds more (the tonic of one, the fifth
    of the other) than E (tonic and fourth), so B minor, whatever the transposition."""
    minor = audio_key.MINOR_PROFILE
    profile = np.roll(0.5 * np.roll(minor, 4) + 0.5 * np.roll(minor, 11), transpose)
    correlations = audio_key.key_correlations(profile)
    assert correlations[1, (4 + transpose) % 12] == pytest.approx(correlations[1, (11 + transpose) % 12], abs=1e-9)
    assert profile[(11 + transpose) % 12] > profile[(4 + transpose) % 12]
    key = audio_key.estimate_key(profile)
    assert (key.tonic_pc, key.mode) == ((11 + transpose) % 12, "minor")
    assert key.margin == pytest.approx(0.0, abs=1e-9)


def test_segment_votes_outweigh_one_loud_passage():
    """Three quiet stretches in C major and one loud one in E major: C major overall."""
    rate_hz = 1.0
    step = int(audio_key.VOTE_SEGMENT_S)
    c_major = np.roll(audio_key.MAJOR_PROFILE, 0)
    e_major = np.roll(audio_key.MAJOR_PROFILE, 4)
    frames = np.concatenate([np.tile(c_major[:, None], (1, step))] * 3 + [np.tile(3.0 * e_major[:, None], (1, step))],
                            axis=1)
    by_sum = audio_key.estimate_key(frames.sum(axis=1))
    by_votes = audio_key.estimate_key_from_frames(frames, rate_hz)
    assert (by_sum.tonic, by_sum.mode) != ("C", "major")  # the loud passage dominates a plain sum
    assert (by_votes.tonic, by_votes.mode) == ("C", "major")
