"""Tempo and beat times of a recording from the onset envelope of its log-mel spectrogram.

Onset envelope: spectral flux, the mean over mel bands of the dB rise from one
frame to the next (falls count as zero), delayed by `ONSET_DELAY_FRAMES`. The
leading edge of a centred 64 ms window meets a note before the frame's centre
does, so the flux peaks about one hop (16 ms at 16 kHz) early; with the delay
the peaks sit on the onsets (madmom's hand-annotated `sample.onsets`: mean
error -9 ms without the delay, +7 ms with it).

Tempo: the autocorrelation of the envelope (biased estimate, through the FFT,
normalised to 1 at lag 0) is scored at the beat period P of each candidate
tempo as the mean of ACF(P), ACF(2P), ACF(3P), ACF(4P) (a harmonic sum, as
comb-filter tempo estimators do): a pulse that keeps its period over a bar of
four beats wins over one that only matches a subdivision. The score is weighted by a
log-normal prior centred at `PRIOR_BPM` with a spread of `PRIOR_OCTAVES`, and the
best candidate wins. Its unweighted score, in [0, 1], is the confidence.

Beats: librosa's dynamic-programming beat tracker (Ellis 2007) on the same
envelope, held to the tempo found here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ONSET_DELAY_FRAMES = 1
MIN_BPM = 40.0
MAX_BPM = 240.0
BPM_STEP = 0.25
PRIOR_BPM = 120.0
PRIOR_OCTAVES = 1.0
BEAT_MULTIPLES = (1, 2, 3, 4)
# Shorter recordings hold too few beats for a tempo: they get none.
MIN_TEMPO_DURATION_S = 1.5
# An envelope whose energy is below this carries no rhythm (digital silence, a steady tone).
MIN_ENVELOPE_ENERGY = 1e-12


@dataclass(frozen=True)
class TempoEstimate:
    """`tempo_bpm` is None when the recording is too short or has no periodic onsets.

    `confidence` in [0, 1]; `beat_times_s` (n_beats,) float32, ascending.
    """

    tempo_bpm: float | None
    confidence: float
    beat_times_s: np.ndarray


def onset_envelope(mel_db: np.ndarray, *, delay_frames: int = ONSET_DELAY_FRAMES) -> np.ndarray:
    """Spectral flux of a log-mel spectrogram (bands, frames), delayed by `delay_frames`.

    Returns float32 (frames,), never negative; the first `delay_frames` + 1 values are 0.
    """
    if delay_frames < 0:
        raise ValueError(f"delay_frames must be >= 0, got {delay_frames!r}")
    rise = np.maximum(np.diff(mel_db, axis=1), 0.0).mean(axis=0)
    envelope = np.zeros(mel_db.shape[1], dtype=np.float32)
    envelope[1 + delay_frames:] = rise[: max(0, len(rise) - delay_frames)]
    return envelope


def envelope_autocorrelation(envelope: np.ndarray) -> np.ndarray | None:
    """Biased autocorrelation of the mean-removed envelope, 1.0 at lag 0, float64 (frames,); None if flat."""
    centred = envelope.astype(np.float64) - envelope.mean()
    n = len(centred)
    n_fft = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(centred, n_fft)
    acf = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, n_fft)[:n]
    if acf[0] <= MIN_ENVELOPE_ENERGY:
        return None
    return acf / acf[0]


def candidate_bpms() -> np.ndarray:
    return np.arange(MIN_BPM, MAX_BPM + BPM_STEP / 2, BPM_STEP)


def tempo_scores(acf: np.ndarray, *, frame_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """(candidate bpms, score of each): the mean ACF at 1 to 4 beat periods (lags past the end count 0)."""
    bpms = candidate_bpms()
    period_frames = 60.0 * frame_rate_hz / bpms
    lags = np.arange(len(acf))
    scores = np.mean([np.interp(m * period_frames, lags, acf, right=0.0) for m in BEAT_MULTIPLES], axis=0)
    return bpms, scores


def tempo_prior(bpms: np.ndarray) -> np.ndarray:
    """Log-normal weight of each tempo, 1.0 at PRIOR_BPM."""
    return np.exp(-0.5 * (np.log2(bpms / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)


def estimate_tempo_bpm(envelope: np.ndarray, *, frame_rate_hz: float) -> tuple[float | None, float]:
    """(tempo in bpm or None, confidence in [0, 1]) of an onset envelope sampled at `frame_rate_hz`."""
    if not frame_rate_hz > 0:
        raise ValueError(f"frame_rate_hz must be positive, got {frame_rate_hz!r}")
    if len(envelope) / frame_rate_hz < MIN_TEMPO_DURATION_S:
        return None, 0.0
    acf = envelope_autocorrelation(envelope)
    if acf is None:
        return None, 0.0
    bpms, scores = tempo_scores(acf, frame_rate_hz=frame_rate_hz)
    weighted = np.maximum(scores, 0.0) * tempo_prior(bpms)
    best = int(np.argmax(weighted))
    if weighted[best] <= 0.0:
        return None, 0.0
    return float(bpms[best]), float(np.clip(scores[best], 0.0, 1.0))


def track_beats(envelope: np.ndarray, *, sr_hz: int, hop_length: int, tempo_bpm: float) -> np.ndarray:
    """Beat times in seconds, float32 (n_beats,), from librosa's beat tracker held at `tempo_bpm`."""
    import librosa.beat  # the beat tracker compiles numba kernels on import; load it only when needed

    _, beat_times_s = librosa.beat.beat_track(
        onset_envelope=envelope, sr=sr_hz, hop_length=hop_length, bpm=tempo_bpm, units="time"
    )
    return np.asarray(beat_times_s, dtype=np.float32)


def estimate_tempo(envelope: np.ndarray, *, sr_hz: int, hop_length: int) -> TempoEstimate:
    """Tempo, confidence and beat times of an onset envelope with one value per hop."""
    tempo_bpm, confidence = estimate_tempo_bpm(envelope, frame_rate_hz=sr_hz / hop_length)
    if tempo_bpm is None:
        return TempoEstimate(tempo_bpm=None, confidence=0.0, beat_times_s=np.zeros(0, dtype=np.float32))
    beats = track_beats(envelope, sr_hz=sr_hz, hop_length=hop_length, tempo_bpm=tempo_bpm)
    return TempoEstimate(tempo_bpm=tempo_bpm, confidence=confidence, beat_times_s=beats)
