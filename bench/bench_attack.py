"""Attack benchmark (issue: trust): 20,000 files at once, half of them junk, into a running daemon.

Files used (all generated, nothing downloaded): half are good small MIDI files from
tests/daemon/midi_files.py (four quarter notes each, every file distinct); the other half is junk in
four equal kinds: empty files, truncated MIDI (the first half of a good file), files with a wrong
extension (PNG bytes named .wav), and random bytes named .mid. They are written to a folder next
to the inbox and renamed into it in one `rename`, like `mv folder inbox/<dataset>/`.

The daemon runs as a real subprocess with the chain import + annotate, 2 workers, and a rescan every
second (`--rescan-s`), so that scans read the catalog while the jobs for the same files are being
created (before the fix, `--files 2000 --rescan-s 0.5` gave 1,056 of 2,000 files a second job). Prints:
- double processing: file jobs per path, from the catalog (target: exactly 1 for every path),
  and the jobs that ended as 'duplicate' or 'vanished' (target: 0);
- samples and quarantine entries (targets: the good and the junk counts);
- files/s from the rename until the last job ended;
- the peak resident memory of the daemon alone and of the daemon with its workers (psutil, every 0.1 s).

Run: .venv/bin/python bench/bench_attack.py [--files 20000]   (a smoke run: --files 500)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.daemon.harness import DaemonProcess, make_tree, wait_for  # noqa: E402
from tests.daemon.midi_files import small_midi_bytes  # noqa: E402

CHAIN = {"attack": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate"]}}
SETTLE_S = 1.0
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JUNK_KINDS = ("empty", "truncated", "wrong_extension", "random")


def write_files(folder: Path, total: int, *, seed: int = 7) -> dict[str, int]:
    """`total` files under `folder/<label>/`: half good MIDI, half junk. Returns the count per kind."""
    rng = random.Random(seed)
    good, junk = total - total // 2, total // 2
    labels = ("happy", "sad", "calm", "tense")
    counts = {"good": good, **{kind: 0 for kind in JUNK_KINDS}}
    for i in range(good):
        path = folder / labels[i % len(labels)] / f"good_{i:05d}.mid"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(small_midi_bytes(i))
    for i in range(junk):
        kind = JUNK_KINDS[i % len(JUNK_KINDS)]
        counts[kind] += 1
        folder_i = folder / labels[i % len(labels)]
        if kind == "empty":
            (folder_i / f"empty_{i:05d}.mid").write_bytes(b"")
        elif kind == "truncated":
            data = small_midi_bytes(good + i)
            (folder_i / f"truncated_{i:05d}.mid").write_bytes(data[: len(data) // 2])
        elif kind == "wrong_extension":
            (folder_i / f"picture_{i:05d}.wav").write_bytes(PNG_HEAD + rng.randbytes(64))
        else:
            (folder_i / f"noise_{i:05d}.mid").write_bytes(rng.randbytes(rng.randint(16, 4096)))
    return counts


class PeakMemory:
    """Samples the resident memory of a process and its children on a thread."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.proc = psutil.Process(pid)
        self.every_s = every_s
        self.daemon_mb = 0.0
        self.total_mb = 0.0
        self.workers_seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                own = self.proc.memory_info().rss
                children = self.proc.children(recursive=True)
            except psutil.Error:
                return
            total = own
            for child in children:
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    continue
            self.workers_seen = max(self.workers_seen, len(children))
            self.daemon_mb = max(self.daemon_mb, own / 2**20)
            self.total_mb = max(self.total_mb, total / 2**20)


def catalog_figures(catalog_path: Path) -> dict:
    db = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True, timeout=10)
    try:
        per_path = db.execute("SELECT COUNT(*), MAX(n) FROM (SELECT origin_path, COUNT(*) AS n FROM jobs"
                              " WHERE chain LIKE '[\"import\"%' GROUP BY origin_path)").fetchone()
        states = dict(db.execute("SELECT state, COUNT(*) FROM jobs WHERE chain LIKE '[\"import\"%' GROUP BY state"))
        twice = db.execute("SELECT COUNT(*) FROM (SELECT origin_path FROM jobs WHERE chain LIKE '[\"import\"%'"
                           " GROUP BY origin_path HAVING COUNT(*) > 1)").fetchone()[0]
        return {"paths": per_path[0], "max_jobs_per_path": per_path[1] or 0, "paths_with_more_than_one_job": twice,
                "job_states": states,
                "samples": db.execute("SELECT COUNT(*) FROM samples").fetchone()[0],
                "quarantined": db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0],
                "pending": db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'pending'").fetchone()[0]}
    except sqlite3.OperationalError:
        return {"samples": 0, "quarantined": 0, "pending": -1}
    finally:
        db.close()


def run(total: int, rescan_s: float, timeout_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tree = make_tree(Path(tmp), datasets=CHAIN, settle_s=SETTLE_S, rescan_s=rescan_s)
        staged = tree.root / "staged"
        counts = write_files(staged, total)
        junk = total - counts["good"]
        daemon = DaemonProcess(tree)
        try:
            daemon.wait_started()
            time.sleep(SETTLE_S + 0.5)  # the files' mtimes are older than settle_s: ready at once
            catalog = tree.state / "catalog.sqlite3"
            with PeakMemory(daemon.proc.pid) as memory:
                started = time.monotonic()
                os.rename(staged, tree.inbox / "attack" / "batch")

                def finished() -> bool:
                    f = catalog_figures(catalog)
                    return f["samples"] + f["quarantined"] >= total and f["pending"] == 0

                wait_for(finished, timeout_s, f"{total} files to end", interval_s=0.25)
                seconds = time.monotonic() - started
                time.sleep(max(3.0, rescan_s + 1.0))  # a late second job would show up now
            figures = catalog_figures(catalog)
            events = daemon.log_events()
        finally:
            daemon.stop()
    states = figures["job_states"]
    return {
        "files": total, "good": counts["good"], "junk": {k: counts[k] for k in JUNK_KINDS}, "rescan_s": rescan_s,
        "double_processing": {"paths_with_more_than_one_job": figures["paths_with_more_than_one_job"],
                              "max_jobs_per_path": figures["max_jobs_per_path"], "paths": figures["paths"],
                              "duplicate_jobs": states.get("duplicate", 0), "vanished_jobs": states.get("vanished", 0),
                              "target": "1 job per path, 0 duplicate, 0 vanished"},
        "samples": figures["samples"], "target_samples": counts["good"],
        "quarantined": figures["quarantined"], "target_quarantined": junk,
        "seconds": round(seconds, 2), "files_per_s": round(total / seconds, 1),
        "peak_rss_mb": {"daemon": round(memory.daemon_mb, 1), "daemon_and_workers": round(memory.total_mb, 1),
                        "child_processes_seen": memory.workers_seen},
        "log_events": {name: sum(1 for e in events if e.get("event") == name)
                       for name in ("sample_done", "quarantined", "duplicate", "file_vanished",
                                    "origin_already_imported")},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20_000, help="files dropped at once (half good, half junk)")
    parser.add_argument("--rescan-s", type=float, default=1.0,
                        help="the daemon's rescan interval: rescans while jobs are created race with them")
    parser.add_argument("--timeout-s", type=float, default=1800.0)
    args = parser.parse_args()
    print(f"files: {args.files} generated files ({args.files - args.files // 2} good small MIDI from "
          f"tests/daemon/midi_files.py, {args.files // 2} junk: {', '.join(JUNK_KINDS)}); cores: {os.cpu_count()}",
          flush=True)
    result = run(args.files, args.rescan_s, args.timeout_s)
    print("attack", result, flush=True)
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "attack.json").write_text(json.dumps(result, indent=2))
    double = result["double_processing"]
    ok = (double["paths_with_more_than_one_job"] == 0 and double["duplicate_jobs"] == 0
          and double["vanished_jobs"] == 0 and result["samples"] == result["target_samples"]
          and result["quarantined"] == result["target_quarantined"])
    if not ok:
        print("FAILED: some file was processed twice, or a file's outcome is wrong", flush=True)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
