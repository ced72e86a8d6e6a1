"""Every emotion of the taxonomy has its own profile, and its pieces follow it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kellyd.synth.emotion import EMOTION_PROFILES, EmotionProfile, emotion_piece
from kellyd.taxonomy import ALIASES, BASE_EMOTION_NAMES, EMOTIONS, SUB_EMOTIONS


def test_every_taxonomy_emotion_has_its_own_profile():
    assert set(EMOTION_PROFILES) == set(EMOTIONS)
    assert len(EMOTION_PROFILES) == len(BASE_EMOTION_NAMES) + len(SUB_EMOTIONS) + len(ALIASES)


@pytest.mark.parametrize("sub", [e.name for e in SUB_EMOTIONS])
def test_a_sub_emotion_is_not_its_base(sub):
    base = EMOTIONS[sub].base
    assert EMOTION_PROFILES[sub] != EMOTION_PROFILES[base]
    assert not set(EMOTION_PROFILES[sub].progressions) & set(EMOTION_PROFILES[base].progressions)


def test_no_two_emotions_share_a_profile_or_a_progression():
    for (a, pa), (b, pb) in itertools.combinations(EMOTION_PROFILES.items(), 2):
        assert pa != pb, f"{a} and {b} have the same profile"
        shared = set(pa.progressions) & set(pb.progressions)
        assert not shared, f"{a} and {b} share {shared}"


def test_a_malformed_profile_is_refused():
    with pytest.raises(ValueError, match="texture 'drone'"):
        EmotionProfile("major", (60, 80), (40, 60), "legato", "drone", "even", 64, ("I V I",))
    with pytest.raises(ValueError, match="not a Roman numeral"):
        EmotionProfile("major", (60, 80), (40, 60), "legato", "block", "even", 64, ("I Q I",))


@pytest.mark.parametrize("name", sorted(EMOTION_PROFILES))
def test_a_piece_follows_its_profile_and_takes_valence_from_the_taxonomy(name):
    profile = EMOTION_PROFILES[name]
    piece = emotion_piece(name, tonic_pc=sorted(EMOTION_PROFILES).index(name) % 12, duration_s=16.0, seed=5)
    a = piece.annotations
    assert (a["emotion"], a["base_emotion"]) == (name, EMOTIONS[name].base)
    assert (a["valence"], a["arousal"]) == (EMOTIONS[name].valence, EMOTIONS[name].arousal)
    assert a["mode"] == profile.mode and a["articulation"] == profile.articulation
    assert a["progression"] in profile.progressions
    assert a["time_signature"] == f"{profile.beats_per_bar}/4"
    low, high = profile.tempo_bpm
    assert low * 0.85 <= a["tempo_bpm"] <= high * 1.15, "whole bars in 16 s may nudge the tempo off the range"
    velocities = np.concatenate([t.notes.velocity for t in piece.score.tracks])
    assert velocities.min() >= 1 and velocities.max() <= 127
    assert piece.score.duration_s == pytest.approx(16.0, abs=1e-3)
    assert piece.label == name


def test_loud_fast_anger_and_soft_slow_grief_differ_in_the_notes():
    rage = emotion_piece("rage", tonic_pc=0, duration_s=16.0, seed=1)
    grief = emotion_piece("grief", tonic_pc=0, duration_s=16.0, seed=1)
    loud = np.mean(np.concatenate([t.notes.velocity for t in rage.score.tracks]))
    soft = np.mean(np.concatenate([t.notes.velocity for t in grief.score.tracks]))
    assert loud > soft + 40
    assert rage.annotations["tempo_bpm"] > 2 * grief.annotations["tempo_bpm"]
    assert len(rage.score.all_notes) > 3 * len(grief.score.all_notes)


def test_the_same_seed_gives_the_same_piece():
    a = emotion_piece("hope", tonic_pc=4, duration_s=10.0, seed=9)
    b = emotion_piece("hope", tonic_pc=4, duration_s=10.0, seed=9)
    assert a.annotations == b.annotations
    assert all(np.array_equal(x.notes.start_s, y.notes.start_s) and np.array_equal(x.notes.pitch, y.notes.pitch)
               for x, y in zip(a.score.tracks, b.score.tracks))
