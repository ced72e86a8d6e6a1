"""Optional: synthetic MIDI rendered to audio with FluidSynth and a General MIDI SoundFont.

Needs the `fluidsynth` program and a GM SoundFont; on Debian and Ubuntu the
packages `fluidsynth` and `fluid-soundfont-gm` provide both (FluidR3_GM, MIT
licence, installed for offline use). Without them `find_renderer` returns
None and the synthesizer refuses `render_audio` up front, naming what is missing.

Rendering is deterministic (reverb and chorus off, one synthesis thread), so a
re-run writes the same bytes. The audio is mixed to mono at `sr_hz`, cut or
padded to the piece's duration (the release tail after the last bar is cut,
so the audio lasts what the MIDI lasts), and written as 16-bit PCM WAV.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from kellyd.atomic import TEMP_PREFIX, TEMP_SUFFIX
from kellyd.music.audio_transforms import limit_peak, wav_pcm16_bytes

SOUNDFONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/opt/homebrew/share/soundfonts/default.sf2"),
)
RENDER_GAIN = 0.6  # FluidSynth's master gain; its default (0.2) renders quietly
RENDER_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Renderer:
    fluidsynth: Path
    soundfont: Path

    @property
    def name(self) -> str:
        return self.soundfont.name


def find_renderer(soundfont: Path | None = None) -> Renderer | None:
    """FluidSynth and a SoundFont (`soundfont` if given, else the usual install places), or None."""
    program = shutil.which("fluidsynth")
    candidates = (soundfont,) if soundfont is not None else SOUNDFONT_CANDIDATES
    font = next((Path(c).resolve() for c in candidates if Path(c).is_file()), None)
    if program is None or font is None:
        return None
    return Renderer(Path(program), font)


def render_wav_bytes(renderer: Renderer, midi_path: Path, *, sr_hz: int, duration_s: float) -> bytes:
    """The MIDI file rendered to mono 16-bit WAV bytes at `sr_hz`, exactly `duration_s` long.

    The intermediate render is a temp file beside `midi_path`, removed again.
    Raises RuntimeError with FluidSynth's message if the render fails.
    """
    if isinstance(sr_hz, bool) or not isinstance(sr_hz, int) or not 8000 <= sr_hz <= 96000:
        raise ValueError(f"sr_hz must be an integer in [8000, 96000], got {sr_hz!r}")
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s!r}")
    fd, scratch = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{midi_path.name}.", suffix=TEMP_SUFFIX, dir=midi_path.parent)
    os.close(fd)
    try:
        command = [
            os.fspath(renderer.fluidsynth), "-n", "-i", "-q", "-g", str(RENDER_GAIN), "-r", str(sr_hz),
            "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0", "-o", "synth.cpu-cores=1",
            "-F", scratch, "-T", "wav", "-O", "s16", os.fspath(renderer.soundfont), os.fspath(midi_path),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"fluidsynth failed on {midi_path.name} ({done.returncode}): {done.stderr.strip()}")
        frames, rendered_hz = sf.read(scratch, dtype="float32", always_2d=True)
    finally:
        os.unlink(scratch)
    if rendered_hz != sr_hz:
        raise RuntimeError(f"fluidsynth rendered at {rendered_hz} Hz, asked for {sr_hz} Hz")
    mono = frames.mean(axis=1)
    wanted = int(round(duration_s * sr_hz))
    mono = np.pad(mono[:wanted], (0, max(0, wanted - len(mono))))
    return wav_pcm16_bytes(limit_peak(mono), sr_hz=sr_hz)
