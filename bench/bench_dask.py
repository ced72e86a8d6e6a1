"""Files per second on a real Dask cluster (1, 2 and 4 worker processes on this machine) beside the
local process pool (1, 2 and 4 workers), measured in the same run, and what each step costs per file.

Files used: MIDI files of ../shared/realdata/groove_midi/ (Groove MIDI Dataset v1.0.0, Magenta, CC BY 4.0)
and audio clips of ../shared/realdata/sonic_pi/ (CC0) and librosa/ (CC BY 3.0 / CC BY-NC, internal
benchmark only), or --realdata DIR. Each setup gets a fresh tree and runs kellyd's own batch runner (the
runner of `kellyd import`) with the chain import + annotate + features: a first batch warms the workers
(imports, numba), a second one is timed. The Dask setups start `dask scheduler` and N `dask worker`
processes (--nthreads 1) on 127.0.0.1, the commands of the distributed package.

Prints one JSON line per setup and kind (midi / audio): files, seconds, files/s, and the mean seconds
per file of each step measured inside the workers; then songs per hour per worker process for each step.

Run: .venv/bin/python bench/bench_dask.py [--midi N] [--audio N] [--workers 1 2 4] [--realdata DIR]
Quick check: .venv/bin/python bench/bench_dask.py --midi 12 --audio 2 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402
from kellyd.batch import batch_runner, files_to_import, run_until_idle  # noqa: E402
from kellyd.config import load_config  # noqa: E402
from kellyd.log import configure_logging  # noqa: E402
from tests.daemon.dask_cluster import DaskCluster  # noqa: E402
from tests.daemon.harness import make_tree  # noqa: E402

CHAIN = ["import", "annotate", "features"]
KINDS = {"midi": "GroovePredictor", "audio": "EmotionRecognizer"}


def corpus_files(realdata: Path, kind: str, count: int) -> list[Path]:
    if kind == "midi":
        found = sorted(realdata.glob("groove_midi/**/*.mid"))
    else:
        found = sorted([*realdata.glob("sonic_pi/*.flac"), *realdata.glob("librosa/*.ogg")])
    if len(found) < 2 * count:
        raise SystemExit(f"bench_dask: {kind}: {len(found)} files in the corpus, {2 * count} needed (warm-up + timed)")
    return found[:2 * count]


def copy_into(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True)
    for index, src in enumerate(files):
        shutil.copyfile(src, folder / f"{index:05d}_{src.name}")  # corpus names repeat across folders


def run_batch(runner, cfg, dataset_id: str, folder: Path) -> dict:
    """Import `folder` through the whole chain; wall time and the seconds each step took in the workers."""
    from kellyd.runtime import Counters

    runner.counters = Counters()
    files = files_to_import(folder, dataset_id, cfg.watch.ignore, move=False)
    started = time.monotonic()
    runner.enqueue(files, now=time.time())
    run_until_idle(runner)
    seconds = time.monotonic() - started
    counters = runner.counters
    return {"files": len(files), "seconds": seconds, "samples": counters.samples_added,
            "quarantined": counters.quarantined, "step_s": dict(counters.step_seconds)}


def measure(setup: str, workers: int, files: dict[str, list[Path]], address: str | None) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        datasets = {kind: {"target_model": model, "chain": CHAIN} for kind, model in KINDS.items() if files[kind]}
        executor = {"workers": workers} | ({"kind": "dask", "address": address} if address else {})
        tree = make_tree(Path(tmp), datasets=datasets, extra={"executor": executor})
        cfg = load_config(tree.config)
        for kind, paths in files.items():
            if not paths:
                continue
            half = len(paths) // 2
            copy_into(paths[:half], tree.root / f"warm-{kind}")
            copy_into(paths[half:], tree.root / f"timed-{kind}")
            with batch_runner(cfg, kind) as runner:  # one pool or client for both batches
                run_batch(runner, cfg, kind, tree.root / f"warm-{kind}")  # worker imports, numba compilation
                result = run_batch(runner, cfg, kind, tree.root / f"timed-{kind}")
            per_file = {step: round(s / max(1, result["samples"]), 4) for step, s in result["step_s"].items()}
            rows.append({"setup": setup, "workers": workers, "kind": kind, "files": result["files"],
                         "samples": result["samples"], "quarantined": result["quarantined"],
                         "seconds": round(result["seconds"], 2),
                         "files_per_s": round(result["files"] / result["seconds"], 2), "step_s_per_file": per_file})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def with_cluster(workers: int, files: dict[str, list[Path]]) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = DaskCluster(Path(tmp))
        try:
            cluster.start_scheduler()
            for _ in range(workers):
                cluster.add_worker()
            cluster.wait_workers(workers, timeout_s=120)
            return measure("dask", workers, files, cluster.address)
        finally:
            cluster.close()


def songs_per_hour(rows: list[dict]) -> None:
    """From the 1-worker runs: a step's mean seconds per file inside a worker -> files per hour per worker."""
    for row in rows:
        if row["workers"] != 1:
            continue
        per_hour = {step: round(3600 / s) if s > 0 else None for step, s in row["step_s_per_file"].items()}
        chain_s = sum(row["step_s_per_file"].values())
        print(json.dumps({"per_worker_process": row["setup"], "kind": row["kind"], "songs_per_hour_by_step": per_hour,
                          "songs_per_hour_whole_chain": round(3600 / chain_s) if chain_s else None}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--midi", type=int, default=200, help="MIDI files per timed batch (as many again warm up)")
    parser.add_argument("--audio", type=int, default=8, help="audio clips per timed batch (as many again warm up)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA, help="the full real-data corpus")
    args = parser.parse_args()
    configure_logging("console", "warning")  # the runner's per-file lines would drown the figures
    if skipped_without_corpus("bench_dask", args.realdata, "groove_midi", "sonic_pi", "librosa"):
        return
    files = {"midi": corpus_files(args.realdata, "midi", args.midi) if args.midi else [],
             "audio": corpus_files(args.realdata, "audio", args.audio) if args.audio else []}
    print(f"cores: {os.cpu_count()}; chain: {' + '.join(CHAIN)}; timed files: midi {args.midi}, audio {args.audio}",
          flush=True)
    rows = []
    for workers in args.workers:
        rows += measure("local", workers, files, None)
        rows += with_cluster(workers, files)
    songs_per_hour(rows)


if __name__ == "__main__":
    main()
