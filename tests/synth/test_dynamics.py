"""Velocity curves and articulations of the dynamics pieces."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.synth.common import ARTICULATION_RATIO
from kellyd.synth.dynamics import DYNAMICS, dynamics_piece, velocity_curve


@pytest.mark.parametrize(("dynamics", "expected"), [
    ("crescendo", [40, 70, 100]), ("decrescendo", [100, 70, 40]), ("swell", [40, 100, 40]),
    ("accents", [55, 55, 55]), ("steady", [70, 70, 70]),
])
def test_velocity_curve(dynamics, expected):
    assert velocity_curve(dynamics, np.array([0.0, 0.5, 1.0]), soft=40, loud=100) == pytest.approx(expected)


def velocity_slope(piece) -> float:
    notes = piece.score.all_notes
    return float(np.polyfit(notes.start_s / piece.score.duration_s, notes.velocity.astype(float), 1)[0])


@pytest.mark.parametrize("seed", range(4))
def test_crescendo_rises_and_decrescendo_falls(seed):
    up = dynamics_piece("crescendo", articulation="legato", tonic_pc=seed, mode="major", duration_s=12.0, seed=seed)
    down = dynamics_piece("decrescendo", articulation="legato", tonic_pc=seed, mode="minor", duration_s=12.0,
                          seed=seed)
    assert velocity_slope(up) > 30
    assert velocity_slope(down) < -30


def test_swell_peaks_in_the_middle_and_accents_stand_out():
    swell = dynamics_piece("swell", articulation="legato", tonic_pc=0, mode="major", duration_s=16.0, seed=1)
    notes = swell.score.all_notes
    u = notes.start_s / swell.score.duration_s
    middle = notes.velocity[(u > 0.35) & (u < 0.65)].mean()
    edges = notes.velocity[(u < 0.15) | (u > 0.85)].mean()
    assert middle > edges + 25
    accents = dynamics_piece("accents", articulation="legato", tonic_pc=0, mode="major", duration_s=16.0, seed=1)
    beat_s = 60.0 / accents.annotations["tempo_bpm"]
    notes = accents.score.all_notes
    downbeat = np.abs((notes.start_s / (4 * beat_s)) - np.round(notes.start_s / (4 * beat_s))) < 1e-6
    assert notes.velocity[downbeat].mean() > notes.velocity[~downbeat].mean() + 20


def sounding_share(piece) -> np.ndarray:
    """Each melody note's duration over the time to the next melody note (last note left out)."""
    melody = piece.score.tracks[0].notes
    return melody.duration_s[:-1] / np.diff(melody.start_s)


@pytest.mark.parametrize("articulation", ["legato", "staccato"])
def test_articulation_sets_how_much_of_each_note_sounds(articulation):
    piece = dynamics_piece("steady", articulation=articulation, tonic_pc=2, mode="major", duration_s=12.0, seed=3)
    low, high = ARTICULATION_RATIO[articulation]
    share = sounding_share(piece)
    assert np.all((share >= low - 1e-6) & (share <= high + 1e-6))
    assert piece.annotations["phrase_articulations"] == [articulation] * len(piece.annotations["phrase_articulations"])


def test_mixed_articulation_alternates_phrases():
    piece = dynamics_piece("steady", articulation="mixed", tonic_pc=2, mode="major", duration_s=16.0, seed=3)
    phrases = piece.annotations["phrase_articulations"]
    assert phrases[:2] == ["legato", "staccato"] and len(phrases) >= 2
    share = sounding_share(piece)
    assert (share < 0.5).any() and (share > 0.9).any()


@pytest.mark.parametrize("dynamics", DYNAMICS)
def test_every_dynamics_piece_lasts_what_was_asked(dynamics):
    piece = dynamics_piece(dynamics, articulation="staccato", tonic_pc=5, mode="minor", duration_s=9.0, seed=0)
    assert piece.score.duration_s == pytest.approx(9.0, abs=1e-3)
    assert piece.annotations["dynamics"] == dynamics == piece.label
