"""All MIDI features of a score: the entry point of the `features` step for MIDI files.

`extract_midi(score)` is pure; `extract_midi_file(path)` reads the file first.
The measuring is `kellyd.music.midi_analysis`; this module packs it into an
`Extracted`:

- labels (annotation keys), set only where the music tells them: `tempo_bpm`,
  `time_signature` ("4/4") always; `key` (canonical spelling, e.g. "F#"),
  `mode`, `key_confidence` and `articulation` when there are pitched notes,
  `chord_progression` (collapsed Harte symbols) when they sound together
  (`MIN_CHORD_POLYPHONY`); `groove_type` when there
  are onsets; `swing_ratio` when there is off-beat evidence;
- scalars (JSON): the statistics, histograms and curves as lists, key segments,
  chord segments with Roman numerals;
- arrays (npz): `feature_vector` (layout in `kellyd.music.midi_vector`), the
  note list (`note_start_s`, `note_end_s`, `note_pitch`, `note_velocity`,
  `note_is_drum`, `note_track`), `piano_roll` and `drum_roll` (128 x sixteenths),
  `beat_times_s` and `downbeat_times_s` (the grid's bar lines; scalar `first_beat_in_bar` places
  beat_times_s[0] in its bar), and per-beat chords (`chord_start_s`, `chord_end_s`,
  `chord_root` (-1 = N), `chord_quality` (index into QUALITY_NAMES, -1 = N));
- flags: `no_notes`, `no_pitched_notes`, `tempo_from_onsets`, `piano_roll_truncated`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kellyd.errors import InvalidInput
from kellyd.music.extracted import Extracted
from kellyd.music.midi_analysis import MidiAnalysis, analyse_midi
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
from kellyd.music.notes import Score
from kellyd.music.stats import note_density
from kellyd.taxonomy import GROOVE_TYPES

# Mean number of pitched notes sounding together below which no chord_progression label is set.
MIN_CHORD_POLYPHONY = 1.5


def _vector(a: MidiAnalysis) -> np.ndarray:
    key, swing, timing = a.harmony.key, a.groove.swing, a.groove.timing
    has_groove = a.groove_source != "none"
    return feature_vector({
        "duration_s": a.end_s, "note_count": len(a.notes), "pitched_note_count": len(a.pitched),
        "drum_note_count": len(a.drums), "note_density_per_s": note_density(len(a.notes), a.end_s),
        "pitch_min": a.pitch.pitch_min, "pitch_max": a.pitch.pitch_max, "pitch_range": a.pitch.pitch_range,
        "pitch_mean": a.pitch.pitch_mean, "pitch_std": a.pitch.pitch_std,
        "polyphony_mean": a.polyphony_mean, "polyphony_max": a.polyphony_max,
        "pitch_class": a.pitch_class_histogram, "interval": a.interval_histogram,
        "contour": a.contour, "velocity_curve": a.velocity_curve,
        "tempo_bpm": a.tempo.bpm, "tempo_from_onsets": float(a.tempo.source == "onsets"), "grid_fit": a.tempo.grid_fit,
        "beats_per_bar": a.bar_beats, "ts_numerator": a.signature.numerator, "ts_denominator": a.signature.denominator,
        "key_defined": float(key is not None), "key_tonic": one_hot(key.tonic_pc if key else None, 12),
        "key_minor": float(key is not None and key.mode == "minor"),
        "key_confidence": key.confidence if key else 0.0, "key_margin": key.margin if key else 0.0,
        "key_changes": max(len(a.harmony.segments) - 1, 0),
        "chord_quality": a.harmony.quality_shares(), "no_chord_share": a.harmony.no_chord_share(),
        "chord_changes_per_bar": a.harmony.changes_per_bar(a.bar_beats),
        "swing_defined": float(swing.ratio is not None), "swing_ratio": swing.ratio or 0.0,
        "swing_beat_share": swing.beat_share,
        "microtiming_mean_abs_ms": timing.mean_abs_ms, "microtiming_std_ms": timing.std_ms,
        "microtiming_signed_mean_ms": timing.signed_mean_ms,
        "syncopation": a.groove.syncopation, "density_per_beat": a.groove.density_per_beat,
        "groove_type": one_hot(GROOVE_TYPES.index(a.groove.groove_type) if has_groove else None, len(GROOVE_TYPES)),
        "velocity_mean": a.velocity.mean, "velocity_std": a.velocity.std, "velocity_min": a.velocity.min,
        "velocity_max": a.velocity.max, "velocity_range": a.velocity.range, "accent_share": a.accent_share,
        "articulation_defined": float(a.articulation.label is not None),
        "legato_share": a.articulation.legato_share, "staccato_share": a.articulation.staccato_share,
        "duration_ioi_ratio": a.articulation.mean_ratio,
    })  # fmt: skip


def _rolls(a: MidiAnalysis) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """(piano roll, drum roll, beat of frame 0, truncated?) on sixteenths of the beat grid."""
    if len(a.notes) == 0:
        empty = np.zeros((128, 0), dtype=np.uint8)
        return empty, empty, 0.0, False
    grid = a.tempo.grid
    start_b, end_b = grid.to_beats(a.notes.start_s), grid.to_beats(a.notes.end_s)
    first_beat = float(np.floor(start_b.min()))
    first, last = roll_frames(start_b, end_b, first_beat)
    last = np.where(a.is_drum, first, last)
    n_frames = int(last.max()) + 1
    rolls = []
    for mask in (~a.is_drum, a.is_drum):
        rolls.append(piano_roll(a.notes.pitch[mask], a.notes.velocity[mask], first[mask], last[mask], n_frames))
    return rolls[0], rolls[1], first_beat, n_frames > MAX_ROLL_FRAMES


def _beat_numbers(a: MidiAnalysis) -> np.ndarray:
    """Grid numbers of the whole beats from the first onset to the end; multiples of the bar length
    are downbeats (the grid's bar lines are placed on them, `kellyd.music.midi_beats`)."""
    grid = a.tempo.grid
    return np.arange(np.ceil(grid.to_beats(a.start_s)), np.floor(grid.to_beats(a.end_s)) + 1)


def _arrays(a: MidiAnalysis) -> tuple[dict[str, np.ndarray], float, bool]:
    roll, drum_roll, roll_first_beat, truncated = _rolls(a)
    grid = a.tempo.grid
    beat_numbers = _beat_numbers(a)
    arrays = {
        "feature_vector": _vector(a),
        "note_start_s": a.notes.start_s.astype(np.float64),
        "note_end_s": a.notes.end_s.astype(np.float64),
        "note_pitch": a.notes.pitch.astype(np.int16),
        "note_velocity": a.notes.velocity.astype(np.int16),
        "note_is_drum": a.is_drum.astype(bool),
        "note_track": a.track.astype(np.int16),
        "pitch_class_histogram": a.pitch_class_histogram.astype(np.float32),
        "interval_histogram": a.interval_histogram.astype(np.float32),
        "melodic_contour": a.contour.astype(np.float32),
        "velocity_curve": a.velocity_curve.astype(np.float32),
        "piano_roll": roll,
        "drum_roll": drum_roll,
        "beat_times_s": grid.to_seconds(beat_numbers),
        "downbeat_times_s": grid.to_seconds(beat_numbers[np.mod(beat_numbers, a.bar_beats) == 0]),
    }
    frames = a.harmony.frames
    if frames is not None:
        arrays.update(chord_start_s=frames.start_s, chord_end_s=frames.end_s,
                      chord_root=frames.root.astype(np.int8), chord_quality=frames.quality.astype(np.int8))  # fmt: skip
    return arrays, roll_first_beat, truncated


def _scalars(a: MidiAnalysis, roll_first_beat: float) -> dict[str, Any]:
    key, swing, timing, artic = a.harmony.key, a.groove.swing, a.groove.timing, a.articulation
    return {
        "feature_layout_version": FEATURE_LAYOUT_VERSION,
        "duration_s": a.end_s, "note_count": len(a.notes), "pitched_note_count": len(a.pitched),
        "drum_note_count": len(a.drums), "note_density_per_s": note_density(len(a.notes), a.end_s),
        "pitch_min": a.pitch.pitch_min, "pitch_max": a.pitch.pitch_max, "pitch_range": a.pitch.pitch_range,
        "pitch_mean": a.pitch.pitch_mean, "pitch_std": a.pitch.pitch_std,
        "polyphony_mean": a.polyphony_mean, "polyphony_max": a.polyphony_max,
        "pitch_class_histogram": a.pitch_class_histogram.tolist(),
        "interval_histogram": a.interval_histogram.tolist(),
        "melodic_contour": a.contour.tolist(),
        "velocity_curve": a.velocity_curve.tolist(),
        "tempo_bpm": a.tempo.bpm, "tempo_source": a.tempo.source, "grid_fit": a.tempo.grid_fit,
        "grid_shift_beats": a.tempo.grid_shift_beats, "downbeat_shift_beats": a.tempo.downbeat_shift_beats,
        # Position inside its bar (0 = downbeat) of the first entry of beat_times_s.
        "first_beat_in_bar": float(np.mod(_beat_numbers(a)[:1], a.bar_beats).sum()),
        "time_signature": f"{a.signature.numerator}/{a.signature.denominator}",
        "key_margin": key.margin if key else 0.0,
        "key_segments": [s.to_json() for s in a.harmony.segments],
        "chord_segments": [c.to_json() for c in a.harmony.chords],
        "chord_progression_roman": a.harmony.roman_progression,
        "no_chord_share": a.harmony.no_chord_share(), "chord_changes_per_bar": a.harmony.changes_per_bar(a.bar_beats),
        "groove_source": a.groove_source, "swing_offbeats": swing.offbeats, "swing_beat_share": swing.beat_share,
        "microtiming_mean_abs_ms": timing.mean_abs_ms, "microtiming_std_ms": timing.std_ms,
        "microtiming_signed_mean_ms": timing.signed_mean_ms,
        "syncopation": a.groove.syncopation, "density_per_beat": a.groove.density_per_beat,
        "velocity_mean": a.velocity.mean, "velocity_std": a.velocity.std, "velocity_min": a.velocity.min,
        "velocity_max": a.velocity.max, "velocity_range": a.velocity.range, "accent_share": a.accent_share,
        "legato_share": artic.legato_share, "staccato_share": artic.staccato_share,
        "duration_ioi_ratio": artic.mean_ratio,
        "roll_first_beat": roll_first_beat, "roll_frames_per_beat": ROLL_FRAMES_PER_BEAT,
    }  # fmt: skip


def _labels(a: MidiAnalysis) -> dict[str, Any]:
    labels: dict[str, Any] = {
        "tempo_bpm": round(a.tempo.bpm, 2),
        "time_signature": f"{a.signature.numerator}/{a.signature.denominator}",
    }
    key = a.harmony.key
    if key is not None:
        labels.update(key=key.name, mode=key.mode, key_confidence=round(key.confidence, 4))
    if a.groove_source != "none":
        labels["groove_type"] = a.groove.groove_type
    if a.groove.swing.ratio is not None:
        labels["swing_ratio"] = round(a.groove.swing.ratio, 4)
    if a.articulation.label is not None:
        labels["articulation"] = a.articulation.label
    progression = a.harmony.progression
    # A melody alone implies chords but does not state them: label chords only where notes sound together.
    if progression and a.polyphony_mean >= MIN_CHORD_POLYPHONY:
        labels["chord_progression"] = progression
    return labels


_JSON_LEAVES = (float, int, str, bool, type(None))


def _plain(value: Any) -> Any:
    """Numpy scalars to Python ones, recursively, so the JSON writer takes them."""
    if isinstance(value, dict):  # leaves kept without a call each: segment lists hold hundreds of dicts
        return {k: v if type(v) in _JSON_LEAVES else _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if all(type(v) in _JSON_LEAVES for v in value):  # lists from ndarray.tolist(): already plain
            return list(value)
        return [v if type(v) in _JSON_LEAVES else _plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def extract_midi(score: Score) -> Extracted:
    """Every MIDI feature of `score` (see the module docstring); never NaN or inf."""
    a = analyse_midi(score)
    arrays, roll_first_beat, truncated = _arrays(a)
    flags = []
    if len(a.notes) == 0:
        flags.append("no_notes")
    elif len(a.pitched) == 0:
        flags.append("no_pitched_notes")
    if a.tempo.source == "onsets":
        flags.append("tempo_from_onsets")
    if truncated:
        flags.append("piano_roll_truncated")
    return Extracted(
        scalars=_plain(_scalars(a, roll_first_beat)), arrays=arrays, labels=_plain(_labels(a)), flags=tuple(flags)
    )


def extract_midi_file(path: Path | str) -> Extracted:
    """Read a MIDI file and extract its features; `InvalidInput` if it is not a usable MIDI file
    (not MIDI, does not parse, or holds not a single note)."""
    score = read_score(path)
    if not any(len(t.notes) for t in score.tracks):
        raise InvalidInput("MIDI file has no notes")
    return extract_midi(score)
