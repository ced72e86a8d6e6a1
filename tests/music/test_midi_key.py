"""Key and mode on hand-built pitch-class weights and notes."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.key import PROFILES, estimate_key, key_correlations, key_segments
from kellyd.music.mir_scores import mirex_key_score
from kellyd.music.pitch_classes import parse_pitch_name, pitch_class_time, pitch_name

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)


def scale_weights(tonic: int, degrees, tonic_triad_boost: float = 1.0) -> np.ndarray:
    """Pitch-class weights of music in a key: every scale tone, the tonic triad emphasised."""
    w = np.zeros(12)
    for d in degrees:
        w[(tonic + d) % 12] += 1.0
    third = degrees[2]
    for d in (0, third, 7):
        w[(tonic + d) % 12] += tonic_triad_boost
    return w


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("tonic", [0, 3, 6, 10])
def test_major_keys_are_found_with_every_profile(profile, tonic):
    key = estimate_key(scale_weights(tonic, MAJOR_SCALE), profile)
    assert (key.tonic_pc, key.mode) == (tonic, "major")
    assert 0.5 < key.confidence <= 1.0
    assert key.margin > 0


@pytest.mark.parametrize("tonic", [1, 4, 9])
def test_minor_keys_are_found(tonic):
    key = estimate_key(scale_weights(tonic, HARMONIC_MINOR))
    assert (key.tonic_pc, key.mode) == (tonic, "minor")


def test_key_name_is_the_canonical_spelling():
    assert estimate_key(scale_weights(6, MAJOR_SCALE)).name == "F#"
    assert estimate_key(scale_weights(3, HARMONIC_MINOR)).name == "Eb"


def test_no_key_without_pitch_content():
    assert estimate_key(np.zeros(12)) is None
    assert estimate_key(np.ones(12)) is None


def test_estimate_key_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\(11,\)"):
        estimate_key(np.ones(11))


def test_unknown_profile_is_named():
    with pytest.raises(ValueError, match="bogus"):
        estimate_key(scale_weights(0, MAJOR_SCALE), "bogus")


def test_correlations_are_pearson_in_range():
    corr = key_correlations(np.random.default_rng(0).random((5, 12)))
    assert corr.shape == (5, 24)
    assert np.all(np.abs(corr) <= 1.0 + 1e-9)


def bars_in_keys(keys_per_bar: list[tuple[int, tuple[int, ...]]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar weights (2 s bars) of music in the given (tonic, scale) per bar."""
    weights = np.array([scale_weights(t, deg) for t, deg in keys_per_bar])
    return weights, np.arange(len(keys_per_bar) + 1) * 2.0


def test_a_modulation_makes_two_key_segments():
    weights, bounds = bars_in_keys([(0, MAJOR_SCALE)] * 16 + [(4, MAJOR_SCALE)] * 16)
    segments = key_segments(weights, bounds)
    assert [(s.tonic_pc, s.mode) for s in segments] == [(0, "major"), (4, "major")]
    # The change is found within a couple of bars of bar 16 (32 s).
    assert abs(segments[1].start_s - 32.0) <= 4.0
    assert segments[0].start_s == 0.0 and segments[-1].end_s == 64.0


def test_a_short_excursion_does_not_flicker_the_key():
    weights, bounds = bars_in_keys([(0, MAJOR_SCALE)] * 12 + [(2, MAJOR_SCALE)] * 2 + [(0, MAJOR_SCALE)] * 12)
    segments = key_segments(weights, bounds)
    assert [(s.tonic_pc, s.mode) for s in segments] == [(0, "major")]


def test_key_segments_of_silence_are_empty_and_bad_shapes_are_refused():
    assert key_segments(np.zeros((4, 12)), np.arange(5.0)) == ()
    with pytest.raises(ValueError, match="boundaries"):
        key_segments(np.ones((4, 12)), np.arange(4.0))


def test_pitch_class_time_splits_notes_across_frames():
    from tests.music.midi_builders import notes

    n = notes([(0.5, 2.5, 60, 80), (1.0, 1.5, 67, 80)])
    t = pitch_class_time(n, np.array([0.0, 1.0, 2.0, 3.0]))
    np.testing.assert_allclose(t[:, 0], [0.5, 1.0, 0.5])
    np.testing.assert_allclose(t[:, 7], [0.0, 0.5, 0.0])


@pytest.mark.parametrize(
    "est, ref, score",
    [
        ((0, "major"), (0, "major"), 1.0),
        ((7, "major"), (0, "major"), 0.5),  # dominant
        ((5, "major"), (0, "major"), 0.5),  # subdominant
        ((9, "minor"), (0, "major"), 0.3),  # relative minor
        ((0, "major"), (9, "minor"), 0.3),  # relative major
        ((0, "minor"), (0, "major"), 0.2),  # parallel
        ((2, "major"), (0, "major"), 0.0),
        ((4, "minor"), (0, "major"), 0.0),
    ],
)
def test_mirex_key_score(est, ref, score):
    assert mirex_key_score(*est, *ref) == score


@pytest.mark.parametrize("name, pc", [("C", 0), ("F#", 6), ("Gb", 6), ("B#", 0), ("Cb", 11), ("Ebb", 2), ("bb", 10)])
def test_parse_pitch_name_accepts_any_spelling(name, pc):
    assert parse_pitch_name(name) == pc


@pytest.mark.parametrize("bad", ["", "H", "C$", "#C"])
def test_parse_pitch_name_rejects_non_names(bad):
    with pytest.raises(ValueError):
        parse_pitch_name(bad)


def test_pitch_name_rejects_out_of_range():
    assert pitch_name(10) == "Bb"
    with pytest.raises(ValueError, match="12"):
        pitch_name(12)


def test_a_passage_in_the_relative_minor_is_not_a_modulation():
    weights, bounds = bars_in_keys([(0, MAJOR_SCALE)] * 16 + [(9, HARMONIC_MINOR)] * 12 + [(0, MAJOR_SCALE)] * 16)
    segments = key_segments(weights, bounds)
    assert [(s.tonic_pc, s.mode) for s in segments] == [(0, "major")]
