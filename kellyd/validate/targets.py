"""What each Kelly model needs from its dataset: counts, labels, and valid annotation values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from kellyd.taxonomy import BASE_EMOTION_NAMES, EMOTIONS, GROOVE_TYPES, PITCH_CLASS_NAMES

MODES: tuple[str, ...] = ("major", "minor")
ARTICULATIONS: tuple[str, ...] = ("legato", "staccato", "mixed")
MAX_TEMPO_BPM = 400.0


@dataclass(frozen=True)
class ModelTarget:
    """The dataset a model wants.

    class_key: the annotation whose values are the classes counted and balanced.
    per_class: samples wanted per class (None: no per-class target).
    total: samples wanted in all (None: no total target).
    required: annotation groups; each inner tuple is satisfied by any one of its keys.
    label_targets: numeric annotations the model learns (checked against the features for leaks).
    uses_key: whether key and mode diversity matter for this model.
    """

    model: str
    class_key: str
    per_class: int | None
    total: int | None
    required: tuple[tuple[str, ...], ...]
    label_targets: tuple[str, ...]
    uses_key: bool


TARGETS: dict[str, ModelTarget] = {
    t.model: t
    for t in (
        ModelTarget("EmotionRecognizer", "emotion", 1000, None,
                    (("emotion",), ("valence",), ("arousal",)), ("valence", "arousal"), True),
        ModelTarget("MelodyTransformer", "emotion", None, 5000, (("emotion",), ("key",)), (), True),
        ModelTarget("HarmonyPredictor", "emotion", None, 2000, (("emotion",), ("chord_progression",)), (), True),
        ModelTarget("DynamicsEngine", "articulation", None, 1000, (("articulation",),), (), False),
        ModelTarget("GroovePredictor", "groove_type", 1000, None, (("groove_type", "swing_ratio"),),
                    ("swing_ratio",), False),
    )
}

# Classes a dataset is expected to cover even when it has no sample of them yet,
# so a missing class shows as a zero bar rather than not at all.
EXPECTED_CLASSES: dict[str, tuple[str, ...]] = {
    "base_emotion": BASE_EMOTION_NAMES,
    "groove_type": GROOVE_TYPES,
    "articulation": ARTICULATIONS,
    "mode": MODES,
}


def target_for(model: str) -> ModelTarget:
    """The target of a model name; ValueError names the unknown one."""
    try:
        return TARGETS[model]
    except KeyError:
        raise ValueError(f"unknown target model {model!r}, expected one of {sorted(TARGETS)}") from None


def pitch_class(key: Any) -> int | None:
    """Pitch class 0..11 of a key annotation ("Gb", "F#", "A:minor", "c minor"), or None if unreadable."""
    if not isinstance(key, str):
        return None
    text = key.strip().replace(":", " ").split(" ")[0]
    if not text or text[0].upper() not in "CDEFGAB":
        return None
    base = PITCH_CLASS_NAMES.index(text[0].upper())
    rest = text[1:].lower()
    if rest in ("", "m", "maj", "min", "major", "minor"):
        return base
    if rest[0] in ("#", "s") or rest.startswith("sharp"):
        return (base + 1) % 12
    if rest[0] == "b" or rest.startswith("flat"):
        return (base - 1) % 12
    return None


def _finite_in(value: Any, low: float, high: float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and low <= value <= high)


def _value_problem(key: str, value: Any) -> str | None:
    """Why an annotation value is invalid, or None when it is fine (or not checked)."""
    if key == "valence" and not _finite_in(value, -1.0, 1.0):
        return f"valence {value!r} is not a number in [-1, 1]"
    if key == "arousal" and not _finite_in(value, 0.0, 1.0):
        return f"arousal {value!r} is not a number in [0, 1]"
    if key == "swing_ratio" and not _finite_in(value, 0.0, 1.0):
        return f"swing_ratio {value!r} is not a number in [0, 1]"
    if key == "tempo_bpm" and not (_finite_in(value, 0.0, MAX_TEMPO_BPM) and value > 0):
        return f"tempo_bpm {value!r} is not a number in (0, {MAX_TEMPO_BPM:g}]"
    if key == "groove_type" and value not in GROOVE_TYPES:
        return f"groove_type {value!r} is not one of {', '.join(GROOVE_TYPES)}"
    if key == "mode" and value not in MODES:
        return f"mode {value!r} is not one of {', '.join(MODES)}"
    if key == "articulation" and value not in ARTICULATIONS:
        return f"articulation {value!r} is not one of {', '.join(ARTICULATIONS)}"
    if key == "key" and pitch_class(value) is None:
        return f"key {value!r} is not a key name such as 'F#' or 'Bb:minor'"
    if key == "emotion" and not (isinstance(value, str) and value):
        return f"emotion {value!r} is not a label"
    if key == "chord_progression" and not (isinstance(value, (list, tuple)) and value):
        return f"chord_progression {value!r} is not a non-empty list of chords"
    return None


def annotation_problems(annotations: Mapping[str, Any], target: ModelTarget) -> list[tuple[str, str]]:
    """(check, detail) pairs for one sample's annotations against the model's needs.

    checks: `annotation_missing` (a required label is absent), `annotation_invalid`
    (a value outside its range or vocabulary), `annotation_unknown` (an emotion the
    taxonomy does not know: allowed, but worth a look).
    """
    problems: list[tuple[str, str]] = []
    for group in target.required:
        if all(annotations.get(key) is None for key in group):
            problems.append(("annotation_missing", " or ".join(group) + " missing"))
    for key, value in annotations.items():
        if value is None:
            continue
        problem = _value_problem(key, value)
        if problem is not None:
            problems.append(("annotation_invalid", problem))
    emotion = annotations.get("emotion")
    if isinstance(emotion, str) and emotion and emotion not in EMOTIONS:
        problems.append(("annotation_unknown", f"emotion {emotion!r} is not in the taxonomy"))
    return problems
