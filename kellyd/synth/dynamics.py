"""Pieces whose velocities follow a named curve, played legato, staccato or in mixed phrases.

Dynamics (velocity against time u in [0, 1] of the piece, between a soft level
`soft` and a loud level `loud` drawn per piece):

- crescendo: soft -> loud, linear.
- decrescendo: loud -> soft.
- swell: soft -> loud -> soft (a hairpin), half a sine.
- accents: a soft-to-middle floor with loud accents on every downbeat and on
  a seeded choice of offbeats.
- steady: one middle level.

Articulation is the sounding share of each note's slot (see
`common.ARTICULATION_RATIO`): legato ~0.95-1.0, staccato ~0.3-0.45; a mixed
piece alternates legato and staccato phrases of `PHRASE_BARS` bars.
"""

from __future__ import annotations

import numpy as np

from kellyd.synth.common import (
    ARTICULATIONS, PHRASE_BARS, Synthesized, build_score, check_duration, check_mode, check_tonic, clamp_velocity,
    Timing, fit_timing, key_labels, make_track, rng_for, timing_labels,
)
from kellyd.synth.harmony import PLAIN_PROGRESSIONS, accompaniment, fill_slots, render_progression
from kellyd.synth.melody import CONTOURS, melody_line

DYNAMICS: tuple[str, ...] = ("crescendo", "decrescendo", "swell", "accents", "steady")
DYNAMICS_TEMPO_BPM = (72.0, 126.0)
SOFT_VELOCITY = (30, 50)
LOUD_VELOCITY = (96, 120)
ACCENT_BOOST = 34
OFFBEAT_ACCENT_PROBABILITY = 0.2
VELOCITY_NOISE = 3.0
MELODY_LOW = 62  # the melody spans MIDI 62..79


def velocity_curve(dynamics: str, u: np.ndarray, *, soft: float, loud: float) -> np.ndarray:
    """Velocity floor at relative times `u` in [0, 1] (shape (n,)); accents are added apart."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    if dynamics == "crescendo":
        return soft + (loud - soft) * u
    if dynamics == "decrescendo":
        return loud - (loud - soft) * u
    if dynamics == "swell":
        return soft + (loud - soft) * np.sin(np.pi * u)
    if dynamics == "accents":
        return np.full_like(u, soft + 0.25 * (loud - soft))
    if dynamics == "steady":
        return np.full_like(u, (soft + loud) / 2.0)
    raise ValueError(f"unknown dynamics {dynamics!r}; known: {', '.join(DYNAMICS)}")


def dynamics_piece(dynamics: str, *, articulation: str, tonic_pc: int, mode: str, duration_s: float,
                   seed: int) -> Synthesized:
    """A melody over pulsing chords whose every velocity follows `dynamics`.

    Annotations: dynamics, articulation, phrase_articulations (one per
    phrase of PHRASE_BARS bars), key, mode, tempo_bpm, time_signature, duration_s.
    """
    velocity_curve(dynamics, np.zeros(1), soft=0.0, loud=1.0)  # validates the name
    if articulation not in ARTICULATIONS:
        raise ValueError(f"unknown articulation {articulation!r}; known: {', '.join(ARTICULATIONS)}")
    tonic_pc, mode = check_tonic(tonic_pc), check_mode(mode)
    rng = rng_for(seed)
    timing = fit_timing(check_duration(duration_s), tempo_bpm=DYNAMICS_TEMPO_BPM, beats_per_bar=4, rng=rng)
    progression = PLAIN_PROGRESSIONS[mode][int(rng.integers(len(PLAIN_PROGRESSIONS[mode])))]
    numerals = fill_slots(progression.split(), timing.bars, "I" if mode == "major" else "i")
    chords = render_progression(numerals, tonic_pc=tonic_pc, mode=mode)
    upper, bass = accompaniment(chords, timing=timing, chords_per_bar=1, texture="pulse",
                                articulation=articulation, velocity=(64, 64), rng=rng)
    melody = melody_line(timing=timing, rng=rng, tonic_pc=tonic_pc, mode=mode, low=MELODY_LOW,
                         high=MELODY_LOW + 17, contour=CONTOURS[int(rng.integers(len(CONTOURS)))],
                         density="even", articulation=articulation, velocity=(64, 64), chords=chords)
    soft = float(rng.uniform(*SOFT_VELOCITY))
    loud = float(rng.uniform(*LOUD_VELOCITY))
    accented_offbeats = {bar for bar in range(timing.bars) if rng.random() < OFFBEAT_ACCENT_PROBABILITY}

    def shaped(events):
        out = []
        for start, end, pitch, _ in events:
            u = start / timing.duration_s
            level = float(velocity_curve(dynamics, np.array([u]), soft=soft, loud=loud)[0])
            if dynamics == "accents" and _is_accented(start, timing, accented_offbeats):
                level += ACCENT_BOOST
            out.append((start, end, pitch, clamp_velocity(level + rng.normal(0.0, VELOCITY_NOISE))))
        return out

    score = build_score(timing, [
        make_track("melody", shaped(melody)),
        make_track("chords", shaped(upper)),
        make_track("bass", shaped(bass), program=32),
    ])
    phrases = -(-timing.bars // PHRASE_BARS)
    annotations = {
        "dynamics": dynamics,
        "articulation": articulation,
        "phrase_articulations": [
            articulation if articulation != "mixed" else ("legato" if p % 2 == 0 else "staccato")
            for p in range(phrases)
        ],
        **key_labels(tonic_pc, mode),
        **timing_labels(timing),
    }
    return Synthesized(score, annotations, label=dynamics)


def _is_accented(start_s: float, timing: Timing, accented_offbeats: set[int]) -> bool:
    beat = start_s / timing.beat_s
    bar = int(beat // timing.beats_per_bar)
    position = beat - bar * timing.beats_per_bar
    on_downbeat = abs(position) < 1e-6
    on_offbeat = abs(position - 2.5) < 1e-6 and bar in accented_offbeats
    return on_downbeat or on_offbeat
