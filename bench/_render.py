"""MIDI rendered to audio with FluidSynth and a General MIDI SoundFont, cached, for the song benches.

    from bench._render import render_midi
    wav = render_midi(midi_path)          # bench/out/render_cache/<stem>-<hash>.wav, 22,050 Hz mono

The reference labels of a MIDI file (POP909's chords and key, Slakh's notes) then
score an audio analysis of the same music; the README says this audio is rendered,
not recorded. A rendering is keyed by the MIDI's bytes, the SoundFont and the rate, and
reused by every later run. `RenderUnavailable` says why nothing could be rendered
(no fluidsynth program, no SoundFont), so a bench can skip that part with the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

CACHE_DIR = Path(__file__).resolve().parent / "out" / "render_cache"
SOUNDFONT_CANDIDATES = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
)
RENDER_SR_HZ = 22050
RENDER_TIMEOUT_S = 600


class RenderUnavailable(RuntimeError):
    """FluidSynth or a General MIDI SoundFont is missing."""


def find_soundfont() -> Path:
    """The SoundFont named by $KELLYD_SOUNDFONT, else the first of SOUNDFONT_CANDIDATES present."""
    named = os.environ.get("KELLYD_SOUNDFONT")
    for path in ([Path(named)] if named else []) + list(SOUNDFONT_CANDIDATES):
        if path.is_file():
            return path
    raise RenderUnavailable("no General MIDI SoundFont found (set KELLYD_SOUNDFONT to an .sf2 file)")


def render_midi(midi_path: Path, *, sr_hz: int = RENDER_SR_HZ, cache_dir: Path = CACHE_DIR) -> Path:
    """A mono WAV of `midi_path` at `sr_hz` (rendered once, then read from the cache)."""
    program = shutil.which("fluidsynth")
    if program is None:
        raise RenderUnavailable("the fluidsynth program is not installed")
    soundfont = find_soundfont()
    digest = hashlib.sha256(Path(midi_path).read_bytes() + str(soundfont).encode() + str(sr_hz).encode())
    out = cache_dir / f"{Path(midi_path).stem}-{digest.hexdigest()[:16]}.wav"
    if out.exists():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    stereo = out.with_suffix(".stereo.tmp.wav")
    subprocess.run(
        [program, "-ni", "-q", "-g", "0.6", "-r", str(sr_hz), "-F", str(stereo), str(soundfont), str(midi_path)],
        check=True, timeout=RENDER_TIMEOUT_S, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    samples, rate = sf.read(stereo, dtype="float32", always_2d=True)
    stereo.unlink()
    tmp = out.with_suffix(".tmp.wav")
    sf.write(tmp, samples.mean(axis=1).astype(np.float32), rate, subtype="FLOAT")
    tmp.replace(out)  # atomic: a killed run leaves no half-written cache entry
    return out
