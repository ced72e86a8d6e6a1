"""What the notes say about the beat and the bar: note salience and the downbeat.

Salience (the weight of an onset when finding the beat): velocity times the
square root of the note's length (a held note marks a beat more than a grace
note), doubled for the bass register (pitched notes in the lowest quarter of
the piece's pitches) and the kick; hi-hats and cymbals count half, snares 1.5
times. Drum note lengths carry no meaning and are ignored.

Downbeat: for each beat of the grid three bar-level cues are measured, each
divided by its mean over the piece: the bass salience on the beat, the
harmonic change into the beat (1 - cosine between the pitch-class durations of
the beat before and this one) and the salience of every onset on the beat.
The bar phase whose beats collect the most of their sum is the downbeat. The
grid's own bar lines are kept unless another phase collects clearly more
(`DOWNBEAT_MOVE_RATIO`), so a file whose bars are right keeps them.
"""

from __future__ import annotations

import numpy as np

from kellyd.music.notes import Notes
from kellyd.music.pitch_classes import pitch_class_time
from kellyd.music.tempo import BeatGrid

# Note length (s) that weighs 1; lengths are clipped to [MIN, MAX] before the square root.
REFERENCE_LENGTH_S = 0.25
MIN_LENGTH_S = 0.03
MAX_LENGTH_S = 2.0
# Pitched notes at or below this quantile of the piece's pitches are the bass register.
BASS_QUANTILE = 0.25
BASS_WEIGHT = 2.0
KICKS = frozenset({35, 36})
SNARES = frozenset({37, 38, 39, 40})
CYMBALS = frozenset({42, 44, 46, 49, 51, 52, 53, 55, 57, 59})
KICK_WEIGHT, SNARE_WEIGHT, CYMBAL_WEIGHT = 2.0, 1.5, 0.5
# Salience factor of each General MIDI drum pitch (a lookup, not a set test per note).
_DRUM_FACTOR = np.ones(128)
_DRUM_FACTOR[list(KICKS)] = KICK_WEIGHT
_DRUM_FACTOR[list(SNARES)] = SNARE_WEIGHT
_DRUM_FACTOR[list(CYMBALS)] = CYMBAL_WEIGHT
_IS_KICK = np.zeros(128, dtype=bool)
_IS_KICK[list(KICKS)] = True
# An onset belongs to a beat when it lies within this many beats of it.
ON_BEAT_BEATS = 0.125
# Another bar phase replaces the grid's own only when it collects this many times its score.
DOWNBEAT_MOVE_RATIO = 1.15
# Longest stretch (beats) scanned for the downbeat; the bar phase of a long piece is settled well before.
MAX_DOWNBEAT_BEATS = 4096


def note_salience(notes: Notes, is_drum: np.ndarray) -> np.ndarray:
    """(n,) weight of each note's onset as beat evidence (see the module docstring)."""
    if len(notes) == 0:
        return np.zeros(0)
    velocity = notes.velocity.astype(np.float64) / 127.0
    length = np.clip(notes.duration_s, MIN_LENGTH_S, MAX_LENGTH_S)
    weight = velocity * np.sqrt(length / REFERENCE_LENGTH_S)
    pitched = ~is_drum
    weight[pitched & is_bass(notes, is_drum)] *= BASS_WEIGHT
    if is_drum.any():
        weight[is_drum] = velocity[is_drum] * _DRUM_FACTOR[notes.pitch[is_drum].astype(np.int64) & 127]
    return weight


def is_bass(notes: Notes, is_drum: np.ndarray) -> np.ndarray:
    """(n,) bool: kicks and pitched notes in the bass register."""
    pitch = notes.pitch.astype(np.int64) & 127
    out = is_drum & _IS_KICK[pitch]
    pitched = ~is_drum
    if pitched.any():
        out |= pitched & (pitch <= np.quantile(pitch[pitched], BASS_QUANTILE))
    return out


def beat_cues(grid: BeatGrid, notes: Notes, is_drum: np.ndarray, salience: np.ndarray) -> tuple[int, np.ndarray]:
    """(first beat k0, (m, 3) cues of beats k0 .. k0 + m - 1): bass salience on the beat, harmonic
    change into it, salience of every onset on it; each column divided by its mean (0 if none)."""
    beats = grid.to_beats(notes.start_s)
    k0 = int(np.floor(beats.min()))
    m = min(int(np.ceil(beats.max())) - k0 + 1, MAX_DOWNBEAT_BEATS)
    nearest = np.round(beats).astype(np.int64) - k0
    on = (np.abs(beats - np.round(beats)) <= ON_BEAT_BEATS) & (nearest >= 0) & (nearest < m)
    onset = np.bincount(nearest[on], weights=salience[on], minlength=m)
    low = on & is_bass(notes, is_drum)
    bass = np.bincount(nearest[low], weights=salience[low], minlength=m)
    change = np.zeros(m)
    pitched = ~is_drum
    if pitched.any():
        sub = Notes(notes.start_s[pitched], notes.end_s[pitched], notes.pitch[pitched], notes.velocity[pitched])
        chroma = pitch_class_time(sub, grid.to_seconds(np.arange(k0, k0 + m + 1, dtype=np.float64)))
        norm = np.linalg.norm(chroma, axis=1)
        cos = np.sum(chroma[1:] * chroma[:-1], axis=1) / np.maximum(norm[1:] * norm[:-1], 1e-12)
        sounding = (norm[1:] > 0) & (norm[:-1] > 0)
        change[1:] = np.where(sounding, 1.0 - cos, 0.0)
    cues = np.stack([bass, change, onset], axis=1)
    mean = cues.mean(axis=0)
    return k0, np.where(mean > 0, cues / np.where(mean > 0, mean, 1.0), 0.0)


def bar_phase_scores(k0: int, cues: np.ndarray, bar_beats: int) -> np.ndarray:
    """(bar_beats,) mean cue sum of the beats k with k mod bar_beats == p, for each phase p."""
    total = cues.sum(axis=1)
    phase = (k0 + np.arange(len(total))) % bar_beats
    counts = np.bincount(phase, minlength=bar_beats)
    return np.bincount(phase, weights=total, minlength=bar_beats) / np.maximum(counts, 1)


def downbeat_shift(grid: BeatGrid, notes: Notes, is_drum: np.ndarray, salience: np.ndarray,
                   bar_beats: float) -> int:  # fmt: skip
    """Whole beats (0 .. bar_beats - 1) to move the grid by so its bar lines (beat multiples of
    `bar_beats`) fall on the downbeats the notes show; 0 for a fractional bar or too few beats."""
    bar = int(round(bar_beats))
    if len(notes) == 0 or bar < 2 or abs(bar - bar_beats) > 1e-9:
        return 0
    k0, cues = beat_cues(grid, notes, is_drum, salience)
    if len(cues) < 2 * bar:
        return 0
    scores = bar_phase_scores(k0, cues, bar)
    best = int(np.argmax(scores))
    return best if scores[best] > DOWNBEAT_MOVE_RATIO * scores[0] else 0
