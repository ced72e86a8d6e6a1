"""Silence and clipping detection on signals with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from kellyd.errors import InvalidInput
from kellyd.music.audio_features import extract_audio, extract_audio_file
from kellyd.music.audio_quality import (
    CLIP_RUN_SAMPLES,
    MIN_ACTIVE_S,
    detect_clipping,
    measure_activity,
    require_usable_signal,
)

SR_HZ = 16000


def sine(freq_hz, duration_s, amplitude, sr_hz=SR_HZ):
    t = np.arange(int(sr_hz * duration_s)) / sr_hz
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


@pytest.mark.parametrize(
    ("signal", "clipped"),
    [
        (np.clip(sine(440.0, 1.0, 2.0), -1.0, 1.0), True),  # driven 6 dB into the rails
        (np.clip(sine(440.0, 1.0, 1.3), -0.995, 0.995), True),  # clipped just under full scale
        (sine(440.0, 1.0, 0.999), False),  # peaks at full scale, but round
        (sine(1000.0, 1.0, 1.0), False),
        (sine(40.0, 1.0, 0.98), False),  # slow, loud bass: near the peak but never flat
        (sine(440.0, 1.0, 0.5), False),
    ],
    ids=["hard-clipped", "clipped-below-full-scale", "full-scale-sine", "1k-full-scale", "40hz-bass", "half-scale"],
)
def test_clipping_detection(signal, clipped):
    report = detect_clipping(signal)
    assert report.is_clipped is clipped
    assert (report.clipped_samples > 0) is clipped


def test_clip_counts():
    y = np.zeros(100, np.float32)
    y[10:15] = 1.0  # one run of 5
    y[30:32] = -1.0  # too short to count
    y[50:53] = -1.0  # one run of 3
    report = detect_clipping(y)
    assert (report.events, report.clipped_samples, report.total_samples) == (2, 5 + CLIP_RUN_SAMPLES, 100)


def test_clipping_in_one_channel_counts():
    clean = sine(440.0, 1.0, 0.5)
    stereo = np.stack([clean, np.clip(sine(440.0, 1.0, 2.0), -1.0, 1.0)], axis=1)
    assert detect_clipping(stereo).is_clipped
    assert not detect_clipping(np.stack([clean, clean], axis=1)).is_clipped


def test_clipped_sine_is_flagged_by_extract_audio():
    extracted = extract_audio(np.clip(sine(440.0, 2.0, 2.0), -1.0, 1.0), sr_hz=SR_HZ)
    assert extracted.flags == ("clipping",)
    assert extracted.scalars["clipped_fraction"] > 0.3
    assert extract_audio(sine(440.0, 2.0, 0.5), sr_hz=SR_HZ).flags == ()


def test_file_clipping_is_found_at_the_file_rate(tmp_path):
    """A 44.1 kHz stereo file clipped in one channel: resampling to 16 kHz would round the flat tops."""
    left = np.clip(sine(300.0, 2.0, 1.6, sr_hz=44100), -1.0, 1.0)
    right = sine(300.0, 2.0, 0.3, sr_hz=44100)
    path = tmp_path / "clipped.wav"
    sf.write(str(path), np.stack([left, right], axis=1), 44100, subtype="PCM_16")
    extracted = extract_audio_file(path)
    assert "clipping" in extracted.flags
    assert extracted.scalars["clip_events"] >= 500  # two flat tops per cycle, one channel


def test_activity_of_a_tone_with_a_gap():
    y = np.concatenate([sine(440.0, 1.0, 0.3), np.zeros(SR_HZ, np.float32)])
    activity = measure_activity(y, sr_hz=SR_HZ)
    assert activity.active_s == pytest.approx(1.0, abs=0.1)
    assert activity.active_fraction == pytest.approx(0.5, abs=0.05)
    assert activity.active_frames.dtype == bool


def test_quiet_but_real_signal_passes():
    activity = require_usable_signal(sine(440.0, 1.0, 10 ** (-50 / 20)), sr_hz=SR_HZ)
    assert activity.active_s > 0.9


def test_a_short_blip_in_silence_is_silent():
    y = np.zeros(2 * SR_HZ, np.float32)
    y[1000:1000 + int(0.02 * SR_HZ)] = 0.5 * np.hanning(int(0.02 * SR_HZ))
    with pytest.raises(InvalidInput, match=rf"^silent: .* of 2\.00 s"):
        require_usable_signal(y, sr_hz=SR_HZ)
    assert measure_activity(y, sr_hz=SR_HZ).active_s < MIN_ACTIVE_S


def test_bad_sample_shapes():
    with pytest.raises(ValueError, match="shape"):
        detect_clipping(np.zeros((2, 2, 2), np.float32))
