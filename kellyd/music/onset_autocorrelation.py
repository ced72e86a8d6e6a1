"""Autocorrelation of a smoothed onset envelope: the periodicity evidence of `tempo.estimate_tempo`.

The definition: the onsets' weights binned every `hop_s` (the envelope), its power spectrum through
an FFT of a power of two at least twice the envelope's length, times a Gaussian of `smooth_s`
(micro-timing tolerance), back to lags; divided at each lag by the overlap (unbiased, floored at a
quarter of the envelope so the longest lags are not blown up by a handful of pairs); normalised at
lag 0.

A MIDI file's envelope is sparse (a few hundred onsets over thousands of bins) and the tempo
estimate reads only the lags up to a few seconds. There the raw autocorrelation is summed from the
pairs of onsets that close together, and the spectral smoothing becomes the convolution in time
with the Gaussian it amounts to: the FFT's values to rounding (its circular wrap on the shortest
envelopes included), at a fraction of the cost of an FFT of the whole envelope. Dense onsets, where
the pairs would outnumber the bins, take the FFT.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# Half-width (bins) of the smoothing kernel in time: past it the Gaussian is below 1e-27 of its peak
# (at the 5 ms bins and 20 ms smoothing of `tempo`).
SMOOTH_KERNEL_BINS = 64
# Onset pairs within reach above which the FFT costs less (and the pair arrays would grow large).
MAX_PAIRS = 400_000


def envelope_autocorrelation(onset_s: np.ndarray, weight: np.ndarray, *, hop_s: float, smooth_s: float,
                             max_lag_bins: int) -> np.ndarray:
    """Unbiased, normalised autocorrelation of the smoothed envelope of onsets `onset_s` (ascending,
    (n,) s) with weights (n,); index = lag / `hop_s`. Lags 0 .. `max_lag_bins` at least (all of the
    envelope's when it is shorter); a lag past the array's end is 0."""
    idx = np.round((onset_s - onset_s.min()) / hop_s).astype(np.int64)
    n = int(idx[-1]) + 1 if len(idx) else 1
    if len(idx):
        pairs = _from_pairs(idx, weight, n, hop_s=hop_s, smooth_s=smooth_s, lags=min(n, max_lag_bins + 1))
        if pairs is not None:
            return pairs
    env = np.bincount(idx, weights=weight, minlength=n)
    n_fft = fft_size(n)
    spectrum = np.fft.rfft(env, n_fft)
    power = (spectrum.real**2 + spectrum.imag**2) * _smoothing_gain(n_fft, hop_s, smooth_s)
    return _unbiased(np.fft.irfft(power, n_fft)[:n], n)


def fft_size(n: int) -> int:
    """Length of the FFT that defines the autocorrelation of an `n`-bin envelope."""
    return 1 << int(np.ceil(np.log2(2 * n)))


def _unbiased(acf: np.ndarray, n: int) -> np.ndarray:
    acf = acf / np.maximum(n - np.arange(len(acf)), 0.25 * n)
    return acf / acf[0] if acf[0] > 0 else np.zeros_like(acf)


def _from_pairs(idx: np.ndarray, weight: np.ndarray, n: int, *, hop_s: float, smooth_s: float,
                lags: int) -> np.ndarray | None:
    """The first `lags` values from the onset pairs less than `lags` + the kernel apart; None when
    there are more than `MAX_PAIRS` such pairs."""
    reach = lags + SMOOTH_KERNEL_BINS
    first = np.flatnonzero(np.concatenate(([True], idx[1:] != idx[:-1])))
    bins, summed = idx[first], np.add.reduceat(weight, first)  # the envelope's non-zero bins
    count = np.searchsorted(bins, bins + reach, side="right") - np.arange(len(bins)) - 1
    pairs = int(count.sum())
    if pairs > MAX_PAIRS:
        return None
    left = np.repeat(np.arange(len(bins)), count)
    right = left + 1 + (np.arange(pairs) - (np.cumsum(count) - count)[left])
    raw = np.bincount(bins[right] - bins[left], weights=summed[left] * summed[right], minlength=reach + 1)
    raw[0] = float(np.dot(summed, summed))
    # The FFT correlates circularly over `fft_size(n)` bins: past its middle, bin j holds lag j - n_fft.
    n_fft = fft_size(n)
    lag = np.mod(np.arange(-SMOOTH_KERNEL_BINS, reach), n_fft)
    lag = np.abs(np.where(lag > n_fft // 2, lag - n_fft, lag))
    circular = np.where(lag <= min(n - 1, reach), raw[np.minimum(lag, reach)], 0.0)
    return _unbiased(np.convolve(circular, _smoothing_kernel(hop_s, smooth_s), mode="valid"), n)


@lru_cache(maxsize=4)
def _smoothing_kernel(hop_s: float, smooth_s: float) -> np.ndarray:
    """The spectral smoothing `_smoothing_gain` as a kernel in time, on the envelope's bins: a
    Gaussian of standard deviation smooth_s * sqrt(2), with the FFT's scale (hop_s per bin)."""
    offset_s = np.arange(-SMOOTH_KERNEL_BINS, SMOOTH_KERNEL_BINS + 1) * hop_s
    kernel = hop_s / (2 * smooth_s * np.sqrt(np.pi)) * np.exp(-(offset_s**2) / (4 * smooth_s**2))
    kernel.flags.writeable = False
    return kernel


@lru_cache(maxsize=8)
def _smoothing_gain(n_fft: int, hop_s: float, smooth_s: float) -> np.ndarray:
    """The Gaussian smoothing of the power spectrum, per rfft bin (the same few FFT sizes recur)."""
    freq_hz = np.fft.rfftfreq(n_fft, hop_s)
    gain = np.exp(-((2 * np.pi * freq_hz * smooth_s) ** 2))
    gain.flags.writeable = False
    return gain
