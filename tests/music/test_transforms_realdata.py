"""Augmented real music is detected where its labels say it went (pop909 MIDI, a Sonic Pi drone)."""

from __future__ import annotations

import shutil

import pytest

from kellyd.music.audio_features import extract_audio
from kellyd.music.audio_io import decode_audio
from kellyd.music.audio_transforms import pitch_shift, time_stretch as stretch_audio
from kellyd.music.midi_features import extract_midi
from kellyd.music.midi_io import read_score
from kellyd.music.transforms import labels_after, pitch_class_of, time_stretch, transpose

SR_HZ = 16000


def ground_truth_key(corpus, song: str) -> tuple[str, str]:
    """The first key of POP909's `key_audio.txt`, e.g. ("Gb", "major")."""
    first = (corpus / "pop909" / song / "key_audio.txt").read_text().split("\n")[0].split()
    tonic, quality = first[2].split(":")
    return tonic, {"maj": "major", "min": "minor"}[quality]


@pytest.mark.parametrize("song", ["001", "004", "005"])
def test_transposed_pop909_is_detected_in_the_transposed_key(corpus, tmp_path, song):
    shutil.copy(corpus / "pop909" / song / f"{song}.mid", tmp_path / "song.mid")
    score = read_score(tmp_path / "song.mid")
    tonic, mode = ground_truth_key(corpus, song)
    for semitones in (-5, -2, 3, 6):
        moved, _ = transpose(score, semitones)
        expected = labels_after("transpose", {"semitones": semitones}, {"key": tonic, "mode": mode})
        detected = extract_midi(moved).labels
        assert (pitch_class_of(detected["key"]), detected["mode"]) == (pitch_class_of(expected["key"]), mode), \
            f"{song} moved {semitones:+d}: labelled {expected['key']} {mode}, " \
            f"detected {detected['key']} {detected['mode']}"


def test_stretched_pop909_carries_the_stretched_tempo(corpus, tmp_path):
    shutil.copy(corpus / "pop909" / "005" / "005.mid", tmp_path / "song.mid")
    score = read_score(tmp_path / "song.mid")
    before = extract_midi(score).labels["tempo_bpm"]
    stretched, _ = time_stretch(score, 1.08)
    after = extract_midi(stretched).labels["tempo_bpm"]
    assert after == pytest.approx(labels_after("stretch", {"factor": 1.08}, {"tempo_bpm": before})["tempo_bpm"],
                                  rel=0.02)


def test_g_drone_shifted_up_two_semitones_is_detected_in_a(corpus, tmp_path):
    shutil.copy(corpus / "sonic_pi" / "loop_drone_g_97.flac", tmp_path / "drone.flac")
    y = decode_audio(tmp_path / "drone.flac", sr_hz=SR_HZ)
    assert extract_audio(y, sr_hz=SR_HZ).labels["key"] == "G"
    shifted, _ = pitch_shift(y, sr_hz=SR_HZ, semitones=2)
    labels = labels_after("pitch_shift", {"semitones": 2}, {"key": "G"})
    assert labels["key"] == "A"
    assert pitch_class_of(extract_audio(shifted, sr_hz=SR_HZ).labels["key"]) == pitch_class_of("A")


def test_stretched_drone_lasts_longer_by_the_factor(corpus, tmp_path):
    shutil.copy(corpus / "sonic_pi" / "loop_drone_g_97.flac", tmp_path / "drone.flac")
    y = decode_audio(tmp_path / "drone.flac", sr_hz=SR_HZ)
    stretched, _ = stretch_audio(y, sr_hz=SR_HZ, factor=1.1)
    assert extract_audio(stretched, sr_hz=SR_HZ).labels["duration_s"] == pytest.approx(len(y) / SR_HZ * 1.1, rel=0.01)
