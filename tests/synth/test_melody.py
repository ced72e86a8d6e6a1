"""Melodies: scale tones, mostly steps, and the contour they are labelled with."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.synth.common import scale_pitch_classes
from kellyd.synth.melody import CONTOURS, RANGES_SEMITONES, contour_shape, melody_piece


def contour_of(pitches: np.ndarray, points: int = 32) -> np.ndarray:
    """The melody resampled to `points` values over its notes (a note-index contour)."""
    positions = np.linspace(0, len(pitches) - 1, points)
    return np.interp(positions, np.arange(len(pitches)), pitches.astype(float))


def best_matching_contour(pitches: np.ndarray) -> str:
    line = contour_of(pitches)
    t = np.linspace(0.0, 1.0, len(line))
    scores = {c: float(np.corrcoef(line, contour_shape(c, t))[0, 1]) for c in CONTOURS}
    return max(scores, key=scores.get)


@pytest.mark.parametrize(("contour", "t", "expected"), [
    ("ascending", [0.0, 0.5, 1.0], [0.0, 0.5, 1.0]),
    ("descending", [0.0, 0.5, 1.0], [1.0, 0.5, 0.0]),
    ("arch", [0.0, 0.5, 1.0], [0.0, 1.0, 0.0]),
    ("valley", [0.0, 0.5, 1.0], [1.0, 0.0, 1.0]),
    ("wave", [0.0, 0.125, 0.375], [0.5, 1.0, 0.0]),
])
def test_contour_shape(contour, t, expected):
    assert contour_shape(contour, np.array(t)) == pytest.approx(expected, abs=1e-9)


def test_melodies_follow_their_contour():
    right = total = 0
    for contour in CONTOURS:
        for seed in range(12):
            piece = melody_piece(contour, tonic_pc=seed % 12, mode=("major", "minor")[seed % 2], duration_s=20.0,
                                 seed=seed, range_name=tuple(RANGES_SEMITONES)[seed % 3])
            right += best_matching_contour(piece.score.tracks[0].notes.pitch) == contour
            total += 1
    assert right / total >= 0.9, f"{right}/{total} melodies match their contour label"


@pytest.mark.parametrize("mode", ["major", "minor"])
def test_melodies_move_by_step_within_their_range_on_the_scale(mode):
    for seed in range(10):
        piece = melody_piece("wave", tonic_pc=seed, mode=mode, duration_s=16.0, seed=seed, range_name="wide")
        pitches = piece.score.tracks[0].notes.pitch.astype(int)
        assert set(pitches % 12) <= set(scale_pitch_classes(seed, mode))
        steps = np.abs(np.diff(pitches)) <= 2
        assert steps.mean() >= 0.7
        assert piece.annotations["stepwise_share"] == pytest.approx(steps.mean(), abs=1e-4)
        low, high = piece.annotations["pitch_range"]
        assert (low, high) == (pitches.min(), pitches.max())
        assert high - low <= RANGES_SEMITONES["wide"]
        assert pitches[-1] % 12 in {seed % 12, (seed + 7) % 12, (seed + (4 if mode == "major" else 3)) % 12}
