"""Time in beats for the recipes: positions on a beat grid, sixteenth steps, duration classes,
and the drum kit reduced to nine classes.

A beat grid is `beat_times_s` from the features (one time per quarter-note beat, s).
Outside it, time is extrapolated with the first and last beat periods; a piece with
fewer than two beats uses its tempo.
"""

from __future__ import annotations

import numpy as np

STEPS_PER_BEAT = 4

# General MIDI drum notes reduced to nine classes (the reduction the Groove MIDI
# Dataset paper uses): kick, snare, closed hi-hat, open hi-hat, low tom, mid tom,
# high tom, crash, ride. Other drum notes are left out.
DRUM_CLASSES: tuple[str, ...] = ("kick", "snare", "hihat_closed", "hihat_open", "tom_low", "tom_mid", "tom_high",
                                 "crash", "ride")
_DRUM_NOTES: dict[int, tuple[int, ...]] = {
    0: (35, 36), 1: (37, 38, 40), 2: (22, 42, 44), 3: (26, 46), 4: (41, 43, 58), 5: (45, 47),
    6: (48, 50), 7: (49, 52, 55, 57), 8: (51, 53, 59),
}
DRUM_CLASS_OF_PITCH = np.full(128, -1, dtype=np.int64)
for _cls, _pitches in _DRUM_NOTES.items():
    DRUM_CLASS_OF_PITCH[list(_pitches)] = _cls

# Note durations, in beats, that a duration class stands for: 1/8 to 4 beats (sixteenth
# to whole note, triplet eighth included). A duration takes the nearest on a log scale.
DURATION_BEATS: tuple[float, ...] = (0.125, 0.25, 1 / 3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
DURATION_NAMES: tuple[str, ...] = ("1/8", "1/4", "1/3", "1/2", "3/4", "1", "3/2", "2", "3", "4")


def _grid(beat_times_s: np.ndarray, bpm: float) -> np.ndarray:
    beats = np.asarray(beat_times_s, dtype=np.float64)
    if beats.ndim != 1:
        raise ValueError(f"beat_times_s must be one-dimensional, got shape {beats.shape}")
    if len(beats) >= 2 and np.all(np.diff(beats) > 0):
        return beats
    if not (np.isfinite(bpm) and bpm > 0):
        raise ValueError(f"a grid of fewer than two beats needs a positive tempo, got {bpm!r} bpm")
    first = float(beats[0]) if len(beats) else 0.0
    return first + np.arange(2) * 60.0 / bpm


def beats_at(times_s: np.ndarray, beat_times_s: np.ndarray, bpm: float = 120.0) -> np.ndarray:
    """Fractional beat index of each time (0 at the first beat of the grid), same shape as times_s."""
    grid = _grid(beat_times_s, bpm)
    t = np.asarray(times_s, dtype=np.float64)
    index = np.arange(len(grid), dtype=np.float64)
    inside = np.interp(t, grid, index)
    before = (t - grid[0]) / (grid[1] - grid[0])
    after = (len(grid) - 1) + (t - grid[-1]) / (grid[-1] - grid[-2])
    return np.where(t < grid[0], before, np.where(t > grid[-1], after, inside))


def seconds_at(beats: np.ndarray, beat_times_s: np.ndarray, bpm: float = 120.0) -> np.ndarray:
    """Time (s) of fractional beat indexes: the inverse of `beats_at`."""
    grid = _grid(beat_times_s, bpm)
    b = np.asarray(beats, dtype=np.float64)
    index = np.arange(len(grid), dtype=np.float64)
    inside = np.interp(b, index, grid)
    before = grid[0] + b * (grid[1] - grid[0])
    after = grid[-1] + (b - (len(grid) - 1)) * (grid[-1] - grid[-2])
    return np.where(b < 0, before, np.where(b > len(grid) - 1, after, inside))


def duration_class(duration_beats: np.ndarray) -> np.ndarray:
    """Index into DURATION_BEATS of the nearest duration on a log scale, int64, same shape."""
    d = np.clip(np.asarray(duration_beats, dtype=np.float64), DURATION_BEATS[0] / 2, DURATION_BEATS[-1] * 2)
    centres = np.log2(np.asarray(DURATION_BEATS))
    return np.abs(np.log2(d)[..., None] - centres).argmin(axis=-1).astype(np.int64)


def beat_phase_one_hot(onset_beats: np.ndarray) -> np.ndarray:
    """(n, STEPS_PER_BEAT) one-hot of the nearest sixteenth inside the beat of each onset."""
    step = np.round(np.asarray(onset_beats, dtype=np.float64) * STEPS_PER_BEAT).astype(np.int64)
    return np.eye(STEPS_PER_BEAT, dtype=np.float32)[step % STEPS_PER_BEAT]


def bar_beat_one_hot(onset_beats: np.ndarray, beats_per_bar: int) -> np.ndarray:
    """(n, 4) one-hot of the beat inside the bar (beats past the fourth share the last slot)."""
    if beats_per_bar < 1:
        raise ValueError(f"beats_per_bar must be positive, got {beats_per_bar}")
    beat = np.floor(np.round(np.asarray(onset_beats, dtype=np.float64) * STEPS_PER_BEAT) / STEPS_PER_BEAT)
    in_bar = np.minimum(beat.astype(np.int64) % beats_per_bar, 3)
    return np.eye(4, dtype=np.float32)[in_bar]


def beats_per_bar_of(time_signature: object) -> int:
    """Beats per bar of an annotation such as '4/4' or '6/8' (quarter-note beats, at least 1)."""
    if isinstance(time_signature, str) and "/" in time_signature:
        top, _, bottom = time_signature.partition("/")
        try:
            numerator, denominator = int(top), int(bottom)
        except ValueError:
            return 4
        if numerator > 0 and denominator > 0:
            return max(1, round(numerator * 4 / denominator))
    return 4
