"""The whole audio extractor: every real file of the corpus, and the shape of what it returns."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from kellyd.music.audio_features import extract_audio, extract_audio_file
from kellyd.music.extracted import Extracted

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SR_HZ = 16000
LABEL_KEYS = {"key", "mode", "key_confidence", "tempo_bpm", "duration_s"}
FRAME_ARRAYS = ("spectral_centroid_hz", "spectral_bandwidth_hz", "spectral_rolloff_hz", "spectral_flatness",
                "zero_crossing_rate", "rms", "onset_strength")


def corpus_audio(corpus: Path) -> list[str]:
    return sorted(str(p.relative_to(corpus)) for p in corpus.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


@pytest.fixture(scope="module")
def extracted_corpus(corpus, tmp_path_factory) -> dict[str, Extracted]:
    root = tmp_path_factory.mktemp("features_corpus")
    results = {}
    for relative in corpus_audio(corpus):
        path = root / relative.replace("/", "__")
        shutil.copyfile(corpus / relative, path)
        results[relative] = extract_audio_file(path)
    return results


def assert_all_finite(extracted: Extracted, where: str) -> None:
    for name, array in extracted.arrays.items():
        assert np.all(np.isfinite(array)), f"{where}: array {name} holds NaN/inf"
    # The features JSON must load back: allow_nan=False refuses NaN and inf.
    json.dumps({"scalars": dict(extracted.scalars), "labels": dict(extracted.labels)}, allow_nan=False)


def test_every_real_file_is_processed(corpus, extracted_corpus):
    assert len(extracted_corpus) == len(corpus_audio(corpus)) >= 20
    for relative, extracted in extracted_corpus.items():
        assert_all_finite(extracted, relative)


def test_shapes_and_types(extracted_corpus):
    for relative, extracted in extracted_corpus.items():
        arrays, scalars = extracted.arrays, extracted.scalars
        n_frames = scalars["n_frames"]
        assert arrays["mel_db"].shape == (64, n_frames), relative
        assert arrays["mfcc"].shape == (20, n_frames)
        assert arrays["chroma"].shape == (12, n_frames)
        for name in FRAME_ARRAYS:
            assert arrays[name].shape == (n_frames,), name
        for name, array in arrays.items():
            assert array.dtype == (np.int32 if name == "mel_segment_frames" else np.float32), name
        segments = arrays["mel_segments"]
        assert segments.shape == (math.ceil(n_frames / 312), 64, 312)
        assert arrays["mel_segment_frames"].sum() == n_frames
        np.testing.assert_array_equal(segments[0][:, : arrays["mel_segment_frames"][0]],
                                      arrays["mel_db"][:, : arrays["mel_segment_frames"][0]])
        assert np.all(np.diff(arrays["beat_times_s"]) > 0)
        assert len(scalars["mfcc_mean"]) == 20 and len(scalars["chroma_mean"]) == 12


def test_labels(extracted_corpus):
    for relative, extracted in extracted_corpus.items():
        labels = extracted.labels
        assert set(labels) == LABEL_KEYS, relative
        assert labels["mode"] in ("major", "minor")
        assert 0.0 <= labels["key_confidence"] <= 1.0
        assert labels["tempo_bpm"] is None or 40.0 <= labels["tempo_bpm"] <= 240.0
        assert labels["duration_s"] == pytest.approx(extracted.scalars["analysed_s"], abs=0.05)


def test_scalars_are_sane(extracted_corpus):
    for relative, extracted in extracted_corpus.items():
        s = extracted.scalars
        assert -60.0 < s["loudness_lufs"] < 0.0, relative
        assert s["rms_dbfs"] <= s["peak_dbfs"]
        assert s["source_peak_dbfs"] <= 0.0
        if "clipping" not in extracted.flags:
            # Resampling a clipped file overshoots (+2.4 dB on the Amen break); a clean one stays near 0 dBFS.
            assert s["peak_dbfs"] <= 0.5, relative
        assert 0.0 < s["spectral_centroid_hz_mean"] < SR_HZ / 2
        assert 0.0 < s["active_fraction"] <= 1.0
        assert s["source_format"] == relative.rsplit(".", 1)[1]


def test_only_the_amen_break_is_clipped(extracted_corpus):
    clipped = sorted(k for k, e in extracted_corpus.items() if "clipping" in e.flags)
    assert clipped == ["sonic_pi/loop_amen_full.flac"]


def test_extract_audio_is_pure_and_deterministic():
    rng = np.random.default_rng(11)
    t = np.arange(3 * SR_HZ) / SR_HZ
    y = (0.3 * np.sin(2 * np.pi * 330 * t) * (np.mod(t, 0.5) < 0.2) + 0.01 * rng.normal(size=t.size)).astype(np.float32)
    before = y.copy()
    first, second = extract_audio(y, sr_hz=SR_HZ), extract_audio(y, sr_hz=SR_HZ)
    np.testing.assert_array_equal(y, before)
    assert first.labels == second.labels and first.scalars == second.scalars
    for name in first.arrays:
        np.testing.assert_array_equal(first.arrays[name], second.arrays[name])
    assert first.labels["tempo_bpm"] == pytest.approx(120.0, rel=0.04)
    assert first.labels["key"] == "E"


def test_other_analysis_rates(corpus, tmp_path):
    path = tmp_path / "loop_mika.flac"
    shutil.copyfile(corpus / "sonic_pi" / "loop_mika.flac", path)
    extracted = extract_audio_file(path, sr_hz=22050)
    assert extracted.scalars["sr_hz"] == 22050
    assert extracted.arrays["mel_segments"].shape[2] == 430
    assert_all_finite(extracted, "22.05 kHz")


def test_long_file_is_analysed_up_to_the_limit(corpus, tmp_path):
    path = tmp_path / "vibe_ace.ogg"
    shutil.copyfile(corpus / "librosa" / "Kevin_MacLeod_-_Vibe_Ace.ogg", path)  # its first 30.0 s
    extracted = extract_audio_file(path, max_duration_s=20.0)
    assert extracted.flags == ("analysis_truncated",)
    assert extracted.scalars["analysed_s"] == pytest.approx(20.0, abs=0.01)
    assert extracted.labels["duration_s"] == pytest.approx(30.0, abs=0.01)
