"""Bad arguments to the augmentation transforms are refused with the offending value in the message."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.audio_transforms import add_noise, apply_audio, apply_gain, pitch_shift, time_stretch as audio_stretch
from kellyd.music.notes import Notes, Score, TempoMap, Track
from kellyd.music.transforms import (
    apply_midi, drop_notes, jitter_timing, labels_after, scale_velocity, time_stretch, transpose,
)

SCORE = Score((Track("p", 0, False, Notes.from_lists([0.0], [0.5], [60], [80])),),
              TempoMap(np.zeros(1), np.array([120.0]), False), duration_s=0.5)
SR_HZ = 16000
CLIP = np.zeros(SR_HZ, dtype=np.float32)


@pytest.mark.parametrize(("call", "needle"), [
    (lambda: transpose(SCORE, 2.5), "2.5"),
    (lambda: transpose(SCORE, True), "True"),
    (lambda: transpose(SCORE, 40), "40"),
    (lambda: time_stretch(SCORE, -1), "-1"),
    (lambda: time_stretch(SCORE, 0), "got 0"),
    (lambda: time_stretch(SCORE, float("nan")), "nan"),
    (lambda: time_stretch(SCORE, "1.1"), "'1.1'"),
    (lambda: scale_velocity(SCORE, 0), "got 0"),
    (lambda: scale_velocity(SCORE, float("inf")), "inf"),
    (lambda: jitter_timing(SCORE, low_ms=5, high_ms=-5, seed=1), "low_ms (5) is above high_ms (-5)"),
    (lambda: jitter_timing(SCORE, low_ms=-500, high_ms=5, seed=1), "-500"),
    (lambda: jitter_timing(SCORE, low_ms=-5, high_ms=5, seed=-1), "-1"),
    (lambda: drop_notes(SCORE, probability=1.0, seed=1), "1.0"),
    (lambda: drop_notes(SCORE, probability=-0.1, seed=1), "-0.1"),
    (lambda: apply_midi(SCORE, "reverse", {}), "'reverse'"),
    (lambda: apply_midi(SCORE, "transpose", {"steps": 2}), "'semitones'"),
    (lambda: apply_midi(SCORE, "transpose+stretch", {"transpose": {"semitones": 1}}), "['stretch']"),
    (lambda: apply_midi(SCORE, "transpose+transpose", {"transpose": {"semitones": 1}}), "twice"),
    (lambda: labels_after("pitch_shift+echo", {}, {}), "'pitch_shift+echo'"),
    (lambda: pitch_shift(CLIP, sr_hz=SR_HZ, semitones=1.5), "1.5"),
    (lambda: pitch_shift(CLIP, sr_hz=0, semitones=1), "got 0"),
    (lambda: pitch_shift(CLIP.reshape(2, -1), sr_hz=SR_HZ, semitones=1), "(2, 8000)"),
    (lambda: pitch_shift(np.full(4, np.nan, np.float32), sr_hz=SR_HZ, semitones=1), "4 NaN"),
    (lambda: pitch_shift(np.zeros(4, np.int16), sr_hz=SR_HZ, semitones=1), "int16"),
    (lambda: audio_stretch(CLIP, sr_hz=SR_HZ, factor=-1), "-1"),
    (lambda: add_noise(CLIP, sr_hz=SR_HZ, amplitude=0.5, seed=1), "0.5"),
    (lambda: add_noise(CLIP, sr_hz=SR_HZ, amplitude=0.001, seed=None), "None"),
    (lambda: apply_gain(CLIP, sr_hz=SR_HZ, factor=0), "got 0"),
    (lambda: apply_audio(CLIP, sr_hz=SR_HZ, transform="transpose", params={"semitones": 1}), "'transpose'"),
])
def test_bad_arguments_are_refused_naming_the_value(call, needle):
    with pytest.raises(ValueError) as info:
        call()
    assert needle in str(info.value)
