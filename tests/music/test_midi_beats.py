"""Beat phase, downbeat and tempo trust on MIDI files written to disk and read back, and on POP909."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.accuracy_midi import delayed, read_pop909_beats
from kellyd.music.midi_analysis import analyse_midi
from kellyd.music.midi_features import extract_midi
from kellyd.music.midi_io import read_score, write_score
from kellyd.music.notes import Notes, Score, TempoMap, TimeSignature, Track
from kellyd.music.tempo import BeatGrid

BARS = 16
# C, F, G, Am: one chord per bar, so the harmony changes on the downbeat.
ROOTS = (0, 5, 7, 9)
MINOR = (False, False, False, True)


def pop_piano(beat_s: float, *, start_s: float = 0.0, jitter_s: float = 0.0, drift: float = 0.0,
              seed: int = 0) -> tuple[Notes, np.ndarray]:  # fmt: skip
    """(notes, beat times) of a 4/4 piano piece: a long bass note on each bar's first beat and a
    shorter one on its third, a triad on every beat, an eighth-note melody with off-beat
    anticipations. `drift` bends the tempo (beat length grows linearly by that share over the
    piece) and `jitter_s` adds Gaussian timing noise, as a player would."""
    rng = np.random.default_rng(seed)
    n_beats = BARS * 4
    lengths = beat_s * (1.0 + drift * np.linspace(-0.5, 0.5, n_beats))
    beats = start_s + np.concatenate(([0.0], np.cumsum(lengths)))
    rows = []
    for k in range(n_beats):
        t, b = beats[k], lengths[k]
        bar, pos = divmod(k, 4)
        root = ROOTS[bar % 4]
        third = 3 if MINOR[bar % 4] else 4
        if pos == 0:
            rows.append((t, t + 1.9 * b, 36 + root, 100))
        elif pos == 2:
            rows.append((t, t + 0.9 * b, 43 + root, 80))
        rows += [(t, t + 0.8 * b, 60 + root + i, 70) for i in (0, third, 7)]
        rows.append((t, t + 0.4 * b, 72 + root + (k % 3) * 2, 64))
        rows.append((t + 0.5 * b, t + 0.9 * b, 74 + root, 56))
    start = np.array([r[0] for r in rows]) + rng.normal(0.0, jitter_s, len(rows))
    start = np.maximum(start, 0.0)
    end = np.maximum(np.array([r[1] for r in rows]) + (start - np.array([r[0] for r in rows])), start + 0.05)
    notes = Notes.from_lists(start, end, [r[2] for r in rows], [r[3] for r in rows])
    return notes, beats[:-1]


def write_and_read(tmp_path: Path, notes: Notes, bpm: float, name: str = "piece.mid") -> Score:
    """The notes (seconds) in a MIDI file with one tempo event at `bpm` and 4/4, read back."""
    score = Score((Track("piano", 0, False, notes),), TempoMap(np.zeros(1), np.array([bpm]), bpm == 120.0),
                  (TimeSignature(0.0, 4, 4),), float(notes.end_s.max()))  # fmt: skip
    path = tmp_path / name
    write_score(score, path)
    return read_score(path)


def beat_errors(grid: BeatGrid, beat_times: np.ndarray) -> np.ndarray:
    """How far (beats) each true beat lies from the nearest whole beat of the grid."""
    b = grid.to_beats(beat_times)
    return np.abs(b - np.round(b))


def bar_numbers(grid: BeatGrid, bar_times: np.ndarray) -> np.ndarray:
    """Grid beat numbers of the true bar starts, modulo 4 (0 where a bar line falls on them)."""
    return np.mod(np.round(grid.to_beats(bar_times)).astype(int), 4)


@pytest.mark.parametrize("offset_beats", [0.2, 0.47])
def test_a_grid_a_fraction_of_a_beat_off_the_music_is_rephased(tmp_path, offset_beats):
    beat_s = 60.0 / 100.0
    notes, beats = pop_piano(beat_s, start_s=offset_beats * beat_s)
    a = analyse_midi(write_and_read(tmp_path, notes, 100.0))
    assert (a.tempo.source, round(a.tempo.bpm, 3)) == ("tempo_map", 100.0)
    assert a.tempo.grid_shift_beats == pytest.approx(offset_beats, abs=0.01)
    assert beat_errors(a.tempo.grid, beats).max() < 0.01
    # The bars follow: every true bar start is a bar line of the grid.
    assert set(bar_numbers(a.tempo.grid, beats[::4])) == {0}


def test_a_wrong_single_tempo_event_is_not_trusted(tmp_path):
    notes, beats = pop_piano(60.0 / 100.0)
    a = analyse_midi(write_and_read(tmp_path, notes, 77.0))
    assert a.tempo.source == "onsets"
    assert a.tempo.bpm == pytest.approx(100.0, rel=0.04)
    # Quantised notes: the tracked beats are a steady grid exactly on them, not rounded to tracker frames.
    assert beat_errors(a.tempo.grid, beats).max() < 0.002


def test_a_performance_without_a_tempo_event_gets_its_tempo_and_beats(tmp_path):
    # 84 bpm on average, 6 % slower at the end than at the start, 12 ms of timing noise.
    notes, beats = pop_piano(60.0 / 84.0, start_s=0.31, jitter_s=0.012, drift=0.06, seed=3)
    a = analyse_midi(write_and_read(tmp_path, notes, 120.0))
    assert a.tempo.source == "onsets"
    assert a.tempo.bpm == pytest.approx(84.0, rel=0.04)
    # Within 70 ms (the F-measure window) of a tracked beat, nearly every true beat.
    tracked = a.tempo.grid.to_seconds(np.arange(-1, BARS * 4 + 2))
    near = np.min(np.abs(beats[:, None] - tracked[None, :]), axis=1) <= 0.07
    assert near.mean() >= 0.95
    assert np.mean(bar_numbers(a.tempo.grid, beats[::4]) == 0) >= 0.9


def test_downbeats_land_on_bar_starts_when_the_file_begins_mid_bar(tmp_path):
    # The file was cut one beat into a bar: its bar lines fall on the music's second beats.
    beat_s = 60.0 / 100.0
    notes, beats = pop_piano(beat_s)
    kept = notes.start_s >= beats[1] - 1e-9
    cut = Notes(notes.start_s[kept] - beats[1], notes.end_s[kept] - beats[1], notes.pitch[kept], notes.velocity[kept])
    score = write_and_read(tmp_path, cut, 100.0)
    a = analyse_midi(score)
    bar_starts = beats[4::4] - beats[1]
    assert a.tempo.grid_shift_beats == 0.0
    assert a.tempo.downbeat_shift_beats == 3
    assert set(bar_numbers(a.tempo.grid, bar_starts)) == {0}
    # The features carry them: downbeat times, and where the first listed beat sits in its bar.
    extracted = extract_midi(score)
    np.testing.assert_allclose(extracted.arrays["downbeat_times_s"][: len(bar_starts)], bar_starts, atol=1e-3)
    assert extracted.scalars["first_beat_in_bar"] == 1.0


def test_a_quantised_file_with_a_correct_map_keeps_its_exact_grid(tmp_path):
    notes, _ = pop_piano(60.0 / 100.0)
    score = write_and_read(tmp_path, notes, 100.0)
    a = analyse_midi(score)
    assert (a.tempo.source, a.tempo.grid_shift_beats, a.tempo.downbeat_shift_beats) == ("tempo_map", 0.0, 0)
    beats = np.arange(0, BARS * 4, dtype=np.float64)
    np.testing.assert_array_equal(a.tempo.grid.to_seconds(beats), BeatGrid.from_tempo_map(score.tempo).to_seconds(beats))


@pytest.mark.parametrize("offset_beats", [0.0, 0.2, 0.47])
def test_pop909_beats_and_downbeats_are_found_when_the_grid_is_off(corpus, offset_beats):
    folder = corpus / "pop909" / "001"
    score = read_score(folder / "001.mid")
    delay_s = offset_beats * 60.0 / float(score.tempo.bpm[0])
    a = analyse_midi(delayed(score, delay_s))
    ref_beats, ref_downbeats, _ = read_pop909_beats((folder / "beat_midi.txt").read_text())
    ref_beats, ref_downbeats = ref_beats + delay_s, ref_downbeats + delay_s
    numbers = np.arange(np.ceil(a.tempo.grid.to_beats(0.0)), np.floor(a.tempo.grid.to_beats(a.end_s)) + 1)
    est = a.tempo.grid.to_seconds(numbers)
    est_down = est[np.mod(numbers, a.bar_beats) == 0]
    hit = np.min(np.abs(ref_beats[:, None] - est[None, :]), axis=1) <= 0.07
    down_hit = np.min(np.abs(ref_downbeats[:, None] - est_down[None, :]), axis=1) <= 0.07
    assert hit.mean() >= 0.95
    assert down_hit.mean() >= 0.95
