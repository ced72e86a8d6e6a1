"""The music of a whole song from its audio: `analyze_music(y, sr_hz) -> SongMusic`.

One front end (`kellyd.song.frontend`: one resample, one STFT, one CQT) feeds
rhythm (beats, downbeats, meter, tempo), harmony (key, section keys, chords,
Roman numerals, cadences, progression complexity) and sections. The rhythm
figures of the MIDI side (`kellyd.music.groove`: syncopation, onset density)
are measured on the audio's onsets placed on the tracked beats.

The caller trims: `y` is analysed whole, so a caller that honours
`[limits] max_audio_analysis_s` passes at most that many seconds (as
`kellyd.music.audio_io.read_native(..., max_duration_s=...)` reads them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kellyd.music import groove
from kellyd.music.chords import ProgressionComplexity
from kellyd.music.key import KeyEstimate, KeySegment
from kellyd.music.tempo import BeatGrid
from kellyd.song.frontend import SongSignal, song_signal
from kellyd.song.harmony import SongCadence, SongChord, analyse_harmony
from kellyd.song.rhythm import Rhythm, analyse_rhythm, onsets
from kellyd.song.sections import Section, find_sections

# Onsets closer than this are one event for the rhythm figures.
ONSET_WAIT_S = 0.05
# Onset strength (in units of the envelope's standard deviation) an onset must reach.
ONSET_DELTA = 0.3


@dataclass(frozen=True)
class RhythmFigures:
    """`syncopation` (LHL, [0, 1]) and `onsets_per_beat` of the audio's onsets on the beat grid;
    `rhythmic_complexity` the entropy (bits, 0 .. 4) of the onsets' sixteenth positions inside the beat."""

    syncopation: float
    onsets_per_beat: float
    rhythmic_complexity: float


@dataclass(frozen=True)
class SongMusic:
    duration_s: float
    rhythm: Rhythm
    key: KeyEstimate | None
    section_keys: tuple[KeySegment, ...]
    chords: tuple[SongChord, ...]
    cadences: tuple[SongCadence, ...]
    complexity: ProgressionComplexity
    figures: RhythmFigures
    sections: tuple[Section, ...]
    beat_chroma: np.ndarray  # (12, n_beats + 1): the stretch before the first beat, then each beat (0 columns if silent)

    def to_json(self) -> dict:
        r = self.rhythm
        return {
            "duration_s": round(self.duration_s, 3),
            "tempo_bpm": None if r.tempo_bpm is None else round(r.tempo_bpm, 2),
            "tempo_confidence": round(r.tempo_confidence, 4),
            "meter": r.beats_per_bar,
            "meter_confidence": round(r.meter_confidence, 4),
            "beats_s": [round(float(t), 3) for t in r.beats_s],
            "downbeats_s": [round(float(t), 3) for t in r.downbeats_s],
            "key": None if self.key is None else self.key.name,
            "mode": None if self.key is None else self.key.mode,
            "key_confidence": 0.0 if self.key is None else round(self.key.confidence, 4),
            "section_keys": [k.to_json() for k in self.section_keys],
            "chords": [c.to_json() for c in self.chords],
            "roman_numerals": [c.roman for c in self.chords if c.roman is not None],
            "cadences": [c.to_json() for c in self.cadences],
            "progression_complexity": self.complexity.to_json(),
            "syncopation": round(self.figures.syncopation, 4),
            "onsets_per_beat": round(self.figures.onsets_per_beat, 4),
            "rhythmic_complexity": round(self.figures.rhythmic_complexity, 4),
            "sections": [s.to_json() for s in self.sections],
        }

    def arrays(self) -> dict[str, np.ndarray]:
        r = self.rhythm
        return {
            "beats_s": r.beats_s.astype(np.float64),
            "downbeats_s": r.downbeats_s.astype(np.float64),
            "tempo_curve_bpm": r.tempo_curve_bpm.astype(np.float32),
            "beat_chroma": self.beat_chroma.astype(np.float32),
        }


def beat_grid(beats_s: np.ndarray) -> BeatGrid | None:
    """The tracked beats as a `BeatGrid` (beat k at beats_s[k]); None with fewer than two beats."""
    if len(beats_s) < 2:
        return None
    return BeatGrid(np.asarray(beats_s, dtype=np.float64), np.arange(len(beats_s), dtype=np.float64),
                    60.0 / np.append(np.diff(beats_s), beats_s[-1] - beats_s[-2]))


def rhythm_figures(signal: SongSignal, rhythm: Rhythm) -> RhythmFigures:
    """Syncopation, onset density and rhythmic complexity of the song's onsets on its beats."""
    from scipy.signal import find_peaks

    grid = beat_grid(rhythm.beats_s)
    if grid is None:
        return RhythmFigures(0.0, 0.0, 0.0)
    found = onsets(signal)
    env = found.envelope.astype(np.float64)
    frames, _ = find_peaks(env, height=env.mean() + ONSET_DELTA * env.std(),
                           distance=max(1, int(ONSET_WAIT_S * found.frame_rate_hz)))
    onset_s = frames / found.frame_rate_hz
    inside = (onset_s >= rhythm.beats_s[0]) & (onset_s <= rhythm.beats_s[-1])
    onset_s = onset_s[inside]
    if len(onset_s) == 0:
        return RhythmFigures(0.0, 0.0, 0.0)
    # Beat 0 of the grid is the first tracked beat; count bars from the first downbeat.
    onset_beats = grid.to_beats(onset_s) - rhythm.downbeat_index
    position = np.mod(np.round(onset_beats * 4).astype(np.int64), 4)
    share = np.bincount(position, minlength=4) / len(position)
    nonzero = share[share > 0]
    return RhythmFigures(
        syncopation=groove.syncopation(onset_beats, float(rhythm.beats_per_bar)),
        onsets_per_beat=groove.density_per_beat(onset_s, onset_beats),
        rhythmic_complexity=float(-(nonzero * np.log2(nonzero)).sum()),
    )


def analyze_music(y: np.ndarray, sr_hz: int) -> SongMusic:
    """Rhythm, harmony and sections of mono float `y` at `sr_hz` (at least 0.5 s; the caller trims long files).

    Raises ValueError for a signal that is not 1-D float, holds NaN/inf, or is too short.
    """
    signal = song_signal(y, sr_hz)
    rhythm = analyse_rhythm(signal)
    harmony = analyse_harmony(signal, rhythm.beats_s, rhythm.downbeats_s)
    return SongMusic(
        duration_s=signal.duration_s,
        rhythm=rhythm,
        key=harmony.key,
        section_keys=harmony.section_keys,
        chords=harmony.chords,
        cadences=harmony.cadences,
        complexity=harmony.complexity,
        figures=rhythm_figures(signal, rhythm),
        sections=find_sections(signal, rhythm.beats_s),
        beat_chroma=harmony.beat_chroma,
    )
