"""What one dispatch costs the daemon as jobs wait behind it.

During a drop the runner asks the catalog, several times a second, for the oldest due jobs of each
lane (retries, then files never tried), less the jobs already in flight. This builds real catalogs
(generated jobs, no files) with a backlog of waiting jobs and 8 in flight, and times that pair of
reads and `has_runnable_job` (the "is there work?" check), beside the reads as kellyd made them
before, measured in the same run: one query per lane over the pending index, every due job sorted
by job id, and the in-flight jobs read and parsed before being dropped.

Run: .venv/bin/python bench/bench_dispatch.py [--backlogs 100 1000 10000 100000] [--repeats 300]
Writes bench/out/dispatch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kellyd.catalog import Catalog  # noqa: E402
from kellyd.sample import Sample  # noqa: E402

NOW = 1_700_000_000.0
CHAIN = ("import", "annotate", "features", "augment")
IN_FLIGHT = 8
TAKE = 8  # what the runner asks a lane for with 2 workers (4 steps in flight per worker)
DONE_PER_PENDING = 2  # finished jobs beside the waiting ones, as in a catalog that has worked a while
BEFORE_SQL = ("SELECT job_id, dataset_id, origin_path, chain, step, sample, attempts FROM jobs"
              " WHERE state = 'pending' AND not_before <= ?{lane} ORDER BY job_id LIMIT ?")


def build(path: Path, backlog: int) -> Catalog:
    catalog = Catalog(path)
    with catalog.transaction():
        for index in range(backlog * (1 + DONE_PER_PENDING)):
            sample = Sample(dataset_id="bench", origin_path=f"/inbox/bench/style{index % 10}/f{index:07d}.mid",
                            label_dirs=(f"style{index % 10}",), source={"type": "inbox", "on_import": "move"})
            job_id = catalog.add_job(sample=sample, chain=CHAIN, now=NOW)
            if index < backlog * DONE_PER_PENDING:
                catalog.end_job(job_id, state="done", now=NOW)
    return catalog


def in_flight(catalog: Catalog) -> list[int]:
    return [job.job_id for job in catalog.runnable_jobs(now=NOW, limit=IN_FLIGHT, retries=False)]


def dispatch_now(catalog: Catalog, busy: list[int]) -> int:
    jobs = catalog.runnable_jobs(now=NOW, limit=TAKE, exclude=busy, retries=True)
    jobs += catalog.runnable_jobs(now=NOW, limit=TAKE - len(jobs), exclude=busy, retries=False)
    return len(jobs)


def dispatch_before(catalog: Catalog, busy: list[int]) -> int:
    """The earlier reads: every due job of the lane sorted, the in-flight ones parsed, then dropped."""
    from kellyd.catalog import Job

    excluded = set(busy)
    taken = []
    for lane in (" AND attempts > 0", " AND attempts = 0"):
        rows = catalog.db.execute(BEFORE_SQL.format(lane=lane), (NOW, TAKE - len(taken) + len(excluded))).fetchall()
        jobs = [Job(job_id, dataset_id, origin, tuple(json.loads(chain)), step, Sample.from_json(json.loads(sample)),
                    attempts) for job_id, dataset_id, origin, chain, step, sample, attempts in rows]
        taken += [job for job in jobs if job.job_id not in excluded][:TAKE - len(taken)]
    return len(taken)


def any_before(catalog: Catalog) -> bool:
    return bool(catalog.db.execute(BEFORE_SQL.format(lane=""), (NOW, 1)).fetchall())


def median_ms(fn, repeats: int) -> float:
    """Median of `repeats` calls (ms): the machine is shared, a median is steadier than a mean."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    times.sort()
    return 1e3 * times[len(times) // 2]


def one_backlog(folder: Path, backlog: int, repeats: int) -> dict:
    catalog = build(folder / f"catalog-{backlog}.sqlite3", backlog)
    try:
        busy = in_flight(catalog)
        assert dispatch_now(catalog, busy) == dispatch_before(catalog, busy) == min(TAKE, backlog - IN_FLIGHT)
        now_ms = median_ms(lambda: dispatch_now(catalog, busy), repeats)
        before_ms = median_ms(lambda: dispatch_before(catalog, busy), repeats)
        any_now_ms = median_ms(lambda: catalog.has_runnable_job(now=NOW), repeats)
        any_before_ms = median_ms(lambda: any_before(catalog), repeats)
    finally:
        catalog.close()
    return {"backlog_jobs": backlog, "done_jobs": backlog * DONE_PER_PENDING,
            "dispatch_ms": round(now_ms, 4), "dispatch_before_ms": round(before_ms, 4),
            "dispatch_ratio": round(before_ms / now_ms, 1),
            "any_work_ms": round(any_now_ms, 4), "any_work_before_ms": round(any_before_ms, 4),
            "any_work_ratio": round(any_before_ms / any_now_ms, 1)}


def drop(count: int) -> dict:
    """`count` generated files renamed into a running daemon's inbox; samples/s while the backlog drains."""
    from tests.daemon.harness import DaemonProcess, make_tree
    from tests.daemon.midi_files import write_small_midis

    with tempfile.TemporaryDirectory() as tmp:
        tree = make_tree(Path(tmp), settle_s=1.0, extra={"executor": {"workers": 2}}, datasets={
            "bench": {"target_model": "GroovePredictor", "chain": ["import", "annotate"]}})
        staged = tree.root / "staged"
        for start in range(0, count, 1000):  # folders of 1,000 files
            write_small_midis(staged / f"part{start // 1000:04d}", min(1000, count - start), start=start)
        daemon = DaemonProcess(tree)
        daemon.wait_started()
        started = time.monotonic()
        os.rename(staged, tree.inbox / "bench" / "batch")
        rates, last = [], (0, started)
        try:
            while last[0] < count and time.monotonic() - started < 3600:
                time.sleep(5.0)
                db = sqlite3.connect(f"file:{tree.state / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=5)
                try:
                    (samples,) = db.execute("SELECT COUNT(*) FROM samples").fetchone()
                finally:
                    db.close()
                now = time.monotonic()
                rates.append(round((samples - last[0]) / (now - last[1]), 1))
                print(f"  {now - started:6.1f} s: {samples} samples, {count - samples} waiting, {rates[-1]} samples/s",
                      flush=True)
                last = (samples, now)
        finally:
            daemon.stop()
    seconds = last[1] - started
    return {"drop_files": count, "seconds": round(seconds, 1), "samples_per_s": round(last[0] / seconds, 1),
            "first_5s_windows_per_s": rates[1:4], "last_5s_windows_per_s": rates[-4:-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlogs", type=int, nargs="*", default=[100, 1000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--drop", type=int, default=0, help="also drop this many generated files into a daemon")
    args = parser.parse_args()
    print(f"files: none (generated catalogs: each backlog of waiting jobs beside {DONE_PER_PENDING}x as many "
          f"finished ones, {IN_FLIGHT} in flight, {TAKE} taken per dispatch)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backlog in args.backlogs:
            result = one_backlog(Path(tmp), backlog, args.repeats)
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.drop:
        print(f"drop: {args.drop} generated 4-note MIDI files, chain import + annotate, 2 workers", flush=True)
        result = drop(args.drop)
        print(json.dumps(result), flush=True)
        results.append(result)
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "dispatch.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
