"""DynamicsEngine: the velocity of each note from its musical context and the articulation.

The notes are the pitched ones (the drum notes when a file has no pitched note), in
onset order. Frame i is note i: pitch, duration and the gap since the previous onset
(log2 beats), the sixteenth inside the beat and the beat inside the bar it starts on,
how many notes start with it, its rank from the top of that chord, whether it is a
drum, and the sample's articulation (one-hot legato, staccato, mixed). Target at
every step: the note's velocity (MIDI 1..127), which is not part of the input.
"""

from __future__ import annotations

import numpy as np

from kellyd.data import SampleFeatures
from kellyd.sample import Sample
from kellyd.train.data import Examples, Head, Recipe, Vocabulary, features_array, label_of, one_hot, window_starts
from kellyd.train.settings import ModelSettings
from kellyd.train.timing import STEPS_PER_BEAT, bar_beat_one_hot, beat_phase_one_hot, beats_at, beats_per_bar_of
from kellyd.validate.targets import ARTICULATIONS

MIN_NOTES = 8
SAME_ONSET_BEATS = 1 / 16


def heads(vocabulary: Vocabulary) -> tuple[Head, ...]:
    return (Head("velocity", "regression", 1, True, unit="velocity"),)


def feature_names(vocabulary: Vocabulary) -> tuple[str, ...]:
    return ("pitch", "log2_duration_beats", "log2_gap_beats", *(f"sixteenth_{i}" for i in range(STEPS_PER_BEAT)),
            *(f"beat_in_bar_{i}" for i in range(4)), "chord_size", "rank_from_top", "is_drum",
            *(f"articulation_{a}" for a in ARTICULATIONS))


def chord_context(onset_beats: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(notes starting together with each note, its rank from the highest of them), for notes
    sorted by onset; onsets closer than SAME_ONSET_BEATS are together."""
    group = np.cumsum(np.r_[True, np.diff(onset_beats) > SAME_ONSET_BEATS]) - 1
    size = np.bincount(group)[group]
    order = np.lexsort((-pitch, group))
    rank = np.empty(len(pitch), dtype=np.int64)
    first_of_group = np.searchsorted(group[order], group[order], side="left")
    rank[order] = np.arange(len(pitch)) - first_of_group
    return size, rank


def examples(sample: Sample, features: SampleFeatures, vocabulary: Vocabulary,
             settings: ModelSettings) -> Examples | None:
    is_drum = features_array(features, "note_is_drum", dtype=bool)
    drums_only = (~is_drum).sum() < MIN_NOTES
    chosen = is_drum if drums_only else ~is_drum
    if chosen.sum() < MIN_NOTES:
        return None
    start_s = features_array(features, "note_start_s")[chosen]
    end_s = features_array(features, "note_end_s")[chosen]
    pitch = features_array(features, "note_pitch", dtype=np.int64)[chosen]
    velocity = features_array(features, "note_velocity", dtype=np.float32)[chosen]
    order = np.lexsort((pitch, start_s))
    start_s, end_s, pitch, velocity = start_s[order], end_s[order], pitch[order], velocity[order]
    bpm = float(sample.annotations.get("tempo_bpm") or features.scalars.get("tempo_bpm") or 120.0)
    beat_times = features_array(features, "beat_times_s")
    onset_b = beats_at(start_s, beat_times, bpm)
    duration = np.maximum(beats_at(end_s, beat_times, bpm) - onset_b, 1 / 64)
    gap = np.maximum(np.r_[1.0, np.diff(onset_b)], 1 / 64)
    size, rank = chord_context(onset_b, pitch)
    articulation = label_of(sample, "articulation")
    art = one_hot(ARTICULATIONS.index(articulation) if articulation in ARTICULATIONS else None, len(ARTICULATIONS))
    n = len(pitch)
    frames = np.concatenate([
        (pitch / 127.0)[:, None], np.clip(np.log2(duration), -6, 3)[:, None], np.clip(np.log2(gap), -6, 3)[:, None],
        beat_phase_one_hot(onset_b), bar_beat_one_hot(onset_b, beats_per_bar_of(sample.annotations.get("time_signature"))),
        (np.minimum(size, 8) / 8.0)[:, None], (np.minimum(rank, 7) / 7.0)[:, None],
        np.full((n, 1), 1.0 if drums_only else 0.0), np.tile(art, (n, 1)),
    ], axis=1).astype(np.float32)
    starts = window_starts(n, settings.window, settings.max_examples_per_sample)
    if len(starts) == 0:
        return None
    take = starts[:, None] + np.arange(settings.window)[None, :]
    target = velocity[take][..., None]
    return Examples(frames[take], {"velocity": target}, {"velocity": np.ones_like(target, dtype=bool)})


RECIPE = Recipe("DynamicsEngine", None, "midi", heads, feature_names, examples,
                "note context with articulation -> velocity of every note")
