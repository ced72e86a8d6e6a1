"""EmotionRecognizer: the emotion class and valence/arousal of a piece, from MIDI or from audio.

Two variants, one per kind of input, each a model of its own:

- `EmotionRecognizer-midi`: one frame per beat of the beat grid, summarising the notes
  that start in it: onsets per drum class (9) and per pitch class (12), mean and
  peak velocity, onset count, mean pitch and pitch span, where the onsets fall
  inside the beat (6 bins: straight sixteenths and swung or triplet positions land in
  different bins), mean pitched duration, and the tempo. A window covers `window` beats.
- `EmotionRecognizer-audio`: the 64-band log-mel segments of the features (5 s each),
  averaged over 4 frames (about 64 ms at 16 kHz): one frame is 64 values.

Targets, at the window's last step: the class of the dataset's label (`emotion`, or
the dataset's `label_key`), and valence in [-1, 1] and arousal in [0, 1] where the
sample has them.
"""

from __future__ import annotations

import numpy as np

from kellyd.sample import Sample
from kellyd.train.data import Examples, Head, Recipe, Vocabulary, features_array, label_of, window_starts
from kellyd.train.dataset import SampleFeatures
from kellyd.train.settings import ModelSettings
from kellyd.train.timing import DRUM_CLASS_OF_PITCH, DRUM_CLASSES, beats_at

PHASE_BINS = 6
MEL_POOL_FRAMES = 4
MEL_BANDS = 64
MIN_REAL_SHARE = 0.5
TEMPO_SCALE_BPM = 120.0
_MIDI_NAMES: tuple[str, ...] = (
    *(f"drum_onsets_{d}" for d in DRUM_CLASSES),
    *(f"pitch_class_onsets_{i}" for i in range(12)),
    "velocity_mean", "velocity_max", "onsets", "pitch_mean", "pitch_span",
    *(f"onset_phase_{i}" for i in range(PHASE_BINS)),
    "pitched_duration_beats", "tempo_bpm_over_120",
)


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


def beat_frames(start_s: np.ndarray, end_s: np.ndarray, pitch: np.ndarray, velocity: np.ndarray,
                is_drum: np.ndarray, beat_times_s: np.ndarray, bpm: float) -> np.ndarray:
    """(n_beats, len(_MIDI_NAMES)) float32: one frame per beat from the first onset's beat on."""
    onset_b = beats_at(start_s, beat_times_s, bpm)
    end_b = beats_at(end_s, beat_times_s, bpm)
    origin = np.floor(onset_b.min())
    beat = np.floor(onset_b - origin).astype(np.int64)
    n = int(beat.max()) + 1
    frames = np.zeros((n, len(_MIDI_NAMES)), dtype=np.float64)
    drum_cls = np.where(is_drum, DRUM_CLASS_OF_PITCH[np.clip(pitch, 0, 127)], -1)
    drums = drum_cls >= 0
    np.add.at(frames, (beat[drums], drum_cls[drums]), 1.0)
    pitched = ~is_drum
    np.add.at(frames, (beat[pitched], 9 + pitch[pitched] % 12), 1.0)
    frames[:, :21] = np.minimum(frames[:, :21], 4.0) / 4.0
    count = np.bincount(beat, minlength=n).astype(np.float64)
    some = count > 0
    frames[:, 21] = np.bincount(beat, weights=velocity, minlength=n) / np.maximum(count, 1) / 127.0
    peak = np.zeros(n)
    np.maximum.at(peak, beat, velocity / 127.0)
    frames[:, 22] = peak
    frames[:, 23] = np.minimum(count, 16.0) / 8.0
    p_count = np.bincount(beat[pitched], minlength=n).astype(np.float64)
    frames[:, 24] = np.bincount(beat[pitched], weights=pitch[pitched], minlength=n) / np.maximum(p_count, 1) / 127.0
    high = np.full(n, -np.inf)
    low = np.full(n, np.inf)
    np.maximum.at(high, beat[pitched], pitch[pitched].astype(np.float64))
    np.minimum.at(low, beat[pitched], pitch[pitched].astype(np.float64))
    frames[:, 25] = np.where(p_count > 0, np.minimum(high - low, 24.0) / 24.0, 0.0)
    phase = np.minimum(((onset_b - origin) % 1.0 * PHASE_BINS).astype(np.int64), PHASE_BINS - 1)
    np.add.at(frames, (beat, 26 + phase), 1.0)
    frames[some, 26:26 + PHASE_BINS] /= count[some, None]
    duration = np.clip(end_b - onset_b, 0.0, 4.0)
    frames[:, 32] = np.bincount(beat[pitched], weights=duration[pitched], minlength=n) / np.maximum(p_count, 1) / 4.0
    frames[:, 33] = bpm / TEMPO_SCALE_BPM
    return frames.astype(np.float32)


def midi_examples(sample: Sample, features: SampleFeatures, vocabulary: Vocabulary,
                  settings: ModelSettings) -> Examples | None:
    start_s = features_array(features, "note_start_s")
    if start_s.size == 0:
        return None
    bpm = float(sample.annotations.get("tempo_bpm") or features.scalars.get("tempo_bpm") or TEMPO_SCALE_BPM)
    frames = beat_frames(start_s, features_array(features, "note_end_s"),
                         features_array(features, "note_pitch", dtype=np.int64),
                         features_array(features, "note_velocity"), features_array(features, "note_is_drum", dtype=bool),
                         features_array(features, "beat_times_s"), bpm)
    starts = window_starts(len(frames), settings.window, settings.max_examples_per_sample)
    if len(starts) == 0:
        return None
    take = starts[:, None] + np.arange(settings.window)[None, :]
    affect, mask = _affect_targets(sample, len(starts))
    return Examples(frames[take], {vocabulary.label_key: _class_targets(sample, vocabulary, len(starts)),
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


MIDI_RECIPE = Recipe("EmotionRecognizer", "midi", "midi", heads, lambda v: _MIDI_NAMES, midi_examples,
                     "beat frames of the notes -> emotion class, valence and arousal at the window's end")
AUDIO_RECIPE = Recipe("EmotionRecognizer", "audio", "audio", heads,
                      lambda v: tuple(f"mel_{i}" for i in range(MEL_BANDS)), audio_examples,
                      "64-band log-mel frames (4 STFT frames each) -> emotion class, valence and arousal "
                      "at the segment's end")
