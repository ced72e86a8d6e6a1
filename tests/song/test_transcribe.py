"""Audio to notes: both backends find the notes of a synthesised piece; the MIDI written from them
goes through the MIDI feature extractor; a missing Basic Pitch is named, not fatal."""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music.midi_features import extract_midi
from kellyd.song.transcribe import basic_pitch_available, notes_score, transcribe
from tests.song.synth_audio import SR_HZ, tone

MELODY = (60, 64, 67, 72, 67, 64)  # C E G C G E, 0.5 s each


LEAD_S = 0.5  # silence first: an onset needs a frame before it


def _melody() -> np.ndarray:
    y = np.zeros(int(0.5 * SR_HZ * (len(MELODY) + 2)), np.float32)
    fade = np.linspace(1.0, 0.0, int(0.05 * SR_HZ), dtype=np.float32)
    for i, pitch in enumerate(MELODY):
        part = tone(440.0 * 2 ** ((pitch - 69) / 12), 0.45, amplitude=0.3)
        part[-len(fade):] *= fade  # a released note, not a click
        at = int((LEAD_S + i * 0.5) * SR_HZ)
        y[at:at + len(part)] += part
    return y


@pytest.mark.parametrize("backend", ["cqt", "basic_pitch"])
def test_a_melody_is_transcribed(backend):
    if backend == "basic_pitch" and basic_pitch_available():
        pytest.skip(basic_pitch_available())
    result = transcribe(_melody(), SR_HZ, backend=backend)
    assert result.backend == backend and result.note == ""
    onsets = np.round((result.notes.start_s - LEAD_S) / 0.5).astype(int)
    found = {(int(o), int(p)) for o, p in zip(onsets, result.notes.pitch)}
    expected = set(enumerate(MELODY))
    assert len(found & expected) >= len(MELODY) - 1, sorted(found)
    assert len(result.notes) <= 2 * len(MELODY)


def test_transcribed_notes_go_through_the_midi_extractor():
    result = transcribe(_melody(), SR_HZ, backend="cqt")
    score = notes_score(result.notes, tempo_bpm=120.0, meter=4, duration_s=4.0)
    extracted = extract_midi(score)
    assert extracted.labels["tempo_bpm"] == pytest.approx(120.0) and extracted.labels["time_signature"] == "4/4"
    assert extracted.scalars and "no_notes" not in extracted.flags
    assert len(result.notes) >= len(MELODY) - 1


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend must be"):
        transcribe(_melody(), SR_HZ, backend="magic")
