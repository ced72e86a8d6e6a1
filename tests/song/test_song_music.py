"""Whole-song analysis (kellyd.song): contracts, and musical truths on signals with known music."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from kellyd.music.audio_features import extract_audio_file
from kellyd.music.chords import numeral_degree
from kellyd.song.music import SongMusic, analyze_music
from tests.song.synth_audio import (
    A_MINOR,
    C_MAJOR,
    F_MAJOR,
    G_MAJOR,
    SR_HZ,
    add,
    chord,
    click_track,
    progression,
)

BEAT_WINDOW_S = 0.07
TRIAD_OF = {"maj": "maj", "maj7": "maj", "7": "maj", "min": "min", "min7": "min"}


def matched_share(estimate_s: np.ndarray, reference_s: np.ndarray, window_s: float = BEAT_WINDOW_S) -> float:
    """Share of reference times with an estimate within `window_s`."""
    if len(reference_s) == 0:
        return 0.0
    return float(np.mean([np.min(np.abs(estimate_s - t)) <= window_s if len(estimate_s) else False
                          for t in reference_s]))


@pytest.fixture(scope="module")
def click_song() -> tuple[SongMusic, np.ndarray, np.ndarray]:
    # 100 bpm, 4/4, the first bar line on the second click (one pickup beat).
    y, beats, downbeats = click_track(100.0, 24.0, downbeat_offset=1)
    return analyze_music(y, SR_HZ), beats, downbeats


def test_tempo_and_beats_of_a_click_track(click_song):
    music, beats, _ = click_song
    assert music.rhythm.tempo_bpm == pytest.approx(100.0, rel=0.04)
    assert music.rhythm.tempo_confidence > 0.3
    assert matched_share(music.rhythm.beats_s, beats) >= 0.9
    assert matched_share(beats, music.rhythm.beats_s) >= 0.9  # and no extra beats
    assert np.allclose(music.rhythm.tempo_curve_bpm, 100.0, rtol=0.05)


def test_meter_and_downbeat_phase_of_accented_bars(click_song):
    music, _, downbeats = click_song
    assert music.rhythm.beats_per_bar == 4
    assert matched_share(music.rhythm.downbeats_s, downbeats) >= 0.9
    assert matched_share(downbeats, music.rhythm.downbeats_s) >= 0.9


def test_three_four_time_is_found():
    y, _, downbeats = click_track(150.0, 20.0, beats_per_bar=3)
    music = analyze_music(y, SR_HZ)
    assert music.rhythm.beats_per_bar == 3
    assert matched_share(music.rhythm.downbeats_s, downbeats) >= 0.9


@pytest.fixture(scope="module")
def cadence_song() -> tuple[SongMusic, float]:
    y, chord_s = progression([C_MAJOR, F_MAJOR, G_MAJOR, C_MAJOR])
    return analyze_music(y, SR_HZ), chord_s


def test_chords_and_key_of_a_one_four_five_one(cadence_song):
    music, chord_s = cadence_song
    assert (music.key.name, music.key.mode) == ("C", "major")
    # The chord sounding in the middle of each chord's span.
    expected = ["C:maj", "F:maj", "G:maj", "C:maj"] * 2
    # Scored as WCSR majmin scores: root and triad (a seventh the overtones suggest counts as its triad).
    for i, label in enumerate(expected):
        mid_s = 0.5 + (i + 0.5) * chord_s
        found = next(c for c in music.chords if c.start_s <= mid_s < c.end_s)
        assert TRIAD_OF[found.label.split(":")[1]] == label.split(":")[1] and found.label.split(":")[0] == label.split(":")[0], \
            (i, [(round(c.start_s, 2), c.label) for c in music.chords])
        assert numeral_degree(found.roman) == ["I", "IV", "V", "I"][i % 4]


def test_theory_layer_of_a_one_four_five_one(cadence_song):
    music, _ = cadence_song
    kinds = [c.kind for c in music.cadences]
    assert kinds.count("authentic") >= 2  # V -> I at the end of each pass
    assert music.complexity.distinct_chords == 3
    assert music.complexity.chromatic_share == 0.0
    assert music.complexity.transition_entropy_bits == pytest.approx(0.0, abs=0.01)  # always the same next chord


def test_sections_of_an_a_b_a_song():
    """A (C-G chords over clicks), B (a minor chord under noise bursts, another timbre), A again."""
    rng = np.random.default_rng(3)
    part_s = 16.0
    a, _ = progression([C_MAJOR, G_MAJOR], bpm=120.0, repeats=4)
    a = a[: int(part_s * SR_HZ)]
    b = np.zeros(int(part_s * SR_HZ), dtype=np.float32)
    for i in range(int(part_s * 2)):
        burst = (0.2 * rng.standard_normal(int(0.08 * SR_HZ)) * np.exp(-np.arange(int(0.08 * SR_HZ)) / 400)).astype(np.float32)
        add(b, burst, i * 0.5)
        if i % 2 == 0:
            add(b, 0.6 * chord(tuple(n + 1 for n in A_MINOR), 1.0), i * 0.5)
    y = np.concatenate((a, b, a))
    music = analyze_music(y, SR_HZ)
    labels = [s.label for s in music.sections]
    starts = [s.start_s for s in music.sections]
    assert len(music.sections) == 3, [(round(s.start_s, 1), s.label) for s in music.sections]
    assert labels[0] == labels[2] != labels[1]
    assert starts[1] == pytest.approx(part_s, abs=3.0) and starts[2] == pytest.approx(2 * part_s, abs=3.0)
    assert music.sections[-1].end_s == pytest.approx(3 * part_s, abs=0.1)


def test_to_json_and_arrays_contract(cadence_song):
    music, _ = cadence_song
    data = music.to_json()
    json.dumps(data, allow_nan=False)
    for key in ("tempo_bpm", "tempo_confidence", "meter", "beats_s", "downbeats_s", "key", "mode",
                "key_confidence", "section_keys", "chords", "roman_numerals", "cadences",
                "progression_complexity", "syncopation", "rhythmic_complexity", "sections", "duration_s"):
        assert key in data
    assert data["duration_s"] == pytest.approx(music.duration_s, abs=1e-3)
    assert all(c["end_s"] > c["start_s"] for c in data["chords"])
    assert data["chords"][0]["start_s"] == 0.0 and data["chords"][-1]["end_s"] == pytest.approx(music.duration_s, abs=1e-3)
    arrays = music.arrays()
    assert arrays["beats_s"].shape == arrays["tempo_curve_bpm"].shape == (len(data["beats_s"]),)
    assert arrays["beat_chroma"].shape[0] == 12
    assert all(np.all(np.isfinite(a)) for a in arrays.values())
    assert 0.0 <= data["syncopation"] <= 1.0 and 0.0 <= data["rhythmic_complexity"] <= 2.0


def test_any_rate_is_analysed_alike():
    y, beats, _ = click_track(100.0, 12.0)
    import soxr

    y44 = soxr.resample(y, SR_HZ, 44100).astype(np.float32)
    music = analyze_music(y44, 44100)
    assert music.rhythm.tempo_bpm == pytest.approx(100.0, rel=0.04)
    assert matched_share(music.rhythm.beats_s, beats) >= 0.9


def test_silence_has_no_tempo_chords_or_key():
    music = analyze_music(np.zeros(5 * SR_HZ, dtype=np.float32), SR_HZ)
    assert music.rhythm.tempo_bpm is None and len(music.rhythm.beats_s) == 0
    assert music.key is None
    assert [c.label for c in music.chords] == ["N"]
    json.dumps(music.to_json(), allow_nan=False)


@pytest.mark.parametrize(
    ("bad", "sr_hz", "match"),
    [(np.zeros((2, 22050), np.float32), SR_HZ, "1-D"),
     (np.zeros(22050, np.int16), SR_HZ, "float"),
     (np.full(22050, np.nan, np.float32), SR_HZ, "NaN"),
     (np.zeros(100, np.float32), SR_HZ, "at least"),
     (np.zeros(22050, np.float32), 100, "sr_hz")],
)
def test_bad_input_is_refused_clearly(bad, sr_hz, match):
    with pytest.raises(ValueError, match=match):
        analyze_music(bad, sr_hz)


def test_song_and_clip_share_the_key_estimator_on_a_real_clip(corpus, tmp_path):
    """Sonic Pi's guit_em9 (CC0), an E minor 9 chord: the song analysis and the clip features both say E minor."""
    path = tmp_path / "guit_em9.flac"
    path.write_bytes((corpus / "sonic_pi" / "guit_em9.flac").read_bytes())
    y, sr_hz = sf.read(path, dtype="float32")
    music = analyze_music(y.mean(axis=1) if y.ndim == 2 else y, sr_hz)
    labels = extract_audio_file(path).labels
    assert (music.key.name, music.key.mode) == ("E", "minor")
    assert (labels["key"], labels["mode"]) == ("E", "minor")


def test_real_loop_tempo(corpus):
    """Sonic Pi's loop_compus (CC0): 16 beats in 6.486 s, 148 bpm."""
    y, sr_hz = sf.read(corpus / "sonic_pi" / "loop_compus.flac", dtype="float32")
    music = analyze_music(y.mean(axis=1) if y.ndim == 2 else y, sr_hz)
    assert music.rhythm.tempo_bpm == pytest.approx(148.0, rel=0.04)
