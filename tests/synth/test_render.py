"""Rendering synthetic MIDI to audio with FluidSynth (skipped where FluidSynth or a GM SoundFont is missing)."""

from __future__ import annotations

import io

import pytest
import soundfile as sf

from kellyd.handlers.base import DatasetContext
from kellyd.music.audio_features import extract_audio
from kellyd.music.transforms import pitch_class_of
from kellyd.synth.render import find_renderer
from kellyd.synth.synthesize import synthesize

needs_renderer = pytest.mark.skipif(find_renderer() is None,
                                    reason="fluidsynth and a GM SoundFont (Debian: fluid-soundfont-gm) not installed")


@needs_renderer
def test_rendered_audio_lasts_what_the_midi_lasts_and_tells_the_key(tmp_path):
    ctx = DatasetContext("ds", tmp_path / "ds")
    samples = synthesize(ctx, generator="harmony", count=6, seed=3, duration_s=8.0, render_audio=True, sr_hz=16000)
    midi, audio = samples[0::2], samples[1::2]
    assert [s.kind for s in midi] == ["midi"] * 6 and [s.kind for s in audio] == ["audio"] * 6
    right = 0
    for m, a in zip(midi, audio):
        assert a.file_path == m.file_path[:-len(".mid")] + ".wav"
        assert a.source["rendered_from"] == m.sample_id and a.annotations == m.annotations
        data = (ctx.root / a.file_path).read_bytes()
        info = sf.info(io.BytesIO(data))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames == round(m.annotations["duration_s"] * 16000)
        y, sr = sf.read(io.BytesIO(data), dtype="float32")
        found = extract_audio(y, sr_hz=sr).labels
        right += (pitch_class_of(found["key"]), found["mode"]) == (pitch_class_of(a.annotations["key"]),
                                                                   a.annotations["mode"])
    assert right >= 4, f"{right}/6 renderings read in their key"
    again = synthesize(ctx, generator="harmony", count=6, seed=3, duration_s=8.0, render_audio=True, sr_hz=16000)
    assert again == samples, "rendering is deterministic"


def test_render_audio_without_a_soundfont_is_refused_before_writing(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    with pytest.raises(ValueError, match="fluidsynth program and a General MIDI SoundFont"):
        synthesize(DatasetContext("ds", root), generator="melody", count=2, seed=1, render_audio=True,
                   soundfont=tmp_path / "missing.sf2")
    assert list(root.iterdir()) == []
