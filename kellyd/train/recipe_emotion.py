"""EmotionRecognizer: the emotion class and valence/arousal of a piece, from MIDI or from audio.

Two variants, one per kind of input, each a model of its own:

- `EmotionRecognizer-midi`: one frame per half second of the notes
  (`kellyd.music.emotion_input`: key-relative pitch-class shares with a running key,
  mode and chord-quality evidence, dissonance, register, density, dynamics,
  articulation, and running means of them over the piece so far). A window covers
  `window` frames and ends every `window // 2` frames back from the end of the piece
  (a piece shorter than a window is padded with empty frames in front). Training
  pieces also give `AUGMENTED_COPIES` variants that keep the emotion: transposed by
  up to `MAX_TRANSPOSE` semitones and played up to `MAX_STRETCH` slower or faster.
- `EmotionRecognizer-audio`: the 64-band log-mel segments of the features (5 s each),
  averaged over 4 frames (about 64 ms at 16 kHz): one frame is 64 values.

Targets, at the window's last step: the class of the dataset's label (`emotion`, or
the dataset's `label_key`), and valence in [-1, 1] and arousal in [0, 1] where the
sample has them.
"""

from __future__ import annotations

import hashlib

import numpy as np

from kellyd.music.emotion_input import FRAME_NAMES, NoteEvents, emotion_frames
from kellyd.sample import Sample
from kellyd.train.data import Examples, Head, Recipe, Vocabulary, features_array, label_of, window_starts
from kellyd.train.dataset import SampleFeatures
from kellyd.train.settings import ModelSettings

MEL_POOL_FRAMES = 4
MEL_BANDS = 64
MIN_REAL_SHARE = 0.5
# Emotion-keeping augmentation of training pieces (see the module's docstring).
AUGMENTED_COPIES = 2
MAX_TRANSPOSE = 3
MAX_STRETCH = 0.1


def heads(vocabulary: Vocabulary) -> tuple[Head, ...]:
    return (
        Head(vocabulary.label_key, "class", len(vocabulary.classes), False, classes=vocabulary.classes),
        Head("valence_arousal", "regression", 2, False, unit="valence, arousal"),
    )


def _affect_targets(sample: Sample, count: int) -> tuple[np.ndarray, np.ndarray]:
    values = np.zeros((count, 2), dtype=np.float32)
    mask = np.zeros((count, 2), dtype=bool)
    for j, key in enumerate(("valence", "arousal")):
        value = sample.annotations.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
            values[:, j] = float(value)
            mask[:, j] = True
    return values, mask


def _class_targets(sample: Sample, vocabulary: Vocabulary, count: int) -> np.ndarray:
    label = label_of(sample, vocabulary.label_key)
    return np.full(count, vocabulary.classes.index(label) if label in vocabulary.classes else -1, dtype=np.int64)


def augmentations(sample_id: str, copies: int = AUGMENTED_COPIES) -> tuple[tuple[int, float], ...]:
    """(semitones, stretch factor) of each augmented copy of a training piece, fixed by its id so
    that a rerun trains on the same examples; never (0, 1.0)."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(sample_id.encode("utf-8")).digest()[:8], "little"))
    shifts = [s for s in range(-MAX_TRANSPOSE, MAX_TRANSPOSE + 1) if s != 0]
    return tuple((int(rng.choice(shifts)), float(1.0 + rng.uniform(-MAX_STRETCH, MAX_STRETCH)))
                 for _ in range(copies))


def frame_windows(frames: np.ndarray, window: int, max_windows: int) -> np.ndarray:
    """(k, window, features): windows ending at the last frame and every `window // 2` frames before,
    latest first, at most `max_windows`; a piece shorter than `window` is padded with zeros in front."""
    if window < 2 or max_windows < 1:
        raise ValueError(f"window must be >= 2 and max_windows >= 1, got {window} and {max_windows}")
    if len(frames) < window:
        frames = np.concatenate([np.zeros((window - len(frames), frames.shape[1]), dtype=frames.dtype), frames])
    ends = np.arange(len(frames), window - 1, -max(window // 2, 1))[:max_windows]
    return np.stack([frames[end - window:end] for end in ends])


def note_events(features: SampleFeatures) -> NoteEvents:
    return NoteEvents(features_array(features, "note_start_s"), features_array(features, "note_end_s"),
                      features_array(features, "note_pitch", dtype=np.int64), features_array(features, "note_velocity"),
                      features_array(features, "note_is_drum", dtype=bool))


def midi_examples(sample: Sample, features: SampleFeatures, vocabulary: Vocabulary,
                  settings: ModelSettings) -> Examples | None:
    events = note_events(features)
    if len(events) == 0:
        return None
    variants = [events]
    if sample.split == "train":
        variants += [events.transposed(shift).stretched(factor) for shift, factor in augmentations(sample.sample_id)]
    windows = [frame_windows(emotion_frames(v), settings.window, settings.max_examples_per_sample) for v in variants]
    inputs = np.concatenate(windows)
    affect, mask = _affect_targets(sample, len(inputs))
    return Examples(inputs, {vocabulary.label_key: _class_targets(sample, vocabulary, len(inputs)),
                             "valence_arousal": affect}, {"valence_arousal": mask})


def pooled_segments(mel_segments: np.ndarray, segment_frames: np.ndarray | None) -> np.ndarray:
    """(n_seg, F // 4, 64) float32: each segment's mel frames averaged 4 at a time, time first.
    Segments less than half real (the padded end of a clip) are dropped unless none is left."""
    if mel_segments.ndim != 3 or mel_segments.shape[1] != MEL_BANDS:
        raise ValueError(f"mel_segments must be (n, {MEL_BANDS}, frames), got {mel_segments.shape}")
    n_seg, _, n_frames = mel_segments.shape
    usable = n_frames // MEL_POOL_FRAMES * MEL_POOL_FRAMES
    pooled = mel_segments[:, :, :usable].reshape(n_seg, MEL_BANDS, -1, MEL_POOL_FRAMES).mean(axis=3)
    pooled = pooled.transpose(0, 2, 1)
    if segment_frames is not None and len(segment_frames) == n_seg and n_seg > 1:
        full = segment_frames >= MIN_REAL_SHARE * n_frames
        if full.any():
            pooled = pooled[full]
    return pooled.astype(np.float32)


def audio_examples(sample: Sample, features: SampleFeatures, vocabulary: Vocabulary,
                   settings: ModelSettings) -> Examples | None:
    segments = features_array(features, "mel_segments", dtype=np.float32)
    frames = features.arrays.get("mel_segment_frames")
    pooled = pooled_segments(segments, None if frames is None else np.asarray(frames))
    if len(pooled) == 0 or pooled.shape[1] == 0:
        return None
    pick = window_starts(len(pooled), 1, settings.max_examples_per_sample)
    pooled = pooled[pick]
    affect, mask = _affect_targets(sample, len(pooled))
    return Examples(pooled, {vocabulary.label_key: _class_targets(sample, vocabulary, len(pooled)),
                             "valence_arousal": affect}, {"valence_arousal": mask})


MIDI_RECIPE = Recipe("EmotionRecognizer", "midi", "midi", heads, lambda v: FRAME_NAMES, midi_examples,
                     "half-second frames of key-relative harmony, register, density, dynamics and articulation "
                     "-> emotion class, valence and arousal at the window's end")
AUDIO_RECIPE = Recipe("EmotionRecognizer", "audio", "audio", heads,
                      lambda v: tuple(f"mel_{i}" for i in range(MEL_BANDS)), audio_examples,
                      "64-band log-mel frames (4 STFT frames each) -> emotion class, valence and arousal "
                      "at the segment's end")
