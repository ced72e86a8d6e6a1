"""Speed and memory of the whole-song analysis (the `analyze` step without Demucs).

    python bench/bench_song.py [--realdata DIR] [--quick]

Speed: POP909 song 001 rendered from its MIDI with FluidSynth (bench/_render.py; the
audio is rendered, not recorded), cut or looped to 3 minutes, analysed in this process
on at most 2 CPU cores (the affinity is set when the machine has more), after one
warm-up run that pays imports and numba compilation. Printed per part: seconds and
realtime factor (seconds of work per second of audio; below 1 is faster than real
time): decode (the FLAC, once, mono, 22,050 Hz), tags (mutagen), front end (STFT, CQT),
rhythm, harmony, sections (kellyd.song's own steps, called as analyze_music calls
them: keep `timed_parts` in step with it), stems (the offline hpss backend), notes (Basic Pitch when installed, else
the CQT fallback; the backend is printed). Target: under 20 s in all.

Memory: a 1-hour FLAC made in a temporary folder by looping the song, analysed by the
real `Analyze` handler in a fresh subprocess; its peak RSS is printed with what it
analysed (the first `limits.max_audio_analysis_s` seconds: the rest is never decoded).
`--quick`: a 30 s song and a 10-minute file (a check that the script runs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402
from bench._song_notes_stems import use_own_numba_cache  # noqa: E402

SONG_S = 180.0
LONG_S = 3600.0
TARGET_S = 20.0
CORES = 2


def pin_cores() -> int:
    """Run on at most CORES cores (set before numpy and onnxruntime start their thread pools)."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(name, str(CORES))
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))[:CORES]
        os.sched_setaffinity(0, cores)
        return len(cores)
    return os.cpu_count() or 1


def song_file(realdata: Path, folder: Path, seconds: float) -> Path:
    """POP909 001 rendered, looped or cut to `seconds`, as a FLAC with a few tags."""
    import numpy as np
    import soundfile as sf
    from mutagen.flac import FLAC

    from bench._render import render_midi

    y, sr = sf.read(render_midi(realdata / "pop909" / "001" / "001.mid"), dtype="float32")
    n = int(seconds * sr)
    y = np.tile(y, int(np.ceil(n / len(y))))[:n]
    path = folder / "song.flac"
    sf.write(path, y, sr)
    tags = FLAC(path)
    tags.update({"title": "POP909 001 (rendered)", "artist": "POP909", "tracknumber": "1"})
    tags.save()
    return path


def timed_parts(path: Path) -> tuple[list[tuple[str, float]], str]:
    """(part, seconds) for one analysis of `path`, and the notes backend used."""
    from kellyd.music.audio_io import mix_to_mono, read_native, resample
    from kellyd.song.frontend import ANALYSIS_SR_HZ, song_signal
    from kellyd.song.harmony import analyse_harmony
    from kellyd.song.music import rhythm_figures
    from kellyd.song.rhythm import analyse_rhythm
    from kellyd.song.sections import find_sections
    from kellyd.song.stems import separate_hpss
    from kellyd.song.tags import read_tags
    from kellyd.song.transcribe import transcribe

    parts: list[tuple[str, float]] = []

    def clock(name, fn, *args, **kwargs):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        parts.append((name, time.perf_counter() - start))
        return result

    native = clock("decode", read_native, path)
    y = clock("decode", lambda: resample(mix_to_mono(native.samples), from_hz=native.sr_hz, to_hz=ANALYSIS_SR_HZ))
    clock("tags", read_tags, path)
    signal = clock("front end", song_signal, y, ANALYSIS_SR_HZ)
    rhythm = clock("rhythm", analyse_rhythm, signal)
    clock("harmony", analyse_harmony, signal, rhythm.beats_s, rhythm.downbeats_s)
    clock("rhythm", rhythm_figures, signal, rhythm)
    clock("sections", find_sections, signal, rhythm.beats_s)
    clock("stems", separate_hpss, y, ANALYSIS_SR_HZ)
    notes = clock("notes", transcribe, y, ANALYSIS_SR_HZ)
    merged: dict[str, float] = {}
    for name, seconds in parts:
        merged[name] = merged.get(name, 0.0) + seconds
    return list(merged.items()), notes.backend


LONG_FILE_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from kellyd.handlers.analyze import Analyze
from kellyd.handlers.base import DatasetContext
from kellyd.sample import Sample
root = Path(sys.argv[1])
start = time.perf_counter()
out = Analyze(DatasetContext("bench", root))(Sample(dataset_id="bench", origin_path="", sample_id="long",
                                                    kind="audio", file_path="long.flac"))
analysis = json.loads((root / out.outputs["analysis"]).read_text())
print(json.dumps({"seconds": time.perf_counter() - start, "analysed_s": analysis["analysed_s"],
                  "file_duration_s": analysis["file_duration_s"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def long_file_memory(song: Path, folder: Path, seconds: float) -> dict:
    """Peak RSS of the Analyze handler on a `seconds`-long FLAC made by looping `song` (written block by block)."""
    import soundfile as sf

    y, sr = sf.read(song, dtype="float32")
    path = folder / "long.flac"
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, format="FLAC") as f:
        left = int(seconds * sr)
        while left > 0:
            f.write(y[:left])
            left -= min(left, len(y))
    done = subprocess.run([sys.executable, "-c", LONG_FILE_CHILD, str(folder)], capture_output=True, text=True,
                          check=True, env=os.environ)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--quick", action="store_true", help="a 30 s song and a 10-minute file")
    args = parser.parse_args(argv)
    use_own_numba_cache()
    if skipped_without_corpus("bench_song", args.realdata, "pop909/001/001.mid"):
        return 0
    cores = pin_cores()
    song_s, long_s = (30.0, 600.0) if args.quick else (SONG_S, LONG_S)
    with tempfile.TemporaryDirectory(prefix="kellyd-bench-song-") as tmp:
        folder = Path(tmp)
        path = song_file(args.realdata, folder, song_s)
        timed_parts(path)  # warm-up: imports, numba compilation, Basic Pitch's model load
        parts, backend = timed_parts(path)
        total_s = sum(s for _, s in parts)
        print(f"song: POP909 001 rendered, {song_s:.0f} s, on {cores} cores; notes backend: {backend}")
        print("| part | seconds | realtime factor |")
        print("|---|---|---|")
        for name, seconds in parts:
            print(f"| {name} | {seconds:.2f} | {seconds / song_s:.4f} |")
        verdict = "within" if total_s < TARGET_S * song_s / SONG_S else "over"
        print(f"| total | {total_s:.2f} | {total_s / song_s:.4f} |  ({verdict} the {TARGET_S:g} s per 3 minutes target)")
        memory = long_file_memory(path, folder, long_s)
        print(f"\n{long_s / 60:.0f}-minute file: analysed its first {memory['analysed_s']:.0f} s of "
              f"{memory['file_duration_s']:.0f} s in {memory['seconds']:.1f} s; peak RSS {memory['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
