"""Label-preserving MIDI augmentation: pure functions from a `Score` to a new `Score`.

Every transform returns `(new_score, LabelEffect)`. The effect says how the
music moved (semitones, time factor) so that `labels_after` can move the labels
with it: a transposed sample's key and chords move, a stretched sample's tempo
changes, and everything the transform cannot change (emotion, groove type,
swing ratio, articulation) stays. Times are seconds; nothing here sees ticks.

Transform names and parameters (the `augmentation` record of a child):

- ``transpose`` {"semitones": int}: pitched tracks only, never drums; notes that
  would leave MIDI 0..127 are dropped rather than folded into a wrong octave.
- ``stretch`` {"factor": float}: every time multiplied by `factor` (> 1 is
  slower); the tempo map's bpm is divided by it, so the written file's tempo
  changes with the music. A default-only tempo map (no real tempo information)
  stays at the default, so a reader still estimates the tempo from the onsets.
- ``velocity`` {"factor": float}: velocities scaled, rounded, clamped to 1..127.
- ``jitter`` {"low_ms", "high_ms", "seed"}: each note moved by its own offset
  drawn uniformly from [low_ms, high_ms], duration kept, start clamped at 0.
- ``dropout`` {"probability", "seed"}: each note removed with that probability;
  a track never loses all of its notes.
- a combination such as ``transpose+jitter`` with params
  {"transpose": {...}, "jitter": {...}}, applied left to right.

The audio transforms (`kellyd.music.audio_transforms`) share `LabelEffect` and
`labels_after`; their names are in `LABEL_EFFECTS` below.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from kellyd.music.notes import Notes, Score, TempoMap, TimeSignature, Track
from kellyd.taxonomy import PITCH_CLASS_NAMES

MIDI_PITCH_MAX = 127
MIDI_VELOCITY_MIN, MIDI_VELOCITY_MAX = 1, 127
COMBINATION_SEPARATOR = "+"

# Sanity limits of the pure functions; the augmentation ranges are much narrower.
MAX_TRANSPOSE_SEMITONES = 24
STRETCH_FACTOR_LIMITS = (0.25, 4.0)
VELOCITY_FACTOR_LIMITS = (0.1, 4.0)
MAX_JITTER_MS = 100.0


@dataclass(frozen=True)
class LabelEffect:
    """How a transform moved the music: pitch by `semitones`, durations by `time_factor`."""

    semitones: int = 0
    time_factor: float = 1.0

    def then(self, other: "LabelEffect") -> "LabelEffect":
        """The effect of applying `self` and then `other`."""
        return LabelEffect(self.semitones + other.semitones, self.time_factor * other.time_factor)


NO_EFFECT = LabelEffect()


# --- the transforms -------------------------------------------------------------


def transpose(score: Score, semitones: int) -> tuple[Score, LabelEffect]:
    """Move every pitched note by `semitones`; drum tracks are left alone."""
    if isinstance(semitones, bool) or not isinstance(semitones, (int, np.integer)):
        raise ValueError(f"transpose: semitones must be an integer, got {semitones!r}")
    if abs(int(semitones)) > MAX_TRANSPOSE_SEMITONES:
        raise ValueError(f"transpose: semitones must be within +-{MAX_TRANSPOSE_SEMITONES}, got {semitones}")
    shift = int(semitones)

    def move(track: Track) -> Track:
        if track.is_drum:
            return track
        n = track.notes
        pitch = n.pitch.astype(np.int32) + shift
        keep = (pitch >= 0) & (pitch <= MIDI_PITCH_MAX)
        return _with_notes(track, Notes(n.start_s[keep], n.end_s[keep], pitch[keep].astype(np.int16), n.velocity[keep]))

    return _rebuild(score, [move(t) for t in score.tracks]), LabelEffect(semitones=shift)


def time_stretch(score: Score, factor: float) -> tuple[Score, LabelEffect]:
    """Multiply every time by `factor` (> 1 is longer and slower)."""
    factor = _checked_factor("stretch", factor, STRETCH_FACTOR_LIMITS)
    tracks = [
        _with_notes(t, Notes(t.notes.start_s * factor, t.notes.end_s * factor, t.notes.pitch, t.notes.velocity))
        for t in score.tracks
    ]
    tempo = score.tempo
    if tempo.is_default_only:
        stretched_tempo = TempoMap(tempo.time_s * factor, tempo.bpm.copy(), is_default_only=True)
    else:
        stretched_tempo = TempoMap(tempo.time_s * factor, tempo.bpm / factor, is_default_only=False)
    signatures = tuple(
        TimeSignature(ts.time_s * factor, ts.numerator, ts.denominator) for ts in score.time_signatures
    )
    stretched = Score(
        tracks=tuple(tracks),
        tempo=stretched_tempo,
        time_signatures=signatures,
        duration_s=score.duration_s * factor,
        ticks_per_quarter=score.ticks_per_quarter,
        meta=dict(score.meta),
    )
    return stretched, LabelEffect(time_factor=factor)


def scale_velocity(score: Score, factor: float) -> tuple[Score, LabelEffect]:
    """Multiply velocities by `factor`, rounded and clamped to 1..127."""
    factor = _checked_factor("velocity", factor, VELOCITY_FACTOR_LIMITS)

    def scale(track: Track) -> Track:
        n = track.notes
        velocity = np.clip(np.rint(n.velocity * factor), MIDI_VELOCITY_MIN, MIDI_VELOCITY_MAX).astype(np.int16)
        return _with_notes(track, Notes(n.start_s, n.end_s, n.pitch, velocity))

    return _rebuild(score, [scale(t) for t in score.tracks]), NO_EFFECT


def jitter_timing(score: Score, *, low_ms: float, high_ms: float, seed: int) -> tuple[Score, LabelEffect]:
    """Move each note by its own offset drawn uniformly from [low_ms, high_ms] (seeded)."""
    for name, value in (("low_ms", low_ms), ("high_ms", high_ms)):
        if not _is_real(value) or abs(value) > MAX_JITTER_MS:
            raise ValueError(f"jitter: {name} must be a number within +-{MAX_JITTER_MS} ms, got {value!r}")
    if low_ms > high_ms:
        raise ValueError(f"jitter: low_ms ({low_ms}) is above high_ms ({high_ms})")
    rng = np.random.default_rng(_checked_seed("jitter", seed))

    def shake(track: Track) -> Track:
        n = track.notes
        offset_s = rng.uniform(low_ms, high_ms, size=len(n)) / 1000.0
        start = n.start_s + offset_s
        # A note pushed before the start keeps its length and starts at 0.
        end = n.end_s + offset_s - np.minimum(start, 0.0)
        start = np.maximum(start, 0.0)
        return _with_notes(track, Notes.from_lists(start, end, n.pitch, n.velocity))

    return _rebuild(score, [shake(t) for t in score.tracks]), NO_EFFECT


def drop_notes(score: Score, *, probability: float, seed: int) -> tuple[Score, LabelEffect]:
    """Remove each note with `probability` (seeded); every track keeps at least one note."""
    if not _is_real(probability) or not 0.0 <= probability < 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1), got {probability!r}")
    rng = np.random.default_rng(_checked_seed("dropout", seed))

    def thin(track: Track) -> Track:
        n = track.notes
        keep = rng.random(len(n)) >= probability
        if len(n) and not keep.any():
            keep[0] = True
        return _with_notes(track, Notes(n.start_s[keep], n.end_s[keep], n.pitch[keep], n.velocity[keep]))

    return _rebuild(score, [thin(t) for t in score.tracks]), NO_EFFECT


MIDI_TRANSFORMS: dict[str, Callable[..., tuple[Score, LabelEffect]]] = {
    "transpose": lambda score, p: transpose(score, p["semitones"]),
    "stretch": lambda score, p: time_stretch(score, p["factor"]),
    "velocity": lambda score, p: scale_velocity(score, p["factor"]),
    "jitter": lambda score, p: jitter_timing(score, low_ms=p["low_ms"], high_ms=p["high_ms"], seed=p["seed"]),
    "dropout": lambda score, p: drop_notes(score, probability=p["probability"], seed=p["seed"]),
}


def apply_midi(score: Score, transform: str, params: Mapping[str, Any]) -> tuple[Score, LabelEffect]:
    """Apply a named transform or a `a+b` combination (see the module docstring)."""
    effect = NO_EFFECT
    for name, step_params in split_steps(transform, params, known=MIDI_TRANSFORMS):
        try:
            score, step_effect = MIDI_TRANSFORMS[name](score, step_params)
        except KeyError as exc:
            raise ValueError(f"{name}: missing parameter {exc.args[0]!r} in {dict(step_params)!r}") from None
        effect = effect.then(step_effect)
    return score, effect


def split_steps(
    transform: str, params: Mapping[str, Any], *, known: Mapping[str, Any]
) -> list[tuple[str, Mapping[str, Any]]]:
    """`("transpose+jitter", {"transpose": {...}, "jitter": {...}})` -> [(name, params), ...].

    A single name takes its parameters directly. Unknown names raise ValueError.
    """
    names = transform.split(COMBINATION_SEPARATOR) if isinstance(transform, str) else []
    if not names or any(n not in known for n in names):
        raise ValueError(f"unknown transform {transform!r}; known: {', '.join(sorted(known))}")
    if len(names) == 1:
        return [(names[0], params)]
    if len(set(names)) != len(names):
        raise ValueError(f"transform {transform!r} names a step twice")
    missing = [n for n in names if not isinstance(params.get(n), Mapping)]
    if missing:
        raise ValueError(f"combination {transform!r} needs params for {missing}, got {dict(params)!r}")
    return [(n, params[n]) for n in names]


# --- labels ---------------------------------------------------------------------

# Which transforms move pitch or time, for MIDI and audio alike. Every other
# transform (velocity, jitter, dropout, noise, gain) leaves all labels true.
LABEL_EFFECTS: dict[str, Callable[[Mapping[str, Any]], LabelEffect]] = {
    "transpose": lambda p: LabelEffect(semitones=int(p["semitones"])),
    "pitch_shift": lambda p: LabelEffect(semitones=int(p["semitones"])),
    "stretch": lambda p: LabelEffect(time_factor=float(p["factor"])),
    "time_stretch": lambda p: LabelEffect(time_factor=float(p["factor"])),
    "velocity": lambda p: NO_EFFECT,
    "jitter": lambda p: NO_EFFECT,
    "dropout": lambda p: NO_EFFECT,
    "noise": lambda p: NO_EFFECT,
    "gain": lambda p: NO_EFFECT,
}

# Labels in seconds or ms scale with the time factor; tempo scales inversely.
_DURATION_LABELS = ("duration_s", "microtiming_ms")


def effect_of(transform: str, params: Mapping[str, Any]) -> LabelEffect:
    """The combined `LabelEffect` of a (possibly combined) transform record."""
    effect = NO_EFFECT
    for name, step_params in split_steps(transform, params, known=LABEL_EFFECTS):
        effect = effect.then(LABEL_EFFECTS[name](step_params))
    return effect


def labels_after(transform: str, params: Mapping[str, Any], annotations: Mapping[str, Any]) -> dict[str, Any]:
    """The parent's annotations as they are true of the transformed child.

    Transposition moves `key` (spelled with `PITCH_CLASS_NAMES`, any ":mode"
    suffix kept), each chord of `chord_progression`, and `pitch_range`; Roman
    numerals are relative to the key and stay. A time factor f divides
    `tempo_bpm` by f and multiplies `duration_s` and `microtiming_ms` by f. A
    pitch label that cannot be read is removed rather than left false.
    """
    return apply_effect(effect_of(transform, params), annotations)


def apply_effect(effect: LabelEffect, annotations: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(annotations)
    if effect.semitones:
        _move_pitch_labels(out, effect.semitones)
    if effect.time_factor != 1.0:
        if _is_real(out.get("tempo_bpm")):
            out["tempo_bpm"] = float(out["tempo_bpm"]) / effect.time_factor
        for name in _DURATION_LABELS:
            if _is_real(out.get(name)):
                out[name] = float(out[name]) * effect.time_factor
    return out


def _move_pitch_labels(out: dict[str, Any], semitones: int) -> None:
    for name, move in _PITCH_LABEL_MOVERS.items():
        if name in out:
            moved = move(out[name], semitones)
            if moved is None:
                del out[name]  # unreadable: better no label than a false one
            else:
                out[name] = moved


def _move_key(key: Any, semitones: int) -> str | None:
    return transpose_symbol(key, semitones) if isinstance(key, str) else None


def _move_chords(chords: Any, semitones: int) -> list[str] | None:
    if not isinstance(chords, (list, tuple)):
        return None
    moved = [transpose_symbol(c, semitones) if isinstance(c, str) else None for c in chords]
    return None if any(c is None for c in moved) else moved


def _move_range(low_high: Any, semitones: int) -> list[int] | None:
    if not isinstance(low_high, (list, tuple)) or len(low_high) != 2 or not all(_is_real(p) for p in low_high):
        return None
    return [int(low_high[0]) + semitones, int(low_high[1]) + semitones]


_PITCH_LABEL_MOVERS: dict[str, Callable[[Any, int], Any]] = {
    "key": _move_key,
    "chord_progression": _move_chords,
    "pitch_range": _move_range,
}

_ROOT = re.compile(r"^([A-Ga-g])([#b]?)")
_SLASH_BASS = re.compile(r"/([A-G])([#b]?)$")
_LETTER_PC = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTAL = {"#": 1, "b": -1, "": 0}
NO_CHORD_SYMBOLS = frozenset({"N", "X"})


def _pc(match: re.Match, semitones: int = 0) -> int:
    return (_LETTER_PC[match.group(1).lower()] + _ACCIDENTAL[match.group(2)] + semitones) % 12


def pitch_class_of(name: str) -> int | None:
    """`"Eb"` -> 3, `"F#"` -> 6, `"c"` -> 0; None when `name` is not a pitch-class name."""
    match = _ROOT.fullmatch(name.strip())
    return _pc(match) if match else None


def transpose_symbol(symbol: str, semitones: int) -> str | None:
    """Move the root (and a lettered slash bass) of a key or chord symbol.

    Works for keys ("G", "F#:minor", "Gb:maj") and chords ("Am7", "Bb/D",
    "C#:min7", "N"); the rest of the symbol is kept and the new root is
    spelled with `PITCH_CLASS_NAMES`. Returns None when the symbol has no
    readable root.
    """
    if symbol in NO_CHORD_SYMBOLS:
        return symbol
    match = _ROOT.match(symbol)
    if not match:
        return None
    rest = symbol[match.end():]
    bass = _SLASH_BASS.search(rest)
    if bass:
        rest = rest[: bass.start()] + "/" + PITCH_CLASS_NAMES[_pc(bass, semitones)]
    return PITCH_CLASS_NAMES[_pc(match, semitones)] + rest


# --- helpers ----------------------------------------------------------------------


def _with_notes(track: Track, notes: Notes) -> Track:
    return Track(name=track.name, program=track.program, is_drum=track.is_drum, notes=notes)


def _rebuild(score: Score, tracks: list[Track]) -> Score:
    """A new score with `tracks`; the duration follows the last note end."""
    ends = [float(t.notes.end_s.max()) for t in tracks if len(t.notes)]
    return Score(
        tracks=tuple(tracks),
        tempo=score.tempo,
        time_signatures=score.time_signatures,
        duration_s=max(ends) if ends else 0.0,
        ticks_per_quarter=score.ticks_per_quarter,
        meta=dict(score.meta),
    )


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(float(value))


def _checked_factor(name: str, factor: Any, limits: tuple[float, float]) -> float:
    if not _is_real(factor) or not limits[0] <= float(factor) <= limits[1]:
        raise ValueError(f"{name}: factor must be a number in [{limits[0]}, {limits[1]}], got {factor!r}")
    return float(factor)


def _checked_seed(name: str, seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name}: seed must be a non-negative integer, got {seed!r}")
    return int(seed)
