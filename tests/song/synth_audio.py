"""Test signals with known music: click tracks, harmonic chords, and songs built from them."""

from __future__ import annotations

import numpy as np

SR_HZ = 22050


def midi_hz(note: int) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def tone(freq_hz: float, duration_s: float, partials: int = 6, amplitude: float = 0.1) -> np.ndarray:
    """A harmonic tone with a short attack and a gentle decay; partial k at 1/k^2 of the fundamental
    (a soft, piano-like spectrum)."""
    t = np.arange(int(duration_s * SR_HZ)) / SR_HZ
    y = sum(amplitude / k**2 * np.sin(2 * np.pi * k * freq_hz * t) for k in range(1, partials + 1)
            if k * freq_hz < SR_HZ / 2)
    envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t * 0.8)
    return (y * envelope).astype(np.float32)


def click(duration_s: float = 0.03, freq_hz: float = 2000.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(duration_s * SR_HZ)) / SR_HZ
    return (amplitude * np.sin(2 * np.pi * freq_hz * t) * np.exp(-t * 150)).astype(np.float32)


def kick(amplitude: float = 0.8) -> np.ndarray:
    """A low thump (falling 120 -> 50 Hz sine) for accented downbeats."""
    t = np.arange(int(0.15 * SR_HZ)) / SR_HZ
    phase = 2 * np.pi * (50 * t + 70 * (1 - np.exp(-t * 30)) / 30)
    return (amplitude * np.sin(phase) * np.exp(-t * 25)).astype(np.float32)


def add(y: np.ndarray, part: np.ndarray, at_s: float) -> None:
    i = int(round(at_s * SR_HZ))
    n = min(len(part), len(y) - i)
    if n > 0:
        y[i:i + n] += part[:n]


def click_track(bpm: float, duration_s: float, beats_per_bar: int = 4, first_beat_s: float = 0.5,
                downbeat_offset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signal, beat times, downbeat times): a click on every beat, a kick on each bar's first beat.

    The first bar line falls on beat `downbeat_offset` (so a pickup of that many beats comes first).
    """
    y = np.zeros(int(duration_s * SR_HZ), dtype=np.float32)
    beats = np.arange(first_beat_s, duration_s - 0.2, 60.0 / bpm)
    downbeats = beats[downbeat_offset::beats_per_bar]
    for t in beats:
        add(y, click(), t)
    for t in downbeats:
        add(y, kick(), t)
    return y, beats, downbeats


def chord(notes: tuple[int, ...], duration_s: float) -> np.ndarray:
    return sum(tone(midi_hz(n), duration_s) for n in notes).astype(np.float32)


# Root-position triads with the root doubled in the bass.
C_MAJOR, F_MAJOR, G_MAJOR, A_MINOR = (36, 60, 64, 67), (41, 60, 65, 69), (43, 62, 67, 71), (45, 60, 64, 69)


def progression(chords: list[tuple[int, ...]], bpm: float = 120.0, beats_per_chord: int = 4,
                repeats: int = 2) -> tuple[np.ndarray, float]:
    """(signal, seconds per chord): each chord struck on each of its beats, over a click track."""
    beat_s = 60.0 / bpm
    chord_s = beats_per_chord * beat_s
    total_s = len(chords) * repeats * chord_s + 1.0
    y, _, _ = click_track(bpm, total_s, first_beat_s=0.5)
    y *= 0.3
    for i, notes in enumerate(chords * repeats):
        for b in range(beats_per_chord):
            add(y, chord(notes, beat_s), 0.5 + i * chord_s + b * beat_s)
    return y, chord_s
