"""Drum grooves on a General MIDI drum track, one per groove type.

All timing is in beats, then seconds; the micro-timing is in milliseconds.

- straight: rock/pop beat, even eighths (swing ratio 0.5).
- swing: jazz ride pattern ("ding, ding-da ding") with the offbeat eighth at
  2/3 of the beat, i.e. 2:1 long:short eighths (swing ratio 0.667), hi-hat on
  2 and 4, feathered kick, light snare comping with the ride's skip notes; only
  beats 2 and 4 carry a swung offbeat (a shuffle swings every beat).
- shuffle: every eighth swung 2:1 on the hi-hat, backbeat snare with ghost notes.
- laid_back: the straight beat played behind the grid by N ms (N drawn per piece).
- rushed: the straight beat played ahead of the grid by N ms.

Swing ratio is the long share of a pair of eighths: long / (long + short).
Every hit also gets a small seeded human timing error (`HUMANISE_MS` standard
deviation) and velocity variation.
"""

from __future__ import annotations

import numpy as np

from kellyd.synth.common import Synthesized, Timing, build_score, check_duration, clamp_velocity, fit_timing, \
    make_track, rng_for, timing_labels
from kellyd.taxonomy import GROOVE_TYPES

# General MIDI percussion key map (channel 10).
KICK, SIDE_STICK, SNARE, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 37, 38, 42, 44, 46, 49, 51

STRAIGHT_RATIO = 0.5
SWING_RATIO_2_TO_1 = 2.0 / 3.0
SWING_RATIOS: dict[str, float] = {
    "straight": STRAIGHT_RATIO, "swing": SWING_RATIO_2_TO_1, "shuffle": SWING_RATIO_2_TO_1,
    "laid_back": STRAIGHT_RATIO, "rushed": STRAIGHT_RATIO,
}
GROOVE_TEMPO_BPM: dict[str, tuple[float, float]] = {
    "straight": (84, 132), "swing": (100, 180), "shuffle": (78, 118),
    "laid_back": (68, 100), "rushed": (104, 144),
}
# Signed offset from the grid in ms: positive is behind the beat.
MICROTIMING_MS: dict[str, tuple[float, float]] = {
    "straight": (0.0, 0.0), "swing": (0.0, 0.0), "shuffle": (0.0, 0.0),
    "laid_back": (20.0, 40.0), "rushed": (-40.0, -20.0),
}
HUMANISE_MS = 2.0
HIT_BEATS = 0.25  # a drum hit's written length

# A hit: (instrument, beat within the bar, on the offbeat eighth?, velocity).
Hit = tuple[int, int, bool, int]


def _straight_bar(rng: np.random.Generator, beats: int) -> list[Hit]:
    hits: list[Hit] = []
    for beat in range(beats):
        hits += [(CLOSED_HAT, beat, False, 92), (CLOSED_HAT, beat, True, 68)]
        hits.append((SNARE, beat, False, 104) if beat % 2 else (KICK, beat, False, 108))
    extra_kick = int(rng.integers(3))  # a kick on the "and" of 2 or of 3, or none
    if extra_kick:
        hits.append((KICK, extra_kick, True, 92))
    return hits


def _swing_bar(rng: np.random.Generator, beats: int) -> list[Hit]:
    hits: list[Hit] = []
    for beat in range(beats):
        hits.append((RIDE, beat, False, 88 if beat % 2 else 80))
        if beat % 2:
            hits += [(RIDE, beat, True, 66), (PEDAL_HAT, beat, False, 70)]
        hits.append((KICK, beat, False, 38))  # feathered
    # Snare comping: with the ride's skip note on a swung "and" of 2 or 4, now and
    # then a drop on a downbeat; the other beats' offbeats stay empty.
    skip_beats = [beat for beat in range(beats) if beat % 2]
    hits.append((SNARE, int(skip_beats[rng.integers(len(skip_beats))]), True, 52))
    if rng.random() < 0.3:
        hits.append((SNARE, int(rng.integers(beats)), False, 58))
    return hits


def _shuffle_bar(rng: np.random.Generator, beats: int) -> list[Hit]:
    hits: list[Hit] = []
    for beat in range(beats):
        hits += [(CLOSED_HAT, beat, False, 94), (CLOSED_HAT, beat, True, 64)]
        hits.append((SNARE, beat, False, 106) if beat % 2 else (KICK, beat, False, 110))
        if beat % 2 == 0 and rng.random() < 0.4:
            hits.append((SNARE, beat, True, 34))  # ghost note
    if rng.random() < 0.5:
        hits.append((KICK, 1, True, 90))
    return hits


_BARS = {"straight": _straight_bar, "swing": _swing_bar, "shuffle": _shuffle_bar,
         "laid_back": _straight_bar, "rushed": _straight_bar}


def groove_piece(groove_type: str, *, duration_s: float, seed: int, beats_per_bar: int = 4) -> Synthesized:
    """A drum-only piece of `groove_type` lasting `duration_s`.

    Annotations: groove_type, swing_ratio, microtiming_ms (signed, + = behind),
    tempo_bpm, time_signature, duration_s.
    """
    if groove_type not in GROOVE_TYPES:
        raise ValueError(f"unknown groove type {groove_type!r}; known: {', '.join(GROOVE_TYPES)}")
    if beats_per_bar not in (3, 4):
        raise ValueError(f"beats_per_bar must be 3 or 4, got {beats_per_bar!r}")
    rng = rng_for(seed)
    timing = fit_timing(check_duration(duration_s), tempo_bpm=GROOVE_TEMPO_BPM[groove_type],
                        beats_per_bar=beats_per_bar, rng=rng)
    ratio = SWING_RATIOS[groove_type]
    offset_ms = float(rng.uniform(*MICROTIMING_MS[groove_type]))
    events = []
    for bar in range(timing.bars):
        hits = _BARS[groove_type](rng, beats_per_bar)
        if bar == 0:
            hits.append((CRASH, 0, False, 100))
        for instrument, beat, offbeat, velocity in hits:
            grid_beat = bar * beats_per_bar + beat + (ratio if offbeat else 0.0)
            events.append(_hit(timing, grid_beat, instrument, velocity, offset_ms, rng))
    # A crash on the last downbeat rings to the very end, so the piece lasts what was asked.
    last_start, _, _, _ = _hit(timing, (timing.bars - 1) * beats_per_bar, CRASH, 104, offset_ms, rng)
    events.append((last_start, timing.duration_s, CRASH, 104))
    score = build_score(timing, [make_track("drums", events, is_drum=True)])
    annotations = {
        "groove_type": groove_type,
        "swing_ratio": round(ratio, 3),
        "microtiming_ms": round(offset_ms, 3),
        **timing_labels(timing),
    }
    return Synthesized(score, annotations, label=groove_type)


def _hit(timing: Timing, grid_beat: float, instrument: int, velocity: int, offset_ms: float,
         rng: np.random.Generator) -> tuple[float, float, int, int]:
    error_ms = offset_ms + float(rng.normal(0.0, HUMANISE_MS))
    start = max(timing.time_at(grid_beat) + error_ms / 1000.0, 0.0)
    end = min(start + timing.time_at(HIT_BEATS), timing.duration_s)
    return start, end, instrument, clamp_velocity(rng.normal(velocity, 4))
