"""Numba cold start (issue 10): a new user drops several audio files on a daemon whose state folder is empty.

Every worker then compiles librosa's numba kernels. Before each worker had a cache folder of its
own, concurrent compiles could leave a cache that crashed every later worker (SIGSEGV). For each
worker count (2 and 4), repeated with a fresh, empty state folder each time: the real daemon as a
subprocess, the audio files dropped at once, the chain import + annotate + features.

Files used: madmom/sample.wav, sonic_pi/guit_em9.flac, beatnet/808kick120bpm.mp3 and the first
librosa/*.ogg example of ../shared/realdata/ (or --realdata DIR).

Prints per run: worker deaths, quarantined files (both must be 0; any is a crash), seconds from the
drop to the first file with features and to the last. Exits 1 if any run crashed.

Run: .venv/bin/python bench/bench_numba_cold.py [--repeats 10] [--workers 2 4] [--realdata DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402
from tests.daemon.harness import DaemonProcess, make_tree  # noqa: E402

AUDIO = ("madmom/sample.wav", "sonic_pi/guit_em9.flac", "beatnet/808kick120bpm.mp3")
DATASETS = {"cold": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate", "features"]}}
RUN_BOUND_S = 900.0


def audio_files(realdata: Path) -> list[Path]:
    return [realdata / name for name in AUDIO] + sorted((realdata / "librosa").glob("*.ogg"))[:1]


def deaths_and_quarantine(state: Path) -> tuple[int, int]:
    db = sqlite3.connect(f"file:{state / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        deaths = db.execute("SELECT COUNT(*) FROM worker_deaths").fetchone()[0]
        quarantined = db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
        return deaths, quarantined
    finally:
        db.close()


def one_run(files: list[Path], workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="kellyd-numba-cold-") as tmp:
        tree = make_tree(Path(tmp), datasets=DATASETS, settle_s=0.3, extra={"executor": {"workers": workers}})
        daemon = DaemonProcess(tree)
        try:
            daemon.wait_started(timeout_s=120)
            folder = tree.inbox / "cold" / "happy"
            folder.mkdir(parents=True, exist_ok=True)
            for src in files:
                shutil.copyfile(src, folder / src.name)
            dropped = time.monotonic()
            first_s = None
            while time.monotonic() - dropped < RUN_BOUND_S:
                samples = tree.manifest_samples("cold")
                featured = sum(1 for s in samples if s["features_path"])
                if featured and first_s is None:
                    first_s = time.monotonic() - dropped
                quarantined = len(tree.quarantine_errors("cold"))
                if featured + quarantined >= len(files) or daemon.proc.poll() is not None:
                    break
                time.sleep(0.2)
            all_s = time.monotonic() - dropped
        finally:
            code = daemon.stop(timeout_s=60)
        deaths, quarantined = deaths_and_quarantine(tree.state)
        return {"workers": workers, "featured": featured, "files": len(files), "worker_deaths": deaths,
                "quarantined": quarantined, "daemon_exit": code, "first_feature_s": first_s, "all_features_s": all_s,
                "crashed": bool(deaths or quarantined or featured < len(files) or code != 0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    args = parser.parse_args()
    if skipped_without_corpus("bench_numba_cold", args.realdata, *AUDIO, "librosa"):
        return 0
    files = audio_files(args.realdata)
    print("files: " + ", ".join(str(f.relative_to(args.realdata)) for f in files), flush=True)
    runs = []
    for workers in args.workers:
        for repeat in range(args.repeats):
            run = one_run(files, workers)
            runs.append(run)
            print(f"workers {workers} run {repeat + 1}/{args.repeats}: featured {run['featured']}/{run['files']}, "
                  f"deaths {run['worker_deaths']}, quarantined {run['quarantined']}, "
                  f"first feature {run['first_feature_s'] or float('nan'):.1f} s, "
                  f"all {run['all_features_s']:.1f} s", flush=True)
    summary = {}
    for workers in args.workers:
        mine = [r for r in runs if r["workers"] == workers]
        firsts = [r["first_feature_s"] for r in mine if r["first_feature_s"] is not None]
        summary[workers] = {"runs": len(mine), "crashed_runs": sum(r["crashed"] for r in mine),
                            "first_feature_s_median": round(statistics.median(firsts), 1) if firsts else None,
                            "first_feature_s_max": round(max(firsts), 1) if firsts else None,
                            "all_features_s_median": round(statistics.median(r["all_features_s"] for r in mine), 1)}
        print(f"workers {workers}: {summary[workers]['crashed_runs']} crashed of {len(mine)} runs; time to first "
              f"feature median {summary[workers]['first_feature_s_median']} s "
              f"(max {summary[workers]['first_feature_s_max']} s); all files median "
              f"{summary[workers]['all_features_s_median']} s", flush=True)
    print(json.dumps({"bench": "numba_cold", "files": [f.name for f in files], "summary": summary}))
    return 1 if any(r["crashed"] for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
