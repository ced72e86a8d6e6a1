"""Model inputs from MIDI features: a fixed-length feature vector and piano rolls.

Feature vector layout (`FEATURE_BLOCKS`, in order; `FEATURE_NAMES` names every
slot, `FEATURE_SIZE` = 172). Values are raw, in the units named; one-hot
blocks are 0/1; undefined values (no pitched notes, no swing evidence) are 0
with the matching `*_defined` / count slot telling them apart.

| block | slots | meaning |
|---|---|---|
| duration_s | 1 | end of the last note, s |
| note_count, pitched_note_count, drum_note_count | 3 | notes |
| note_density_per_s | 1 | all notes per second |
| pitch_min, pitch_max, pitch_range, pitch_mean, pitch_std | 5 | MIDI numbers, pitched notes |
| polyphony_mean, polyphony_max | 2 | pitched notes sounding together |
| pitch_class | 12 | duration share per pitch class, C..B |
| interval | 25 | share of melodic steps of -12..+12 semitones (skyline melody) |
| contour | 32 | melody pitch at 32 equal spans |
| velocity_curve | 32 | mean velocity at 32 equal spans |
| tempo_bpm, tempo_from_onsets, grid_fit | 3 | bpm; 1 if estimated from onsets; onset/grid alignment 0..1 |
| beats_per_bar, ts_numerator, ts_denominator | 3 | main time signature |
| key_defined, key_tonic | 1 + 12 | one-hot tonic C..B |
| key_minor, key_confidence, key_margin, key_changes | 4 | 1 for minor; correlation; lead over runner-up; segments - 1 |
| chord_quality | 11 | share of chord beats per quality (maj, min, dim, aug, sus2, sus4, maj7, min7, 7, hdim7, dim7) |
| no_chord_share, chord_changes_per_bar | 2 | share of beats with no chord; changes per bar |
| swing_defined, swing_ratio, swing_beat_share | 3 | see kellyd.music.groove |
| microtiming_mean_abs_ms, microtiming_std_ms, microtiming_signed_mean_ms | 3 | offsets from the grid, ms |
| syncopation, density_per_beat | 2 | LHL syncopation 0..1; onsets per beat |
| groove_type | 5 | one-hot straight, swing, shuffle, laid_back, rushed |
| velocity_mean, velocity_std, velocity_min, velocity_max, velocity_range | 5 | all notes |
| accent_share | 1 | share of accented notes |
| articulation_defined, legato_share, staccato_share, duration_ioi_ratio | 4 | pitched notes |

Piano rolls: (128, frames) uint8 velocity, one frame per sixteenth note of the
beat grid (`ROLL_FRAMES_PER_BEAT` = 4), frame 0 at beat `roll_first_beat`.
Pitched notes fill every frame they sound in (at least their onset frame);
drums mark only their onset frame. At most `MAX_ROLL_FRAMES` frames are kept.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from kellyd.music.chords import QUALITY_NAMES
from kellyd.music.pitch_classes import expand_frame_runs
from kellyd.music.stats import CURVE_POINTS, MAX_INTERVAL
from kellyd.taxonomy import GROOVE_TYPES, PITCH_CLASS_NAMES

ROLL_FRAMES_PER_BEAT = 4
MAX_ROLL_FRAMES = 8192
FEATURE_LAYOUT_VERSION = 1


def _scalars(*names: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(n, (n,)) for n in names]


def _vector(block: str, suffixes) -> list[tuple[str, tuple[str, ...]]]:
    return [(block, tuple(f"{block}_{s}" for s in suffixes))]


FEATURE_BLOCKS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    _scalars("duration_s", "note_count", "pitched_note_count", "drum_note_count", "note_density_per_s")
    + _scalars("pitch_min", "pitch_max", "pitch_range", "pitch_mean", "pitch_std", "polyphony_mean", "polyphony_max")
    + _vector("pitch_class", PITCH_CLASS_NAMES)
    + _vector("interval", [f"{i:+d}" for i in range(-MAX_INTERVAL, MAX_INTERVAL + 1)])
    + _vector("contour", range(CURVE_POINTS))
    + _vector("velocity_curve", range(CURVE_POINTS))
    + _scalars("tempo_bpm", "tempo_from_onsets", "grid_fit", "beats_per_bar", "ts_numerator", "ts_denominator")
    + _scalars("key_defined")
    + _vector("key_tonic", PITCH_CLASS_NAMES)
    + _scalars("key_minor", "key_confidence", "key_margin", "key_changes")
    + _vector("chord_quality", QUALITY_NAMES)
    + _scalars("no_chord_share", "chord_changes_per_bar", "swing_defined", "swing_ratio", "swing_beat_share")
    + _scalars("microtiming_mean_abs_ms", "microtiming_std_ms", "microtiming_signed_mean_ms")
    + _scalars("syncopation", "density_per_beat")
    + _vector("groove_type", GROOVE_TYPES)
    + _scalars("velocity_mean", "velocity_std", "velocity_min", "velocity_max", "velocity_range", "accent_share")
    + _scalars("articulation_defined", "legato_share", "staccato_share", "duration_ioi_ratio")
)
FEATURE_NAMES: tuple[str, ...] = tuple(name for _, names in FEATURE_BLOCKS for name in names)
FEATURE_SIZE = len(FEATURE_NAMES)
_BLOCK_NAMES = frozenset(block for block, _ in FEATURE_BLOCKS)
_BLOCK_OF = {name: block for block, names in FEATURE_BLOCKS for name in names}


def one_hot(index: int | None, size: int) -> np.ndarray:
    """(size,) zeros with a 1 at `index`; all zeros for None."""
    out = np.zeros(size)
    if index is not None:
        if not 0 <= index < size:
            raise ValueError(f"one-hot index {index} outside 0..{size - 1}")
        out[index] = 1.0
    return out


def feature_vector(values: Mapping[str, float | np.ndarray]) -> np.ndarray:
    """(FEATURE_SIZE,) float32 vector from one value (or array) per block of `FEATURE_BLOCKS`.

    Raises ValueError naming a missing or extra block, a block of the wrong size, or a non-finite value.
    """
    missing = [block for block, _ in FEATURE_BLOCKS if block not in values]
    extra = sorted(set(values) - _BLOCK_NAMES)
    if missing or extra:
        raise ValueError(f"feature blocks missing {missing}, unexpected {extra}")
    out = np.empty(FEATURE_SIZE)
    pos = 0
    for block, names in FEATURE_BLOCKS:
        value, n = values[block], len(names)
        if n == 1 and not isinstance(value, np.ndarray):
            out[pos] = value
        else:
            part = np.asarray(value, dtype=np.float64).reshape(-1)
            if part.shape != (n,):
                raise ValueError(f"feature block {block!r} needs {n} values, got shape {np.shape(value)}")
            out[pos : pos + n] = part
        pos += n
    if not np.all(np.isfinite(out)):
        bad = FEATURE_NAMES[int(np.flatnonzero(~np.isfinite(out))[0])]
        raise ValueError(f"feature {bad!r} is not finite: {values[_BLOCK_OF[bad]]}")
    return out.astype(np.float32)


def roll_frames(start_beats: np.ndarray, end_beats: np.ndarray, first_beat: float) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) sixteenth frames (inclusive) covered by notes between beat positions, from `first_beat`."""
    first = np.floor((start_beats - first_beat) * ROLL_FRAMES_PER_BEAT + 1e-6).astype(np.int64)
    last = np.ceil((end_beats - first_beat) * ROLL_FRAMES_PER_BEAT - 1e-6).astype(np.int64) - 1
    return first, np.maximum(last, first)


def piano_roll(
    pitch: np.ndarray, velocity: np.ndarray, first_frame: np.ndarray, last_frame: np.ndarray, n_frames: int
) -> np.ndarray:
    """(128, n_frames) uint8: the loudest velocity sounding at each pitch and frame.

    Notes fill frames first_frame..last_frame (inclusive), clipped to the roll;
    n_frames is capped at MAX_ROLL_FRAMES.
    """
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    n_frames = min(n_frames, MAX_ROLL_FRAMES)
    roll = np.zeros((128, n_frames), dtype=np.uint8)
    if n_frames == 0 or len(pitch) == 0:
        return roll
    lo = np.clip(first_frame, 0, n_frames)
    hi = np.clip(last_frame + 1, 0, n_frames)
    note, frame = expand_frame_runs(lo, hi - lo)
    np.maximum.at(roll, (pitch[note].astype(np.int64), frame), np.clip(velocity[note], 0, 127).astype(np.uint8))
    return roll
