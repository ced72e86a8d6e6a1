"""GroovePredictor: humanise a quantised drum pattern.

The performance's drum onsets are snapped to the sixteenth grid of the beat grid;
what the snapping removed is what the model learns to put back. Frame t (one
sixteenth) holds which of the nine drum classes are struck at t and at each of the
next `LOOK_AHEAD_STEPS` steps (that much latency in a plug-in), the sixteenth inside
the beat, the beat inside the bar and the tempo.

Targets at every step, for each struck drum:
- `offset_rel_ms`: its offset from the grid (ms, positive = late) minus the piece's
  mean offset over all its strokes;
- `velocity_rel`: its velocity (MIDI) minus the piece's mean velocity;
and at the last step of the window the groove type of the sample (the dataset's
label, e.g. from the drop folder).

Why relative to the piece: how far a drummer sits behind the click overall, and how
hard a take is played overall, are properties of the take (the room, the kit, the
song's level), not of the pattern; the quantised pattern says nothing about them,
so a model asked for absolute values can only learn the corpus' average and the
error is dominated by each piece's level. What the pattern does decide is the feel
around that level: the backbeat against the ghost notes, accented hi-hats on the
beat, a swung eighth played late, the kick pushed ahead of the hats. In a plug-in
the overall lag and level are the user's two knobs (or the host's velocities) and
the model adds the rest. Nothing of the targets is in the input: the input is the
quantised pattern only.
"""

from __future__ import annotations

import numpy as np

from kellyd.data import SampleFeatures
from kellyd.sample import Sample
from kellyd.train.data import Examples, Head, Recipe, Vocabulary, features_array, label_of, window_starts
from kellyd.train.settings import ModelSettings
from kellyd.train.timing import (
    DRUM_CLASS_OF_PITCH,
    DRUM_CLASSES,
    STEPS_PER_BEAT,
    beats_at,
    beats_per_bar_of,
    seconds_at,
)

MIN_DRUM_NOTES = 8
LOOK_AHEAD_STEPS = 3
MIN_HITS_PER_WINDOW = 4
TEMPO_SCALE_BPM = 120.0
N_DRUMS = len(DRUM_CLASSES)


def heads(vocabulary: Vocabulary) -> tuple[Head, ...]:
    return (
        Head("offset_rel_ms", "regression", N_DRUMS, True, unit="ms from the piece's mean offset"),
        Head("velocity_rel", "regression", N_DRUMS, True, unit="velocity from the piece's mean"),
        Head(vocabulary.label_key, "class", len(vocabulary.classes), False, classes=vocabulary.classes),
    )


def feature_names(vocabulary: Vocabulary) -> tuple[str, ...]:
    return (*(f"hit_{d}" for d in DRUM_CLASSES),
            *(f"hit_{d}_plus_{k}" for k in range(1, LOOK_AHEAD_STEPS + 1) for d in DRUM_CLASSES),
            *(f"sixteenth_{i}" for i in range(STEPS_PER_BEAT)), *(f"beat_in_bar_{i}" for i in range(4)),
            "tempo_bpm_over_120")


def quantised_pattern(start_s: np.ndarray, drum_class: np.ndarray, velocity: np.ndarray,
                      beat_times_s: np.ndarray, bpm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hits, velocity, offset_ms), each (n_steps, 9): drum onsets on the sixteenth grid.

    Step 0 is the sixteenth on the beat at or before the first onset. Where one drum is
    struck twice in a step, the louder stroke counts. The last LOOK_AHEAD_STEPS rows are
    empty steps so that the last real step has a look-ahead.
    """
    onset_beats = beats_at(start_s, beat_times_s, bpm)
    step = np.round(onset_beats * STEPS_PER_BEAT).astype(np.int64)
    offset_ms = (start_s - seconds_at(step / STEPS_PER_BEAT, beat_times_s, bpm)) * 1000.0
    origin = (step.min() // STEPS_PER_BEAT) * STEPS_PER_BEAT
    row = step - origin
    n_steps = int(row.max()) + 1 + LOOK_AHEAD_STEPS
    hits = np.zeros((n_steps, N_DRUMS), dtype=np.float32)
    vel = np.zeros((n_steps, N_DRUMS), dtype=np.float32)
    off = np.zeros((n_steps, N_DRUMS), dtype=np.float32)
    order = np.argsort(velocity, kind="stable")  # louder strokes are written last and win
    hits[row[order], drum_class[order]] = 1.0
    vel[row[order], drum_class[order]] = velocity[order]
    off[row[order], drum_class[order]] = offset_ms[order]
    return hits, vel, off


def centred_on_piece(values: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """`values` (n_steps, 9) minus their mean over the struck cells (hits > 0); 0 where nothing is
    struck. A piece without a stroke gives zeros."""
    if values.shape != hits.shape:
        raise ValueError(f"values {values.shape} and hits {hits.shape} must have the same shape")
    struck = hits > 0
    if not struck.any():
        return np.zeros_like(values)
    level = values[struck].astype(np.float64).mean()
    return np.where(struck, values - level, 0.0).astype(values.dtype)


def examples(sample: Sample, features: SampleFeatures, vocabulary: Vocabulary,
             settings: ModelSettings) -> Examples | None:
    pitch = features_array(features, "note_pitch", dtype=np.int64)
    is_drum = features_array(features, "note_is_drum", dtype=bool)
    drum_class = np.where(is_drum & (pitch >= 0) & (pitch < 128), DRUM_CLASS_OF_PITCH[np.clip(pitch, 0, 127)], -1)
    keep = drum_class >= 0
    if keep.sum() < MIN_DRUM_NOTES:
        return None
    start_s = features_array(features, "note_start_s")[keep]
    velocity = features_array(features, "note_velocity", dtype=np.float32)[keep]
    bpm = float(sample.annotations.get("tempo_bpm") or features.scalars.get("tempo_bpm") or TEMPO_SCALE_BPM)
    beat_times = features_array(features, "beat_times_s")
    hits, vel, off = quantised_pattern(start_s, drum_class[keep], velocity, beat_times, bpm)
    n_steps = hits.shape[0] - LOOK_AHEAD_STEPS
    position = np.arange(n_steps)
    sixteenth = np.eye(STEPS_PER_BEAT, dtype=np.float32)[position % STEPS_PER_BEAT]
    bar_beats = beats_per_bar_of(sample.annotations.get("time_signature"))
    beat_in_bar = np.eye(4, dtype=np.float32)[np.minimum((position // STEPS_PER_BEAT) % bar_beats, 3)]
    tempo = np.full((n_steps, 1), bpm / TEMPO_SCALE_BPM, dtype=np.float32)
    ahead = [hits[k:k + n_steps] for k in range(LOOK_AHEAD_STEPS + 1)]
    frames = np.concatenate([*ahead, sixteenth, beat_in_bar, tempo], axis=1)

    window = settings.window
    starts = [s for s in window_starts(n_steps, window, settings.max_examples_per_sample * 4)
              if hits[s:s + window].sum() >= MIN_HITS_PER_WINDOW][:settings.max_examples_per_sample]
    if not starts:
        return None
    label = label_of(sample, vocabulary.label_key)
    cls = vocabulary.classes.index(label) if label in vocabulary.classes else -1
    take = np.asarray(starts)[:, None] + np.arange(window)[None, :]
    mask = hits[take] > 0
    return Examples(
        inputs=frames[take],
        targets={"offset_rel_ms": centred_on_piece(off, hits)[take],
                 "velocity_rel": centred_on_piece(vel, hits)[take],
                 vocabulary.label_key: np.full(len(starts), cls, dtype=np.int64)},
        masks={"offset_rel_ms": mask, "velocity_rel": mask},
    )


RECIPE = Recipe("GroovePredictor", None, "midi", heads, feature_names, examples,
                "sixteenth-note frames of a quantised drum pattern -> per-drum offset (ms) and velocity "
                "relative to the piece's mean, and the groove type at the window's end")
