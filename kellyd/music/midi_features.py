"""All MIDI features of a score: the entry point of the `features` step for MIDI files.

`extract_midi(score)` is pure; `extract_midi_file(path)` reads the file first.
Drum tracks and pitched tracks are kept apart: pitch, key, chords and
articulation come from the pitched notes only; groove from the drums when
there are at least `MIN_GROOVE_ONSETS` drum notes (else from the pitched
notes); tempo from every onset; velocity statistics from every note.

Labels (annotation keys) are set only where the music tells them: no key,
mode, chords or articulation for a drums-only file, no swing ratio without
enough off-beat evidence. Scalars are JSON-ready Python values; arrays go to
the `.npz` (layouts in `kellyd.music.midi_vector`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kellyd.errors import InvalidInput
from kellyd.music import chords as chord_mod
from kellyd.music.dynamics import accent_share, articulation, velocity_curve, velocity_stats
from kellyd.music.extracted import Extracted
from kellyd.music.groove import GrooveStats, analyse_groove
from kellyd.music.key import KeyEstimate, KeySegment, estimate_key, key_segments
from kellyd.music.midi_io import read_score
from kellyd.music.midi_vector import (
    FEATURE_LAYOUT_VERSION,
    MAX_ROLL_FRAMES,
    ROLL_FRAMES_PER_BEAT,
    feature_vector,
    one_hot,
    piano_roll,
    roll_frames,
)
from kellyd.music.notes import Notes, Score
from kellyd.music.pitch_classes import bass_pitch_class, pitch_class_time
from kellyd.music.stats import (
    CURVE_POINTS,
    interval_histogram,
    melodic_contour,
    melody_line,
    note_density,
    pitch_class_histogram,
    pitch_stats,
    polyphony,
)
from kellyd.music.tempo import BeatGrid, TempoResult, beats_per_bar, main_time_signature, resolve_tempo
from kellyd.taxonomy import GROOVE_TYPES

MIN_GROOVE_ONSETS = 8
# Longest piece whose beats get chords; a longer one is analysed on its first part only.
MAX_CHORD_BEATS = 4096


def _note_table(score: Score) -> tuple[Notes, np.ndarray, np.ndarray]:
    """Every note of the score sorted by (start, pitch), with its is_drum flag and track index."""
    tracks = [t for t in score.tracks if len(t.notes)]
    if not tracks:
        empty = np.zeros(0, dtype=bool)
        return Notes.empty(), empty, np.zeros(0, dtype=np.int16)
    start = np.concatenate([t.notes.start_s for t in tracks])
    pitch = np.concatenate([t.notes.pitch for t in tracks])
    order = np.lexsort((pitch, start))
    notes = Notes(
        start[order],
        np.concatenate([t.notes.end_s for t in tracks])[order],
        pitch[order],
        np.concatenate([t.notes.velocity for t in tracks])[order],
    )
    is_drum = np.concatenate([np.full(len(t.notes), t.is_drum) for t in tracks])[order]
    track = np.concatenate([np.full(len(t.notes), i, dtype=np.int16) for i, t in enumerate(score.tracks) if len(t.notes)])
    return notes, is_drum, track[order]


def _subset(notes: Notes, mask: np.ndarray) -> Notes:
    return Notes(notes.start_s[mask], notes.end_s[mask], notes.pitch[mask], notes.velocity[mask])


def _beat_boundaries(grid: BeatGrid, first_beat: float, last_beat: float, step_beats: float) -> np.ndarray:
    """Boundaries (s) of frames `step_beats` long covering [first_beat, last_beat], aligned to multiples of step."""
    lo = np.floor(first_beat / step_beats) * step_beats
    hi = max(np.ceil(last_beat / step_beats) * step_beats, lo + step_beats)
    return grid.to_seconds(np.arange(lo, hi + step_beats / 2, step_beats))


def _harmony(pitched: Notes, grid: BeatGrid, bar_beats: float, end_s: float):
    """Key (global and per segment) and chords per beat of the pitched notes."""
    if len(pitched) == 0:
        return None, (), None
    key = estimate_key(pitch_class_histogram(pitched))
    first_beat = float(grid.to_beats(pitched.start_s[0]))
    last_beat = float(grid.to_beats(end_s))
    bars = _beat_boundaries(grid, first_beat, last_beat, bar_beats)
    segments = key_segments(pitch_class_time(pitched, bars), bars)
    # Chords cover the piece from time 0, so leading silence reads as N rather than as nothing.
    chord_first_beat = min(first_beat, float(grid.to_beats(0.0)))
    last_beat = min(last_beat, np.floor(chord_first_beat) + MAX_CHORD_BEATS)
    beats = _beat_boundaries(grid, chord_first_beat, last_beat, 1.0)
    frames = chord_mod.detect_chords(pitch_class_time(pitched, beats), bass_pitch_class(pitched, beats), beats)
    return key, segments, frames


def _key_at(segments: tuple[KeySegment, ...], t_s: float, fallback: KeyEstimate | None) -> tuple[int, str] | None:
    for seg in segments:
        if seg.start_s <= t_s < seg.end_s:
            return seg.tonic_pc, seg.mode
    return (fallback.tonic_pc, fallback.mode) if fallback is not None else None


def _chord_outputs(frames, segments, key: KeyEstimate | None, bar_beats: float) -> tuple[dict[str, Any], np.ndarray, float, float]:
    """Chord scalars, quality shares (11,), no-chord share and changes per bar."""
    n_q = len(chord_mod.QUALITY_NAMES)
    if frames is None or len(frames) == 0:
        return {"chord_segments": [], "chord_progression_roman": []}, np.zeros(n_q), 0.0, 0.0
    listed = []
    for seg in chord_mod.chord_segments(frames):
        local = _key_at(segments, seg.start_s, key)
        entry = {"start_s": seg.start_s, "end_s": seg.end_s, "chord": seg.symbol}
        if seg.quality is not None and local is not None:
            entry["roman"] = chord_mod.roman_numeral(seg.root, seg.quality, local[0], local[1])
        listed.append(entry)
    chorded = frames.quality >= 0
    shares = np.bincount(frames.quality[chorded], minlength=n_q) / max(int(chorded.sum()), 1)
    changes = sum(1 for a, b in zip(listed, listed[1:]) if a["chord"] != b["chord"])
    per_bar = changes / max(len(frames) / bar_beats, 1.0)
    roman = [e["roman"] for e in listed if "roman" in e]
    roman = [r for i, r in enumerate(roman) if i == 0 or roman[i - 1] != r]
    scalars = {"chord_segments": listed, "chord_progression_roman": roman}
    return scalars, shares, float(1.0 - chorded.mean()), float(per_bar)


def _rolls(notes: Notes, is_drum: np.ndarray, grid: BeatGrid) -> tuple[np.ndarray, np.ndarray, float, bool]:
    if len(notes) == 0:
        empty = np.zeros((128, 0), dtype=np.uint8)
        return empty, empty, 0.0, False
    start_b = grid.to_beats(notes.start_s)
    end_b = grid.to_beats(notes.end_s)
    first_beat = float(np.floor(start_b.min()))
    first, last = roll_frames(start_b, end_b, first_beat)
    last = np.where(is_drum, first, last)
    n_frames = int(last.max()) + 1
    pitched, drums = ~is_drum, is_drum
    roll = piano_roll(notes.pitch[pitched], notes.velocity[pitched], first[pitched], last[pitched], n_frames)
    drum_roll = piano_roll(notes.pitch[drums], notes.velocity[drums], first[drums], last[drums], n_frames)
    return roll, drum_roll, first_beat, n_frames > MAX_ROLL_FRAMES


def extract_midi(score: Score) -> Extracted:
    """Every MIDI feature of `score` (see the module docstring); never NaN or inf."""
    notes, is_drum, track = _note_table(score)
    pitched = _subset(notes, ~is_drum)
    drums = _subset(notes, is_drum)
    end_s = max(float(score.duration_s), float(notes.end_s.max()) if len(notes) else 0.0)
    start_s = float(notes.start_s[0]) if len(notes) else 0.0
    weight = notes.velocity / 127.0

    tempo: TempoResult = resolve_tempo(score.tempo, notes.start_s, weight, end_s)
    signature = main_time_signature(score.time_signatures, end_s)
    bar_beats = beats_per_bar(signature)
    groove_notes = drums if len(drums) >= MIN_GROOVE_ONSETS else pitched
    groove: GrooveStats = analyse_groove(groove_notes.start_s, groove_notes.velocity / 127.0, tempo.grid, bar_beats)

    pstats = pitch_stats(pitched)
    pc_hist = pitch_class_histogram(pitched)
    melody = melody_line(pitched)
    p_start = float(pitched.start_s[0]) if len(pitched) else 0.0
    p_end = float(pitched.end_s.max()) if len(pitched) else 0.0
    contour = melodic_contour(melody, p_start, p_end)
    intervals = interval_histogram(melody)
    poly_mean, poly_max = polyphony(pitched)

    key, segments, frames = _harmony(pitched, tempo.grid, bar_beats, end_s)
    chord_scalars, quality_share, no_chord_share, changes_per_bar = _chord_outputs(frames, segments, key, bar_beats)

    vstats = velocity_stats(notes.velocity)
    vcurve = velocity_curve(notes.start_s, notes.velocity, start_s, end_s, CURVE_POINTS)
    accents = accent_share(notes.start_s, notes.velocity)
    artic = articulation([t.notes for t in score.tracks if not t.is_drum])

    swing = groove.swing
    vector = feature_vector({
        "duration_s": end_s, "note_count": len(notes), "pitched_note_count": len(pitched),
        "drum_note_count": len(drums), "note_density_per_s": note_density(len(notes), end_s),
        "pitch_min": pstats.pitch_min, "pitch_max": pstats.pitch_max, "pitch_range": pstats.pitch_range,
        "pitch_mean": pstats.pitch_mean, "pitch_std": pstats.pitch_std,
        "polyphony_mean": poly_mean, "polyphony_max": poly_max,
        "pitch_class": pc_hist, "interval": intervals, "contour": contour, "velocity_curve": vcurve,
        "tempo_bpm": tempo.bpm, "tempo_from_onsets": float(tempo.source == "onsets"), "grid_fit": tempo.grid_fit,
        "beats_per_bar": bar_beats, "ts_numerator": signature.numerator, "ts_denominator": signature.denominator,
        "key_defined": float(key is not None), "key_tonic": one_hot(key.tonic_pc if key else None, 12),
        "key_minor": float(key is not None and key.mode == "minor"),
        "key_confidence": key.confidence if key else 0.0, "key_margin": key.margin if key else 0.0,
        "key_changes": max(len(segments) - 1, 0),
        "chord_quality": quality_share, "no_chord_share": no_chord_share, "chord_changes_per_bar": changes_per_bar,
        "swing_defined": float(swing.ratio is not None), "swing_ratio": swing.ratio if swing.ratio is not None else 0.0,
        "swing_beat_share": swing.beat_share,
        "microtiming_mean_abs_ms": groove.timing.mean_abs_ms, "microtiming_std_ms": groove.timing.std_ms,
        "microtiming_signed_mean_ms": groove.timing.signed_mean_ms,
        "syncopation": groove.syncopation, "density_per_beat": groove.density_per_beat,
        "groove_type": one_hot(GROOVE_TYPES.index(groove.groove_type) if len(groove_notes) else None, len(GROOVE_TYPES)),
        "velocity_mean": vstats.mean, "velocity_std": vstats.std, "velocity_min": vstats.min,
        "velocity_max": vstats.max, "velocity_range": vstats.range, "accent_share": accents,
        "articulation_defined": float(artic.label is not None), "legato_share": artic.legato_share,
        "staccato_share": artic.staccato_share, "duration_ioi_ratio": artic.mean_ratio,
    })  # fmt: skip

    roll, drum_roll, roll_first_beat, truncated = _rolls(notes, is_drum, tempo.grid)
    arrays: dict[str, np.ndarray] = {
        "feature_vector": vector,
        "note_start_s": notes.start_s.astype(np.float64),
        "note_end_s": notes.end_s.astype(np.float64),
        "note_pitch": notes.pitch.astype(np.int16),
        "note_velocity": notes.velocity.astype(np.int16),
        "note_is_drum": is_drum.astype(bool),
        "note_track": track.astype(np.int16),
        "pitch_class_histogram": pc_hist.astype(np.float32),
        "interval_histogram": intervals.astype(np.float32),
        "melodic_contour": contour.astype(np.float32),
        "velocity_curve": vcurve.astype(np.float32),
        "piano_roll": roll,
        "drum_roll": drum_roll,
        "beat_times_s": tempo.grid.to_seconds(np.arange(np.ceil(tempo.grid.to_beats(start_s)), np.floor(tempo.grid.to_beats(end_s)) + 1)),
    }
    if frames is not None:
        arrays.update(chord_start_s=frames.start_s, chord_end_s=frames.end_s,
                      chord_root=frames.root.astype(np.int8), chord_quality=frames.quality.astype(np.int8))  # fmt: skip

    scalars: dict[str, Any] = {
        "feature_layout_version": FEATURE_LAYOUT_VERSION,
        "duration_s": end_s,
        "note_count": len(notes),
        "pitched_note_count": len(pitched),
        "drum_note_count": len(drums),
        "note_density_per_s": note_density(len(notes), end_s),
        "pitch_min": pstats.pitch_min, "pitch_max": pstats.pitch_max, "pitch_range": pstats.pitch_range,
        "pitch_mean": pstats.pitch_mean, "pitch_std": pstats.pitch_std,
        "polyphony_mean": poly_mean, "polyphony_max": poly_max,
        "pitch_class_histogram": pc_hist.tolist(),
        "interval_histogram": intervals.tolist(),
        "melodic_contour": contour.tolist(),
        "velocity_curve": vcurve.tolist(),
        "tempo_bpm": tempo.bpm, "tempo_source": tempo.source, "grid_fit": tempo.grid_fit,
        "grid_shift_beats": tempo.grid_shift_beats,
        "time_signature": f"{signature.numerator}/{signature.denominator}",
        "key_segments": [s.to_json() for s in segments],
        "key_margin": key.margin if key else 0.0,
        "swing_offbeats": swing.offbeats, "swing_beat_share": swing.beat_share,
        "microtiming_mean_abs_ms": groove.timing.mean_abs_ms, "microtiming_std_ms": groove.timing.std_ms,
        "microtiming_signed_mean_ms": groove.timing.signed_mean_ms,
        "syncopation": groove.syncopation, "density_per_beat": groove.density_per_beat,
        "groove_source": "drums" if groove_notes is drums else "pitched",
        "velocity_mean": vstats.mean, "velocity_std": vstats.std, "velocity_min": vstats.min,
        "velocity_max": vstats.max, "velocity_range": vstats.range, "accent_share": accents,
        "legato_share": artic.legato_share, "staccato_share": artic.staccato_share,
        "duration_ioi_ratio": artic.mean_ratio,
        "no_chord_share": no_chord_share, "chord_changes_per_bar": changes_per_bar,
        "roll_first_beat": roll_first_beat, "roll_frames_per_beat": ROLL_FRAMES_PER_BEAT,
        **chord_scalars,
    }  # fmt: skip

    labels: dict[str, Any] = {
        "tempo_bpm": round(tempo.bpm, 2),
        "time_signature": scalars["time_signature"],
    }
    if key is not None:
        labels.update(key=key.name, mode=key.mode, key_confidence=round(key.confidence, 4))
    if len(groove_notes):
        labels["groove_type"] = groove.groove_type
    if swing.ratio is not None:
        labels["swing_ratio"] = round(swing.ratio, 4)
    if artic.label is not None:
        labels["articulation"] = artic.label
    if frames is not None:
        progression = chord_mod.collapse_progression([e["chord"] for e in chord_scalars["chord_segments"]])
        if progression:
            labels["chord_progression"] = progression

    flags = []
    if len(notes) == 0:
        flags.append("no_notes")
    elif len(pitched) == 0:
        flags.append("no_pitched_notes")
    if tempo.source == "onsets":
        flags.append("tempo_from_onsets")
    if truncated:
        flags.append("piano_roll_truncated")
    return Extracted(scalars=_plain(scalars), arrays=arrays, labels=_plain(labels), flags=tuple(flags))


def _plain(value: Any) -> Any:
    """Numpy scalars to Python ones, recursively, so the JSON writer takes them."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def extract_midi_file(path: Path | str) -> Extracted:
    """Read a MIDI file and extract its features; `InvalidInput` if it is not a usable MIDI file
    (unreadable, not MIDI, or without a single note)."""
    score = read_score(path)
    if not any(len(t.notes) for t in score.tracks):
        raise InvalidInput("MIDI file has no notes")
    return extract_midi(score)
