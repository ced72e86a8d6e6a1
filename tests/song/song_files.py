"""Short songs written in tmp_path for the song-pipeline tests, with real, broken or no tags.

The music is POP909's song 001 rendered with FluidSynth when it and a General MIDI
SoundFont are installed (`make system-deps`), else chords, bass and drums synthesised
here: every test runs either way, on music with a beat, a key and more than one part.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.song.synth_audio import SR_HZ, progression

REPO = Path(__file__).resolve().parents[2]
POP909_001 = REPO / "tests" / "corpus" / "pop909" / "001" / "001.mid"


def song(seconds: float = 12.0) -> tuple[np.ndarray, int]:
    """(mono float32 signal, rate) of a short song."""
    from kellyd.synth.render import find_renderer, render_wav_bytes

    renderer = find_renderer()
    if renderer is not None:
        wav = render_wav_bytes(renderer, POP909_001, sr_hz=SR_HZ, duration_s=seconds)
        y, sr = sf.read(io.BytesIO(wav), dtype="float32")
        return y, sr
    # I-vi-IV-V in C at 100 bpm over a click on each beat and a kick on each bar (synth_audio.progression).
    y, _chord_s = progression([(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)], bpm=100.0, repeats=4)
    samples = int(seconds * SR_HZ)
    y = np.pad(y[:samples], (0, max(0, samples - len(y))))
    return (0.5 * y / np.abs(y).max()).astype(np.float32), SR_HZ


def write_tagged_flac(path: Path, y: np.ndarray, sr: int, **tags: str) -> Path:
    """A FLAC file with Vorbis comments `tags` and an embedded front cover."""
    from mutagen.flac import FLAC, Picture

    sf.write(path, y, sr, format="FLAC")
    audio = FLAC(path)
    for key, value in tags.items():
        audio[key] = value
    cover = Picture()
    cover.type, cover.mime, cover.data = 3, "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    audio.add_picture(cover)
    audio.save()
    return path


def write_mp3_with_broken_tag(path: Path, y: np.ndarray, sr: int) -> Path:
    """An MP3 whose ID3v2 tag is garbage: an unknown tag version (2.5) and a frame whose size runs past the tag.

    mutagen refuses the tag; the decoder skips it and plays the audio.
    """
    buffer = io.BytesIO()
    sf.write(buffer, y, sr, format="MP3")
    body = b"TIT2" + (0x7FFFFFF0).to_bytes(4, "big") + b"\x00\x00" + bytes(range(256)) * 2
    size = len(body)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    path.write_bytes(b"ID3\x05\x00\x00" + syncsafe + body + buffer.getvalue())
    return path


def write_untagged_ogg(path: Path, y: np.ndarray, sr: int) -> Path:
    sf.write(path, y, sr, format="OGG", subtype="VORBIS")
    return path
