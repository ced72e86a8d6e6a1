"""Key and mode of a recording from its chroma: one estimator for clip features and whole songs.

Pitch content: a semitone spectrum (from the clip's refined spectral peaks, or a
song's constant-Q transform) with the overtones of lower notes taken out before it
is folded to pitch classes (`chroma_from_semitones`). A harmonic note's 3rd partial
sits a twelfth above it and its 5th two octaves and a major third above: left in,
they pull a key profile toward the dominant key (rendered POP909: Eb minor read as
Bb minor, G major as D major).

Key: the Pearson correlation of the pitch-class profile with the 24 rotations of
a major and a minor key profile: three quarters Albrecht & Shanahan 2013 (the MIDI
side's default) and one quarter Krumhansl & Kessler 1982 (`AUDIO_KEY_PROFILE_SHARES`,
both from `kellyd.music.key.PROFILES`). Albrecht & Shanahan alone gives a pitch
outside the scale almost no weight; and the overtone shares also take out part of
a real chord fifth a twelfth above a loud bass root. Together they read short
FluidSynth pieces with a borrowed chord (I bVII IV V I, i bII V i) in their
subdominant key (4 of 6 in tests/synth). The Krumhansl-Kessler quarter tolerates the
borrowed chord and keeps the rendered POP909 keys right.
With frames given,
`estimate_key_from_frames` also lets stretches of `VOTE_SEGMENT_S` vote: the key
is the best of the mean correlation of the stretches plus `WHOLE_WEIGHT` times
that of the whole, so a key stated throughout wins over one that only the
loudest passage favours. Keys
within `NEAR_TIE` of the best are near-ties (relative and fifth-related keys often
are): among them the key whose tonic pitch class sounds most wins. The correlation
is the confidence: about 0.8 and above for music that clearly states its key, low
for drums and noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from kellyd.music.key import PROFILES
from kellyd.taxonomy import PITCH_CLASS_NAMES

Mode = Literal["major", "minor"]
MODES: tuple[Mode, Mode] = ("major", "minor")

# (profile name in kellyd.music.key.PROFILES, share): each enters centred and scaled to unit norm.
AUDIO_KEY_PROFILE_SHARES = (("albrecht_shanahan", 0.75), ("krumhansl_kessler", 0.25))
# A profile whose pitch classes differ by less than this (relative to its mean) carries no key.
MIN_PROFILE_CONTRAST = 1e-6
# (semitones above a note, share of that note's amplitude taken out): its 3rd and 5th partials.
OVERTONE_SUBTRACTION = ((19, 0.4), (28, 0.15))
VOTE_SEGMENT_S = 15.0
# Keys whose correlation trails the best by less than this are decided by their tonic's weight.
NEAR_TIE = 0.01
# Weight of the whole recording's correlation beside the mean of the stretches' votes.
WHOLE_WEIGHT = 0.25


@dataclass(frozen=True)
class KeyEstimate:
    """The best-correlated key.

    `tonic` is a pitch-class name ("C", "C#", ... "Bb", "B"); `correlation` the
    Pearson correlation in [-1, 1]; `confidence` the same clipped to [0, 1];
    `margin` how far the runner-up key trails (0 when tied).
    """

    tonic: str
    mode: Mode
    correlation: float
    confidence: float
    margin: float

    @property
    def tonic_pc(self) -> int:
        return PITCH_CLASS_NAMES.index(self.tonic)


def _centred_unit(x: np.ndarray, axis: int = -1) -> np.ndarray:
    centred = x - x.mean(axis=axis, keepdims=True)
    return centred / np.sqrt(np.sum(centred * centred, axis=axis, keepdims=True))


def _blended_profile(mode_index: int) -> np.ndarray:
    """(12,) the AUDIO_KEY_PROFILE_SHARES blend of the major (0) or minor (1) profiles, tonic first."""
    return sum(share * _centred_unit(np.array(PROFILES[name][mode_index], dtype=np.float64))
               for name, share in AUDIO_KEY_PROFILE_SHARES)


MAJOR_PROFILE = _blended_profile(0)
MINOR_PROFILE = _blended_profile(1)


def _rotations(profile: np.ndarray) -> np.ndarray:
    """(12, 12): row t is `profile` with its tonic moved to pitch class t."""
    return np.stack([np.roll(profile, t) for t in range(12)])


_KEY_TEMPLATES = _centred_unit(np.stack([_rotations(MAJOR_PROFILE), _rotations(MINOR_PROFILE)]))


def subtract_overtones(semitones: np.ndarray) -> np.ndarray:
    """(P, T) semitone amplitudes (row 0 the lowest) less the 3rd and 5th partials of the notes below, >= 0."""
    semitones = np.asarray(semitones, dtype=np.float64)
    cleaned = semitones.copy()
    for shift, share in OVERTONE_SUBTRACTION:
        if shift < len(semitones):
            cleaned[shift:] -= share * semitones[:-shift]
    return np.clip(cleaned, 0.0, None)


def chroma_from_semitones(semitones: np.ndarray, lowest_midi: int) -> np.ndarray:
    """(12, T) pitch-class chroma (C first) of (P, T) semitone amplitudes from MIDI `lowest_midi` up,
    overtones taken out (see the module docstring)."""
    cleaned = subtract_overtones(semitones)
    chroma = np.zeros((12, cleaned.shape[1]))
    for i, row in enumerate(cleaned):
        chroma[(lowest_midi + i) % 12] += row
    return chroma


def key_correlations(profile: np.ndarray) -> np.ndarray:
    """Pearson correlation of `profile` (12,) with every key: (2, 12), rows major and minor, columns tonic C..B."""
    profile = np.asarray(profile, dtype=np.float64)
    if profile.shape != (12,):
        raise ValueError(f"profile must have shape (12,), got {profile.shape}")
    if not np.all(np.isfinite(profile)):
        raise ValueError(f"profile must be finite, got {profile!r}")
    if np.ptp(profile) <= MIN_PROFILE_CONTRAST * max(abs(float(profile.mean())), 1.0):
        return np.zeros((2, 12))
    return _KEY_TEMPLATES @ _centred_unit(profile)


def _decide(score: np.ndarray, correlations: np.ndarray, profile: np.ndarray) -> KeyEstimate:
    """The best key of `score` (2, 12), near-ties settled by the tonic's weight in `profile`."""
    flat = score.ravel()
    tied = np.flatnonzero(flat >= flat.max() - NEAR_TIE)
    best = int(max(tied, key=lambda k: (profile[k % 12], flat[k])))
    ranked = np.sort(correlations.ravel())
    correlation = float(correlations.ravel()[best])
    runner_up = float(ranked[-2]) if correlation >= ranked[-1] else float(ranked[-1])
    return KeyEstimate(
        tonic=PITCH_CLASS_NAMES[best % 12],
        mode=MODES[best // 12],
        correlation=correlation,
        confidence=float(np.clip(correlation, 0.0, 1.0)),
        margin=float(max(correlation - runner_up, 0.0)),
    )


def estimate_key(profile: np.ndarray) -> KeyEstimate | None:
    """The key whose profile best matches `profile` (12,), C first; None for a flat or empty profile."""
    correlations = key_correlations(profile)
    if not np.any(correlations):
        return None
    return _decide(correlations, correlations, np.asarray(profile, dtype=np.float64))


def estimate_key_from_frames(chroma: np.ndarray, frame_rate_hz: float) -> KeyEstimate | None:
    """The key of chroma frames (12, T): the whole and each VOTE_SEGMENT_S stretch vote (module docstring)."""
    chroma = np.asarray(chroma, dtype=np.float64)
    if chroma.ndim != 2 or chroma.shape[0] != 12:
        raise ValueError(f"chroma must have shape (12, frames), got {chroma.shape}")
    if not frame_rate_hz > 0:
        raise ValueError(f"frame_rate_hz must be positive, got {frame_rate_hz!r}")
    profile = chroma.sum(axis=1)
    correlations = key_correlations(profile)
    if not np.any(correlations):
        return None
    step = max(1, int(round(VOTE_SEGMENT_S * frame_rate_hz)))
    votes = [key_correlations(chroma[:, i:i + step].sum(axis=1)) for i in range(0, chroma.shape[1], step)]
    # Every stretch has one vote whatever its loudness; the whole only settles what the votes leave tied.
    score = np.mean(votes, axis=0) + WHOLE_WEIGHT * correlations if len(votes) > 1 else correlations
    return _decide(score, correlations, profile)
