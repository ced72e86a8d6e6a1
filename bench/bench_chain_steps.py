"""Per-clip cost of the two MIDI steps of the default chain that do the music: `features` and `augment`.

    python bench/bench_chain_steps.py [--realdata DIR] [--corpus groove|emopia] [--files 100] [--repeats 3]
                                      [--multiplier 4]

Files: every k-th file, `--files` of them, of a corpus under the real data corpus: `groove`, the
Groove MIDI Dataset v1.0.0 (Magenta, CC BY 4.0; drum performances with a tempo event), or `emopia`,
the EMOPIA development clips (research use only, see its README; piano transcriptions without a
tempo map that fits them, so the beat is tracked from the notes, and keys and chords are found).

Each file is copied into a temporary dataset and run in this one process as a worker runs it: the
`features` step on the original, then the `augment` step with `--multiplier` children that get their
features in the same step (the default chain), each step inside a write group whose sync (one
syncfs) is timed apart. Reported per original clip, the mean over the clips of each clip's best of
`--repeats` passes: CPU milliseconds of this process (so that other work on a shared machine counts
less) of the features step and of the augment step (all its children) without their syncs, wall
milliseconds of the syncs, and CPU milliseconds of parts measured apart on the same scores: feature
extraction of an in-memory score, the `.npz` encoding, rendering + parsing one child.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kellyd.atomic import write_group
from kellyd.handlers.augment import Augment
from kellyd.handlers.base import DatasetContext
from kellyd.handlers.features import Features, npz_bytes
from kellyd.music.midi_features import extract_midi
from kellyd.music.midi_io import parse_midi_bytes, read_score, score_midi_bytes
from kellyd.music.transforms import apply_midi
from kellyd.sample import Sample, sample_id_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._realdata, when run as a script
from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402

CORPORA = {"groove": "groove_midi", "emopia": "emopia_dev/midis"}


def corpus_sample(realdata: Path, corpus: str, count: int) -> list[Path]:
    files = sorted((realdata / CORPORA[corpus]).rglob("*.mid"))
    return files[:: max(1, len(files) // count)][:count]


def staged(files: list[Path], root: Path) -> list[Sample]:
    samples = []
    for i, src in enumerate(files):
        rel = Path("raw", "midi", f"{i:05d}_{src.name}")
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, root / rel)
        sha = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        samples.append(Sample(dataset_id="bench", origin_path=str(src), sample_id=sample_id_for(sha), sha256=sha,
                              kind="midi", file_path=rel.as_posix(), split="train", annotations={}))
    return samples


PARTS = ("features_step", "augment_step", "sync", "extract", "npz", "child_render_parse")


def timed_step(handler, sample: Sample):
    """(result, CPU seconds of the step, wall seconds of its sync) as a worker runs it: the step's
    writes are made durable together at its end."""
    started = time.process_time()
    with write_group() as group:
        result = handler(sample)
        ran = time.process_time()
        syncing = time.perf_counter()
        group.sync()
    return result, ran - started, time.perf_counter() - syncing


def one_pass(samples: list[Sample], root: Path, multiplier: int) -> tuple[np.ndarray, int]:
    """((clips, parts) seconds, children made) for a fresh dataset folder (no child file in place yet)."""
    shutil.rmtree(root / "processed", ignore_errors=True)
    ctx = DatasetContext("bench", root)
    features = Features(ctx)
    augment = Augment(ctx, multiplier=multiplier, child_features=True)
    seconds = np.zeros((len(samples), len(PARTS)))
    children = 0
    for i, sample in enumerate(samples):
        with_features, step_s, sync_s = timed_step(features, sample)
        derived, augment_s, augment_sync_s = timed_step(augment, with_features)
        children += len(derived.children)
        score = read_score(root / sample.file_path)
        started = time.process_time()
        extracted = extract_midi(score)
        extract_s = time.process_time() - started
        started = time.process_time()
        npz_bytes(extracted.arrays)
        npz_s = time.process_time() - started
        started = time.process_time()
        parse_midi_bytes(score_midi_bytes(apply_midi(score, "velocity", {"factor": 0.9})[0]))
        render_s = time.process_time() - started
        seconds[i] = (step_s, augment_s, sync_s + augment_sync_s, extract_s, npz_s, render_s)
    return seconds, children


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="groove")
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--multiplier", type=int, default=4)
    args = parser.parse_args()
    if skipped_without_corpus("bench_chain_steps", args.realdata, CORPORA[args.corpus]):
        return 0
    files = corpus_sample(args.realdata, args.corpus, args.files)
    with tempfile.TemporaryDirectory(prefix="kellyd-bench-steps-") as folder:
        root = Path(folder)
        samples = staged(files, root)
        passes = [one_pass(samples, root, args.multiplier) for _ in range(max(args.repeats, 1))]
    best_ms = np.min([p[0] for p in passes], axis=0).mean(axis=0) * 1000  # each clip's best, then the mean
    children = passes[0][1]
    print(f"{len(samples)} {args.corpus} clips, multiplier {args.multiplier}, {children} children; "
          f"each clip's best of {len(passes)} passes\n")
    print("| part | ms per original clip |")
    print("|---|---|")
    labels = {"features_step": "features step of the original (parse, extract, write json + npz), CPU",
              "augment_step": f"augment step ({args.multiplier} children rendered, parsed, featurised, written), CPU",
              "sync": "the two steps' syncs, wall",
              "extract": "feature extraction of the original's in-memory score",
              "npz": "npz encoding of the original's arrays",
              "child_render_parse": "render + parse of one child (velocity x0.9)"}
    for key, label in labels.items():
        print(f"| {label} | {best_ms[PARTS.index(key)]:.2f} |")
    print(f"\naugment step per child (CPU): "
          f"{best_ms[PARTS.index('augment_step')] * len(samples) / max(children, 1):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
