"""One dataset grown to 1,000,000 samples: what each daemon step costs at 1k and at 1M samples.

The catalog holds generated rows (samples as the import, annotate and features steps record them,
with their sharded paths, and the finished job of each); the part that touches disk uses real files: small distinct MIDI files
(`tests/daemon/midi_files.py`) dropped into a real daemon (a subprocess, chain import + annotate).

Prints one JSON line per part, for a catalog of `--small` and of `--samples` samples:
- build: seconds to generate the catalog rows (not a daemon cost; for orientation);
- status: wall time of `kellyd status --json` (a fresh process; target < 1 s);
- export: seconds and bytes of one whole `manifest.json` (and split files) write from the catalog (and of the first
  `manifest.parquet` write, which the daemon then keeps up to date);
- fanout: the most entries one folder would hold under processed/ (from the recorded paths);
- validate: wall time and peak memory of `kellyd validate` (default mode);
- ingest: per-file cost of `--files` files dropped at once into a daemon holding that catalog (the median
  of INGEST_ROUNDS drops, after an untimed one that starts the workers)
  (target: cost at `--samples` within 1.5x of the cost at `--small`), and the daemon's memory;
  the daemon's early validation is off here and its share is printed from the validate part:
  validate time over the growth the daemon waits for before validating again.

Run (full size, about 20-40 min on 2 cores): .venv/bin/python bench/bench_scale.py
Quick check: .venv/bin/python bench/bench_scale.py --samples 20000 --small 1000 --files 40
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path, PurePosixPath

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kellyd.catalog import Catalog  # noqa: E402
from kellyd.export import layouts_path  # noqa: E402
from kellyd.listing import save_layouts, write_listings  # noqa: E402
from kellyd.manifest_parquet import update_manifest_parquet  # noqa: E402
from kellyd.schedule import VALIDATE_GROWTH_SHARE  # noqa: E402
from kellyd.sample import Sample, sample_id_for  # noqa: E402
from kellyd.shard import sample_file  # noqa: E402
from tests.daemon.harness import DaemonProcess, kellyd_env, make_tree, run_cli, wait_for  # noqa: E402
from tests.daemon.midi_files import write_small_midis  # noqa: E402

DATASET = "bench"
CHAIN = {DATASET: {"target_model": "GroovePredictor", "chain": ["import", "annotate"]}}
LABELS = ("straight", "swing", "shuffle", "half-time")
SPLITS = ("train", "train", "train", "train", "train", "train", "train", "val", "val", "test")
SETTLE_S = 0.5
FEATURES_DIR = PurePosixPath("processed", "features")
JOB_CHAIN = json.dumps(["import", "annotate", "features"])
INGEST_ROUNDS = 5  # timed drops per size; the median is the figure
WARMUP_FILES = 20  # an untimed first drop: the workers start lazily


def generated_sample(index: int) -> tuple[Sample, str]:
    """A sample as the chain records it (import, annotate, features), and its label."""
    sha = hashlib.sha256(f"generated-{index}".encode()).hexdigest()
    sid = sample_id_for(sha)
    label = LABELS[index % len(LABELS)]
    sample = Sample(dataset_id=DATASET, origin_path="", sample_id=sid, sha256=sha, kind="midi",
                    file_path=str(sample_file(PurePosixPath("raw", "midi", label), sid, f"take_{index:07d}.mid")),
                    label_dirs=(label,),
                    original_names=(f"take_{index:07d}.mid",),
                    annotations={"groove_type": label, "tempo_bpm": 90.0 + index % 60},
                    features_path=str(sample_file(FEATURES_DIR, sid, f"{sid}.json")),
                    split=SPLITS[index % len(SPLITS)])
    return sample, label


def build_catalog(state: Path, count: int) -> dict:
    state.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(state / "catalog.sqlite3")
    now = time.time()
    started = time.monotonic()
    batch = 50_000
    for first in range(0, count, batch):
        with catalog.transaction():
            for index in range(first, min(count, first + batch)):
                sample, label = generated_sample(index)
                at = now - (count - index) * 1e-3  # one commit after another, as the daemon writes them
                catalog.put_sample(sample, now=at, label=label, group_key=f"sample:{sample.sample_id}")
                for step in ("import", "annotate", "features"):
                    catalog.record_step(DATASET, sample.sample_id, step, 1, at)
                # The finished job that imported it: a real catalog keeps one per file.
                catalog.db.execute(
                    "INSERT INTO jobs (dataset_id, origin_path, chain, step, state, sample_id, sample, created_at,"
                    " updated_at) VALUES (?, ?, ?, 3, 'done', ?, ?, ?, ?)",
                    (DATASET, f"/inbox/{DATASET}/{label}/take_{index:07d}.mid", JOB_CHAIN, sample.sample_id,
                     json.dumps(sample.to_json()), at, at))
    seconds = time.monotonic() - started
    catalog.close()
    size_mb = sum(p.stat().st_size for p in state.glob("catalog.sqlite3*")) / 2**20
    return {"rows": count, "seconds": round(seconds, 1), "catalog_mb": round(size_mb, 1)}


def status_speed(tree, count: int) -> dict:
    times = []
    for _ in range(5):
        started = time.monotonic()
        done = run_cli(tree, "status", "--json", timeout_s=600)
        times.append(time.monotonic() - started)
        if not done.stdout.strip():  # (a non-zero exit only says that no daemon runs)
            raise SystemExit(f"status failed ({done.returncode}): {done.stderr[-2000:]}")
    shown = json.loads(done.stdout)["datasets"][DATASET]["samples"]
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3), "shows_samples": shown,
            "target_s": 1.0, "ok": shown == catalog_count(tree) and max(times) < 1.0}


def export_speed(tree) -> dict:
    catalog = Catalog(tree.state / "catalog.sqlite3")
    root = tree.datasets / DATASET
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    layouts = write_listings(catalog, DATASET, root)
    seconds = time.monotonic() - started
    count = layouts["manifest.json"].rows
    save_layouts(layouts_path(catalog.path, DATASET), layouts)  # as the daemon's exporter keeps them
    # manifest.parquet too, as a daemon that grew the dataset would have kept it: the daemon measured
    # next starts with both current (a first parquet write reads every features file).
    started = time.monotonic()
    update_manifest_parquet(catalog, DATASET, root)
    parquet_s = time.monotonic() - started
    catalog.close()
    return {"manifest_samples": count, "seconds": round(seconds, 2),
            "manifest_mb": round((root / "manifest.json").stat().st_size / 2**20, 1),
            "first_parquet_s": round(parquet_s, 1)}


def fanout(tree) -> dict:
    """Entries per folder the recorded paths make (features: .json and .npz per sample)."""
    db = sqlite3.connect(f"file:{tree.state / 'catalog.sqlite3'}?mode=ro", uri=True)
    per_folder: Counter = Counter()
    for (data,) in db.execute("SELECT data FROM samples WHERE dataset_id = ?", (DATASET,)):
        entry = json.loads(data)
        for key, files in (("features_path", 2), ("file_path", 1)):
            if entry.get(key):
                per_folder[str(PurePosixPath(entry[key]).parent)] += files
    db.close()
    processed = {k: v for k, v in per_folder.items() if k.startswith("processed/")}
    raw = {k: v for k, v in per_folder.items() if k.startswith("raw/")}
    return {"processed_folders": len(processed), "processed_max_entries": max(processed.values(), default=0),
            "raw_folders": len(raw), "raw_max_entries": max(raw.values(), default=0)}


def validate_speed(tree) -> dict:
    """`kellyd validate` in a fresh process: wall time, and its peak memory (sampled every 50 ms)."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "kellyd", "--config", str(tree.config), "validate",
                             "--dataset", DATASET], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=kellyd_env(tree), cwd=REPO)
    watched, peak_bytes = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak_bytes = max(peak_bytes, sum(p.memory_info().rss for p in [watched, *watched.children(recursive=True)]))
        except psutil.Error:
            pass
        time.sleep(0.05)
    err = proc.stderr.read()
    return {"seconds": round(time.monotonic() - started, 2), "exit": proc.returncode,
            "peak_rss_mb": round(peak_bytes / 2**20, 1), "stderr_tail": err.decode(errors="replace")[-300:]}


def catalog_count(tree) -> int:
    db = sqlite3.connect(f"file:{tree.state / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM samples WHERE dataset_id = ?", (DATASET,)).fetchone()[0]
    finally:
        db.close()


def ingest_cost(tree, count: int, files: int, rounds: int = INGEST_ROUNDS) -> dict:
    """Drop `files` real MIDI files at once into a daemon holding `count` samples, `rounds` times (new files
    each time, the next drop once the last is in the catalog); the median seconds per file."""
    shutil.rmtree(tree.inbox / DATASET, ignore_errors=True)  # earlier drops into a kept tree
    (tree.inbox / DATASET).mkdir()
    daemon = DaemonProcess(tree)
    per_file_ms = []
    try:
        daemon.wait_started(timeout_s=600)
        time.sleep(2.0)  # start-up work (scan, export catch-up) out of the way
        proc = psutil.Process(daemon.proc.pid)
        rss_before_mb = proc.memory_info().rss / 2**20
        drop = tree.inbox / DATASET / "straight"
        for round_no in range(rounds + 1):  # the first drop, a small one, starts the workers and is not counted
            staged = tree.root / "staged"
            before = catalog_count(tree)
            dropped = WARMUP_FILES if round_no == 0 else files
            # Files no run of this tree dropped before (a kept tree, --keep, is dropped into again).
            write_small_midis(staged / "straight", dropped, start=(before - count) % 100_000)
            time.sleep(SETTLE_S + 0.1)
            started = time.monotonic()
            os.rename(staged / "straight", drop)  # (replaces the folder the last round emptied)
            wait_for(lambda: catalog_count(tree) >= before + dropped, 1200, "every file in the catalog", interval_s=0.01)
            if round_no:
                per_file_ms.append(1000 * (time.monotonic() - started) / files)
            wait_for(lambda: not drop.exists() or not any(drop.iterdir()), 60, "the inbox emptied (move mode)")
        rss_after_mb = proc.memory_info().rss / 2**20
    finally:
        daemon.stop(timeout_s=120)
    return {"files": files, "rounds_ms": [round(ms, 2) for ms in per_file_ms],
            "per_file_ms": round(statistics.median(per_file_ms), 2),
            "daemon_rss_mb_before": round(rss_before_mb, 1), "daemon_rss_mb_after": round(rss_after_mb, 1)}


def one_size(count: int, files: int, parts: set[str], keep: Path | None) -> dict:
    results = {"samples": count}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) if keep is None else keep / str(count)
        built = (base / "state" / "catalog.sqlite3").exists()
        # The daemon's early validation is a scheduled job, measured by the validate part: its cost per new
        # file is that time over the growth it waits for (kellyd.schedule.VALIDATE_GROWTH_SHARE). Left on,
        # it would start in the middle of the drop here (the generated catalog was never validated).
        tree = make_tree(base, datasets=CHAIN, settle_s=SETTLE_S, extra={"schedule": {"validate_after_samples": 0}})
        for name, run in (("build", lambda: build_catalog(tree.state, count)),
                          ("export", lambda: export_speed(tree)),  # the daemon then starts with its manifest current
                          ("status", lambda: status_speed(tree, count)),
                          ("fanout", lambda: fanout(tree)),
                          ("validate", lambda: validate_speed(tree)),
                          ("ingest", lambda: ingest_cost(tree, count, files))):
            if name in ("build", "export") and built:
                continue  # a kept tree from an earlier run (--keep): its catalog holds the earlier drops too
            if name in parts or name in ("build", "export"):
                results[name] = run()
                print(json.dumps({"samples": count, "part": name, **results[name]}), flush=True)
        shutil.rmtree(tree.root / "staged", ignore_errors=True)
    return results


def validate_after_samples() -> int:
    from kellyd.config import ScheduleConfig

    return ScheduleConfig().validate_after_samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--files", type=int, default=500, help="real files in each timed drop for the ingest cost")
    parser.add_argument("--only", nargs="*", default=["status", "fanout", "validate", "ingest"],
                        choices=("status", "fanout", "validate", "ingest"))
    parser.add_argument("--keep", type=Path, help="build the trees under this folder and reuse them in later runs")
    args = parser.parse_args()
    parts = set(args.only)
    print(f"cores: {os.cpu_count()}; samples: {args.small} and {args.samples}; files dropped: {args.files}", flush=True)
    small = one_size(args.small, args.files, parts, args.keep)
    large = one_size(args.samples, args.files, parts, args.keep)
    if "ingest" in parts:
        ratio = large["ingest"]["per_file_ms"] / small["ingest"]["per_file_ms"]
        print(json.dumps({"ingest_cost_ratio": round(ratio, 2), "target": 1.5, "ok": ratio <= 1.5}), flush=True)
    if "validate" in parts:
        shares = {}
        for size in (small, large):
            growth = max(validate_after_samples(), VALIDATE_GROWTH_SHARE * size["samples"])
            shares[size["samples"]] = round(1000 * size["validate"]["seconds"] / growth, 2)
        print(json.dumps({"validation_ms_per_new_file": shares}), flush=True)


if __name__ == "__main__":
    main()
