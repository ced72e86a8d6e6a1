"""What the inbox watcher costs while the daemon imports a drop.

An import reads each file it takes (hash, check, copy) and, once its commit is made, removes it from
the inbox. None of that is new work, yet an observer that asks the kernel for every event is told of
each read and each removal, and hands every event through three watchdog threads that compete with
the daemon's main loop for the interpreter. This drops `--files` small files into a watched folder
at once (one rename of their folder), then reads each `--reads` times and removes it, as an import
does, and reports the events delivered to kellyd's recorder and the CPU seconds of the observer's
threads: with the observer as kellyd schedules it (`kellyd.watch.RECORDED_EVENTS`) and, in the same
run, with every event asked for (as before). The files are generated; no corpus is needed.

Run: .venv/bin/python bench/bench_watch.py [--files 1150] [--reads 3] [--repeats 3]
Writes bench/out/watch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from watchdog.observers import Observer  # noqa: E402

from kellyd import watch  # noqa: E402


class CountingRecorder(watch._Recorder):
    """kellyd's recorder, counting the events the observer hands it."""

    def __init__(self, queue: watch.ChangeQueue) -> None:
        super().__init__(queue)
        self.delivered = 0

    def on_any_event(self, event) -> None:
        self.delivered += 1
        super().on_any_event(event)


def other_threads_cpu_s() -> float:
    """CPU seconds of this process's threads other than the calling one (the observer's)."""
    me = threading.get_native_id()
    return sum(t.user_time + t.system_time for t in psutil.Process().threads() if t.id != me)


def one_drop(folder: Path, files: int, reads: int, event_filter) -> dict:
    queue = watch.ChangeQueue()
    recorder = CountingRecorder(queue)
    inbox = folder / "inbox"
    inbox.mkdir()
    observer = Observer()
    observer.schedule(recorder, str(inbox), recursive=True, event_filter=event_filter)
    observer.start()
    try:
        time.sleep(0.3)
        staged = folder / "staged"
        staged.mkdir()
        for i in range(files):
            (staged / f"take_{i:05d}.mid").write_bytes(b"MThd" + bytes(2000))
        before_s = other_threads_cpu_s()
        os.rename(staged, inbox / "drop")
        for i in range(files):
            path = inbox / "drop" / f"take_{i:05d}.mid"
            for _ in range(reads):
                path.read_bytes()
            path.unlink()
        (inbox / "last.mid").write_bytes(b"x")  # events arrive in order: once this one is in, all are
        deadline = time.monotonic() + 60
        while not any(c.path.endswith("last.mid") for c in queue.drain()):
            if time.monotonic() > deadline:
                raise RuntimeError("the observer never reported the last file")
            time.sleep(0.05)
        time.sleep(0.6)  # watchdog holds a moved-from event 0.5 s for its moved-to pair
        return {"events": recorder.delivered, "observer_cpu_s": round(other_threads_cpu_s() - before_s, 3)}
    finally:
        observer.stop()
        observer.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1150)
    parser.add_argument("--reads", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ways = {"kellyd (events that bring work)": list(watch.RECORDED_EVENTS), "every event (before)": None}
    runs: dict[str, list[dict]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory(prefix="kellyd-bench-watch-") as tmp:
        for r in range(args.repeats):
            for name, event_filter in ways.items():  # alternated, so both see the same machine
                folder = Path(tmp) / f"{r}-{len(runs[name])}-{name[:6]}"
                folder.mkdir()
                runs[name].append(one_drop(folder, args.files, args.reads, event_filter))
    print(f"{args.files} generated files renamed into a watched folder at once, each read {args.reads} times "
          f"and removed; median of {args.repeats}\n")
    print("| observer | events delivered | per file | observer threads, CPU s |")
    print("|---|---|---|---|")
    summary = {}
    for name, results in runs.items():
        events = sorted(r["events"] for r in results)[len(results) // 2]
        cpu_s = sorted(r["observer_cpu_s"] for r in results)[len(results) // 2]
        summary[name] = {"events": events, "observer_cpu_s": cpu_s, "runs": results}
        print(f"| {name} | {events:,} | {events / args.files:.1f} | {cpu_s:.2f} |")
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "watch.json").write_text(json.dumps({"files": args.files, "reads": args.reads, **summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
