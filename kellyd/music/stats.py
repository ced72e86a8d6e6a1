"""Note statistics of pitched notes: pitch, pitch classes, intervals, contour, density, polyphony.

All functions take `Notes` (seconds) and return plain numbers or new arrays.
Empty input gives defined values: zeros, and uniform-free zero histograms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kellyd.music.notes import Notes

CURVE_POINTS = 32
# Melodic intervals in semitones, clipped to +-an octave: bins -12..+12.
MAX_INTERVAL = 12
INTERVAL_BINS = 2 * MAX_INTERVAL + 1
# Notes starting within this of each other count as one chord for the melody line.
CHORD_ONSET_TOLERANCE_S = 0.03


@dataclass(frozen=True)
class PitchStats:
    """Pitch summary of pitched notes (MIDI numbers; zeros when there are none)."""

    count: int
    pitch_min: int
    pitch_max: int
    pitch_range: int
    pitch_mean: float
    pitch_std: float


def pitch_stats(notes: Notes) -> PitchStats:
    if len(notes) == 0:
        return PitchStats(0, 0, 0, 0, 0.0, 0.0)
    p = notes.pitch.astype(np.float64)
    lo, hi = int(notes.pitch.min()), int(notes.pitch.max())
    return PitchStats(len(notes), lo, hi, hi - lo, float(p.mean()), float(p.std()))


def pitch_class_histogram(notes: Notes) -> np.ndarray:
    """(12,) share of sounding time per pitch class (C=0), summing to 1; zeros if nothing sounds.

    Each note weighs its duration; zero-length notes weigh a millisecond so
    that files with only note-on events still get a histogram.
    """
    weight = np.maximum(notes.duration_s, 1e-3)
    hist = np.bincount(notes.pitch.astype(np.int64) % 12, weights=weight, minlength=12)
    total = hist.sum()
    return hist / total if total > 0 else hist


def melody_line(notes: Notes) -> Notes:
    """The skyline: at each onset (chords merged within `CHORD_ONSET_TOLERANCE_S`), the highest note.

    A common stand-in for the melody of polyphonic music; the result is monophonic in onsets.
    """
    if len(notes) == 0:
        return notes
    new_group = np.empty(len(notes), dtype=bool)
    new_group[0] = True
    new_group[1:] = np.diff(notes.start_s) > CHORD_ONSET_TOLERANCE_S
    group = np.cumsum(new_group) - 1
    # Sorted by (group, pitch), the last note of each group is its highest.
    order = np.lexsort((notes.pitch, group))
    last_of_group = np.r_[group[order][1:] != group[order][:-1], True]
    top = order[last_of_group]
    return Notes(notes.start_s[top], notes.end_s[top], notes.pitch[top], notes.velocity[top])


def interval_histogram(melody: Notes) -> np.ndarray:
    """(25,) share of successive melodic intervals, bins -12..+12 semitones (larger leaps clipped)."""
    if len(melody) < 2:
        return np.zeros(INTERVAL_BINS)
    steps = np.clip(np.diff(melody.pitch.astype(np.int64)), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    hist = np.bincount(steps, minlength=INTERVAL_BINS).astype(np.float64)
    return hist / hist.sum()


def sample_curve(start_s: np.ndarray, value: np.ndarray, t0_s: float, t1_s: float, points: int = CURVE_POINTS) -> np.ndarray:
    """(points,) step function of `value` set at `start_s` (ascending), read at the centres of
    `points` equal spans of [t0_s, t1_s]; before the first event the first value holds. Zeros if empty."""
    if points <= 0:
        raise ValueError(f"points must be positive, got {points}")
    if len(start_s) == 0:
        return np.zeros(points)
    span = max(t1_s - t0_s, 1e-9)
    at = t0_s + (np.arange(points) + 0.5) * span / points
    idx = np.clip(np.searchsorted(start_s, at, side="right") - 1, 0, len(start_s) - 1)
    return np.asarray(value, dtype=np.float64)[idx]


def melodic_contour(melody: Notes, t0_s: float, t1_s: float, points: int = CURVE_POINTS) -> np.ndarray:
    """(points,) melody pitch (MIDI number) over [t0_s, t1_s], sampled at equal spans."""
    return sample_curve(melody.start_s, melody.pitch, t0_s, t1_s, points)


def polyphony(notes: Notes) -> tuple[float, int]:
    """(mean, max) number of notes sounding together, the mean taken over the time anything sounds.

    Zero-length notes are ignored; (0.0, 0) when nothing sounds.
    """
    keep = notes.end_s > notes.start_s
    if not np.any(keep):
        return 0.0, 0
    times = np.concatenate((notes.start_s[keep], notes.end_s[keep]))
    steps = np.concatenate((np.ones(int(keep.sum())), -np.ones(int(keep.sum()))))
    # Ends before starts at the same instant, so touching notes do not count as overlapping.
    order = np.lexsort((steps, times))
    times, level = times[order], np.cumsum(steps[order])
    span = np.diff(times)
    sounding = level[:-1] > 0
    total = float(span[sounding].sum())
    mean = float((level[:-1][sounding] * span[sounding]).sum() / total) if total > 0 else 0.0
    return mean, int(level.max())


def note_density(count: int, duration_s: float) -> float:
    """Notes per second over `duration_s`; 0 for an empty or instantaneous score."""
    return float(count / duration_s) if duration_s > 0 else 0.0
