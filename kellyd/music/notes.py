"""Notes in seconds: the one representation every MIDI function works on.

Times are absolute, in seconds, already converted through the file's tempo map
(`kellyd.music.midi_io` owns that conversion); nothing downstream sees ticks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_TEMPO_BPM = 120.0


@dataclass(frozen=True)
class Notes:
    """Parallel arrays, one entry per note, sorted by `start_s` then `pitch`.

    Shapes: all (n,). `start_s`/`end_s` float64 seconds; `pitch` and `velocity`
    int16 (MIDI 0..127).
    """

    start_s: np.ndarray
    end_s: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.start_s)
        for name in ("end_s", "pitch", "velocity"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Notes.{name} has {len(getattr(self, name))} entries, start_s has {n}")

    def __len__(self) -> int:
        return len(self.start_s)

    @property
    def duration_s(self) -> np.ndarray:
        return self.end_s - self.start_s

    @classmethod
    def empty(cls) -> "Notes":
        return cls(np.zeros(0), np.zeros(0), np.zeros(0, np.int16), np.zeros(0, np.int16))

    @classmethod
    def from_lists(cls, start_s, end_s, pitch, velocity) -> "Notes":
        """Build sorted notes from sequences; validates that end >= start."""
        start = np.asarray(start_s, dtype=np.float64)
        end = np.asarray(end_s, dtype=np.float64)
        if np.any(end < start):
            bad = int(np.argmax(end < start))
            raise ValueError(f"note {bad} ends before it starts ({end[bad]} < {start[bad]} s)")
        p = np.asarray(pitch, dtype=np.int16)
        v = np.asarray(velocity, dtype=np.int16)
        order = np.lexsort((p, start))
        return cls(start[order], end[order], p[order], v[order])

    @staticmethod
    def concat(parts: "list[Notes]") -> "Notes":
        if not parts:
            return Notes.empty()
        return Notes.from_lists(
            np.concatenate([p.start_s for p in parts]),
            np.concatenate([p.end_s for p in parts]),
            np.concatenate([p.pitch for p in parts]),
            np.concatenate([p.velocity for p in parts]),
        )


@dataclass(frozen=True)
class Track:
    name: str
    program: int
    is_drum: bool
    notes: Notes


@dataclass(frozen=True)
class TempoMap:
    """Tempo changes: `time_s` (k,) ascending from 0, `bpm` (k,).

    `is_default_only` is true when the file carried no tempo event, or only a
    single one at exactly the MIDI default of 120 bpm (a common export with no
    real tempo information): then an onset-based estimate is preferred.
    """

    time_s: np.ndarray
    bpm: np.ndarray
    is_default_only: bool

    def bpm_at(self, t_s: float) -> float:
        i = int(np.searchsorted(self.time_s, t_s, side="right")) - 1
        return float(self.bpm[max(i, 0)])

    def beat_times_s(self, end_s: float) -> np.ndarray:
        """Quarter-note beat times from 0 up to `end_s` (inclusive), following the tempo changes.

        A change that falls between two beats takes effect at its own time: the
        beat after it lands where the remaining fraction of the beat ends at the
        new tempo (beats are counted in the map's piecewise-linear beat time).
        """
        if end_s < 0:
            return np.zeros(0, dtype=np.float64)
        beats_per_s = self.bpm / 60.0
        # Beat position reached at each tempo change: the integral of the tempo.
        knot_beats = np.concatenate(([0.0], np.cumsum(np.diff(self.time_s) * beats_per_s[:-1])))
        i_end = int(np.searchsorted(self.time_s, end_s, side="right")) - 1
        last_beat = knot_beats[i_end] + (end_s - self.time_s[i_end]) * beats_per_s[i_end]
        beat = np.arange(0, int(np.floor(last_beat + 1e-9)) + 1, dtype=np.float64)
        seg = np.clip(np.searchsorted(knot_beats, beat, side="right") - 1, 0, len(knot_beats) - 1)
        return self.time_s[seg] + (beat - knot_beats[seg]) / beats_per_s[seg]


@dataclass(frozen=True)
class TimeSignature:
    time_s: float
    numerator: int
    denominator: int


@dataclass(frozen=True)
class Score:
    """A whole MIDI file in seconds."""

    tracks: tuple[Track, ...]
    tempo: TempoMap
    time_signatures: tuple[TimeSignature, ...] = ()
    duration_s: float = 0.0
    ticks_per_quarter: int = 480
    meta: dict = field(default_factory=dict)

    @property
    def pitched(self) -> Notes:
        return Notes.concat([t.notes for t in self.tracks if not t.is_drum])

    @property
    def drums(self) -> Notes:
        return Notes.concat([t.notes for t in self.tracks if t.is_drum])

    @property
    def all_notes(self) -> Notes:
        return Notes.concat([t.notes for t in self.tracks])
