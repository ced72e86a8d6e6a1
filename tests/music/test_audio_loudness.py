"""Levels and BS.1770 loudness against the figures the standard publishes."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.audio_loudness import (
    DBFS_FLOOR,
    SILENT_LUFS,
    amplitude_to_dbfs,
    block_mean_squares,
    integrated_loudness_lufs,
    k_weighting_sos,
    peak_dbfs,
    rms_dbfs,
)

# ITU-R BS.1770-4, tables 1 and 2: the K-weighting biquads at 48 kHz.
STANDARD_SHELF_48K = [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585]
STANDARD_HIGHPASS_48K = [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621]


def sine(freq_hz, sr_hz, duration_s, amplitude=1.0):
    t = np.arange(int(sr_hz * duration_s)) / sr_hz
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def test_k_weighting_reproduces_the_standard_at_48k():
    np.testing.assert_allclose(k_weighting_sos(48000), [STANDARD_SHELF_48K, STANDARD_HIGHPASS_48K], atol=1e-9)


@pytest.mark.parametrize("sr_hz", [16000, 22050, 44100, 48000])
def test_full_scale_997_hz_sine_reads_minus_3_01(sr_hz):
    # The standard's calibration: a 0 dBFS 997 Hz sine in one channel is -3.01 LKFS.
    assert integrated_loudness_lufs(sine(997.0, sr_hz, 5.0), sr_hz=sr_hz) == pytest.approx(-3.01, abs=0.05)


def test_loudness_scales_with_gain():
    quiet = integrated_loudness_lufs(sine(997.0, 16000, 5.0, amplitude=0.1), sr_hz=16000)
    assert quiet == pytest.approx(-23.01, abs=0.05)


def test_k_weighting_lifts_highs_and_cuts_lows():
    at_1k = integrated_loudness_lufs(sine(1000.0, 48000, 3.0), sr_hz=48000)
    assert integrated_loudness_lufs(sine(6000.0, 48000, 3.0), sr_hz=48000) > at_1k + 3.0
    assert integrated_loudness_lufs(sine(25.0, 48000, 3.0), sr_hz=48000) < at_1k - 3.0


# Blocks that straddle the end of the tone pass the gates with part of its energy: about 0.2 dB.
EDGE_BLOCKS_DB = 0.25


def test_gating_ignores_silence():
    tone = sine(997.0, 16000, 4.0, amplitude=0.5)
    with_gap = np.concatenate([tone, np.zeros(16000 * 20, np.float32)])
    assert integrated_loudness_lufs(with_gap, sr_hz=16000) == pytest.approx(
        integrated_loudness_lufs(tone, sr_hz=16000), abs=EDGE_BLOCKS_DB)


def test_relative_gate_drops_much_quieter_passages():
    loud = sine(997.0, 16000, 4.0, amplitude=0.5)
    whisper = sine(997.0, 16000, 4.0, amplitude=0.005)  # 40 dB down: under the -10 LU relative gate
    assert integrated_loudness_lufs(np.concatenate([loud, whisper]), sr_hz=16000) == pytest.approx(
        integrated_loudness_lufs(loud, sr_hz=16000), abs=EDGE_BLOCKS_DB)


def test_all_gated_reads_the_floor():
    assert integrated_loudness_lufs(np.zeros(16000, np.float32), sr_hz=16000) == SILENT_LUFS


def test_blocks():
    squares = block_mean_squares(np.ones(16000, np.float32), sr_hz=16000)
    assert len(squares) == 7  # 400 ms blocks every 100 ms over 1 s
    np.testing.assert_allclose(squares, 1.0)
    assert len(block_mean_squares(np.ones(100, np.float32), sr_hz=16000)) == 1


def test_levels():
    tone = sine(1000.0, 16000, 1.0)
    assert rms_dbfs(tone) == pytest.approx(-3.01, abs=0.01)
    assert peak_dbfs(tone) == pytest.approx(0.0, abs=0.01)
    assert rms_dbfs(np.zeros(10, np.float32)) == DBFS_FLOOR
    assert amplitude_to_dbfs(0.5) == pytest.approx(-6.02, abs=0.01)


@pytest.mark.parametrize("bad", [np.zeros(0, np.float32), np.zeros((2, 10), np.float32)])
def test_bad_signals_are_rejected(bad):
    with pytest.raises(ValueError, match="1-D"):
        integrated_loudness_lufs(bad, sr_hz=16000)


def test_rate_too_low_for_k_weighting():
    with pytest.raises(ValueError, match="sr_hz"):
        k_weighting_sos(3000)
