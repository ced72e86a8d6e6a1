"""Throughput of the audio feature extractor against the old per-feature librosa script.

    python bench/bench_audio_features.py [--realdata DIR] [--repeats N] [--skip-cold-start]

Files: every audio file of the real data corpus (wav, flac, ogg, mp3; see its
README for sources and licences). Both pipelines run in this process on the
same files, one after the other in each repeat, after one warm-up file each
(imports and numba compilation are not counted there; the cold-start section
measures them).

- kellyd: `extract_audio_file` (decode once, soxr to 16 kHz, one STFT for every
  feature, tempo, beats, key, loudness, clipping and silence checks);
- old: what the previous pipeline did per file: `librosa.load` at its default
  22,050 Hz, then one librosa call per feature (melspectrogram, mfcc,
  chroma_stft, spectral_centroid, rolloff, bandwidth, flatness,
  zero_crossing_rate, rms, onset_strength, beat_track), each recomputing its
  own STFT.

Throughput is seconds of audio per second of wall time, the median over the
repeats; within a repeat the two pipelines alternate file by file, so that a
change of load on a shared machine hits both. Cold start: two fresh interpreters with the same, initially empty,
numba cache folder, each configuring the cache, importing the extractor and
running it once: the first compiles librosa's numba kernels, the second loads
them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np

from kellyd.music.audio_features import extract_audio_file
from kellyd.music.audio_io import probe_audio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._realdata, when run as a script
from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
TARGET_RATIO = 3.0
WARM_UP_MIN_S = 3.0

COLD_START = """
import json, sys, time
started = time.perf_counter()
from kellyd.music.audio_numba import configure_numba_cache
configure_numba_cache(sys.argv[1])
from kellyd.music.audio_features import extract_audio_file
imported = time.perf_counter()
extract_audio_file(sys.argv[2])
done = time.perf_counter()
print(json.dumps({"import_s": imported - started, "first_file_s": done - imported, "total_s": done - started}))
"""


def old_pipeline(path: Path) -> dict[str, np.ndarray]:
    """The previous per-file script: one librosa call per feature at librosa's default rate."""
    y, sr = librosa.load(path)
    features = {
        "mel": librosa.feature.melspectrogram(y=y, sr=sr),
        "mfcc": librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20),
        "chroma": librosa.feature.chroma_stft(y=y, sr=sr),
        "centroid": librosa.feature.spectral_centroid(y=y, sr=sr),
        "rolloff": librosa.feature.spectral_rolloff(y=y, sr=sr),
        "bandwidth": librosa.feature.spectral_bandwidth(y=y, sr=sr),
        "flatness": librosa.feature.spectral_flatness(y=y),
        "zcr": librosa.feature.zero_crossing_rate(y),
        "rms": librosa.feature.rms(y=y),
        "onset": librosa.onset.onset_strength(y=y, sr=sr),
    }
    tempo, beats = librosa.beat.beat_track(y=y, sr=sr)
    features["tempo"] = np.atleast_1d(tempo)
    features["beats"] = beats
    return features


def ours(path: Path) -> object:
    return extract_audio_file(path)


def timed(run, path: Path) -> float:
    started = time.perf_counter()
    run(path)
    return time.perf_counter() - started


def interleaved_pass(files: list[Path], order: tuple[str, str]) -> dict[str, float]:
    """Wall seconds of each pipeline over all files, alternating the pipelines file by file.

    On a shared machine the load changes from second to second; running both
    pipelines on each file before the next keeps them under the same load.
    """
    runs = {"kellyd": ours, "old": old_pipeline}
    totals = dict.fromkeys(order, 0.0)
    for path in files:
        for name in order:
            totals[name] += timed(runs[name], path)
    return totals


def cold_starts(clip: Path) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="kellyd-numba-bench-") as state_dir:
        runs = []
        for _ in range(2):
            done = subprocess.run([sys.executable, "-c", COLD_START, state_dir, str(clip)], env=env,
                                  capture_output=True, text=True, check=True, cwd=REPO_ROOT)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-cold-start", action="store_true")
    args = parser.parse_args(argv)
    if skipped_without_corpus("bench_audio_features", args.realdata, "sonic_pi", "beatnet"):
        return 0

    files = sorted(p for p in args.realdata.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    durations = {p: probe_audio(p).duration_s for p in files}
    audio_s = sum(durations.values())
    print("# Audio feature throughput\n")
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset (OpenBLAS uses every core)")
    print(f"{len(files)} files, {audio_s:.1f} s of audio, {os.cpu_count()} CPU cores, one process, "
          f"OPENBLAS_NUM_THREADS={blas_threads}, {args.repeats} repeats (median)\n")
    print("| file | duration s |\n|---|---|")
    for path in files:
        print(f"| {path.relative_to(args.realdata)} | {durations[path]:.2f} |")

    # The shortest clip long enough to have a tempo, so that the warm-up also loads the beat tracker.
    warm_up = min((p for p in files if durations[p] >= WARM_UP_MIN_S), key=durations.get)
    ours(warm_up)
    old_pipeline(warm_up)
    walls: dict[str, list[float]] = {"kellyd": [], "old": []}
    for repeat in range(args.repeats):
        order = ("kellyd", "old") if repeat % 2 == 0 else ("old", "kellyd")
        for name, wall in interleaved_pass(files, order).items():
            walls[name].append(wall)
    print("\n| pipeline | wall s median | wall s best | all repeats | audio s per wall s (median) |"
          "\n|---|---|---|---|---|")
    for name in ("kellyd", "old"):
        runs = ", ".join(f"{w:.2f}" for w in walls[name])
        median = statistics.median(walls[name])
        print(f"| {name} | {median:.2f} | {min(walls[name]):.2f} | {runs} | {audio_s / median:.1f} |")
    ratio_median = statistics.median(walls["old"]) / statistics.median(walls["kellyd"])
    ratio_best = min(walls["old"]) / min(walls["kellyd"])
    print(f"\nkellyd / old throughput: **{ratio_median:.1f}x** on medians, {ratio_best:.1f}x on best runs "
          f"(target >= {TARGET_RATIO:g}x: {'met' if ratio_median >= TARGET_RATIO else 'NOT met'})")

    if not args.skip_cold_start:
        first, second = cold_starts(warm_up)
        print("\n## Cold start with a persistent numba cache (fresh interpreter each)\n")
        print("| start | import s | first file s | total s |\n|---|---|---|---|")
        for name, run in (("first (empty cache: compiles)", first), ("second (cache filled)", second)):
            print(f"| {name} | {run['import_s']:.2f} | {run['first_file_s']:.2f} | {run['total_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
