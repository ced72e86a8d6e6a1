"""Throughput of the augment step: MIDI children of the Groove corpus, audio children of the real clips.

    python bench/bench_augment.py [--realdata DIR] [--workers 2] [--multiplier 10] [--audio-multiplier 10] [--limit N]

Sources (under the real data corpus; see its README for licences):
- Groove MIDI Dataset v1.0.0 (Magenta, CC BY 4.0): all 1,150 drum performances
  listed in `info.csv`;
- every audio clip of the corpus (wav, flac, ogg, mp3 in all folders).

The files are copied into a temporary dataset and hashed as the import step
would, then `kellyd.handlers.augment.Augment` runs on each as a training sample in a
process pool of `--workers` processes (started and warmed up before the clock
starts). Each child is rendered, hashed and written atomically. A second pass
over the same samples measures a re-run, where every child file already holds
the right bytes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from kellyd.handlers.augment import Augment
from kellyd.handlers.base import DatasetContext
from kellyd.sample import Sample, sample_id_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._realdata, when run as a script
from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SR_HZ = 16000

_handler: Augment | None = None


def _start_worker(handler: Augment) -> None:
    global _handler
    _handler = handler
    import kellyd.music.audio_io  # noqa: F401  (import cost is start-up, not per file)
    import kellyd.music.audio_transforms  # noqa: F401


def _augment(sample: Sample) -> tuple[int, float]:
    """Children made, and the seconds of audio they hold (0 for MIDI)."""
    import soundfile as sf

    children = _handler(sample).children
    audio_s = sum(sf.info(str(_handler.ctx.root / c.file_path)).duration for c in children if c.kind == "audio")
    return len(children), audio_s


def _warm(_: int) -> bool:
    return _handler is not None


def import_files(sources: list[Path], realdata: Path, root: Path, kind: str) -> list[Sample]:
    samples = []
    for source in sources:
        rel = Path("raw", kind, source.relative_to(realdata))
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        sha = hashlib.sha256(target.read_bytes()).hexdigest()
        samples.append(Sample(dataset_id="bench", origin_path=str(source), sample_id=sample_id_for(sha), sha256=sha,
                              kind=kind, file_path=rel.as_posix(), split="train",
                              annotations={"tempo_bpm": 120.0}))
    return samples


def run(pool: ProcessPoolExecutor, samples: list[Sample], workers: int) -> tuple[float, int, float]:
    chunk = max(1, len(samples) // (workers * 8))
    t0 = time.perf_counter()
    results = list(pool.map(_augment, samples, chunksize=chunk))
    return time.perf_counter() - t0, sum(r[0] for r in results), sum(r[1] for r in results)


def bench(title: str, samples: list[Sample], root: Path, *, multiplier: int, workers: int) -> None:
    handler = Augment(DatasetContext("bench", root), multiplier=multiplier, sr_hz=SR_HZ)
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(handler,)) as pool:
        list(pool.map(_warm, range(workers * 4)))
        first_s, children, audio_s = run(pool, samples, workers)
        again_s, _, _ = run(pool, samples, workers)
    print(f"\n## {title}: {len(samples)} parents x {multiplier}, {workers} worker processes\n")
    print("| pass | wall s | children | children/s | parents/s |" + (" audio s written per s |" if audio_s else ""))
    print("|---|---|---|---|---|" + ("---|" if audio_s else ""))
    for name, seconds in (("first", first_s), ("re-run (files in place)", again_s)):
        row = f"| {name} | {seconds:.2f} | {children} | {children / seconds:.1f} | {len(samples) / seconds:.1f} |"
        print(row + (f" {audio_s / seconds:.1f} |" if audio_s else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--multiplier", type=int, default=10)
    parser.add_argument("--audio-multiplier", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None, help="only the first N Groove files")
    args = parser.parse_args()
    if skipped_without_corpus("bench_augment", args.realdata, "groove_midi/info.csv"):
        return 0

    with open(args.realdata / "groove_midi" / "info.csv", newline="") as f:
        groove = [args.realdata / "groove_midi" / row["midi_filename"] for row in csv.DictReader(f)]
    groove = groove[: args.limit] if args.limit else groove
    clips = sorted(p for p in args.realdata.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)

    with tempfile.TemporaryDirectory(prefix="kellyd-bench-augment-") as folder:
        root = Path(folder)
        midi = import_files(groove, args.realdata, root, "midi")
        audio = import_files(clips, args.realdata, root, "audio")
        bench("MIDI: Groove MIDI Dataset", midi, root, multiplier=args.multiplier, workers=args.workers)
        bench("Audio: real data clips", audio, root, multiplier=args.audio_multiplier, workers=args.workers)

    print(f"\nfiles: {len(groove)} Groove MIDI files from {args.realdata / 'groove_midi' / 'info.csv'}; "
          f"{len(clips)} audio clips:")
    for clip in clips:
        print(f"- {clip.relative_to(args.realdata)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
