"""The whole default chain on the Groove MIDI corpus: a drop into a running daemon, and `kellyd import`.

Files used: the 1,150 MIDI files of ../shared/realdata/groove_midi/ or --realdata DIR (Groove MIDI Dataset
v1.0.0, Magenta, CC BY 4.0), staged under style folders (the labels) and renamed into the inbox at once.

For each chain (the default import, annotate, features, augment with multiplier 4, and import + annotate
for reference; `--chains` names others, such as `import,import+annotate` for what one step's round trip to
a worker costs) it measures, with the daemon as a real subprocess:
- drop: originals per second until every sample (originals and children) is in the manifest with its
  features, the time until then, the manifest's largest lag behind the catalog during the drop (the age
  of the oldest committed sample the manifest did not show yet, polled every 0.2 s), how long the whole
  manifest came after the catalog's last sample (`manifest_tail_s`), the peak RSS of the
  daemon and its workers together, their RSS right after the drop and once the idle workers are retired,
  and the CPU seconds the drop took in the daemon (its main thread apart), its workers and the
  `manifest.parquet` refreshes (`CpuLedger`), and what the daemon process itself wrote during the drop
  (`daemon_writes`: MB and write calls, from /proc; the catalog, the exporter's files, the syncs);
- `kellyd import` of the same folder: originals per second until the command exits (manifest written).
And a seed-style baseline on the same files and the same number of worker processes: a per-file script
that parses with pretty_midi, writes pretty_midi features, and writes `multiplier` augmented children
per training file with pretty_midi, each then parsed again for its own features.

Targets on 2 cores: >= 100 originals/s with the full default chain, children included; manifest lag
<= 10 s; idle daemon with workers < 150 MB RSS.

Run: .venv/bin/python bench/bench_chain.py [--files N] [--realdata DIR] [--only drop import seed]
                                          [--chains import+annotate+features+augment,import+annotate]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402
from kellyd.config import ExecutorConfig  # noqa: E402
from kellyd.export import manifest_head  # noqa: E402
from tests.daemon.harness import DaemonProcess, make_tree, run_cli  # noqa: E402

DEFAULT_CHAIN = ("import", "annotate", "features", "augment")
REFERENCE_CHAIN = ("import", "annotate")
MULTIPLIER = 4
WORKERS = 2
SETTLE_S = 1.0
POLL_S = 0.2
PARTS = ("drop", "import", "seed")


def groove_files(realdata: Path) -> list[Path]:
    return sorted(realdata.glob("groove_midi/**/*.mid"))


def stage(files: list[Path], folder: Path) -> None:
    """Copy under `<style>/<drummer>_<session>_<name>` (names repeat across drummers and sessions)."""
    for src in files:
        style = src.name.split("_")[1].split("-")[0]
        dst = folder / style / f"{src.parts[-3]}_{src.parts[-2]}_{src.name}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def tree_for(tmp: Path, chain: tuple[str, ...]):
    return make_tree(tmp, settle_s=SETTLE_S, datasets={"bench": {
        "target_model": "GroovePredictor", "chain": list(chain), "multiplier": MULTIPLIER}},
        extra={"executor": {"workers": WORKERS}, "export": {"debounce_s": 2.0}})


class CatalogView:
    """Read-only looks at the daemon's catalog."""

    def __init__(self, tree) -> None:
        self.path = tree.state / "catalog.sqlite3"

    def _one(self, sql: str) -> tuple:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(sql).fetchone()
        finally:
            db.close()

    def samples(self) -> int:
        return self._one("SELECT COUNT(*) FROM samples WHERE dataset_id = 'bench'")[0]

    def originals(self) -> int:
        return self._one("SELECT COUNT(*) FROM samples WHERE dataset_id = 'bench' AND json_extract(data, '$.parent_id')"
                         " IS NULL")[0]

    def pending(self) -> int:
        return self._one("SELECT COUNT(*) FROM jobs WHERE state = 'pending'")[0]


def tree_rss_bytes(pid: int) -> int:
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def daemon_writes(pid: int) -> tuple[int, int]:
    """(bytes, write calls) the process `pid` itself has written so far (not its workers)."""
    io = psutil.Process(pid).io_counters()
    return io.write_chars, io.write_count


class CpuLedger:
    """CPU seconds of the daemon's process tree from the moment it is made, by part: the daemon process
    (and its main thread), its worker processes, and the `manifest.parquet` refresh runs it has reaped
    (a run still going is not counted). Read with psutil at every `read`, so a worker that exits
    between two reads loses its last moments."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.workers: dict[tuple[int, float], float] = {}
        self.start = self._own()

    def _own(self) -> tuple[float, float, float]:
        times = self.proc.cpu_times()
        main = next((t.user_time + t.system_time for t in self.proc.threads() if t.id == self.proc.pid), 0.0)
        return times.user + times.system, main, times.children_user + times.children_system

    def read(self) -> None:
        for child in self.proc.children(recursive=True):
            try:
                if any("manifest_parquet" in part for part in child.cmdline()):
                    continue  # counted once reaped, in the daemon's children times
                times = child.cpu_times()
                self.workers[(child.pid, child.create_time())] = times.user + times.system
            except psutil.NoSuchProcess:
                pass

    def seconds(self) -> dict[str, float]:
        own, main, reaped = self._own()
        return {"daemon": round(own - self.start[0], 2), "daemon_main_thread": round(main - self.start[1], 2),
                "workers": round(sum(self.workers.values()), 2),
                "manifest_parquet_runs": round(reaped - self.start[2], 2)}


def manifest_complete(tree, with_features: bool) -> bool:
    try:
        samples = json.loads((tree.datasets / "bench" / "manifest.json").read_text())["samples"]
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return not with_features or all(s["features_path"] for s in samples)


def drop(files: list[Path], chain: tuple[str, ...], *, idle_wait_s: float) -> dict:
    """Rename the staged files into a running daemon's inbox; watch the catalog and the manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = tree_for(Path(tmp), chain)
        staged = tree.root / "staged"
        stage(files, staged)
        daemon = DaemonProcess(tree)
        daemon.wait_started()
        view = CatalogView(tree)
        time.sleep(SETTLE_S)
        first_seen: list[tuple[int, float]] = []  # (catalog sample count, when first seen)
        max_lag_s = 0.0
        peak_rss = 0
        cpu = CpuLedger(daemon.proc.pid)  # workers start with the first step: none are counted before
        writes_before = daemon_writes(daemon.proc.pid)
        started = time.monotonic()
        os.rename(staged, tree.inbox / "bench" / "batch")
        try:
            while True:
                now = time.monotonic()
                in_catalog = view.samples()
                if not first_seen or in_catalog > first_seen[-1][0]:
                    first_seen.append((in_catalog, now))
                head = manifest_head(tree.datasets / "bench" / "manifest.json") or {}
                shown = (head.get("catalog_state") or {}).get("samples") or 0
                # The oldest committed sample the manifest does not show yet: since the catalog first
                # held more samples than the manifest shows.
                behind = next((t for count, t in first_seen if count > shown), None)
                if behind is not None:
                    max_lag_s = max(max_lag_s, now - behind)
                peak_rss = max(peak_rss, tree_rss_bytes(daemon.proc.pid))
                cpu.read()
                if (in_catalog and shown == in_catalog and view.pending() == 0
                        and manifest_complete(tree, "features" in chain)):
                    break
                if now - started > 1800 or daemon.proc.poll() is not None:
                    raise RuntimeError(f"the drop did not finish: {daemon.log_text()[-2000:]}")
                time.sleep(POLL_S)
            finished = time.monotonic()
            seconds = finished - started
            # From the first poll that saw the catalog's last sample to the poll that saw the whole manifest.
            tail_s = finished - first_seen[-1][1]
            cpu_s = cpu.seconds()
            written_bytes, write_calls = (after - before for after, before in
                                          zip(daemon_writes(daemon.proc.pid), writes_before))
            originals, total = view.originals(), view.samples()
            rss_after = tree_rss_bytes(daemon.proc.pid)
            idle = {}
            if idle_wait_s > 0:
                time.sleep(idle_wait_s)
                idle = {"idle_rss_mb": round(tree_rss_bytes(daemon.proc.pid) / 2**20, 1),
                        "idle_after_s": idle_wait_s,
                        "idle_processes": 1 + len(psutil.Process(daemon.proc.pid).children(recursive=True))}
        finally:
            daemon.stop()
    return {"chain": "+".join(chain), "originals": originals, "samples_with_children": total,
            "seconds_to_complete_manifest": round(seconds, 2), "originals_per_s": round(originals / seconds, 1),
            "max_manifest_lag_s": round(max_lag_s, 2), "manifest_tail_s": round(tail_s, 2), "peak_rss_mb": round(peak_rss / 2**20, 1),
            "rss_after_drop_mb": round(rss_after / 2**20, 1), "cpu_s": cpu_s,
            "daemon_writes": {"mb": round(written_bytes / 1e6, 1), "calls": write_calls}, **idle}


def batch_import(files: list[Path], chain: tuple[str, ...]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tree = tree_for(Path(tmp), chain)
        source = tree.root / "source"
        stage(files, source)
        peak = [0]
        done = threading.Event()

        def watch_memory() -> None:
            while not done.wait(POLL_S):
                for p in psutil.Process().children():
                    peak[0] = max(peak[0], tree_rss_bytes(p.pid))

        watcher = threading.Thread(target=watch_memory, daemon=True)
        watcher.start()
        started = time.monotonic()
        result = run_cli(tree, "import", "--dataset", "bench", "--quiet", str(source), timeout_s=3600)
        seconds = time.monotonic() - started
        done.set()
        watcher.join()
        if result.returncode != 0:
            raise RuntimeError(f"kellyd import failed: {result.stderr[-2000:]}")
        view = CatalogView(tree)
        originals, total = view.originals(), view.samples()
        assert manifest_complete(tree, "features" in chain)
    return {"chain": "+".join(chain), "originals": originals, "samples_with_children": total,
            "seconds": round(seconds, 2), "originals_per_s": round(originals / seconds, 1),
            "peak_rss_mb": round(peak[0] / 2**20, 1)}


# --- the seed-style baseline: one script per file, pretty_midi throughout -------------------------------


def _seed_features(pm, out_stem: Path) -> None:
    import numpy as np

    roll = pm.get_piano_roll(fs=16)
    tempo = float(pm.estimate_tempo()) if len(pm.get_onsets()) > 1 else 120.0
    np.savez_compressed(out_stem.with_suffix(".npz"), piano_roll=roll.astype(np.uint8),
                        pitch_class_histogram=pm.get_pitch_class_histogram(), beats=pm.get_beats())
    out_stem.with_suffix(".json").write_text(json.dumps({
        "tempo_bpm": tempo, "duration_s": pm.get_end_time(),
        "notes": sum(len(i.notes) for i in pm.instruments)}, indent=2))


def _seed_one(task: tuple[str, str, bool, int]) -> int:
    """Features of one file; if it is a training file, `multiplier` children written, re-read and featured."""
    import random

    import pretty_midi

    path, out, train, multiplier = task
    out_dir = Path(out)
    stem = Path(path).stem
    pm = pretty_midi.PrettyMIDI(path)
    _seed_features(pm, out_dir / "features" / stem)
    if not train:
        return 0
    rng = random.Random(stem)
    for i in range(multiplier):
        child = pretty_midi.PrettyMIDI(path)  # a fresh parse per child, as the seed scripts did
        factor = rng.uniform(0.9, 1.1)
        for inst in child.instruments:
            for note in inst.notes:
                note.velocity = max(1, min(127, int(note.velocity * factor)))
                if not inst.is_drum:
                    note.pitch = max(0, min(127, note.pitch + rng.choice((-2, -1, 1, 2))))
        child_path = out_dir / "augmented" / f"{stem}_a{i:02d}.mid"
        child.write(str(child_path))
        _seed_features(pretty_midi.PrettyMIDI(str(child_path)), out_dir / "features" / child_path.stem)
    return multiplier


def seed_baseline(files: list[Path]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "features").mkdir()
        (out / "augmented").mkdir()
        # The same 70 % training share as the daemon's default splits.
        tasks = [(str(f), str(out), i % 10 < 7, MULTIPLIER) for i, f in enumerate(files)]
        with ProcessPoolExecutor(WORKERS) as pool:
            list(pool.map(len, [[]] * WORKERS))  # workers started before the clock
            started = time.monotonic()
            children = sum(pool.map(_seed_one, tasks, chunksize=4))
            seconds = time.monotonic() - started
    return {"chain": "seed-style: pretty_midi features + per-file augmentation script", "originals": len(files),
            "children": children, "seconds": round(seconds, 2), "originals_per_s": round(len(files) / seconds, 1)}


def chains_arg(text: str) -> tuple[tuple[str, ...], ...]:
    """`import+annotate,import` -> (("import", "annotate"), ("import",)); each chain starts with import."""
    chains = tuple(tuple(step for step in chain.split("+") if step) for chain in text.split(",") if chain.strip())
    if not chains or any(not chain or chain[0] != "import" for chain in chains):
        raise argparse.ArgumentTypeError(f"chains start with import, steps joined by '+', chains by ',': {text!r}")
    return chains


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=0, help="use the first N files (default: all)")
    parser.add_argument("--only", nargs="*", default=PARTS, choices=PARTS, help="run only these parts")
    parser.add_argument("--idle-wait-s", type=float, default=ExecutorConfig().idle_workers_s + 10,
                        help="seconds after the drop before the idle RSS is read (0: not measured)")
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA, help="the full real-data corpus")
    parser.add_argument("--chains", type=chains_arg, default=(DEFAULT_CHAIN, REFERENCE_CHAIN),
                        help="the chains to measure, steps joined by '+', chains by ',' "
                             "(default: import+annotate+features+augment,import+annotate)")
    args = parser.parse_args()
    if skipped_without_corpus("bench_chain", args.realdata, "groove_midi"):
        return
    files = groove_files(args.realdata)
    files = files[:args.files] if args.files else files
    print(f"files: {len(files)} Groove MIDI files from {args.realdata / 'groove_midi'} (CC BY 4.0); "
          f"cores: {os.cpu_count()}; workers: {WORKERS}", flush=True)
    results: dict[str, list[dict] | dict] = {}
    for chain in args.chains:
        if "drop" in args.only:
            results.setdefault("drop", []).append(
                drop(files, chain, idle_wait_s=args.idle_wait_s if chain == DEFAULT_CHAIN else 0))
            print("drop", results["drop"][-1], flush=True)
        if "import" in args.only:
            results.setdefault("kellyd_import", []).append(batch_import(files, chain))
            print("kellyd import", results["kellyd_import"][-1], flush=True)
    if "seed" in args.only:
        results["seed_baseline"] = seed_baseline(files)
        print("seed baseline", results["seed_baseline"], flush=True)
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "chain.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
