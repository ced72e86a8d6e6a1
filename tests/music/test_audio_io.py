"""Probing and decoding real and written audio files of every supported format."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kellyd.music.audio_io import (
    AudioInfo,
    decode_audio,
    mix_to_mono,
    probe_audio,
    read_native,
    resample,
)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
# Probing is the import step's check for every dropped file: it must stay at header cost.
MAX_MEAN_PROBE_S = 0.005


def corpus_audio(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


@pytest.fixture(scope="module")
def corpus_copy(corpus, tmp_path_factory) -> list[Path]:
    """Every audio file of the real corpus, copied into a temporary folder."""
    root = tmp_path_factory.mktemp("audio_corpus")
    copies = []
    for source in corpus_audio(corpus):
        target = root / source.relative_to(corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copies.append(target)
    return copies


def sine(freq_hz: float, sr_hz: int, duration_s: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr_hz * duration_s)) / sr_hz
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def dominant_frequency_hz(y: np.ndarray, sr_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1.0 / sr_hz)[np.argmax(spectrum)])


def test_corpus_has_every_format(corpus_copy):
    assert {p.suffix for p in corpus_copy} == set(AUDIO_SUFFIXES)


def test_probe_matches_libsndfile_on_every_real_file(corpus_copy):
    for path in corpus_copy:
        info = probe_audio(path)
        expected = sf.info(str(path))
        assert info.format == path.suffix.lstrip(".")
        assert (info.sr_hz, info.channels, info.n_frames) == (expected.samplerate, expected.channels, expected.frames)
        assert info.duration_s == pytest.approx(expected.duration)


def test_probe_is_header_cost(corpus_copy):
    for path in corpus_copy:  # warm the file cache: measure parsing, not the disk
        probe_audio(path)
    started = time.perf_counter()
    for path in corpus_copy:
        probe_audio(path)
    assert (time.perf_counter() - started) / len(corpus_copy) < MAX_MEAN_PROBE_S


def test_probe_reads_content_not_name(corpus_copy, tmp_path):
    flac = next(p for p in corpus_copy if p.suffix == ".flac")
    disguised = tmp_path / "actually_flac.wav"
    shutil.copyfile(flac, disguised)
    assert probe_audio(disguised).format == "flac"


@pytest.mark.parametrize(
    ("fmt", "subtype", "suffix"),
    [("WAV", "PCM_16", ".wav"), ("WAV", "FLOAT", ".wav"), ("AIFF", "PCM_24", ".aiff"),
     ("FLAC", "PCM_16", ".flac"), ("OGG", "VORBIS", ".ogg"), ("MP3", "MPEG_LAYER_III", ".mp3")],
)
def test_written_file_round_trips(tmp_path, fmt, subtype, suffix):
    sr_hz = 44100
    stereo = np.stack([sine(440.0, sr_hz, 1.0), sine(440.0, sr_hz, 1.0, amplitude=0.25)], axis=1)
    path = tmp_path / f"tone{suffix}"
    sf.write(str(path), stereo, sr_hz, format=fmt, subtype=subtype)

    info = probe_audio(path)
    assert isinstance(info, AudioInfo)
    assert (info.format, info.sr_hz, info.channels) == (suffix.lstrip("."), sr_hz, 2)
    assert info.duration_s == pytest.approx(1.0, abs=0.06)  # lossy codecs add encoder delay

    y = decode_audio(path, sr_hz=16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == pytest.approx(16000 * info.duration_s, abs=2)
    assert dominant_frequency_hz(y, 16000) == pytest.approx(440.0, abs=2.0)
    # The mono mix is the mean of the channels: (0.5 + 0.25) / 2.
    assert np.max(np.abs(y[2000:-2000])) == pytest.approx(0.375, abs=0.03)


def test_decode_limits_duration(corpus_copy):
    longest = max(corpus_copy, key=lambda p: probe_audio(p).duration_s)
    y = decode_audio(longest, sr_hz=16000, max_duration_s=3.0)
    assert len(y) == pytest.approx(48000, abs=2)


def test_read_native_keeps_rate_and_channels(corpus_copy):
    stereo_flac = next(p for p in corpus_copy if p.name == "bass_dnb_f.flac")
    native = read_native(stereo_flac)
    assert native.samples.shape == (native.info.n_frames, 2)
    assert native.sr_hz == 44100 and native.samples.dtype == np.float32


def test_resample_preserves_a_tone_and_length():
    y = sine(1000.0, 44100, 2.0)
    out = resample(y, from_hz=44100, to_hz=16000)
    assert len(out) == 32000
    assert dominant_frequency_hz(out, 16000) == pytest.approx(1000.0, abs=1.0)
    assert np.sqrt(np.mean(out[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_resample_same_rate_returns_a_copy():
    y = sine(100.0, 16000, 0.5)
    out = resample(y, from_hz=16000, to_hz=16000)
    assert out is not y and np.array_equal(out, y)


@pytest.mark.parametrize("bad_rate", [0, -16000, 16000.5, True, 10**7])
def test_rates_are_validated(bad_rate):
    with pytest.raises(ValueError, match="Hz"):
        resample(np.zeros(10, np.float32), from_hz=16000, to_hz=bad_rate)


def test_mix_to_mono():
    samples = np.array([[1.0, 0.0], [0.5, -0.5]], dtype=np.float32)
    assert np.array_equal(mix_to_mono(samples), np.array([0.5, 0.0], dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        mix_to_mono(np.zeros(4, np.float32))


def test_id3_tagged_flac_is_named_flac(corpus_copy, tmp_path):
    flac = next(p for p in corpus_copy if p.suffix == ".flac")
    body = b"\x00" * 300  # a tag larger than the importer's 64-byte head
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 2, 300 - 256]) + body
    tagged = tmp_path / "tagged.flac"
    tagged.write_bytes(tag + flac.read_bytes())
    assert probe_audio(tagged).format == "flac"
