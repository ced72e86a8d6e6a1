"""HarmonyPredictor: the next chord from the chords before it, given emotion and key.

Chords come from the sample's `chord_progression` annotation (Harte-style symbols such
as `F#:min7`, repeats merged; given in a sidecar or detected by the features step).
Frame i is chord i: root one-hot (12) and quality one-hot
(`kellyd.music.chords.QUALITY_NAMES`), then the condition (emotion, key tonic, minor).
Targets at every step: the root and the quality of chord i + 1. A progression shorter
than the window is padded in front with empty frames whose targets are ignored.
"""

from __future__ import annotations

import numpy as np

from kellyd.data import SampleFeatures
from kellyd.music.chords import NO_CHORD, QUALITY_NAMES
from kellyd.music.pitch_classes import parse_pitch_name
from kellyd.sample import Sample
from kellyd.train.data import Examples, Head, Recipe, Vocabulary, window_starts
from kellyd.train.recipe_melody import PITCH_CLASSES, condition_names, condition_vector
from kellyd.train.settings import ModelSettings

MIN_CHORDS = 3


def parse_chord(symbol: object) -> tuple[int, int] | None:
    """(root pitch class, quality index) of a symbol such as 'Bb:maj7'; None for N or an unknown one."""
    if not isinstance(symbol, str) or symbol == NO_CHORD or ":" not in symbol:
        return None
    root, _, quality = symbol.partition(":")
    if quality not in QUALITY_NAMES:
        return None
    try:
        return parse_pitch_name(root), QUALITY_NAMES.index(quality)
    except ValueError:
        return None


def heads(vocabulary: Vocabulary) -> tuple[Head, ...]:
    return (Head("next_root", "class", 12, True, classes=PITCH_CLASSES),
            Head("next_quality", "class", len(QUALITY_NAMES), True, classes=QUALITY_NAMES))


def feature_names(vocabulary: Vocabulary) -> tuple[str, ...]:
    return (*(f"root_{pc}" for pc in PITCH_CLASSES), *(f"quality_{q}" for q in QUALITY_NAMES),
            *condition_names(vocabulary))


def examples(sample: Sample, features: SampleFeatures, vocabulary: Vocabulary,
             settings: ModelSettings) -> Examples | None:
    progression = sample.annotations.get("chord_progression")
    if not isinstance(progression, (list, tuple)):
        return None
    chords = [c for c in (parse_chord(s) for s in progression) if c is not None]
    if len(chords) < MIN_CHORDS:
        return None
    roots = np.asarray([r for r, _ in chords], dtype=np.int64)
    qualities = np.asarray([q for _, q in chords], dtype=np.int64)
    frames = np.concatenate([np.eye(12, dtype=np.float32)[roots],
                             np.eye(len(QUALITY_NAMES), dtype=np.float32)[qualities],
                             np.tile(condition_vector(sample, vocabulary), (len(chords), 1))], axis=1)
    window = settings.window
    n_steps = len(chords) - 1
    pad = max(window - n_steps, 0)
    if pad:
        # Short progressions: one example, empty frames in front, nothing to predict there.
        frames = np.concatenate([np.zeros((pad, frames.shape[1]), dtype=np.float32), frames])
        roots = np.r_[np.full(pad, -1), roots]
        qualities = np.r_[np.full(pad, -1), qualities]
    starts = window_starts(n_steps + pad, window, settings.max_examples_per_sample)
    take = starts[:, None] + np.arange(window)[None, :]
    return Examples(frames[take], {"next_root": roots[take + 1], "next_quality": qualities[take + 1]})


RECIPE = Recipe("HarmonyPredictor", None, "midi", heads, feature_names, examples,
                "chords with emotion and key -> next chord root and quality, every step")
