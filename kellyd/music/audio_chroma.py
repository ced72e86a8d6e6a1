"""Chroma from the spectral peaks of the shared STFT, with their frequencies refined between bins.

With a 1024-point STFT at 16 kHz the bins are 15.6 Hz apart, wider than a
semitone below about 260 Hz, where bass lines and guitar chords put most of
their energy; a chroma filter bank over such bins smears each low note over
its neighbours. Instead, each frame's local maxima are located to a fraction
of a bin by fitting a parabola through the dB magnitudes of the peak bin and
its two neighbours (quadratic interpolation of the Hann-windowed spectrum),
and each peak adds its magnitude to the pitch class of its refined frequency.
Partials more than about two bins apart (31 Hz) resolve, which covers a
fifth above 100 Hz.

Pitch classes are numbered from C = 0; the reference is A4 = 440 Hz shifted by
the recording's own tuning, estimated from the same peaks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_PITCH_CLASSES = 12
A4_HZ = 440.0
A4_MIDI = 69
CHROMA_FMIN_HZ = 50.0
CHROMA_FMAX_HZ = 5000.0
# Peaks more than this far below the loudest bin of their frame are side lobes and noise.
PEAK_RANGE_DB = 50.0
# A frame whose loudest bin is below this magnitude holds nothing to locate.
MIN_PEAK_MAGNITUDE = 1e-8


@dataclass(frozen=True)
class SpectralPeaks:
    """Local maxima of a magnitude spectrogram, one entry per peak.

    `frame` (n,) int frame index; `freq_hz` (n,) refined frequency; `magnitude`
    (n,) refined peak magnitude (same scale as the spectrogram).
    """

    frame: np.ndarray
    freq_hz: np.ndarray
    magnitude: np.ndarray


def spectral_peaks(
    S: np.ndarray,
    *,
    sr_hz: int,
    fmin_hz: float = CHROMA_FMIN_HZ,
    fmax_hz: float = CHROMA_FMAX_HZ,
    range_db: float = PEAK_RANGE_DB,
) -> SpectralPeaks:
    """Peaks of the magnitude spectrogram S (1 + n_fft // 2, frames) between `fmin_hz` and `fmax_hz`.

    A peak is a bin louder than its lower neighbour and at least as loud as its
    upper one, within `range_db` of its frame's loudest bin; frequency and
    magnitude come from the parabola through the three dB values.
    """
    if not 0.0 <= fmin_hz < fmax_hz:
        raise ValueError(f"need 0 <= fmin_hz < fmax_hz, got {fmin_hz!r} and {fmax_hz!r}")
    n_bins = S.shape[0]
    bin_hz = sr_hz / (2 * (n_bins - 1))
    lo = max(1, int(np.ceil(fmin_hz / bin_hz)) - 1)
    hi = min(n_bins - 2, int(fmax_hz / bin_hz) + 1)
    if hi < lo:
        empty = np.zeros(0)
        return SpectralPeaks(frame=empty.astype(np.int64), freq_hz=empty, magnitude=empty)
    floor = np.maximum(S.max(axis=0) * 10.0 ** (-range_db / 20.0), MIN_PEAK_MAGNITUDE)
    centre = S[lo:hi + 1]
    is_peak = (centre > S[lo - 1:hi]) & (centre >= S[lo + 1:hi + 2]) & (centre > floor[None, :])
    bin_offset, frame = np.nonzero(is_peak)
    k = bin_offset + lo
    below, at, above = (20.0 * np.log10(np.maximum(S[k + d, frame], MIN_PEAK_MAGNITUDE)) for d in (-1, 0, 1))
    # For a strict maximum, below - 2*at + above < 0, so the division is safe and |shift| <= 0.5 bin.
    curvature = below - 2.0 * at + above
    shift = 0.5 * (below - above) / np.where(curvature < 0.0, curvature, -1.0)
    peak_db = at - 0.25 * (below - above) * shift
    freq_hz = (k + shift) * bin_hz
    keep = (freq_hz >= fmin_hz) & (freq_hz <= fmax_hz)
    return SpectralPeaks(frame=frame[keep], freq_hz=freq_hz[keep], magnitude=10.0 ** (peak_db[keep] / 20.0))


def _semitones_from_a4(freq_hz: np.ndarray) -> np.ndarray:
    return A4_MIDI + 12.0 * np.log2(freq_hz / A4_HZ)


def estimate_tuning_semitones(peaks: SpectralPeaks) -> float:
    """How far the recording sits from A4 = 440 Hz, in semitones in [-0.5, 0.5).

    The magnitude-weighted circular mean of every peak's deviation from the
    nearest equal-tempered pitch; 0.0 without peaks.
    """
    if peaks.magnitude.size == 0:
        return 0.0
    angle = 2.0 * np.pi * _semitones_from_a4(peaks.freq_hz)
    resultant = np.sum(peaks.magnitude * np.exp(1j * angle))
    if abs(resultant) <= MIN_PEAK_MAGNITUDE:
        return 0.0
    tuning = float(np.angle(resultant) / (2.0 * np.pi))
    return -0.5 if tuning >= 0.5 else tuning


def peak_chroma(peaks: SpectralPeaks, *, n_frames: int, tuning_semitones: float = 0.0) -> np.ndarray:
    """Summed peak magnitude per pitch class and frame, float64 (12, n_frames); C is row 0."""
    if not -0.5 <= tuning_semitones <= 0.5:
        raise ValueError(f"tuning_semitones must be in [-0.5, 0.5], got {tuning_semitones!r}")
    pitch = np.rint(_semitones_from_a4(peaks.freq_hz) - tuning_semitones).astype(np.int64)
    pitch_class = np.mod(pitch, N_PITCH_CLASSES)
    flat = np.bincount(pitch_class * n_frames + peaks.frame, weights=peaks.magnitude,
                       minlength=N_PITCH_CLASSES * n_frames)
    return flat.reshape(N_PITCH_CLASSES, n_frames)


def normalize_frames(chroma: np.ndarray) -> np.ndarray:
    """Each frame divided by its largest pitch class (so the loudest is 1), float32; empty frames stay 0."""
    top = chroma.max(axis=0, keepdims=True)
    return np.divide(chroma, top, out=np.zeros_like(chroma), where=top > 0).astype(np.float32)


# The semitone range of `peak_semitones`: C1 .. B7, which holds every peak between CHROMA_FMIN_HZ and CHROMA_FMAX_HZ.
SEMITONE_LOWEST_MIDI = 24
N_SEMITONES = 84


def peak_semitones(peaks: SpectralPeaks, *, n_frames: int, tuning_semitones: float = 0.0) -> np.ndarray:
    """Summed peak magnitude per semitone (rows MIDI SEMITONE_LOWEST_MIDI ..) and frame, float64 (N_SEMITONES, n_frames).

    The pitch (not only the pitch class) of each peak is kept, so the key estimator can take
    the overtones of low notes out (`kellyd.music.audio_key.chroma_from_semitones`).
    """
    if not -0.5 <= tuning_semitones <= 0.5:
        raise ValueError(f"tuning_semitones must be in [-0.5, 0.5], got {tuning_semitones!r}")
    row = np.rint(_semitones_from_a4(peaks.freq_hz) - tuning_semitones).astype(np.int64) - SEMITONE_LOWEST_MIDI
    keep = (row >= 0) & (row < N_SEMITONES)
    flat = np.bincount(row[keep] * n_frames + peaks.frame[keep], weights=peaks.magnitude[keep],
                       minlength=N_SEMITONES * n_frames)
    return flat.reshape(N_SEMITONES, n_frames)
