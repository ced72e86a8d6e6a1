"""Throughput of MIDI feature extraction on the Groove MIDI Dataset, against a pretty_midi baseline.

    python bench/bench_midi_features.py [--realdata DIR] [--workers 2] [--repeats 3] [--limit N]

Both pipelines run the same extraction (`kellyd.music.midi_features.extract_midi`)
on the same files in the same kind of process pool; they differ only in how a
file becomes a `Score`:
- ours: `kellyd.music.midi_io.read_score` (symusic, C++);
- baseline: `pretty_midi.PrettyMIDI`, converted to the same `Score`.
Each worker returns only the labels, so the figures measure parsing and
features, not moving arrays between processes. Pools are started and warmed up
(modules imported) before the clock starts; each figure is the median of
`--repeats` runs, the two pipelines alternating.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from kellyd.music.midi_features import extract_midi
from kellyd.music.midi_io import read_score
from kellyd.music.notes import DEFAULT_TEMPO_BPM, Notes, Score, TempoMap, TimeSignature, Track

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._realdata, when run as a script
from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402



def score_from_pretty_midi(path: str) -> Score:
    """The baseline reader: pretty_midi's parse, turned into the same `Score` as `read_score` gives."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(path)
    tracks = []
    for inst in pm.instruments:
        rows = [(n.start, n.end, n.pitch, n.velocity) for n in inst.notes]
        start, end, pitch, velocity = (list(c) for c in zip(*rows)) if rows else ([], [], [], [])
        tracks.append(Track(inst.name, inst.program, inst.is_drum, Notes.from_lists(start, end, pitch, velocity)))
    change_s, bpm = pm.get_tempo_changes()
    if len(bpm) == 0:
        change_s, bpm = np.zeros(1), np.array([DEFAULT_TEMPO_BPM])
    change_s = np.asarray(change_s, dtype=np.float64).copy()
    change_s[0] = 0.0
    default_only = bool(len(bpm) == 1 and abs(bpm[0] - DEFAULT_TEMPO_BPM) < 1e-3)
    sigs = tuple(TimeSignature(float(ts.time), int(ts.numerator), int(ts.denominator)) for ts in pm.time_signature_changes)
    return Score(
        tracks=tuple(tracks),
        tempo=TempoMap(change_s, np.asarray(bpm, dtype=np.float64), default_only),
        time_signatures=sigs,
        duration_s=float(pm.get_end_time()),
        ticks_per_quarter=int(pm.resolution),
    )


def ours(path: str) -> dict:
    return dict(extract_midi(read_score(path)).labels)


def baseline(path: str) -> dict:
    return dict(extract_midi(score_from_pretty_midi(path)).labels)


def _warm_up(_: int) -> bool:
    import pretty_midi  # noqa: F401  (import cost is start-up, not per file)

    return True


def run_pool(pool: ProcessPoolExecutor, func, paths: list[str], workers: int) -> tuple[float, list[dict]]:
    chunk = max(1, len(paths) // (workers * 8))
    t0 = time.perf_counter()
    labels = list(pool.map(func, paths, chunksize=chunk))
    return time.perf_counter() - t0, labels


def groove_files(realdata: Path) -> list[str]:
    return sorted(str(p) for p in (realdata / "groove_midi").rglob("*.mid"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="first N files only (0: all)")
    args = parser.parse_args(argv)
    if skipped_without_corpus("bench_midi_features", args.realdata, "groove_midi"):
        return 0
    paths = groove_files(args.realdata)
    if args.limit:
        paths = paths[: args.limit]
    if not paths:
        print(f"no Groove MIDI files under {args.realdata}", file=sys.stderr)
        return 1

    times: dict[str, list[float]] = {"ours": [], "baseline": []}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        list(pool.map(_warm_up, range(args.workers * 4)))
        for _ in range(args.repeats):
            t, ours_labels = run_pool(pool, ours, paths, args.workers)
            times["ours"].append(t)
            t, base_labels = run_pool(pool, baseline, paths, args.workers)
            times["baseline"].append(t)
    same = sum(a == b for a, b in zip(ours_labels, base_labels))
    numeric_gap = max(
        (abs(a[k] - b[k]) for a, b in zip(ours_labels, base_labels) for k in a.keys() & b.keys()
         if isinstance(a[k], float) and isinstance(b[k], float)),
        default=0.0,
    )  # fmt: skip

    t_single = time.perf_counter()
    for p in paths[:200]:
        ours(p)
    ours_single = (time.perf_counter() - t_single) / min(len(paths), 200)
    t_single = time.perf_counter()
    for p in paths[:200]:
        baseline(p)
    base_single = (time.perf_counter() - t_single) / min(len(paths), 200)

    ours_rate = len(paths) / statistics.median(times["ours"])
    base_rate = len(paths) / statistics.median(times["baseline"])
    print(f"## MIDI feature extraction throughput ({len(paths)} Groove MIDI files, {args.workers} worker processes)\n")
    print("| pipeline | files/s (median of %d) | runs (s) | one process, ms/file |" % args.repeats)
    print("|---|---|---|---|")
    print(f"| ours: symusic read_score + extract_midi | {ours_rate:.0f} | {', '.join(f'{t:.2f}' for t in times['ours'])} | {ours_single * 1000:.2f} |")
    print(f"| baseline: pretty_midi + the same extract_midi | {base_rate:.0f} | {', '.join(f'{t:.2f}' for t in times['baseline'])} | {base_single * 1000:.2f} |")
    print(f"\nRatio ours / baseline: {ours_rate / base_rate:.1f}x (target >= 5x).")
    print(
        f"Identical labels from both readers on {same} of {len(paths)} files; the others differ because symusic"
        f" keeps times in float32 (microseconds), which moves a few labels in the last digits and, on sparse"
        f" files, can tip a near-tie (largest numeric label gap {numeric_gap:.4f}) or a category at its threshold."
    )
    print(f"Files: every .mid under {args.realdata / 'groove_midi'}" + (f" (first {args.limit})" if args.limit else "") + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
