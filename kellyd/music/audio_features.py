"""Audio features of one recording: `extract_audio` (pure, on a mono signal) and `extract_audio_file`.

One STFT (Hann, `N_FFT` = 1024, hop `HOP_LENGTH` = 256, centred frames) feeds
every spectral feature: the log-mel spectrogram, MFCCs, centroid, bandwidth,
roll-off, flatness, the onset envelope (hence tempo and beats) and the peak
chroma (hence key). RMS and zero-crossing rate are computed on the same frame
grid from the samples. A silent or too short signal raises `InvalidInput`.

`Extracted.arrays` (float32 unless noted; T = 1 + n_samples // 256 frames, frame t
centred at t * 256 / sr_hz s):
  mel_db (64, T)                 log-mel power in dB re 1, 80 dB range (see audio_spectral)
  mel_segments (n_seg, 64, F)    mel_db cut into consecutive 5 s pieces of F whole frames
                                 (F = 312 at 16 kHz); n_seg = ceil(T / F); the last piece is
                                 padded with the clip's lowest mel_db value
  mel_segment_frames (n_seg,)    int32, real (unpadded) frames in each segment
  mfcc (20, T), chroma (12, T)   chroma rows C..B, each frame scaled so its top class is 1
  spectral_centroid_hz, spectral_bandwidth_hz, spectral_rolloff_hz, spectral_flatness,
  zero_crossing_rate, rms, onset_strength (T,)
  beat_times_s (n_beats,)
`Extracted.scalars`: mean and std of each frame feature over the active frames
(those above the silence threshold), MFCC and chroma means, levels (peak, RMS,
integrated loudness), tempo and key details, clipping counts, and the grid.
`Extracted.labels`: key, mode, key_confidence, tempo_bpm (None when the clip is
too short or has no rhythm; key and mode None when no pitch is found), duration_s.
`Extracted.flags`: "clipping"; "analysis_truncated" when only the start of a long file was analysed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from kellyd.errors import InvalidInput
from kellyd.music.audio_chroma import (
    SEMITONE_LOWEST_MIDI,
    estimate_tuning_semitones,
    normalize_frames,
    peak_chroma,
    peak_semitones,
    spectral_peaks,
)
from kellyd.music.audio_io import DEFAULT_SR_HZ, mix_to_mono, read_native, resample
from kellyd.music.audio_key import chroma_from_semitones, estimate_key_from_frames
from kellyd.music.audio_loudness import integrated_loudness_lufs, peak_dbfs, rms_dbfs
from kellyd.music.audio_quality import ClipReport, detect_clipping, require_usable_signal
from kellyd.music.audio_spectral import (
    HOP_LENGTH,
    N_FFT,
    cut_segments,
    fft_frequencies_hz,
    frame_rms,
    frames_per_segment,
    mel_db,
    mfcc,
    spectral_bandwidth_hz,
    spectral_centroid_hz,
    spectral_flatness,
    spectral_rolloff_hz,
    stft_magnitude,
    zero_crossing_rate,
)
from kellyd.music.audio_tempo import estimate_tempo, onset_envelope
from kellyd.config import LimitsConfig
from kellyd.music.extracted import Extracted

SEGMENT_S = 5.0
# Below this rate the mel bands and the chroma range (up to 5 kHz) no longer fit.
MIN_ANALYSIS_SR_HZ = 8000
# Only the start of longer files is analysed, so that a worker's memory stays bounded:
# a 10-minute 44.1 kHz stereo file peaks at about 0.75 GB of resident memory. The cap is
# `limits.max_audio_analysis_s`; this default (for callers without a config) is the config's.
DEFAULT_MAX_DURATION_S = LimitsConfig().max_audio_analysis_s
CLIPPING_FLAG = "clipping"
TRUNCATED_FLAG = "analysis_truncated"


def _check_signal(y: np.ndarray, sr_hz: int) -> np.ndarray:
    if isinstance(sr_hz, bool) or not isinstance(sr_hz, (int, np.integer)) or sr_hz < MIN_ANALYSIS_SR_HZ:
        raise ValueError(f"sr_hz must be an integer of at least {MIN_ANALYSIS_SR_HZ}, got {sr_hz!r}")
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"y must be a 1-D float signal, got {y.dtype} with shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise InvalidInput("the signal holds NaN or infinite samples")
    return y.astype(np.float32, copy=False)


def _mean_std(name: str, values: np.ndarray, active: np.ndarray) -> dict[str, float]:
    chosen = values[active].astype(np.float64)
    return {f"{name}_mean": float(chosen.mean()), f"{name}_std": float(chosen.std())}


def _clip_scalars(report: ClipReport) -> dict[str, Any]:
    return {"clip_events": report.events, "clipped_fraction": report.clipped_fraction}


def extract_audio(y: np.ndarray, *, sr_hz: int) -> Extracted:
    """Features of mono `y` (n,) at `sr_hz` (see the module docstring for every output).

    Raises InvalidInput for a signal shorter than 0.1 s, (nearly) silent, or
    holding NaN/inf; ValueError for a wrong shape, dtype or rate.
    """
    y = _check_signal(y, sr_hz)
    activity = require_usable_signal(y, sr_hz=sr_hz)
    active = activity.active_frames
    clipping = detect_clipping(y)

    magnitude = stft_magnitude(y, n_fft=N_FFT, hop_length=HOP_LENGTH)
    power = magnitude * magnitude
    freqs_hz = fft_frequencies_hz(sr_hz, N_FFT)
    n_frames = magnitude.shape[1]

    mel = mel_db(power, sr_hz=sr_hz)
    centroid = spectral_centroid_hz(magnitude, freqs_hz)
    frame_features = {
        "spectral_centroid_hz": centroid,
        "spectral_bandwidth_hz": spectral_bandwidth_hz(magnitude, freqs_hz, centroid),
        "spectral_rolloff_hz": spectral_rolloff_hz(magnitude, freqs_hz),
        "spectral_flatness": spectral_flatness(power),
        "zero_crossing_rate": zero_crossing_rate(y, n_fft=N_FFT, hop_length=HOP_LENGTH),
        "rms": frame_rms(y, n_fft=N_FFT, hop_length=HOP_LENGTH),
        "onset_strength": onset_envelope(mel),
    }
    coefficients = mfcc(mel)
    tempo = estimate_tempo(frame_features["onset_strength"], sr_hz=sr_hz, hop_length=HOP_LENGTH)

    peaks = spectral_peaks(magnitude, sr_hz=sr_hz)
    tuning = estimate_tuning_semitones(peaks)
    chroma_energy = peak_chroma(peaks, n_frames=n_frames, tuning_semitones=tuning)
    # The key from the same estimator as whole songs (kellyd.song): pitches with overtones taken out.
    semitones = peak_semitones(peaks, n_frames=n_frames, tuning_semitones=tuning)
    key = estimate_key_from_frames(chroma_from_semitones(semitones, SEMITONE_LOWEST_MIDI), sr_hz / HOP_LENGTH)
    chroma = normalize_frames(chroma_energy)

    segments, segment_frames = cut_segments(mel, frames_per_segment(SEGMENT_S, sr_hz=sr_hz), pad_value=float(mel.min()))

    level_peak_dbfs, level_rms_dbfs = peak_dbfs(y), rms_dbfs(y)
    scalars: dict[str, Any] = {
        "sr_hz": int(sr_hz),
        "n_fft": N_FFT,
        "hop_length": HOP_LENGTH,
        "n_frames": int(n_frames),
        "duration_s": activity.duration_s,
        "active_s": activity.active_s,
        "active_fraction": activity.active_fraction,
        "peak_dbfs": level_peak_dbfs,
        "rms_dbfs": level_rms_dbfs,
        "crest_factor_db": level_peak_dbfs - level_rms_dbfs,
        "loudness_lufs": integrated_loudness_lufs(y, sr_hz=sr_hz),
        **_clip_scalars(clipping),
        "tempo_confidence": tempo.confidence,
        "n_beats": int(len(tempo.beat_times_s)),
        "tuning_cents": 100.0 * tuning,
        "key_correlation": key.correlation if key else 0.0,
        "key_margin": key.margin if key else 0.0,
        "mfcc_mean": [float(v) for v in coefficients[:, active].mean(axis=1)],
        "mfcc_std": [float(v) for v in coefficients[:, active].std(axis=1)],
        "chroma_mean": [float(v) for v in chroma[:, active].mean(axis=1)],
    }
    for name, values in frame_features.items():
        scalars.update(_mean_std(name, values, active))

    arrays = {
        "mel_db": mel,
        "mel_segments": segments,
        "mel_segment_frames": segment_frames,
        "mfcc": coefficients,
        "chroma": chroma,
        **frame_features,
        "beat_times_s": tempo.beat_times_s,
    }
    labels = {
        "key": key.tonic if key else None,
        "mode": key.mode if key else None,
        "key_confidence": round(key.confidence, 3) if key else 0.0,
        "tempo_bpm": round(tempo.tempo_bpm, 2) if tempo.tempo_bpm is not None else None,
        "duration_s": round(activity.duration_s, 3),
    }
    flags = (CLIPPING_FLAG,) if clipping.is_clipped else ()
    return Extracted(scalars=scalars, arrays=arrays, labels=labels, flags=flags)


def extract_audio_file(
    path: Path | str, *, sr_hz: int = DEFAULT_SR_HZ, max_duration_s: float | None = DEFAULT_MAX_DURATION_S
) -> Extracted:
    """Decode `path` once, check it for clipping at its own rate, and extract features at `sr_hz`.

    Clipping counts come from the decoded samples of every channel before mixing
    and resampling; `duration_s` (label) is the whole file's (from its header
    when only the first `max_duration_s` were analysed). Raises InvalidInput
    for unreadable, truncated, too short or silent files.
    """
    native = read_native(path, max_duration_s=max_duration_s)
    info, analysed_s = native.info, native.duration_s
    clipping = detect_clipping(native.samples)
    source_peak_dbfs = peak_dbfs(native.samples)
    y = resample(mix_to_mono(native.samples), from_hz=info.sr_hz, to_hz=sr_hz)
    del native  # the file-rate samples are the largest array: free them before the analysis
    extracted = extract_audio(y, sr_hz=sr_hz)

    truncated = max_duration_s is not None and info.duration_s > max_duration_s
    flags = tuple(
        flag for flag, raised in (
            (CLIPPING_FLAG, clipping.is_clipped or CLIPPING_FLAG in extracted.flags),
            (TRUNCATED_FLAG, truncated),
        ) if raised
    )
    scalars = {
        **extracted.scalars,
        **_clip_scalars(clipping),
        "source_format": info.format,
        "source_sr_hz": info.sr_hz,
        "source_channels": info.channels,
        "source_peak_dbfs": source_peak_dbfs,
        "analysed_s": analysed_s,
    }
    duration_s = info.duration_s if truncated else analysed_s
    labels = {**extracted.labels, "duration_s": round(duration_s, 3)}
    return dataclasses.replace(extracted, scalars=scalars, labels=labels, flags=flags)
