"""The label vocabulary: emotions (6 base x 6 sub-emotions and aliases), groove types,
instruments and key names, and the one function that reads a folder name as a label.

Valence is in [-1, 1], arousal in [0, 1]. Sub-emotion values place each one
inside its base emotion's region of the circumplex (Russell 1980), so a
sub-emotion never silently takes its base's numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

LabelKind = Literal["emotion", "groove_type", "instrument", "key", "tag"]


@dataclass(frozen=True)
class Emotion:
    name: str
    base: str
    valence: float
    arousal: float


def _e(name: str, base: str, valence: float, arousal: float) -> Emotion:
    return Emotion(name, base, valence, arousal)


BASE_EMOTIONS: tuple[Emotion, ...] = (
    _e("happy", "happy", 0.8, 0.6),
    _e("sad", "sad", -0.7, 0.25),
    _e("angry", "angry", -0.6, 0.85),
    _e("fear", "fear", -0.7, 0.7),
    _e("surprise", "surprise", 0.2, 0.8),
    _e("disgust", "disgust", -0.6, 0.45),
)

SUB_EMOTIONS: tuple[Emotion, ...] = (
    _e("contentment", "happy", 0.6, 0.3), _e("joy", "happy", 0.9, 0.7),
    _e("excitement", "happy", 0.7, 0.9), _e("pride", "happy", 0.6, 0.55),
    _e("love", "happy", 0.85, 0.5), _e("hope", "happy", 0.55, 0.45),
    _e("grief", "sad", -0.9, 0.35), _e("despair", "sad", -0.95, 0.3),
    _e("loneliness", "sad", -0.6, 0.2), _e("disappointment", "sad", -0.5, 0.3),
    _e("melancholy", "sad", -0.4, 0.2), _e("hurt", "sad", -0.65, 0.4),
    _e("irritation", "angry", -0.4, 0.6), _e("hostility", "angry", -0.7, 0.8),
    _e("rage", "angry", -0.85, 1.0), _e("jealousy", "angry", -0.55, 0.65),
    _e("indignation", "angry", -0.5, 0.7), _e("vengeance", "angry", -0.75, 0.85),
    _e("anxiety", "fear", -0.55, 0.7), _e("terror", "fear", -0.9, 0.95),
    _e("dread", "fear", -0.75, 0.55), _e("vulnerability", "fear", -0.45, 0.45),
    _e("unease", "fear", -0.35, 0.5), _e("phobia", "fear", -0.8, 0.85),
    _e("amazement", "surprise", 0.6, 0.85), _e("shock", "surprise", -0.3, 0.9),
    _e("confusion", "surprise", -0.2, 0.55), _e("curiosity", "surprise", 0.35, 0.6),
    _e("disbelief", "surprise", -0.1, 0.7), _e("enlightenment", "surprise", 0.65, 0.5),
    _e("revulsion", "disgust", -0.8, 0.6), _e("contempt", "disgust", -0.55, 0.5),
    _e("loathing", "disgust", -0.85, 0.6), _e("aversion", "disgust", -0.5, 0.45),
    _e("moral_disgust", "disgust", -0.65, 0.5), _e("boredom", "disgust", -0.3, 0.1),
)

# Words people use for folders, mapped to an emotion of the taxonomy. An alias
# is recorded as the folder's own label (`emotion`) with the valence/arousal below;
# `base_emotion` is the root of the emotion it stands for.
ALIASES: dict[str, Emotion] = {
    "calm": _e("calm", "happy", 0.4, 0.15),
    "peaceful": _e("peaceful", "happy", 0.5, 0.1),
    "relaxed": _e("relaxed", "happy", 0.45, 0.15),
    "serene": _e("serene", "happy", 0.5, 0.1),
    "tender": _e("tender", "happy", 0.55, 0.25),
    "energetic": _e("energetic", "happy", 0.55, 0.9),
    "uplifting": _e("uplifting", "happy", 0.75, 0.65),
    "cheerful": _e("cheerful", "happy", 0.8, 0.6),
    "triumphant": _e("triumphant", "happy", 0.7, 0.85),
    "nostalgic": _e("nostalgic", "sad", -0.1, 0.3),
    "melancholic": _e("melancholic", "sad", -0.45, 0.2),
    "sorrow": _e("sorrow", "sad", -0.75, 0.3),
    "gloomy": _e("gloomy", "sad", -0.55, 0.2),
    "aggressive": _e("aggressive", "angry", -0.6, 0.9),
    "furious": _e("furious", "angry", -0.85, 0.95),
    "tense": _e("tense", "fear", -0.4, 0.7),
    "scary": _e("scary", "fear", -0.75, 0.75),
    "dark": _e("dark", "fear", -0.5, 0.5),
    "suspense": _e("suspense", "fear", -0.35, 0.65),
    "mysterious": _e("mysterious", "surprise", 0.0, 0.45),
    "neutral": _e("neutral", "neutral", 0.0, 0.4),
}
# Plain synonyms that are the same label as a taxonomy entry.
SYNONYMS: dict[str, str] = {
    "happiness": "happy", "sadness": "sad", "anger": "angry", "fearful": "fear",
    "afraid": "fear", "scared": "fear", "surprised": "surprise", "disgusted": "disgust",
    "joyful": "joy", "excited": "excitement", "content": "contentment", "hopeful": "hope",
    "anxious": "anxiety", "bored": "boredom", "curious": "curiosity", "lonely": "loneliness",
}

EMOTIONS: dict[str, Emotion] = {e.name: e for e in (*BASE_EMOTIONS, *SUB_EMOTIONS)} | ALIASES
BASE_EMOTION_NAMES: tuple[str, ...] = tuple(e.name for e in BASE_EMOTIONS)
SUB_EMOTIONS_OF: dict[str, tuple[str, ...]] = {
    b: tuple(e.name for e in SUB_EMOTIONS if e.base == b) for b in BASE_EMOTION_NAMES
}

GROOVE_TYPES: tuple[str, ...] = ("straight", "swing", "shuffle", "laid_back", "rushed")
GROOVE_SYNONYMS: dict[str, str] = {"swung": "swing", "laidback": "laid_back", "behind": "laid_back",
                                   "ahead": "rushed", "pushed": "rushed", "even": "straight"}
INSTRUMENTS: tuple[str, ...] = ("piano", "guitar", "drums", "vocals", "bass", "synth", "strings", "brass")
INSTRUMENT_SYNONYMS: dict[str, str] = {"drum": "drums", "percussion": "drums", "vocal": "vocals",
                                       "voice": "vocals", "keys": "piano", "string": "strings",
                                       "synths": "synth", "guitars": "guitar"}

PITCH_CLASS_NAMES: tuple[str, ...] = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTER_PC = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_MODE_WORDS = {"major": "major", "maj": "major", "minor": "minor", "min": "minor", "m": "minor"}

# Folders that only group files by level or source and carry no label.
NEUTRAL_FOLDERS: frozenset[str] = frozenset({"base", "sub", "samples", "misc", "other", "new", "raw"})

_PREFIX = re.compile(r"^(?:q[1-4]|\d+)(?:[\s_.\-]+)")
_SEPARATORS = re.compile(r"[\s\-.]+")
_KEY = re.compile(r"^([a-g])(#|b|s|sharp|flat)?_?(major|maj|minor|min|m)?$")


@dataclass(frozen=True)
class FolderLabel:
    """What one folder name says. `value` is canonical (e.g. "joy", "swing", "F#:minor")."""

    kind: LabelKind
    value: str
    folder: str


def normalise_folder_name(name: str) -> str:
    """Lower-case, numeric/quadrant prefixes dropped, spaces and dashes as underscores."""
    text = name.strip().lower()
    text = _PREFIX.sub("", text)
    text = _SEPARATORS.sub("_", text).strip("_")
    return text


def parse_key(text: str) -> tuple[str, str] | None:
    """`C_major`, `a-minor`, `F#m`, `Bb maj` -> ("C", "major"), ("A", "minor")... or None."""
    raw = _SEPARATORS.sub("_", text.strip())
    match = _KEY.match(raw.lower())
    if not match:
        return None
    letter, accidental, mode_word = match.groups()
    if mode_word is None:
        # A bare letter is a key only when written as one ("C", "Ab"): never guess from words.
        return None
    pc = _LETTER_PC[letter] + {"#": 1, "s": 1, "sharp": 1, "b": -1, "flat": -1, None: 0}[accidental]
    return PITCH_CLASS_NAMES[pc % 12], _MODE_WORDS[mode_word]


def read_folder(name: str) -> FolderLabel | None:
    """Read one folder name as a label; None for folders that carry none (`base/`)."""
    norm = normalise_folder_name(name)
    if not norm or norm in NEUTRAL_FOLDERS:
        return None
    if norm in EMOTIONS:
        return FolderLabel("emotion", norm, name)
    if norm in SYNONYMS:
        return FolderLabel("emotion", SYNONYMS[norm], name)
    if norm in GROOVE_TYPES:
        return FolderLabel("groove_type", norm, name)
    if norm in GROOVE_SYNONYMS:
        return FolderLabel("groove_type", GROOVE_SYNONYMS[norm], name)
    if norm in INSTRUMENTS:
        return FolderLabel("instrument", norm, name)
    if norm in INSTRUMENT_SYNONYMS:
        return FolderLabel("instrument", INSTRUMENT_SYNONYMS[norm], name)
    key = parse_key(name.strip())
    if key is not None:
        return FolderLabel("key", f"{key[0]}:{key[1]}", name)
    return FolderLabel("tag", norm, name)


def emotion(name: str) -> Emotion:
    """The taxonomy entry for a canonical emotion name; KeyError names the value."""
    try:
        return EMOTIONS[name]
    except KeyError:
        raise KeyError(f"unknown emotion {name!r}") from None
