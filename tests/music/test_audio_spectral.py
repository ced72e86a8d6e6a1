"""Frame features from the shared STFT agree with librosa's own per-feature functions."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from kellyd.music.audio_spectral import (
    HOP_LENGTH,
    N_FFT,
    cut_segments,
    fft_frequencies_hz,
    frame_ac_rms,
    frame_rms,
    frames_per_segment,
    mel_db,
    mfcc,
    n_frames_for,
    spectral_bandwidth_hz,
    spectral_centroid_hz,
    spectral_flatness,
    spectral_rolloff_hz,
    stft_magnitude,
    window_sums,
    zero_crossing_rate,
)

SR_HZ = 16000


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    """2.3 s of a chord with a noise burst and a silent gap: every feature has something to show."""
    rng = np.random.default_rng(3)
    t = np.arange(int(2.3 * SR_HZ)) / SR_HZ
    y = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    y[8000:12000] += rng.normal(0, 0.3, 4000)
    y[20000:24000] = 0.0
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def magnitude(signal) -> np.ndarray:
    return stft_magnitude(signal)


def test_grid(signal, magnitude):
    assert magnitude.shape == (1 + N_FFT // 2, n_frames_for(len(signal)))
    assert magnitude.dtype == np.float32
    assert n_frames_for(len(signal)) == 1 + len(signal) // HOP_LENGTH


def test_mel_db_matches_librosa(signal, magnitude):
    ours = mel_db(magnitude**2, sr_hz=SR_HZ)
    reference = librosa.power_to_db(
        librosa.feature.melspectrogram(y=signal, sr=SR_HZ, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=64),
        ref=1.0, top_db=80.0,
    )
    assert ours.shape == (64, magnitude.shape[1]) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=0.05)


def test_mfcc_matches_librosa(signal, magnitude):
    db = mel_db(magnitude**2, sr_hz=SR_HZ)
    np.testing.assert_allclose(mfcc(db), librosa.feature.mfcc(S=db, n_mfcc=20), rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="n_mfcc"):
        mfcc(db, n_mfcc=65)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda S, f: spectral_centroid_hz(S, f),
         lambda y, S: librosa.feature.spectral_centroid(S=S, sr=SR_HZ, n_fft=N_FFT)[0]),
        (lambda S, f: spectral_bandwidth_hz(S, f, spectral_centroid_hz(S, f)),
         lambda y, S: librosa.feature.spectral_bandwidth(S=S, sr=SR_HZ, n_fft=N_FFT)[0]),
        (lambda S, f: spectral_rolloff_hz(S, f),
         lambda y, S: librosa.feature.spectral_rolloff(S=S, sr=SR_HZ, n_fft=N_FFT)[0]),
        (lambda S, f: spectral_flatness(S**2),
         lambda y, S: librosa.feature.spectral_flatness(S=S)[0]),
    ],
    ids=["centroid", "bandwidth", "rolloff", "flatness"],
)
def test_spectral_features_match_librosa(signal, magnitude, ours, theirs):
    freqs = fft_frequencies_hz(SR_HZ)
    mine = ours(magnitude, freqs)
    reference = theirs(signal, magnitude)
    assert mine.shape == (magnitude.shape[1],) and mine.dtype == np.float32
    np.testing.assert_allclose(mine, reference, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(reference).max())))


def test_rms_matches_librosa(signal):
    reference = librosa.feature.rms(y=signal, frame_length=N_FFT, hop_length=HOP_LENGTH, center=True,
                                    pad_mode="constant")[0]
    np.testing.assert_allclose(frame_rms(signal), reference, rtol=1e-4, atol=1e-6)


def test_zero_crossing_rate_matches_librosa(signal):
    reference = librosa.feature.zero_crossing_rate(signal, frame_length=N_FFT, hop_length=HOP_LENGTH, center=True)[0]
    np.testing.assert_allclose(zero_crossing_rate(signal), reference, atol=1e-6)


def test_ac_rms_ignores_dc():
    t = np.arange(SR_HZ) / SR_HZ
    tone = 0.1 * np.sin(2 * np.pi * 500 * t)
    with_dc = frame_ac_rms((tone + 0.4).astype(np.float32))
    inner = slice(4, -4)  # away from the zero padding at the edges
    np.testing.assert_allclose(with_dc[inner], 0.1 / np.sqrt(2), rtol=0.01)
    assert frame_rms((tone + 0.4).astype(np.float32))[inner].min() > 0.4


def test_silent_frames_have_finite_features():
    y = np.zeros(SR_HZ, np.float32)
    S = stft_magnitude(y)
    freqs = fft_frequencies_hz(SR_HZ)
    centroid = spectral_centroid_hz(S, freqs)
    for values in (centroid, spectral_bandwidth_hz(S, freqs, centroid), spectral_rolloff_hz(S, freqs),
                   spectral_flatness(S**2), mel_db(S**2, sr_hz=SR_HZ), zero_crossing_rate(y), frame_rms(y)):
        assert np.all(np.isfinite(values))
    assert np.all(centroid == 0.0)


@pytest.mark.parametrize(
    ("n_frames", "segment_frames", "expected_valid"),
    [(10, 4, [4, 4, 2]), (8, 4, [4, 4]), (3, 4, [3]), (1, 312, [1])],
)
def test_cut_segments(n_frames, segment_frames, expected_valid):
    frames = np.arange(2 * n_frames, dtype=np.float32).reshape(2, n_frames)
    segments, valid = cut_segments(frames, segment_frames, pad_value=-100.0)
    assert segments.shape == (len(expected_valid), 2, segment_frames)
    assert valid.tolist() == expected_valid and valid.dtype == np.int32
    rebuilt = np.concatenate([seg[:, :v] for seg, v in zip(segments, valid)], axis=1)
    np.testing.assert_array_equal(rebuilt, frames)
    assert np.all(segments[-1][:, valid[-1]:] == -100.0)


def test_frames_per_segment():
    assert frames_per_segment(5.0, sr_hz=16000) == 312
    assert frames_per_segment(5.0, sr_hz=22050) == 430
    with pytest.raises(ValueError, match="holds no frame"):
        frames_per_segment(0.001, sr_hz=16000)


@pytest.mark.parametrize(("n_windows", "window", "step"), [(1, 4, 4), (5, 4, 1), (7, 1024, 256), (3, 6, 2)])
def test_window_sums_match_direct_sums(n_windows, window, step):
    values = np.random.default_rng(5).normal(size=(n_windows - 1) * step + window + 3).astype(np.float32)
    expected = [values[t * step: t * step + window].sum(dtype=np.float64) for t in range(n_windows)]
    np.testing.assert_allclose(window_sums(values, n_windows, window, step), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("values", "window", "step", "message"),
                         [(np.ones(100), 10, 3, "multiple of step"), (np.ones(10), 8, 4, "need 12 values")])
def test_window_sums_validate(values, window, step, message):
    with pytest.raises(ValueError, match=message):
        window_sums(values, 2, window, step)
