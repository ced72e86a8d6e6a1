"""Stems of a song (vocals, drums, bass, other): the offline default, and the writer.

The default backend ("hpss") needs no downloaded weights. It is signal
processing, not a learned separator, and its stems are rough: good enough to
give a model a drum-heavy, a bass-heavy and a mid-band view of a song, not a
clean a-cappella. Per block of `BLOCK_S` seconds of the STFT:
- drums: librosa's harmonic/percussive soft mask (median filtering across time
  and frequency), the percussive part;
- bass: the non-percussive part below a smooth crossover (`BASS_FULL_HZ` to
  `BASS_ZERO_HZ`);
- vocals: of the non-percussive part above the crossover, what does not repeat
  (a nearest-neighbour median over similar frames models the repeating
  accompaniment, librosa's REPET-SIM recipe), inside the voice band;
- other: the mix minus the three, so the four stems always sum back to the mix.
Learned separation is the Demucs backend (`kellyd.song.stems_demucs`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from kellyd.atomic import atomic_write_bytes

STEM_NAMES = ("vocals", "drums", "bass", "other")
N_FFT = 2048
HOP_LENGTH = 512
# The masks are computed on every other frame and held for two: half the cost, while the stems are
# still resynthesised from 75 %-overlapping frames (with 50 % overlap a time-varying mask can
# raise a stem above the mix).
MASK_STRIDE = 2
HPSS_KERNEL = 17
# Blocks keep memory flat on long songs; the repetition model only looks inside a block.
BLOCK_S = 30.0
BASS_FULL_HZ = 120.0
BASS_ZERO_HZ = 250.0
VOICE_LOW_HZ = 150.0
VOICE_HIGH_HZ = 8000.0
# REPET-SIM settings: similar frames at least this far apart; how much louder than the
# repeating model a bin must be to count as voice.
REPEAT_MIN_GAP_S = 2.0
VOICE_MARGIN = 4.0
REPEAT_NEIGHBOURS = 8
REPEAT_MELS = 40


@dataclass(frozen=True)
class Stems:
    """`signals[name]` float32 (n,) mono or (n, channels), all the same length, at `sr_hz`."""

    sr_hz: int
    signals: Mapping[str, np.ndarray]
    backend: str
    # Why this backend ran when another was asked for (a missing model, a missing package).
    note: str = ""
    details: Mapping[str, object] = field(default_factory=dict)


def _band_weight(freqs_hz: np.ndarray, full_hz: float, zero_hz: float) -> np.ndarray:
    """1 below `full_hz`, 0 above `zero_hz`, a raised-cosine ramp between."""
    ramp = np.clip((freqs_hz - full_hz) / (zero_hz - full_hz), 0.0, 1.0)
    return (0.5 * (1.0 + np.cos(np.pi * ramp)))[:, None]


def repeating_model(mag: np.ndarray, features: np.ndarray, *, min_gap_frames: int, k: int) -> np.ndarray:
    """Pure: per frame, the median of `mag` over its `k` most similar frames (cosine of `features`),
    none closer than `min_gap_frames`: what repeats in the block (REPET-SIM's accompaniment model)."""
    unit = features / np.maximum(np.linalg.norm(features, axis=0, keepdims=True), 1e-9)
    similarity = unit.T @ unit
    n = similarity.shape[0]
    near = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :]) < min_gap_frames
    similarity[near] = -np.inf
    k = min(k, n - 2 * min_gap_frames)
    neighbours = np.argpartition(-similarity, k - 1, axis=1)[:, :k]  # (n, k)
    return np.median(mag[:, neighbours], axis=2).astype(mag.dtype)


def _block_masks(spec: np.ndarray, sr_hz: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft masks (drums, bass, vocals) for one STFT block (freq, frames); each in [0, 1], summing to <= 1."""
    import librosa

    mag = np.abs(spec)
    _, percussive = librosa.decompose.hpss(mag, mask=True, kernel_size=HPSS_KERNEL)
    rest = 1.0 - percussive
    freqs = librosa.fft_frequencies(sr=sr_hz, n_fft=N_FFT)
    low = _band_weight(freqs, BASS_FULL_HZ, BASS_ZERO_HZ)
    mid = mag * rest * (1.0 - low)
    gap = int(REPEAT_MIN_GAP_S * sr_hz / (HOP_LENGTH * MASK_STRIDE))
    band = 1.0 - _band_weight(freqs, VOICE_LOW_HZ, VOICE_LOW_HZ * 1.5)
    band *= _band_weight(freqs, VOICE_HIGH_HZ, VOICE_HIGH_HZ * 1.25)
    voice = np.zeros_like(mag)
    if mid.shape[1] > 2 * gap + REPEAT_NEIGHBOURS and float(mid.max()) > 0:
        rows = np.flatnonzero(band[:, 0] > 0)  # the model is only needed where the voice band is
        features = librosa.power_to_db(librosa.feature.melspectrogram(S=mid**2, sr=sr_hz, n_mels=REPEAT_MELS))
        part = mid[rows]
        repeating = np.minimum(part, repeating_model(part, features - features.min(), min_gap_frames=gap,
                                                     k=REPEAT_NEIGHBOURS))
        voice[rows] = librosa.util.softmask(part - repeating, VOICE_MARGIN * repeating, power=2)
    return percussive, rest * low, rest * (1.0 - low) * voice * band


def separate_hpss(y: np.ndarray, sr_hz: int) -> Stems:
    """Pure: the four stems of mono `y` (n,) at `sr_hz`; `sum(stems) == y` up to float rounding."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"y must be mono (n,), got shape {y.shape}")
    block = int(BLOCK_S * sr_hz)
    out = {name: np.zeros_like(y) for name in STEM_NAMES}
    for start in range(0, len(y), block):
        part = y[start:start + block]
        if len(part) < N_FFT:  # too short for a frame: it all goes to "other"
            continue
        spec = librosa.stft(part, n_fft=N_FFT, hop_length=HOP_LENGTH)
        for name, coarse in zip(("drums", "bass", "vocals"), _block_masks(spec[:, ::MASK_STRIDE], sr_hz)):
            mask = np.repeat(coarse, MASK_STRIDE, axis=1)[:, :spec.shape[1]]
            out[name][start:start + len(part)] = librosa.istft(spec * mask, hop_length=HOP_LENGTH, length=len(part))
    out["other"] = y - out["vocals"] - out["drums"] - out["bass"]
    return Stems(sr_hz=sr_hz, signals=out, backend="hpss")


def flac_bytes(signal: np.ndarray, sr_hz: int) -> bytes:
    """`signal` (n,) or (n, channels) float as 16-bit FLAC; clipped to [-1, 1]."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(signal, -1.0, 1.0), sr_hz, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def write_stems(stems: Stems, root: Path, folder: str) -> dict[str, str]:
    """Write each stem as `<root>/<folder>/<name>.flac` atomically; returns name -> path relative to `root`."""
    paths = {}
    for name in STEM_NAMES:
        rel = f"{folder}/{name}.flac"
        atomic_write_bytes(root / rel, flac_bytes(stems.signals[name], stems.sr_hz))
        paths[name] = rel
    return paths
