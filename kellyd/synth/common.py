"""What every generator shares: bar timing that fits a requested duration exactly,
scales, articulation, and building a `Score` from note events in seconds.

Durations are the contract that the old scripts broke (beats written as ticks):
here a piece is a whole number of bars whose tempo is chosen so that the bars
end exactly at the requested `duration_s`; the tempo is then rounded to what a
MIDI file can store (an integer number of microseconds per quarter note), which
moves the end by microseconds, and the tempo label is that stored tempo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from kellyd.music.notes import Notes, Score, TempoMap, TimeSignature, Track
from kellyd.taxonomy import PITCH_CLASS_NAMES

TICKS_PER_QUARTER = 480
MICROSECONDS_PER_MINUTE = 60_000_000
MIN_DURATION_S, MAX_DURATION_S = 2.0, 600.0
MODES: tuple[str, ...] = ("major", "minor")
ARTICULATIONS: tuple[str, ...] = ("legato", "staccato", "mixed")

# Scale degrees in semitones above the tonic. Minor is natural minor; the raised
# leading tone comes in through chords (V, viio7) and the melody follows them.
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
}

# Sounding length as a share of the time to the next note.
ARTICULATION_RATIO: dict[str, tuple[float, float]] = {
    "legato": (0.95, 1.0),
    "staccato": (0.3, 0.45),
}
PHRASE_BARS = 2  # a "mixed" piece alternates legato and staccato every two bars

# (start_s, end_s, pitch, velocity)
Event = tuple[float, float, int, int]


@dataclass(frozen=True)
class Synthesized:
    """A generated piece: the score, its true labels, and its folder label."""

    score: Score
    annotations: Mapping[str, Any]
    label: str


@dataclass(frozen=True)
class Timing:
    """`bars` bars of `beats_per_bar` quarter notes at `bpm`; bar 0 starts at 0 s."""

    bpm: float
    bars: int
    beats_per_bar: int

    @property
    def beat_s(self) -> float:
        return 60.0 / self.bpm

    @property
    def bar_s(self) -> float:
        return self.beats_per_bar * self.beat_s

    @property
    def duration_s(self) -> float:
        return self.bars * self.bar_s

    @property
    def time_signature(self) -> str:
        return f"{self.beats_per_bar}/4"

    def time_at(self, beat: float) -> float:
        """Seconds at `beat` quarter notes from the start."""
        return beat * self.beat_s


def fit_timing(
    duration_s: float, *, tempo_bpm: tuple[float, float], beats_per_bar: int, rng: np.random.Generator
) -> Timing:
    """Whole bars filling `duration_s`, at a tempo as close as possible to one drawn from `tempo_bpm`.

    When no whole number of bars fits the range (a very short piece) the
    nearest tempo outside it is used.
    """
    check_duration(duration_s)
    low, high = tempo_bpm
    if not 0 < low <= high:
        raise ValueError(f"tempo range must satisfy 0 < low <= high, got {tempo_bpm!r}")
    wanted_bpm = float(rng.uniform(low, high))
    beats_wanted = duration_s * wanted_bpm / 60.0 / beats_per_bar
    candidates = {max(1, int(np.floor(beats_wanted))), max(1, int(np.ceil(beats_wanted)))}

    def bpm_for(bars: int) -> float:
        return bars * beats_per_bar * 60.0 / duration_s

    def distance(bars: int) -> tuple[float, float]:
        bpm = bpm_for(bars)
        outside = max(low - bpm, bpm - high, 0.0)
        return outside, abs(bpm - wanted_bpm)

    bars = min(sorted(candidates), key=distance)
    microseconds_per_quarter = round(MICROSECONDS_PER_MINUTE / bpm_for(bars))
    return Timing(MICROSECONDS_PER_MINUTE / microseconds_per_quarter, bars, beats_per_bar)


def check_duration(duration_s: Any) -> float:
    if isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)) \
            or not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise ValueError(f"duration_s must be in [{MIN_DURATION_S}, {MAX_DURATION_S}] s, got {duration_s!r}")
    return float(duration_s)


def check_tonic(tonic_pc: Any) -> int:
    if isinstance(tonic_pc, bool) or not isinstance(tonic_pc, (int, np.integer)) or not 0 <= tonic_pc < 12:
        raise ValueError(f"tonic_pc must be a pitch class 0..11, got {tonic_pc!r}")
    return int(tonic_pc)


def check_mode(mode: Any) -> str:
    if mode not in SCALES:
        raise ValueError(f"mode must be one of {sorted(SCALES)}, got {mode!r}")
    return str(mode)


def scale_pitch_classes(tonic_pc: int, mode: str) -> tuple[int, ...]:
    return tuple((tonic_pc + step) % 12 for step in SCALES[mode])


def pitches_in_range(pitch_classes: Iterable[int], low: int, high: int) -> np.ndarray:
    """Every MIDI pitch in [low, high] whose pitch class is in `pitch_classes`, ascending."""
    wanted = set(pitch_classes)
    return np.array([p for p in range(low, high + 1) if p % 12 in wanted], dtype=np.int64)


def key_labels(tonic_pc: int, mode: str) -> dict[str, str]:
    return {"key": PITCH_CLASS_NAMES[tonic_pc], "mode": mode}


def timing_labels(timing: Timing) -> dict[str, Any]:
    return {
        "tempo_bpm": round(timing.bpm, 6),
        "time_signature": timing.time_signature,
        "duration_s": round(timing.duration_s, 6),
    }


def sounding_ratio(articulation: str, bar: int, rng: np.random.Generator) -> float:
    """Share of a note's slot that sounds, for `articulation` in bar `bar`."""
    if articulation == "mixed":
        articulation = "legato" if (bar // PHRASE_BARS) % 2 == 0 else "staccato"
    low, high = ARTICULATION_RATIO[articulation]
    return float(rng.uniform(low, high))


def clamp_velocity(velocity: float) -> int:
    return int(np.clip(round(velocity), 1, 127))


def make_track(name: str, events: Sequence[Event], *, program: int = 0, is_drum: bool = False) -> Track:
    if events:
        start, end, pitch, velocity = zip(*events)
        notes = Notes.from_lists(start, end, pitch, velocity)
    else:
        notes = Notes.empty()
    return Track(name=name, program=program, is_drum=is_drum, notes=notes)


def build_score(timing: Timing, tracks: Sequence[Track]) -> Score:
    """A one-tempo, one-meter score lasting exactly `timing.duration_s`.

    Every generator ends its last note at the end of the last bar, so the file
    read back lasts what was asked for.
    """
    ends = [float(t.notes.end_s.max()) for t in tracks if len(t.notes)]
    if not ends or abs(max(ends) - timing.duration_s) > 1e-6:
        raise RuntimeError(f"generated notes end at {max(ends, default=0.0)} s, bars end at {timing.duration_s} s")
    return Score(
        tracks=tuple(tracks),
        tempo=TempoMap(time_s=np.zeros(1), bpm=np.array([timing.bpm]), is_default_only=False),
        time_signatures=(TimeSignature(0.0, timing.beats_per_bar, 4),),
        duration_s=timing.duration_s,
        ticks_per_quarter=TICKS_PER_QUARTER,
    )


def rng_for(seed: int, *salt: int) -> np.random.Generator:
    """An independent, reproducible stream for `seed` and any number of integer salts."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), *(int(s) for s in salt)])
