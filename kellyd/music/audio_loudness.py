"""Level and loudness of a mono signal: peak and RMS in dBFS, and ITU-R BS.1770-4 integrated loudness.

Integrated loudness follows BS.1770-4 for one channel: K-weighting (a +4 dB
high shelf above about 1.7 kHz, then a 38 Hz high-pass), mean square over
400 ms blocks every 100 ms, an absolute gate at -70 LUFS, a relative gate 10 LU
below the loudness of the blocks that passed, and -0.691 dB so that a 997 Hz
sine at full scale reads -3.01 LUFS.

What differs from a meter: the signal is the mono mixdown at the analysis rate,
so a centred stereo mix reads about 3 dB lower than a stereo BS.1770 meter
would show (the standard sums the channels' powers), and content above the
analysis Nyquist (8 kHz at 16 kHz) is gone. Good for comparing files analysed
the same way, not for certifying a master. A signal shorter than one block is
measured as a single block.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from kellyd.music.audio_spectral import window_sums

# K-weighting stages as analog prototypes: the parameters that reproduce the 48 kHz
# coefficients printed in BS.1770-4 through the bilinear transform.
SHELF_F0_HZ = 1681.974450955533
SHELF_GAIN_DB = 3.999843853973347
SHELF_Q = 0.7071752369554196
# The shelf's band-pass term scales as a power of its gain; this exponent fits the standard's coefficients.
SHELF_MID_EXPONENT = 0.4996667741545416
HIGHPASS_F0_HZ = 38.13547087602444
HIGHPASS_Q = 0.5003270373238773

LOUDNESS_OFFSET_DB = -0.691
BLOCK_S = 0.4
BLOCK_STEP_S = 0.1
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
# Reported for a signal whose every block is under the absolute gate, and the floor of dBFS values.
SILENT_LUFS = ABSOLUTE_GATE_LUFS
DBFS_FLOOR = -120.0


def k_weighting_sos(sr_hz: int) -> np.ndarray:
    """The two K-weighting biquads at `sr_hz` as second-order sections (2, 6) for scipy.signal.sosfilt."""
    if not sr_hz > 2 * SHELF_F0_HZ:
        raise ValueError(f"sr_hz must exceed {2 * SHELF_F0_HZ:.0f} Hz for K-weighting, got {sr_hz!r}")
    # Shelf: H(s) = (Vh s^2 + Vb (w0/Q) s + w0^2) / (s^2 + (w0/Q) s + w0^2), pre-warped at f0.
    k = np.tan(np.pi * SHELF_F0_HZ / sr_hz)
    vh = 10.0 ** (SHELF_GAIN_DB / 20.0)
    vb = vh ** SHELF_MID_EXPONENT
    norm = 1.0 + k / SHELF_Q + k * k
    shelf = [
        (vh + vb * k / SHELF_Q + k * k) / norm,
        2.0 * (k * k - vh) / norm,
        (vh - vb * k / SHELF_Q + k * k) / norm,
        1.0,
        2.0 * (k * k - 1.0) / norm,
        (1.0 - k / SHELF_Q + k * k) / norm,
    ]
    # High-pass: H(s) = s^2 / (s^2 + (w0/Q) s + w0^2); the standard keeps the numerator at 1, -2, 1.
    k = np.tan(np.pi * HIGHPASS_F0_HZ / sr_hz)
    norm = 1.0 + k / HIGHPASS_Q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / norm, (1.0 - k / HIGHPASS_Q + k * k) / norm]
    return np.array([shelf, highpass])


def block_mean_squares(weighted: np.ndarray, *, sr_hz: int) -> np.ndarray:
    """Mean square of each 400 ms block, blocks every 100 ms, float64 (n_blocks,); one block if shorter.

    A block is exactly four steps of round(0.1 * sr_hz) samples (within two samples of 400 ms).
    """
    step = int(round(BLOCK_STEP_S * sr_hz))
    block = step * int(round(BLOCK_S / BLOCK_STEP_S))
    squares = np.square(weighted, dtype=np.float64)
    if len(squares) < block:
        return np.array([squares.mean()])
    n_blocks = 1 + (len(squares) - block) // step
    return window_sums(squares, n_blocks, block, step) / block


def _lufs(mean_square: np.ndarray | float) -> np.ndarray:
    return LOUDNESS_OFFSET_DB + 10.0 * np.log10(np.maximum(mean_square, 1e-30))


def integrated_loudness_lufs(y: np.ndarray, *, sr_hz: int) -> float:
    """BS.1770-4 gated loudness of mono `y` (n,) at `sr_hz`, in LUFS; SILENT_LUFS when every block is gated out."""
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y must be a non-empty 1-D signal, got shape {y.shape}")
    weighted = scipy.signal.sosfilt(k_weighting_sos(sr_hz), y.astype(np.float64))
    blocks = block_mean_squares(weighted, sr_hz=sr_hz)
    above_absolute = blocks[_lufs(blocks) > ABSOLUTE_GATE_LUFS]
    if above_absolute.size == 0:
        return SILENT_LUFS
    relative_gate = _lufs(above_absolute.mean()) + RELATIVE_GATE_LU
    gated = above_absolute[_lufs(above_absolute) > relative_gate]
    return float(_lufs(gated.mean()))


def amplitude_to_dbfs(amplitude: float) -> float:
    """20 log10 of an amplitude relative to full scale (1.0), floored at DBFS_FLOOR."""
    if amplitude <= 0.0:
        return DBFS_FLOOR
    return max(DBFS_FLOOR, 20.0 * float(np.log10(amplitude)))


def rms_dbfs(y: np.ndarray) -> float:
    """RMS level of `y` in dBFS (a full-scale square wave is 0 dBFS, a full-scale sine -3.01)."""
    return amplitude_to_dbfs(float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))))


def peak_dbfs(y: np.ndarray) -> float:
    """Sample peak of `y` in dBFS."""
    return amplitude_to_dbfs(float(np.max(np.abs(y))))
