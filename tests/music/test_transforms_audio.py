"""Audio augmentation on synthetic signals: pitch and duration move as labelled, nothing clips."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
import soundfile as sf

from kellyd.music.audio_transforms import (
    PCM16_MAX, add_noise, apply_audio, apply_gain, limit_peak, pitch_shift, time_stretch, wav_pcm16_bytes,
)
from kellyd.music.transforms import LabelEffect

SR_HZ = 16000


def sine(freq_hz: float, *, seconds: float = 2.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR_HZ)) / SR_HZ
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def peak_frequency_hz(y: np.ndarray) -> float:
    middle = y[len(y) // 4: 3 * len(y) // 4]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    return float(np.argmax(spectrum) * SR_HZ / len(middle))


@pytest.mark.parametrize("semitones", [-2, -1, 1, 2])
def test_pitch_shift_moves_the_frequency_by_whole_semitones(semitones):
    shifted, effect = pitch_shift(sine(440.0), sr_hz=SR_HZ, semitones=semitones)
    assert peak_frequency_hz(shifted) == pytest.approx(440.0 * 2 ** (semitones / 12), rel=0.01)
    assert len(shifted) == 2 * SR_HZ
    assert effect == LabelEffect(semitones=semitones)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_time_stretch_changes_the_length_not_the_pitch(factor):
    stretched, effect = time_stretch(sine(330.0), sr_hz=SR_HZ, factor=factor)
    assert len(stretched) == pytest.approx(2 * SR_HZ * factor, rel=0.01)
    assert peak_frequency_hz(stretched) == pytest.approx(330.0, rel=0.01)
    assert effect == LabelEffect(time_factor=factor)


def test_noise_has_the_asked_amplitude_and_follows_its_seed():
    clean = sine(220.0)
    noisy, _ = add_noise(clean, sr_hz=SR_HZ, amplitude=0.004, seed=11)
    again, _ = add_noise(clean, sr_hz=SR_HZ, amplitude=0.004, seed=11)
    other, _ = add_noise(clean, sr_hz=SR_HZ, amplitude=0.004, seed=12)
    assert float(np.std(noisy - clean)) == pytest.approx(0.004, rel=0.05)
    assert np.array_equal(noisy, again)
    assert not np.array_equal(noisy, other)


@pytest.mark.parametrize(("amplitude", "factor", "peak"), [
    (0.5, 0.8, 0.4),
    (0.5, 1.2, 0.6),
    (0.9, 1.2, 1.0),   # 1.08 would clip: scaled down to full scale instead
])
def test_gain_never_clips(amplitude, factor, peak):
    louder, _ = apply_gain(sine(440.0, amplitude=amplitude), sr_hz=SR_HZ, factor=factor)
    assert float(np.max(np.abs(louder))) == pytest.approx(peak, rel=1e-3)
    assert float(np.max(np.abs(louder))) <= 1.0


def test_every_transform_keeps_the_signal_finite_and_within_full_scale():
    loud = sine(440.0, amplitude=0.999)
    for transform, params in [("pitch_shift", {"semitones": 2}), ("time_stretch", {"factor": 0.9}),
                              ("noise", {"amplitude": 0.005, "seed": 1}), ("gain", {"factor": 1.2}),
                              ("pitch_shift+noise+gain", {"pitch_shift": {"semitones": -2},
                                                          "noise": {"amplitude": 0.005, "seed": 2},
                                                          "gain": {"factor": 1.2}})]:
        out, _ = apply_audio(loud, sr_hz=SR_HZ, transform=transform, params=params)
        assert out.dtype == np.float32
        assert np.all(np.isfinite(out)) and float(np.max(np.abs(out))) <= 1.0, transform


def test_limit_peak_scales_the_whole_signal():
    y = np.array([0.5, -2.0, 1.0], dtype=np.float32)
    assert limit_peak(y).tolist() == pytest.approx([0.25, -1.0, 0.5])
    assert limit_peak(np.zeros(0, np.float32)).shape == (0,)


def test_transforms_leave_the_global_random_state_alone():
    state = random.getstate(), np.random.get_state()[1].copy()
    pitch_shift(sine(440.0), sr_hz=SR_HZ, semitones=1)
    time_stretch(sine(440.0), sr_hz=SR_HZ, factor=1.05)
    assert random.getstate() == state[0]
    assert np.array_equal(np.random.get_state()[1], state[1])


def test_the_same_audio_gives_the_same_wav_bytes():
    params = {"pitch_shift": {"semitones": 2}, "noise": {"amplitude": 0.003, "seed": 5}}
    first = wav_pcm16_bytes(apply_audio(sine(440.0), sr_hz=SR_HZ, transform="pitch_shift+noise", params=params)[0],
                            sr_hz=SR_HZ)
    second = wav_pcm16_bytes(apply_audio(sine(440.0), sr_hz=SR_HZ, transform="pitch_shift+noise", params=params)[0],
                             sr_hz=SR_HZ)
    assert first == second
    pcm, sr = sf.read(io.BytesIO(first), dtype="int16")
    assert sr == SR_HZ and pcm.ndim == 1 and int(np.max(np.abs(pcm))) <= PCM16_MAX
