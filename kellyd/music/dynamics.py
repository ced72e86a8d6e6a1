"""Dynamics and articulation: velocity statistics, velocity curve, accents, legato/staccato.

Velocities are MIDI 1..127. Articulation compares each note's duration with the
time to the next onset in the same track (the inter-onset interval, IOI):
ratio >= `LEGATO_RATIO` is legato (the note lasts into the next one),
ratio < `STACCATO_RATIO` is staccato (sounding less than half the gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from kellyd.music.notes import Notes

# An accent stands out of its neighbourhood by this many velocity units.
ACCENT_MARGIN = 10.0
ACCENT_WINDOW_S = 2.0
LEGATO_RATIO = 0.9
STACCATO_RATIO = 0.5
# The share of notes a label needs; below it on both sides the articulation is "mixed".
ARTICULATION_LABEL_SHARE = 0.6
# Onsets closer than this belong to one chord, not a succession.
SAME_ONSET_S = 0.02

Articulation = Literal["legato", "staccato", "mixed"]


@dataclass(frozen=True)
class VelocityStats:
    mean: float
    std: float
    min: int
    max: int
    range: int


@dataclass(frozen=True)
class ArticulationStats:
    """Shares of legato and staccato notes among those followed by another onset in their track;
    `label` is None when no note has a successor (nothing to judge)."""

    legato_share: float
    staccato_share: float
    mean_ratio: float
    judged_notes: int
    label: Articulation | None


def velocity_stats(velocity: np.ndarray) -> VelocityStats:
    if len(velocity) == 0:
        return VelocityStats(0.0, 0.0, 0, 0, 0)
    v = np.asarray(velocity, dtype=np.float64)
    lo, hi = int(v.min()), int(v.max())
    return VelocityStats(float(v.mean()), float(v.std()), lo, hi, hi - lo)


def velocity_curve(start_s: np.ndarray, velocity: np.ndarray, t0_s: float, t1_s: float, points: int) -> np.ndarray:
    """(points,) mean velocity of the notes starting in each of `points` equal spans of [t0_s, t1_s].

    Spans without onsets take the value interpolated from their neighbours, so
    a held chord does not read as silence. Zeros when there are no notes.
    """
    if points <= 0:
        raise ValueError(f"points must be positive, got {points}")
    if len(start_s) == 0:
        return np.zeros(points)
    span = max(t1_s - t0_s, 1e-9)
    slot = np.clip(((start_s - t0_s) / span * points).astype(np.int64), 0, points - 1)
    total = np.bincount(slot, weights=velocity.astype(np.float64), minlength=points)
    count = np.bincount(slot, minlength=points)
    filled = count > 0
    centres = np.arange(points, dtype=np.float64)
    return np.interp(centres, centres[filled], total[filled] / count[filled])


def accent_share(start_s: np.ndarray, velocity: np.ndarray) -> float:
    """Share of notes louder than the mean velocity of the notes within +-ACCENT_WINDOW_S/2
    by at least `ACCENT_MARGIN`; 0 for no notes. `start_s` ascending."""
    n = len(start_s)
    if n == 0:
        return 0.0
    v = velocity.astype(np.float64)
    cum = np.concatenate(([0.0], np.cumsum(v)))
    lo = np.searchsorted(start_s, start_s - ACCENT_WINDOW_S / 2, side="left")
    hi = np.searchsorted(start_s, start_s + ACCENT_WINDOW_S / 2, side="right")
    local_mean = (cum[hi] - cum[lo]) / (hi - lo)
    return float(np.mean(v >= local_mean + ACCENT_MARGIN))


def articulation(tracks: Sequence[Notes]) -> ArticulationStats:
    """Legato/staccato shares over the notes of pitched `tracks` (each sorted by start)."""
    parts = [t for t in tracks if len(t)]
    if not parts:
        return ArticulationStats(0.0, 0.0, 0.0, 0, None)
    track_id = np.concatenate([np.full(len(t), i, dtype=np.float64) for i, t in enumerate(parts)])
    start = np.concatenate([t.start_s for t in parts])
    duration = np.concatenate([t.duration_s for t in parts])
    # One sorted key per (track, onset): tracks are spaced further apart than any song lasts.
    spacing = float(start.max()) + 10.0
    key = track_id * spacing + start
    onsets = np.unique(key)
    nxt = np.searchsorted(onsets, key + SAME_ONSET_S, side="right")
    has_next = nxt < len(onsets)
    has_next[has_next] = np.floor(onsets[nxt[has_next]] / spacing + 1e-9) == track_id[has_next]
    if not np.any(has_next):
        return ArticulationStats(0.0, 0.0, 0.0, 0, None)
    ioi = onsets[nxt[has_next]] - key[has_next]
    ratio = duration[has_next] / ioi
    legato = float(np.mean(ratio >= LEGATO_RATIO))
    staccato = float(np.mean(ratio < STACCATO_RATIO))
    if legato >= ARTICULATION_LABEL_SHARE:
        label: Articulation = "legato"
    elif staccato >= ARTICULATION_LABEL_SHARE:
        label = "staccato"
    else:
        label = "mixed"
    # Overlaps beyond twice the gap say nothing more about legato; cap so one pedal note cannot dominate.
    return ArticulationStats(legato, staccato, float(np.mean(np.minimum(ratio, 2.0))), int(has_next.sum()), label)
