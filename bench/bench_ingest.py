"""Ingest benchmarks for the core daemon (issue: core), on the Groove MIDI corpus.

Files used: the 1,150 MIDI files of ../shared/realdata/groove_midi/ or --realdata DIR (Groove MIDI Dataset v1.0.0,
Magenta, CC BY 4.0). The daemon runs as a real subprocess with the chain import + annotate.

Prints:
- drop-to-manifest latency p50/p95 for single files dropped one at a time into an idle daemon
  (target: p95 < settle_s + 0.5 s);
- throughput for all 1,150 files dropped at once (target: >= 150 files/s on 2 cores);
- per-file ingest cost with 1,000 vs 50,000 samples already in the catalog (target: ratio <= 1.3);
- the idle daemon's resident memory and CPU share (targets: < 120 MB, < 1 %).

Run: .venv/bin/python bench/bench_ingest.py [--quick] [--realdata DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kellyd.catalog import Catalog  # noqa: E402
from kellyd.sample import Sample  # noqa: E402
from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402
from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for  # noqa: E402

CHAIN = {"bench": {"target_model": "GroovePredictor", "chain": ["import", "annotate"]}}
SETTLE_S = 1.0
PARTS = ("latency", "throughput", "cost", "status", "idle")


def groove_files(realdata: Path) -> list[Path]:
    return sorted(realdata.glob("groove_midi/**/*.mid"))


def catalog_count(tree) -> int:
    db = sqlite3.connect(f"file:{tree.state / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM samples WHERE dataset_id = 'bench'").fetchone()[0]
    finally:
        db.close()


def manifest_count(tree) -> int:
    try:
        return len(json.loads((tree.datasets / "bench" / "manifest.json").read_text())["samples"])
    except (FileNotFoundError, json.JSONDecodeError):
        return -1


@contextmanager
def running_daemon(prefill_samples: int = 0) -> Iterator[tuple]:
    """(tree, daemon): a real daemon subprocess on a temporary tree, stopped on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = make_tree(Path(tmp), datasets=CHAIN, settle_s=SETTLE_S)
        if prefill_samples:
            tree.state.mkdir(parents=True, exist_ok=True)
            prefill(tree, prefill_samples)
        daemon = DaemonProcess(tree)
        daemon.wait_started()
        try:
            yield tree, daemon
        finally:
            daemon.stop()


def latency(files: list[Path], n: int) -> dict:
    times = []
    with running_daemon() as (tree, _daemon):
        for i, src in enumerate(files[:n]):
            dst = tree.inbox / "bench" / "swing" / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            dropped = time.monotonic()
            wait_for(lambda: manifest_count(tree) == i + 1, 30, "the file in the manifest", interval_s=0.005)
            times.append(time.monotonic() - dropped)
            time.sleep(0.3)
    q = statistics.quantiles(times, n=20)
    return {"files": n, "p50_s": round(statistics.median(times), 3), "p95_s": round(q[18], 3),
            "target_p95_s": SETTLE_S + 0.5}


def distinct_contents(files: list[Path]) -> int:
    """Samples the files make: the corpus holds one pair of identical files."""
    return len({hashlib.sha256(f.read_bytes()).hexdigest() for f in files})


def stage(files: list[Path], folder: Path) -> None:
    for src in files:
        style = src.name.split("_")[1].split("-")[0]
        drummer, session = src.parts[-3], src.parts[-2]  # names repeat across drummers and sessions
        dst = folder / style / f"{drummer}_{session}_{src.name}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def drop_all(tree, files: list[Path]) -> float:
    """Stage outside the inbox, rename into it at once; seconds until the catalog has them all."""
    staged = tree.root / "staged"
    stage(files, staged)
    time.sleep(SETTLE_S + 0.1)
    before = catalog_count(tree)
    expected = before + distinct_contents(files)
    started = time.monotonic()
    os.rename(staged, tree.inbox / "bench" / "batch")
    wait_for(lambda: catalog_count(tree) >= expected, 300, "all files", interval_s=0.01)
    return time.monotonic() - started


def throughput(files: list[Path]) -> dict:
    with running_daemon() as (tree, _daemon):
        seconds = drop_all(tree, files)
        wait_for(lambda: manifest_count(tree) == distinct_contents(files), 120, "the manifest")
    return {"files": len(files), "seconds": round(seconds, 2), "files_per_s": round(len(files) / seconds, 1),
            "target_files_per_s": 150}


def prefill(tree, n: int) -> None:
    """n synthetic samples in the catalog (rows only), with their steps done."""
    catalog = Catalog(tree.state / "catalog.sqlite3")
    now = time.time()
    with catalog.transaction():
        for i in range(n):
            sha = hashlib.sha256(str(i).encode()).hexdigest()
            s = Sample(dataset_id="bench", origin_path="", sample_id=sha[:16], sha256=sha, kind="midi",
                       file_path=f"raw/midi/fake/{i}.mid", annotations={"groove_type": "straight"}, split="train")
            catalog.put_sample(s, now=now, label="straight", group_key=f"sample:{sha[:16]}")
            for step in ("import", "annotate"):
                catalog.record_step("bench", s.sample_id, step, 1, now)
    catalog.close()


def cost_at(files: list[Path], existing: int) -> float:
    with running_daemon(prefill_samples=existing) as (tree, _daemon):
        seconds = drop_all(tree, files)
    return seconds / len(files)


def status_speed(existing: int) -> dict:
    """Wall time of `kellyd status --json` (a fresh process) on a catalog of `existing` samples."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = make_tree(Path(tmp), datasets=CHAIN, settle_s=SETTLE_S)
        tree.state.mkdir(parents=True, exist_ok=True)
        prefill(tree, existing)
        times = []
        for _ in range(5):
            started = time.monotonic()
            proc = run_cli(tree, "status", "--json")
            times.append(time.monotonic() - started)
            assert proc.returncode == 0 and json.loads(proc.stdout)["datasets"]["bench"]["samples"] == existing
    return {"samples": existing, "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}


def idle(files: list[Path]) -> dict:
    with running_daemon() as (tree, daemon):
        drop_all(tree, files[:50])  # warm: workers exist, as in a daemon that has worked
        time.sleep(5)
        proc = psutil.Process(daemon.proc.pid)
        workers = proc.children(recursive=True)
        cpu0 = proc.cpu_times()
        w0 = sum(sum(w.cpu_times()[:2]) for w in workers)
        t0 = time.monotonic()
        time.sleep(30)
        cpu1 = proc.cpu_times()
        w1 = sum(sum(w.cpu_times()[:2]) for w in workers)
        wall = time.monotonic() - t0
        rss_mb = proc.memory_info().rss / 2**20
        workers_rss_mb = sum(w.memory_info().rss for w in workers) / 2**20
    cpu_share = ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / wall
    return {"daemon_rss_mb": round(rss_mb, 1), "daemon_cpu_percent": round(100 * cpu_share, 3),
            "workers": len(workers), "workers_rss_mb": round(workers_rss_mb, 1),
            "workers_cpu_percent": round(100 * (w1 - w0) / wall, 3), "target_rss_mb": 120, "target_cpu_percent": 1}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer files, for a smoke run")
    parser.add_argument("--only", nargs="*", default=PARTS, choices=PARTS, help="run only these parts")
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA, help="the full real-data corpus")
    args = parser.parse_args()
    if skipped_without_corpus("bench_ingest", args.realdata, "groove_midi"):
        return
    files = groove_files(args.realdata)
    print(f"files: {len(files)} Groove MIDI files from {args.realdata / 'groove_midi'} (CC BY 4.0); "
          f"cores: {os.cpu_count()}")
    results = {}
    if "latency" in args.only:
        results["latency"] = latency(files, 10 if args.quick else 40)
    if "throughput" in args.only:
        results["throughput"] = throughput(files[:200] if args.quick else files)
    if "cost" in args.only:
        sample = files[:300]
        large_n = 5_000 if args.quick else 50_000
        small = cost_at(sample, 1_000)
        large = cost_at(sample, large_n)
        results["per_file_cost"] = {"files": len(sample), "ms_at_1000": round(1000 * small, 2),
                                    f"ms_at_{large_n}": round(1000 * large, 2), "ratio": round(large / small, 2),
                                    "target_ratio": 1.3}
    if "status" in args.only:
        results["status"] = status_speed(5_000 if args.quick else 50_000)
    if "idle" in args.only:
        results["idle"] = idle(files)
    for name, figures in results.items():
        print(name, figures, flush=True)
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
