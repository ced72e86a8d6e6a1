"""Hand-built notes and scores for the MIDI feature tests (no files)."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from kellyd.music.notes import Notes, Score, TempoMap, TimeSignature, Track

KICK, SNARE, CLOSED_HAT, RIDE = 36, 38, 42, 51


def tempo_map(bpm: float = 120.0, *, default_only: bool = False) -> TempoMap:
    return TempoMap(time_s=np.zeros(1), bpm=np.array([float(bpm)]), is_default_only=default_only)


def notes(rows: Iterable[Sequence[float]]) -> Notes:
    """Notes from (start_s, end_s, pitch, velocity) rows."""
    rows = list(rows)
    if not rows:
        return Notes.empty()
    start, end, pitch, velocity = zip(*rows)
    return Notes.from_lists(start, end, pitch, velocity)


def score(
    pitched: Notes | None = None,
    drums: Notes | None = None,
    *,
    bpm: float = 120.0,
    default_only: bool = False,
    time_signature: tuple[int, int] | None = (4, 4),
) -> Score:
    tracks = []
    if pitched is not None:
        tracks.append(Track("piano", 0, False, pitched))
    if drums is not None:
        tracks.append(Track("drums", 0, True, drums))
    ends = [float(t.notes.end_s.max()) for t in tracks if len(t.notes)]
    sigs = (TimeSignature(0.0, *time_signature),) if time_signature else ()
    return Score(tuple(tracks), tempo_map(bpm, default_only=default_only), sigs, max(ends, default=0.0))


def beat_s(bpm: float) -> float:
    return 60.0 / bpm


def swung_hats(bpm: float, ratio: float, bars: int, *, jitter_ms: float = 0.0, seed: int = 0) -> Notes:
    """Ride/hat eighth pairs on every beat, the off-beat at `ratio` of the beat, kick on 1 and 3,
    snare on 2 and 4 (a shuffle-style drum pattern); optional Gaussian timing jitter."""
    rng = np.random.default_rng(seed)
    b = beat_s(bpm)
    rows = []
    for beat in range(bars * 4):
        t = beat * b
        rows.append((t, t + 0.05, RIDE, 100))
        rows.append((t + ratio * b, t + ratio * b + 0.05, RIDE, 80))
        rows.append((t, t + 0.05, KICK if beat % 2 == 0 else SNARE, 110))
    start = np.array([r[0] for r in rows]) + rng.normal(0.0, jitter_ms / 1000.0, len(rows))
    start = np.maximum(start, 0.0)
    return notes((s, s + 0.05, p, v) for s, (_, _, p, v) in zip(start, rows))


def chord_notes(pitches: Sequence[int], start_s: float, end_s: float, velocity: int = 80) -> list[tuple]:
    return [(start_s, end_s, p, velocity) for p in pitches]


def scale_melody(tonic: int, steps: Sequence[int], note_s: float = 0.5, start_s: float = 0.0) -> list[tuple]:
    """A line through the scale degrees `steps` (semitones above `tonic`), one note each."""
    return [(start_s + i * note_s, start_s + (i + 1) * note_s, tonic + s, 80) for i, s in enumerate(steps)]
