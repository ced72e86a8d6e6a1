"""MelodyTransformer: the next melody note from the notes before it, given emotion and key.

The melody is the skyline of the pitched notes (`kellyd.music.stats.melody_line`).
Frame i describes note i: its pitch class (one-hot) and pitch, its duration class
(`kellyd.train.timing.DURATION_BEATS`), the interval from the previous note, the
sixteenth inside the beat it starts on, then the condition: the sample's emotion
(one-hot over the training split's emotions) and key (tonic one-hot and a minor flag).
Targets at every step: the pitch class and the duration class of note i + 1.
"""

from __future__ import annotations

import numpy as np

from kellyd.data import SampleFeatures
from kellyd.music.notes import Notes
from kellyd.music.stats import melody_line
from kellyd.sample import Sample
from kellyd.train.data import Examples, Head, Recipe, Vocabulary, features_array, label_of, one_hot, window_starts
from kellyd.train.settings import ModelSettings
from kellyd.train.timing import DURATION_NAMES, STEPS_PER_BEAT, beat_phase_one_hot, beats_at, duration_class
from kellyd.validate.targets import pitch_class

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MIN_NOTES = 8


def condition_names(vocabulary: Vocabulary) -> tuple[str, ...]:
    return (*(f"emotion_{e}" for e in vocabulary.emotions), *(f"key_{pc}" for pc in PITCH_CLASSES), "key_minor")


def condition_vector(sample: Sample, vocabulary: Vocabulary) -> np.ndarray:
    """Emotion one-hot (the training split's emotions; zeros for another), key tonic one-hot, minor flag."""
    emotion = label_of(sample, "emotion")
    emotion_index = vocabulary.emotions.index(emotion) if emotion in vocabulary.emotions else None
    key = sample.annotations.get("key")
    mode = sample.annotations.get("mode")
    minor = mode == "minor" or (isinstance(key, str) and key.lower().endswith("minor"))
    return np.concatenate([one_hot(emotion_index, len(vocabulary.emotions)), one_hot(pitch_class(key), 12),
                           np.asarray([1.0 if minor else 0.0], dtype=np.float32)])


def heads(vocabulary: Vocabulary) -> tuple[Head, ...]:
    return (Head("next_pitch_class", "class", 12, True, classes=PITCH_CLASSES),
            Head("next_duration", "class", len(DURATION_NAMES), True, classes=DURATION_NAMES))


def feature_names(vocabulary: Vocabulary) -> tuple[str, ...]:
    return (*(f"pitch_class_{pc}" for pc in PITCH_CLASSES), "pitch", *(f"duration_{d}" for d in DURATION_NAMES),
            "interval", *(f"sixteenth_{i}" for i in range(STEPS_PER_BEAT)), *condition_names(vocabulary))


def examples(sample: Sample, features: SampleFeatures, vocabulary: Vocabulary,
             settings: ModelSettings) -> Examples | None:
    pitched = ~features_array(features, "note_is_drum", dtype=bool)
    if pitched.sum() < MIN_NOTES:
        return None
    notes = Notes(features_array(features, "note_start_s")[pitched], features_array(features, "note_end_s")[pitched],
                  features_array(features, "note_pitch", dtype=np.int64)[pitched],
                  features_array(features, "note_velocity", dtype=np.int64)[pitched])
    melody = melody_line(notes)
    if len(melody) < MIN_NOTES:
        return None
    bpm = float(sample.annotations.get("tempo_bpm") or features.scalars.get("tempo_bpm") or 120.0)
    beat_times = features_array(features, "beat_times_s")
    onset_b = beats_at(melody.start_s, beat_times, bpm)
    dur_class = duration_class(beats_at(melody.end_s, beat_times, bpm) - onset_b)
    pcs = (melody.pitch % 12).astype(np.int64)
    interval = np.r_[0, np.clip(np.diff(melody.pitch.astype(np.float64)), -12, 12)] / 12.0
    frames = np.concatenate([
        np.eye(12, dtype=np.float32)[pcs], (melody.pitch / 127.0)[:, None].astype(np.float32),
        np.eye(len(DURATION_NAMES), dtype=np.float32)[dur_class], interval[:, None].astype(np.float32),
        beat_phase_one_hot(onset_b), np.tile(condition_vector(sample, vocabulary), (len(melody), 1)),
    ], axis=1)
    window = settings.window
    starts = window_starts(len(melody) - 1, window, settings.max_examples_per_sample)
    if len(starts) == 0:
        return None
    take = starts[:, None] + np.arange(window)[None, :]
    return Examples(frames[take], {"next_pitch_class": pcs[take + 1], "next_duration": dur_class[take + 1]})


RECIPE = Recipe("MelodyTransformer", None, "midi", heads, feature_names, examples,
                "melody notes with emotion and key -> next pitch class and next duration class, every step")
