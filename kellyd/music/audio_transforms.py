"""Label-preserving audio augmentation: pure functions over mono float32 arrays.

Each function takes `y` (shape (n,), float32, full scale +-1) at `sr_hz` and
returns `(new_y, LabelEffect)`, never clipping: whenever a result would peak
above full scale it is scaled down as a whole (`limit_peak`).

Pitch shift and time stretch use audiomentations' Signalsmith Stretch backend
(good quality, and deterministic). Its transforms draw their parameters from
the global `random` module, so here the parameters are set and frozen on the
transform instead: no global state is read or changed. Noise and gain are a
line each and are done here, with a seeded `numpy.random.Generator`, because
audiomentations' noise uses the global numpy generator.

Transform names and parameters (the `augmentation` record of a child):

- ``pitch_shift`` {"semitones": int}: whole semitones, so that the key label
  moves to a real key.
- ``time_stretch`` {"factor": float}: the duration is multiplied by `factor`
  (> 1 is slower), the same convention as the MIDI ``stretch``; the tempo
  label is divided by it.
- ``noise`` {"amplitude": float, "seed": int}: white Gaussian noise whose
  standard deviation is `amplitude` x full scale.
- ``gain`` {"factor": float}: amplitude multiplied by `factor`, then limited.
- a combination such as ``pitch_shift+noise``, as for MIDI.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Mapping

import numpy as np
import soundfile as sf

from kellyd.music.transforms import NO_EFFECT, LabelEffect, split_steps

FULL_SCALE = 1.0
MAX_PITCH_SHIFT_SEMITONES = 12
TIME_STRETCH_LIMITS = (0.5, 2.0)
GAIN_LIMITS = (0.05, 4.0)
MAX_NOISE_AMPLITUDE = 0.1
PCM16_MAX = 32767


def pitch_shift(y: np.ndarray, *, sr_hz: int, semitones: int) -> tuple[np.ndarray, LabelEffect]:
    """Shift the pitch by whole `semitones`, keeping the duration."""
    y = _checked_audio(y, sr_hz)
    if isinstance(semitones, bool) or not isinstance(semitones, (int, np.integer)) \
            or abs(int(semitones)) > MAX_PITCH_SHIFT_SEMITONES:
        raise ValueError(
            f"pitch_shift: semitones must be an integer within +-{MAX_PITCH_SHIFT_SEMITONES}, got {semitones!r}"
        )
    from audiomentations import PitchShift  # imports librosa: only where audio is shifted

    shifter = PitchShift(min_semitones=float(semitones), max_semitones=float(semitones),
                         method="signalsmith_stretch", p=1.0)
    _freeze(shifter, num_semitones=float(semitones))
    return limit_peak(shifter(y, sr_hz)), LabelEffect(semitones=int(semitones))


def time_stretch(y: np.ndarray, *, sr_hz: int, factor: float) -> tuple[np.ndarray, LabelEffect]:
    """Make the clip `factor` times longer (slower) without changing the pitch."""
    y = _checked_audio(y, sr_hz)
    if not _is_number(factor) or not TIME_STRETCH_LIMITS[0] <= factor <= TIME_STRETCH_LIMITS[1]:
        raise ValueError(f"time_stretch: factor must be a number in {list(TIME_STRETCH_LIMITS)}, got {factor!r}")
    from audiomentations import TimeStretch

    rate = 1.0 / float(factor)  # audiomentations speaks of playback rate, the inverse
    stretcher = TimeStretch(min_rate=rate, max_rate=rate, leave_length_unchanged=False,
                            method="signalsmith_stretch", p=1.0)
    _freeze(stretcher, rate=rate)
    return limit_peak(stretcher(y, sr_hz)), LabelEffect(time_factor=float(factor))


def add_noise(y: np.ndarray, *, sr_hz: int, amplitude: float, seed: int) -> tuple[np.ndarray, LabelEffect]:
    """Add white Gaussian noise with standard deviation `amplitude` (fraction of full scale)."""
    y = _checked_audio(y, sr_hz)
    if not _is_number(amplitude) or not 0.0 <= amplitude <= MAX_NOISE_AMPLITUDE:
        raise ValueError(f"noise: amplitude must be in [0, {MAX_NOISE_AMPLITUDE}], got {amplitude!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"noise: seed must be a non-negative integer, got {seed!r}")
    noise = np.random.default_rng(int(seed)).standard_normal(len(y)).astype(np.float32)
    return limit_peak(y + np.float32(amplitude) * noise), NO_EFFECT


def apply_gain(y: np.ndarray, *, sr_hz: int, factor: float) -> tuple[np.ndarray, LabelEffect]:
    """Multiply by `factor`; a result that would clip is scaled down to full scale instead."""
    y = _checked_audio(y, sr_hz)
    if not _is_number(factor) or not GAIN_LIMITS[0] <= factor <= GAIN_LIMITS[1]:
        raise ValueError(f"gain: factor must be a number in {list(GAIN_LIMITS)}, got {factor!r}")
    return limit_peak(y * np.float32(factor)), NO_EFFECT


def limit_peak(y: np.ndarray, ceiling: float = FULL_SCALE) -> np.ndarray:
    """`y` scaled down as a whole so that its peak is at most `ceiling`; float32, finite."""
    y = np.nan_to_num(np.asarray(y, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > ceiling:
        y = y * np.float32(ceiling / peak)
    return y


AUDIO_TRANSFORMS: dict[str, Callable[..., tuple[np.ndarray, LabelEffect]]] = {
    "pitch_shift": lambda y, sr, p: pitch_shift(y, sr_hz=sr, semitones=p["semitones"]),
    "time_stretch": lambda y, sr, p: time_stretch(y, sr_hz=sr, factor=p["factor"]),
    "noise": lambda y, sr, p: add_noise(y, sr_hz=sr, amplitude=p["amplitude"], seed=p["seed"]),
    "gain": lambda y, sr, p: apply_gain(y, sr_hz=sr, factor=p["factor"]),
}


def apply_audio(
    y: np.ndarray, *, sr_hz: int, transform: str, params: Mapping[str, Any]
) -> tuple[np.ndarray, LabelEffect]:
    """Apply a named audio transform or an `a+b` combination, left to right."""
    effect = NO_EFFECT
    for name, step_params in split_steps(transform, params, known=AUDIO_TRANSFORMS):
        try:
            y, step_effect = AUDIO_TRANSFORMS[name](y, sr_hz, step_params)
        except KeyError as exc:
            raise ValueError(f"{name}: missing parameter {exc.args[0]!r} in {dict(step_params)!r}") from None
        effect = effect.then(step_effect)
    return y, effect


def wav_pcm16_bytes(y: np.ndarray, *, sr_hz: int) -> bytes:
    """`y` as a 16-bit PCM mono WAV file; the same samples always give the same bytes."""
    y = _checked_audio(y, sr_hz)
    pcm = np.clip(np.rint(y * PCM16_MAX), -PCM16_MAX, PCM16_MAX).astype(np.int16)
    buffer = io.BytesIO()
    sf.write(buffer, pcm, int(sr_hz), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _freeze(transform: Any, **parameters: float) -> None:
    transform.parameters = {"should_apply": True, **parameters}
    transform.freeze_parameters()


def _checked_audio(y: Any, sr_hz: Any) -> np.ndarray:
    if isinstance(sr_hz, bool) or not isinstance(sr_hz, (int, np.integer)) or sr_hz <= 0:
        raise ValueError(f"sr_hz must be a positive integer, got {sr_hz!r}")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"audio must be mono, shape (n,), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"audio must be floating point in +-1, got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"audio has {int(np.sum(~np.isfinite(y)))} NaN/inf samples")
    return np.ascontiguousarray(y, dtype=np.float32)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and bool(np.isfinite(value))
