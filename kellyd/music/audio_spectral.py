"""Frame features of a mono signal, all on one frame grid and derived from one shared STFT.

The grid: Hann windows of `N_FFT` samples every `HOP_LENGTH` samples, centred
on the frame times (the signal is padded by N_FFT/2 on both sides), so a
signal of n samples has 1 + n // HOP_LENGTH frames and frame t is centred at
t * HOP_LENGTH / sr_hz seconds. The spectral features take the magnitude `S`
(1 + N_FFT/2, frames) or the power `S**2` computed once by the caller; RMS and
zero-crossing rate are time-domain quantities, computed over the same windows
from per-hop block sums (one pass over the samples, no second framing).

Conventions follow librosa's where it has the same feature (mel filters with
Slaney normalisation, dB with an 80 dB range, orthonormal DCT-II MFCC, L1
weighted centroid and bandwidth, 85 % roll-off on magnitudes, flatness on
powers floored at 1e-10), so values can be compared with librosa's.
"""

from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np
import scipy.fft

N_FFT = 1024
HOP_LENGTH = 256
N_MELS = 64
N_MFCC = 20
# dB range kept below the loudest mel bin; POWER_FLOOR keeps log10 finite on digital silence.
TOP_DB = 80.0
POWER_FLOOR = 1e-10
ROLLOFF_FRACTION = 0.85
# Magnitudes (not signal samples) below this count as zero when dividing by a frame's sum.
MAGNITUDE_EPS = 1e-12
# Frames per float64 block when accumulating spectral moments (4 MB at 513 bins).
MOMENT_BLOCK_FRAMES = 1024
# librosa's threshold under which a sample counts as zero (and zero counts as positive).
ZERO_CROSSING_THRESHOLD = 1e-10


def n_frames_for(n_samples: int, *, hop_length: int = HOP_LENGTH) -> int:
    """Frames of the centred grid for a signal of `n_samples`."""
    return 1 + n_samples // hop_length


def stft_magnitude(y: np.ndarray, *, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """|STFT| of `y` (n,): float32 (1 + n_fft // 2, 1 + n // hop_length), Hann window, zero-padded centred frames."""
    spectrum = librosa.stft(y, n_fft=n_fft, hop_length=hop_length, window="hann", center=True, pad_mode="constant")
    return np.abs(spectrum).astype(np.float32, copy=False)


def fft_frequencies_hz(sr_hz: int, n_fft: int = N_FFT) -> np.ndarray:
    """Centre frequency in Hz of each STFT bin, (1 + n_fft // 2,)."""
    return np.fft.rfftfreq(n_fft, d=1.0 / sr_hz)


@lru_cache(maxsize=8)
def mel_filterbank(sr_hz: int, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-normalised mel filters from 0 Hz to Nyquist, float32 (n_mels, 1 + n_fft // 2); read-only."""
    bank = librosa.filters.mel(sr=sr_hz, n_fft=n_fft, n_mels=n_mels, dtype=np.float32)
    bank.setflags(write=False)
    return bank


def power_to_db(power: np.ndarray, *, top_db: float = TOP_DB) -> np.ndarray:
    """10 log10(power) relative to a power of 1, floored at POWER_FLOOR and at `top_db` below the maximum."""
    db = 10.0 * np.log10(np.maximum(power, POWER_FLOOR))
    return np.maximum(db, db.max() - top_db).astype(np.float32, copy=False)


def mel_db(power: np.ndarray, *, sr_hz: int, n_mels: int = N_MELS, top_db: float = TOP_DB) -> np.ndarray:
    """Log-mel spectrogram in dB, float32 (n_mels, frames), from the STFT power (1 + n_fft // 2, frames)."""
    n_fft = 2 * (power.shape[0] - 1)
    return power_to_db(mel_filterbank(sr_hz, n_fft, n_mels) @ power, top_db=top_db)


def mfcc(mel_db_frames: np.ndarray, *, n_mfcc: int = N_MFCC) -> np.ndarray:
    """MFCCs, float32 (n_mfcc, frames): orthonormal DCT-II of the log-mel bands, first `n_mfcc` kept."""
    if not 1 <= n_mfcc <= mel_db_frames.shape[0]:
        raise ValueError(f"n_mfcc must be in [1, {mel_db_frames.shape[0]}], got {n_mfcc!r}")
    coefficients = scipy.fft.dct(mel_db_frames, type=2, axis=0, norm="ortho")[:n_mfcc]
    return coefficients.astype(np.float32, copy=False)


def _frequency_moment(S: np.ndarray, freqs_hz: np.ndarray, power: int) -> np.ndarray:
    """Per frame, the magnitude-weighted mean of freqs_hz**power, float64 (frames,); 0 without energy.

    Accumulated in float64, a block of frames at a time so that no float64 copy of
    the whole spectrogram is made.
    """
    total = S.sum(axis=0, dtype=np.float64)
    weights = freqs_hz.astype(np.float64) ** power
    weighted = np.empty(S.shape[1])
    for start in range(0, S.shape[1], MOMENT_BLOCK_FRAMES):
        block = S[:, start:start + MOMENT_BLOCK_FRAMES]
        weighted[start:start + block.shape[1]] = weights @ block.astype(np.float64)
    return np.divide(weighted, total, out=np.zeros_like(weighted), where=total > MAGNITUDE_EPS)


def spectral_centroid_hz(S: np.ndarray, freqs_hz: np.ndarray) -> np.ndarray:
    """Magnitude-weighted mean frequency per frame, Hz (frames,); 0 for a frame with no energy."""
    return _frequency_moment(S, freqs_hz, 1).astype(np.float32)


def spectral_bandwidth_hz(S: np.ndarray, freqs_hz: np.ndarray, centroid_hz: np.ndarray) -> np.ndarray:
    """Magnitude-weighted standard deviation of frequency around the centroid, Hz (frames,).

    Computed as sqrt(E[f^2] - centroid^2) in float64: two matrix-vector products
    instead of a (bins, frames) deviation matrix.
    """
    centroid = centroid_hz.astype(np.float64)
    variance = _frequency_moment(S, freqs_hz, 2) - centroid * centroid
    return np.sqrt(np.maximum(variance, 0.0)).astype(np.float32)


def spectral_rolloff_hz(S: np.ndarray, freqs_hz: np.ndarray, *, fraction: float = ROLLOFF_FRACTION) -> np.ndarray:
    """Lowest bin frequency whose cumulative magnitude reaches `fraction` of the frame's total, Hz (frames,)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    cumulative = np.cumsum(S, axis=0)
    reached = cumulative >= fraction * cumulative[-1:, :]
    return freqs_hz[np.argmax(reached, axis=0)].astype(np.float32)


def spectral_flatness(power: np.ndarray) -> np.ndarray:
    """Geometric over arithmetic mean of the power per frame, in (0, 1] (frames,); 1 for white noise."""
    floored = np.maximum(power, np.float32(POWER_FLOOR))
    log_mean = np.mean(np.log(floored), axis=0, dtype=np.float64)
    return (np.exp(log_mean) / np.mean(floored, axis=0, dtype=np.float64)).astype(np.float32)


def window_sums(values: np.ndarray, n_windows: int, window: int, step: int) -> np.ndarray:
    """Sum of values[t*step : t*step + window] for t in range(n_windows), float64 (n_windows,).

    `window` must be a whole number of steps: the values are summed once per step
    and each window adds up its steps, one pass over the signal with no float64
    copy of it. `values` must hold at least (n_windows - 1) * step + window entries.
    """
    if step < 1 or window % step != 0:
        raise ValueError(f"window must be a multiple of step, got {window!r} and {step!r}")
    steps_per_window = window // step
    n_steps = n_windows - 1 + steps_per_window
    if len(values) < n_steps * step:
        raise ValueError(f"{n_windows} windows of {window} need {n_steps * step} values, got {len(values)}")
    per_step = values[: n_steps * step].reshape(n_steps, step).sum(axis=1, dtype=np.float64)
    return np.convolve(per_step, np.ones(steps_per_window), mode="valid")


def frame_rms(y: np.ndarray, *, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """Root mean square of each centred, zero-padded window of `n_fft` samples, float32 (frames,)."""
    padded = np.pad(y.astype(np.float32, copy=False), n_fft // 2)
    n_frames = n_frames_for(len(y), hop_length=hop_length)
    mean_square = window_sums(padded * padded, n_frames, n_fft, hop_length) / n_fft
    return np.sqrt(np.maximum(mean_square, 0.0)).astype(np.float32)


def frame_ac_rms(y: np.ndarray, *, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """RMS of each window after removing that window's own mean (its DC), float32 (frames,)."""
    padded = np.pad(y.astype(np.float32, copy=False), n_fft // 2)
    n_frames = n_frames_for(len(y), hop_length=hop_length)
    mean = window_sums(padded, n_frames, n_fft, hop_length) / n_fft
    mean_square = window_sums(padded * padded, n_frames, n_fft, hop_length) / n_fft
    return np.sqrt(np.maximum(mean_square - mean * mean, 0.0)).astype(np.float32)


def zero_crossing_rate(y: np.ndarray, *, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """Sign changes between neighbouring samples per window, divided by `n_fft`, float32 (frames,).

    Centred windows padded by repeating the edge samples; |x| <= 1e-10 counts as
    zero and zero as positive (librosa's convention).
    """
    padded = np.pad(y, n_fft // 2, mode="edge")
    negative = np.signbit(padded) & (np.abs(padded) > ZERO_CROSSING_THRESHOLD)
    # crossings[i]: between samples i and i + 1 (the last entry pairs the last sample with nothing).
    crossings = np.zeros(len(padded), dtype=np.uint8)
    crossings[:-1] = negative[1:] != negative[:-1]
    n_frames = n_frames_for(len(y), hop_length=hop_length)
    # A window of n_fft samples holds n_fft - 1 neighbouring pairs: drop the pair leaving it.
    leaving = crossings[np.arange(n_frames) * hop_length + n_fft - 1]
    return ((window_sums(crossings, n_frames, n_fft, hop_length) - leaving) / n_fft).astype(np.float32)


def frames_per_segment(segment_s: float, *, sr_hz: int, hop_length: int = HOP_LENGTH) -> int:
    """Whole frames in `segment_s` seconds (rounded down): 312 for 5 s at 16 kHz and hop 256."""
    count = int(segment_s * sr_hz / hop_length)
    if count < 1:
        raise ValueError(f"segment of {segment_s!r} s holds no frame at {sr_hz} Hz and hop {hop_length}")
    return count


def cut_segments(frames: np.ndarray, segment_frames: int, *, pad_value: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut (bands, n_frames) into consecutive segments of `segment_frames`.

    Returns `segments` (n_segments, bands, segment_frames), with n_segments =
    ceil(n_frames / segment_frames) (at least 1) and the last one filled up with
    `pad_value`, and `valid_frames` (n_segments,) int32: the real frames in each.
    """
    if segment_frames < 1:
        raise ValueError(f"segment_frames must be positive, got {segment_frames!r}")
    bands, n_frames = frames.shape
    n_segments = max(1, -(-n_frames // segment_frames))
    padded = np.full((bands, n_segments * segment_frames), pad_value, dtype=frames.dtype)
    padded[:, :n_frames] = frames
    segments = padded.reshape(bands, n_segments, segment_frames).transpose(1, 0, 2)
    starts = np.arange(n_segments) * segment_frames
    valid = np.clip(n_frames - starts, 0, segment_frames).astype(np.int32)
    return np.ascontiguousarray(segments), valid
