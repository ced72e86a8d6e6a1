"""One pass of every MIDI analysis over a score, as a value; `midi_features` packs it for disk.

Drum tracks and pitched tracks are kept apart: pitch, key, chords and
articulation come from the pitched notes only; groove from the drums when
there are at least `MIN_GROOVE_ONSETS` drum notes or nothing else (else from
the pitched notes); tempo from every onset; velocity statistics from every note.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from kellyd.music import chords as chord_mod
from kellyd.music.chords import ChordFrames
from kellyd.music.dynamics import (
    ArticulationStats,
    VelocityStats,
    accent_share,
    articulation,
    velocity_curve,
    velocity_stats,
)
from kellyd.music.groove import GrooveStats, analyse_groove
from kellyd.music.key import KeyEstimate, KeySegment, estimate_key, key_segments
from kellyd.music.midi_beats import downbeat_shift, note_salience
from kellyd.music.notes import Notes, Score, TimeSignature
from kellyd.music.pitch_classes import Mode, bass_pitch_class, pitch_class_time
from kellyd.music.stats import (
    CURVE_POINTS,
    PitchStats,
    interval_histogram,
    melodic_contour,
    melody_line,
    pitch_class_histogram,
    pitch_stats,
    polyphony,
)
from kellyd.music.tempo import BeatGrid, TempoResult, beats_per_bar, main_time_signature, resolve_tempo

MIN_GROOVE_ONSETS = 8
# Longest stretch that gets key segments and chords, in beats (20 minutes at 200 bpm); the rest
# of a longer piece is left out of them (the global key still hears every note).
MAX_HARMONY_BEATS = 4096

GrooveSource = Literal["drums", "pitched", "none"]


@dataclass(frozen=True)
class ChordEntry:
    """One run of a chord, with its Roman numeral in the key in force there (None for N or without a key)."""

    start_s: float
    end_s: float
    symbol: str
    roman: str | None

    def to_json(self) -> dict:
        out = {"start_s": self.start_s, "end_s": self.end_s, "chord": self.symbol}
        if self.roman is not None:
            out["roman"] = self.roman
        return out


@dataclass(frozen=True)
class Harmony:
    """Key (global and per segment) and chords per beat; empty for music without pitched notes."""

    key: KeyEstimate | None
    segments: tuple[KeySegment, ...]
    frames: ChordFrames | None
    chords: tuple[ChordEntry, ...]

    @property
    def progression(self) -> list[str]:
        return chord_mod.collapse_progression([c.symbol for c in self.chords])

    @property
    def roman_progression(self) -> list[str]:
        romans = [c.roman for c in self.chords if c.roman is not None]
        return [r for i, r in enumerate(romans) if i == 0 or romans[i - 1] != r]

    def quality_shares(self) -> np.ndarray:
        """(len(QUALITY_NAMES),) share of the chord beats (N excluded) per quality."""
        n_q = len(chord_mod.QUALITY_NAMES)
        if self.frames is None or len(self.frames) == 0:
            return np.zeros(n_q)
        chorded = self.frames.quality >= 0
        return np.bincount(self.frames.quality[chorded], minlength=n_q) / max(int(chorded.sum()), 1)

    def no_chord_share(self) -> float:
        if self.frames is None or len(self.frames) == 0:
            return 0.0
        return float(np.mean(self.frames.quality < 0))

    def changes_per_bar(self, bar_beats: float) -> float:
        if self.frames is None or len(self.frames) == 0:
            return 0.0
        changes = sum(1 for a, b in zip(self.chords, self.chords[1:]) if a.symbol != b.symbol)
        return changes / max(len(self.frames) / bar_beats, 1.0)


@dataclass(frozen=True)
class MidiAnalysis:
    """Everything measured on one score. Notes are sorted by (start, pitch) with parallel
    `is_drum` (bool) and `track` (index into score.tracks) arrays."""

    notes: Notes
    is_drum: np.ndarray
    track: np.ndarray
    pitched: Notes
    drums: Notes
    start_s: float
    end_s: float
    tempo: TempoResult
    signature: TimeSignature
    bar_beats: float
    groove: GrooveStats
    groove_source: GrooveSource
    pitch: PitchStats
    pitch_class_histogram: np.ndarray
    interval_histogram: np.ndarray
    contour: np.ndarray
    polyphony_mean: float
    polyphony_max: int
    harmony: Harmony
    velocity: VelocityStats
    velocity_curve: np.ndarray
    accent_share: float
    articulation: ArticulationStats


def note_table(score: Score) -> tuple[Notes, np.ndarray, np.ndarray]:
    """Every note of the score sorted by (start, pitch), with its is_drum flag and track index."""
    kept = [(i, t) for i, t in enumerate(score.tracks) if len(t.notes)]
    if not kept:
        return Notes.empty(), np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int16)
    start = np.concatenate([t.notes.start_s for _, t in kept])
    pitch = np.concatenate([t.notes.pitch for _, t in kept])
    order = np.lexsort((pitch, start))
    notes = Notes(
        start[order],
        np.concatenate([t.notes.end_s for _, t in kept])[order],
        pitch[order],
        np.concatenate([t.notes.velocity for _, t in kept])[order],
    )
    is_drum = np.concatenate([np.full(len(t.notes), t.is_drum) for _, t in kept])[order]
    track = np.concatenate([np.full(len(t.notes), i, dtype=np.int16) for i, t in kept])[order]
    return notes, is_drum, track


def subset(notes: Notes, mask: np.ndarray) -> Notes:
    return Notes(notes.start_s[mask], notes.end_s[mask], notes.pitch[mask], notes.velocity[mask])


def frame_boundaries_s(grid: BeatGrid, first_beat: float, last_beat: float, step_beats: float) -> np.ndarray:
    """Boundaries (s) of frames `step_beats` long covering [first_beat, last_beat], on multiples of
    the step; a first frame that would start before time 0 starts at 0."""
    lo = np.floor(first_beat / step_beats) * step_beats
    hi = max(np.ceil(last_beat / step_beats) * step_beats, lo + step_beats)
    bounds = grid.to_seconds(np.arange(lo, hi + step_beats / 2, step_beats))
    # Only the first boundary can fall before 0 (the frame holding time 0 starts at most a step earlier).
    if len(bounds) > 1 and bounds[0] < 0 <= bounds[1]:
        bounds[0] = 0.0
    return bounds


def _key_at(segments: tuple[KeySegment, ...], t_s: float, fallback: KeyEstimate | None) -> tuple[int, Mode] | None:
    for seg in segments:
        if seg.start_s <= t_s < seg.end_s:
            return seg.tonic_pc, seg.mode
    return (fallback.tonic_pc, fallback.mode) if fallback is not None else None


def analyse_harmony(pitched: Notes, grid: BeatGrid, bar_beats: float, end_s: float) -> Harmony:
    """Global key, key segments per bar window, and chords per beat of `pitched` notes."""
    if len(pitched) == 0:
        return Harmony(None, (), None, ())
    key = estimate_key(pitch_class_histogram(pitched))
    first_beat = float(grid.to_beats(pitched.start_s[0]))
    last_beat = float(grid.to_beats(end_s))
    bars = frame_boundaries_s(grid, first_beat, min(last_beat, first_beat + MAX_HARMONY_BEATS), bar_beats)
    segments = key_segments(pitch_class_time(pitched, bars), bars)
    # Chords cover the piece from time 0, so leading silence reads as N rather than as nothing.
    chord_first_beat = min(first_beat, float(grid.to_beats(0.0)))
    beats = frame_boundaries_s(grid, chord_first_beat, min(last_beat, chord_first_beat + MAX_HARMONY_BEATS), 1.0)
    frames = chord_mod.detect_chords(pitch_class_time(pitched, beats), bass_pitch_class(pitched, beats), beats)
    entries = []
    for seg in chord_mod.chord_segments(frames):
        local = _key_at(segments, seg.start_s, key)
        roman = None
        if seg.quality is not None and local is not None:
            roman = chord_mod.roman_numeral(seg.root, seg.quality, *local)
        entries.append(ChordEntry(seg.start_s, seg.end_s, seg.symbol, roman))
    return Harmony(key, segments, frames, tuple(entries))


def analyse_midi(score: Score) -> MidiAnalysis:
    """Every MIDI analysis of `score`; pure, and defined for empty and one-note scores."""
    notes, is_drum, track = note_table(score)
    pitched, drums = subset(notes, ~is_drum), subset(notes, is_drum)
    end_s = max(float(score.duration_s), float(notes.end_s.max()) if len(notes) else 0.0)
    start_s = float(notes.start_s[0]) if len(notes) else 0.0

    salience = note_salience(notes, is_drum)
    tempo = resolve_tempo(score.tempo, notes.start_s, salience, end_s)
    signature = main_time_signature(score.time_signatures, end_s)
    bar_beats = beats_per_bar(signature)
    bar_shift = downbeat_shift(tempo.grid, notes, is_drum, salience, bar_beats)
    if bar_shift:
        tempo = replace(tempo, grid=tempo.grid.shifted(bar_shift), downbeat_shift_beats=bar_shift)
    groove_source: GrooveSource
    if len(drums) >= MIN_GROOVE_ONSETS or (len(drums) and not len(pitched)):
        groove_notes, groove_source = drums, "drums"
    else:
        groove_notes, groove_source = pitched, ("pitched" if len(pitched) else "none")
    groove = analyse_groove(groove_notes.start_s, groove_notes.velocity / 127.0, tempo.grid, bar_beats)

    melody = melody_line(pitched)
    p_start = float(pitched.start_s[0]) if len(pitched) else 0.0
    p_end = float(pitched.end_s.max()) if len(pitched) else 0.0
    poly_mean, poly_max = polyphony(pitched)
    return MidiAnalysis(
        notes=notes,
        is_drum=is_drum,
        track=track,
        pitched=pitched,
        drums=drums,
        start_s=start_s,
        end_s=end_s,
        tempo=tempo,
        signature=signature,
        bar_beats=bar_beats,
        groove=groove,
        groove_source=groove_source,
        pitch=pitch_stats(pitched),
        pitch_class_histogram=pitch_class_histogram(pitched),
        interval_histogram=interval_histogram(melody),
        contour=melodic_contour(melody, p_start, p_end),
        polyphony_mean=poly_mean,
        polyphony_max=poly_max,
        harmony=analyse_harmony(pitched, tempo.grid, bar_beats, end_s),
        velocity=velocity_stats(notes.velocity),
        velocity_curve=velocity_curve(notes.start_s, notes.velocity, start_s, end_s, CURVE_POINTS),
        accent_share=accent_share(notes.start_s, notes.velocity),
        articulation=articulation([t.notes for t in score.tracks if not t.is_drum]),
    )
