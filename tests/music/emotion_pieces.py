"""Small generated pieces for the emotion tests: a chord progression with a melody on top, in a
chosen key and mode, tempo, loudness and register (the cues the emotion input reads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kellyd.music.emotion_input import NoteEvents
from kellyd.music.midi_io import score_midi_bytes
from kellyd.music.notes import Notes, Score, TempoMap, Track

# Scale degrees (semitones above the tonic) of the chords I IV V I, and i iv V i in harmonic minor.
PROGRESSIONS = {"major": ((0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7)),
                "minor": ((0, 3, 7), (5, 8, 12), (7, 11, 14), (0, 3, 7))}
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 11)}


def piece(mode: str, tonic_pc: int, *, bpm: float, velocity: int, octave: int, seconds: float = 12.0,
          seed: int = 0) -> NoteEvents:
    """Chords (one per bar of 4 beats, in an order `seed` picks) and a melody of eighth notes from
    the scale, looped."""
    rng = np.random.default_rng(seed)
    progression = [PROGRESSIONS[mode][i] for i in rng.permutation(4)]
    beat_s = 60.0 / bpm
    base = 12 * octave + tonic_pc
    start, end, pitch, vel = [], [], [], []
    bar = 0
    while bar * 4 * beat_s < seconds:
        chord = progression[bar % 4]
        t0 = bar * 4 * beat_s
        for degree in chord:
            start.append(t0), end.append(t0 + 4 * beat_s * 0.95), pitch.append(base - 12 + degree)
            vel.append(velocity - 10)
        for i in range(8):
            t = t0 + i * beat_s / 2
            start.append(t), end.append(t + beat_s / 2 * 0.9)
            pitch.append(base + 12 + SCALES[mode][int(rng.integers(7))]), vel.append(velocity)
        bar += 1
    return NoteEvents(np.array(start), np.array(end), np.array(pitch, dtype=np.int64), np.array(vel, dtype=np.float64))


def write_piece(path: Path, events: NoteEvents) -> Path:
    notes = Notes(events.start_s, events.end_s, events.pitch.astype(np.int64), events.velocity.astype(np.int64))
    score = Score((Track("piano", 0, False, notes),), TempoMap(np.array([0.0]), np.array([120.0]), True),
                  duration_s=float(events.end_s.max()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(score_midi_bytes(score))
    return path
