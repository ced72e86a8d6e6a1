"""Key and mode from a pitch-class profile by correlation with the Krumhansl-Kessler key profiles.

The profile of a recording (its chroma summed over time) is compared with the
24 rotations of the major and minor probe-tone profiles (Krumhansl and Kessler,
1982); the best Pearson correlation names the key. The correlation itself is
the confidence: about 0.8 and above for music that clearly states its key, low
for drums and noise. Relative and parallel keys score close to each other, and
a drone or power chord (no third) leaves the mode to a few hundredths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from kellyd.taxonomy import PITCH_CLASS_NAMES

Mode = Literal["major", "minor"]
MODES: tuple[Mode, Mode] = ("major", "minor")

# Probe-tone ratings of each scale degree from the tonic (Krumhansl & Kessler 1982).
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# A profile whose pitch classes differ by less than this (relative to its mean) carries no key.
MIN_PROFILE_CONTRAST = 1e-6


@dataclass(frozen=True)
class KeyEstimate:
    """The best-correlated key.

    `tonic` is a pitch-class name ("C", "C#", ... "Bb", "B"); `correlation` the
    Pearson correlation in [-1, 1]; `confidence` the same clipped to [0, 1];
    `margin` how far the runner-up key trails (0 when tied).
    """

    tonic: str
    mode: Mode
    correlation: float
    confidence: float
    margin: float


def _centred_unit(x: np.ndarray, axis: int = -1) -> np.ndarray:
    centred = x - x.mean(axis=axis, keepdims=True)
    return centred / np.sqrt(np.sum(centred * centred, axis=axis, keepdims=True))


def _rotations(profile: np.ndarray) -> np.ndarray:
    """(12, 12): row t is `profile` with its tonic moved to pitch class t."""
    return np.stack([np.roll(profile, t) for t in range(12)])


_KEY_TEMPLATES = _centred_unit(np.stack([_rotations(MAJOR_PROFILE), _rotations(MINOR_PROFILE)]))


def key_correlations(profile: np.ndarray) -> np.ndarray:
    """Pearson correlation of `profile` (12,) with every key: (2, 12), rows major and minor, columns tonic C..B."""
    profile = np.asarray(profile, dtype=np.float64)
    if profile.shape != (12,):
        raise ValueError(f"profile must have shape (12,), got {profile.shape}")
    if not np.all(np.isfinite(profile)):
        raise ValueError(f"profile must be finite, got {profile!r}")
    if np.ptp(profile) <= MIN_PROFILE_CONTRAST * max(abs(float(profile.mean())), 1.0):
        return np.zeros((2, 12))
    return _KEY_TEMPLATES @ _centred_unit(profile)


def estimate_key(profile: np.ndarray) -> KeyEstimate | None:
    """The key whose profile best matches `profile` (12,), C first; None for a flat or empty profile."""
    correlations = key_correlations(profile)
    if not np.any(correlations):
        return None
    ranked = np.sort(correlations, axis=None)
    mode_index, tonic = np.unravel_index(int(np.argmax(correlations)), correlations.shape)
    best = float(ranked[-1])
    return KeyEstimate(
        tonic=PITCH_CLASS_NAMES[int(tonic)],
        mode=MODES[int(mode_index)],
        correlation=best,
        confidence=float(np.clip(best, 0.0, 1.0)),
        margin=float(best - ranked[-2]),
    )
