"""Scale-based melodies that move mostly by step and follow a named contour.

A melody is a walk over the allowed pitches (the key's scale, adjusted to the
chord underneath when there is one) that steps towards a target curve: the
contour stretched over the pitch range. Most moves are single scale steps;
a few are leaps towards the target or neighbour notes; notes on a chord change
land on a chord tone. The contour label is therefore the shape the line
really has (a test checks it against the 32-point contour of the notes).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from kellyd.synth.common import (
    Event, Synthesized, Timing, build_score, check_duration, check_mode, check_tonic, clamp_velocity, fit_timing,
    key_labels, make_track, pitches_in_range, rng_for, scale_pitch_classes, sounding_ratio, timing_labels,
)
from kellyd.synth.harmony import BAR_ACCENT, Chord

CONTOURS: tuple[str, ...] = ("ascending", "descending", "arch", "valley", "wave")
RANGES_SEMITONES: dict[str, int] = {"narrow": 9, "medium": 14, "wide": 19}
MELODY_TEMPO_BPM = (72.0, 132.0)
LEAP_PROBABILITY = 0.12
NEIGHBOUR_PROBABILITY = 0.35
TONIC_PREFERENCE_SEMITONES = 2.0  # a line ends on the tonic unless another triad tone is this much closer
MELODY_CENTRE = 67  # G4
MELODY_VELOCITY = (62, 84)

# One bar of note lengths in beats, per (beats per bar, rhythm density).
RHYTHMS: dict[tuple[int, str], tuple[tuple[float, ...], ...]] = {
    (4, "sparse"): ((2, 2), (4,), (3, 1), (2, 1, 1)),
    (4, "even"): ((1, 1, 1, 1), (2, 1, 1), (1, 1, 2), (1, 0.5, 0.5, 1, 1), (1.5, 0.5, 1, 1)),
    (4, "busy"): ((0.5,) * 8, (0.5, 0.5, 1, 0.5, 0.5, 1), (1, 0.5, 0.5, 0.5, 0.5, 1),
                  (0.25, 0.25, 0.5, 0.5, 0.5, 1, 1)),
    (4, "dotted"): ((1.5, 0.5, 1.5, 0.5), (0.75, 0.25, 1, 0.75, 0.25, 1), (1.5, 0.5, 2)),
    (3, "sparse"): ((3,), (2, 1)),
    (3, "even"): ((1, 1, 1), (2, 1), (1, 0.5, 0.5, 1)),
    (3, "busy"): ((0.5,) * 6, (1, 0.5, 0.5, 0.5, 0.5)),
    (3, "dotted"): ((1.5, 0.5, 1), (0.75, 0.25, 1, 1)),
}
DENSITIES: tuple[str, ...] = ("sparse", "even", "busy", "dotted")


def contour_shape(contour: str, t: np.ndarray) -> np.ndarray:
    """Target height in [0, 1] at relative times `t` in [0, 1] (shape (n,))."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    if contour == "ascending":
        return t
    if contour == "descending":
        return 1.0 - t
    if contour == "arch":
        return np.sin(np.pi * t)
    if contour == "valley":
        return 1.0 - np.sin(np.pi * t)
    if contour == "wave":
        return 0.5 + 0.5 * np.sin(2.0 * np.pi * 2.0 * t)
    raise ValueError(f"unknown contour {contour!r}; known: {', '.join(CONTOURS)}")


def allowed_pitch_classes(tonic_pc: int, mode: str, chord: Chord | None) -> tuple[int, ...]:
    """The key's scale with the chord's own tones swapped in (a V in minor brings its leading tone)."""
    scale = set(scale_pitch_classes(tonic_pc, mode))
    if chord is not None:
        for pc in chord.pitch_classes:
            if pc not in scale:
                scale -= {(pc - 1) % 12, (pc + 1) % 12}
                scale.add(pc)
    return tuple(sorted(scale))


def walk_melody(
    targets: np.ndarray,
    allowed: Sequence[np.ndarray],
    chord_tones: Sequence[np.ndarray | None],
    rng: np.random.Generator,
    *,
    first: int,
    last: int,
) -> list[int]:
    """Pitches stepping towards `targets` (MIDI, shape (n,)) over `allowed[k]` (ascending pitch arrays).

    `chord_tones[k]`, when given, is where note k must land (a chord change).
    The line starts on `first` and ends on `last`.
    """
    n = len(targets)
    pitches = [int(first)]
    for k in range(1, n - 1):
        options = allowed[k]
        current = pitches[-1]
        below = options[options < current]
        above = options[options > current]
        step_down = int(below[-1]) if len(below) else current
        step_up = int(above[0]) if len(above) else current
        gap = targets[k] - current
        roll = rng.random()
        if roll < LEAP_PROBABILITY and abs(gap) >= 3:
            ladder = above if gap > 0 else below[::-1]  # scale tones on the way to the target
            skip = 3 if abs(gap) > 6 else 1  # a fifth when far away, else a third
            nxt = int(ladder[min(skip, len(ladder) - 1)]) if len(ladder) else current
        elif roll < LEAP_PROBABILITY + NEIGHBOUR_PROBABILITY and abs(gap) < 2:
            nxt = step_up if rng.random() < 0.5 else step_down
        elif abs(gap) < 1.0:
            nxt = current if current in options else (step_up if gap > 0 else step_down)
        else:
            nxt = step_up if gap > 0 else step_down
        tones = chord_tones[k]
        if tones is not None and len(tones) and nxt not in tones:
            # The nearest chord tone; between two equally near, the lower one.
            nxt = int(tones[np.argmin(np.abs(tones - nxt) + 0.1 * (tones > nxt))])
        pitches.append(nxt)
    if n > 1:
        pitches.append(int(last))
    return pitches


def triad_tone_near(target: float, tonic_pc: int, mode: str, low: int, high: int) -> int:
    """The tonic-triad pitch in [low, high] nearest `target`, the tonic itself preferred when close."""
    third = 4 if mode == "major" else 3
    triad = pitches_in_range({tonic_pc, (tonic_pc + third) % 12, (tonic_pc + 7) % 12}, low, high)
    cost = np.abs(triad - target) - TONIC_PREFERENCE_SEMITONES * (triad % 12 == tonic_pc)
    return int(triad[np.argmin(cost)])


def bar_rhythm(timing: Timing, rng: np.random.Generator, density: str = "even") -> list[tuple[float, float, int]]:
    """Note slots (start_beat, length_beats, bar) for every bar; the last bar is one long note."""
    if (timing.beats_per_bar, density) not in RHYTHMS:
        raise ValueError(f"no rhythms for {timing.beats_per_bar}/4 at density {density!r}; densities: {DENSITIES}")
    patterns = RHYTHMS[(timing.beats_per_bar, density)]
    slots = []
    for bar in range(timing.bars):
        lengths = (timing.beats_per_bar,) if bar == timing.bars - 1 else patterns[rng.integers(len(patterns))]
        beat = float(bar * timing.beats_per_bar)
        for length in lengths:
            slots.append((beat, float(length), bar))
            beat += length
    return slots


def melody_line(
    *,
    timing: Timing,
    rng: np.random.Generator,
    tonic_pc: int,
    mode: str,
    low: int,
    high: int,
    contour: str,
    density: str,
    articulation: str,
    velocity: tuple[int, int],
    chords: Sequence[Chord] | None = None,
    chords_per_bar: int = 1,
) -> list[Event]:
    """Melody events in [low, high] following `contour`, over `chords` when given.

    Over chords, each note may use the scale adjusted to its chord, and the
    first note of every chord lands on a chord tone. The line starts and ends
    on a tonic-triad tone; the last bar is one note held to the end.
    """
    slots = bar_rhythm(timing, rng, density)
    starts = np.array([beat for beat, _, _ in slots])
    targets = low + contour_shape(contour, starts / max(starts[-1], 1e-9)) * (high - low)
    if chords is None:
        scale = pitches_in_range(allowed_pitch_classes(tonic_pc, mode, None), low, high)
        allowed, chord_tones = [scale] * len(slots), [None] * len(slots)
    else:
        slot_beats = timing.beats_per_bar / chords_per_bar
        index = [min(int(beat // slot_beats), len(chords) - 1) for beat, _, _ in slots]
        allowed = [pitches_in_range(allowed_pitch_classes(tonic_pc, mode, chords[c]), low, high) for c in index]
        chord_tones = [pitches_in_range(chords[c].pitch_classes, low, high)
                       if k == 0 or c != index[k - 1] else None for k, c in enumerate(index)]
    pitches = walk_melody(targets, allowed, chord_tones, rng,
                          first=triad_tone_near(targets[0], tonic_pc, mode, low, high),
                          last=triad_tone_near(targets[-1], tonic_pc, mode, low, high))
    events = []
    for (beat, length, bar), pitch in zip(slots, pitches):
        ratio = 1.0 if bar == timing.bars - 1 else sounding_ratio(articulation, bar, rng)
        accent = BAR_ACCENT if beat % timing.beats_per_bar == 0 else 0
        level = float(rng.uniform(*velocity)) + accent
        events.append((timing.time_at(beat), timing.time_at(beat + length * ratio), pitch, clamp_velocity(level)))
    return events


def melody_piece(contour: str, *, tonic_pc: int, mode: str, duration_s: float, seed: int,
                 range_name: str = "medium") -> Synthesized:
    """A solo line in the key following `contour` over `RANGES_SEMITONES[range_name]`.

    Annotations: key, mode, contour, pitch_range [lowest, highest] (MIDI),
    range (narrow/medium/wide), stepwise_share, tempo_bpm, time_signature, duration_s.
    """
    contour_shape(contour, np.zeros(1))  # validates the name
    tonic_pc, mode = check_tonic(tonic_pc), check_mode(mode)
    if range_name not in RANGES_SEMITONES:
        raise ValueError(f"unknown range {range_name!r}; known: {', '.join(RANGES_SEMITONES)}")
    rng = rng_for(seed)
    timing = fit_timing(check_duration(duration_s), tempo_bpm=MELODY_TEMPO_BPM, beats_per_bar=4, rng=rng)
    width = RANGES_SEMITONES[range_name]
    low = MELODY_CENTRE + int(rng.integers(-4, 5)) - width // 2
    events = melody_line(timing=timing, rng=rng, tonic_pc=tonic_pc, mode=mode, low=low, high=low + width,
                         contour=contour, density="even", articulation="legato", velocity=MELODY_VELOCITY)
    pitches = [pitch for _, _, pitch, _ in events]
    intervals = np.abs(np.diff(pitches))
    annotations = {
        **key_labels(tonic_pc, mode),
        **timing_labels(timing),
        "contour": contour,
        "pitch_range": [int(min(pitches)), int(max(pitches))],
        "range": range_name,
        "stepwise_share": round(float(np.mean(intervals <= 2)) if len(intervals) else 1.0, 4),
    }
    return Synthesized(build_score(timing, [make_track("melody", events)]), annotations, label=contour)
