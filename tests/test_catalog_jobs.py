"""One job per file: the catalog decides, by key, in the transaction that creates the job.

Real SQLite catalogs on disk; the runner tests run the real import and annotate handlers on a
thread pool (the runner is written against any `concurrent.futures.Executor`).
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kellyd.batch import run_until_idle
from kellyd.catalog import SCHEMA, Catalog
from kellyd.config import load_config
from kellyd.runner import Runner
from kellyd.runtime import NewFile, build_runtime
from kellyd.sample import Sample
from tests.daemon.harness import make_tree
from tests.daemon.midi_files import small_midi_bytes

NOW = 1_700_000_000.0
CHAIN = ("import", "annotate")


def file_sample(path: str) -> Sample:
    return Sample(dataset_id="mix", origin_path=path, label_dirs=("happy",), source={"type": "inbox", "on_import": "move"})


def job_rows(catalog: Catalog) -> list[tuple]:
    return catalog.db.execute("SELECT job_id, origin_path, state, step FROM jobs ORDER BY job_id").fetchall()


@pytest.fixture
def catalog(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    yield catalog
    catalog.close()


def test_the_same_file_reported_twice_gets_one_job(catalog):
    first = catalog.add_file_job(sample=file_sample("/in/a.mid"), chain=CHAIN, size=10, mtime_ns=5, now=NOW)
    again = catalog.add_file_job(sample=file_sample("/in/a.mid"), chain=CHAIN, size=10, mtime_ns=5, now=NOW + 1)
    assert first is not None and again is None
    assert job_rows(catalog) == [(first, "/in/a.mid", "pending", 0)]


def test_a_file_that_changes_before_its_import_runs_keeps_its_one_job(catalog):
    first = catalog.add_file_job(sample=file_sample("/in/a.mid"), chain=CHAIN, size=10, mtime_ns=5, now=NOW)
    assert catalog.add_file_job(sample=file_sample("/in/a.mid"), chain=CHAIN, size=12, mtime_ns=9, now=NOW) is None
    assert catalog.import_waiting("/in/a.mid")
    assert catalog.file_record("/in/a.mid") == (12, 9, first)  # the import will read it as it is now
    assert len(job_rows(catalog)) == 1


def test_a_file_that_changes_after_its_import_gets_a_new_job(catalog):
    first = catalog.add_file_job(sample=file_sample("/in/a.mid"), chain=CHAIN, size=10, mtime_ns=5, now=NOW)
    imported = file_sample("/in/a.mid").with_changes(sample_id="s1", sha256="ab" * 32, file_path="raw/midi/a.mid")
    catalog.advance_job(first, sample=imported, now=NOW, finished=False)
    assert not catalog.import_waiting("/in/a.mid")
    assert catalog.add_file_job(sample=file_sample("/in/a.mid"), chain=CHAIN, size=10, mtime_ns=5, now=NOW) is None
    second = catalog.add_file_job(sample=file_sample("/in/a.mid"), chain=CHAIN, size=11, mtime_ns=6, now=NOW)
    assert second is not None and second != first
    assert catalog.file_record("/in/a.mid") == (11, 6, second)


@pytest.mark.parametrize("state, new_job", [("done", False), ("duplicate", False), ("quarantined", False),
                                            ("vanished", True)])
def test_a_finished_job_at_the_same_size_and_mtime_blocks_a_new_one_unless_the_file_had_vanished(
        catalog, state, new_job):
    first = catalog.add_file_job(sample=file_sample("/in/a.mid"), chain=CHAIN, size=10, mtime_ns=5, now=NOW)
    catalog.end_job(first, state=state, now=NOW)
    again = catalog.add_file_job(sample=file_sample("/in/a.mid"), chain=CHAIN, size=10, mtime_ns=5, now=NOW)
    assert (again is not None) == new_job


def test_a_forgotten_file_gets_a_new_job_at_the_same_size_and_mtime(catalog):
    """A moved file's row is forgotten after its import: the same file dropped again is new work."""
    first = catalog.add_file_job(sample=file_sample("/in/a.mid"), chain=CHAIN, size=10, mtime_ns=5, now=NOW)
    catalog.end_job(first, state="done", now=NOW)
    catalog.forget_file("/in/a.mid", job_id=first + 100)  # another job's row: kept
    assert catalog.file_record("/in/a.mid") is not None
    catalog.forget_file("/in/a.mid", job_id=first)
    assert catalog.add_file_job(sample=file_sample("/in/a.mid"), chain=CHAIN, size=10, mtime_ns=5, now=NOW)


def test_imported_before_names_the_latest_earlier_job_that_imported_the_path(catalog):
    jobs = [catalog.add_job(sample=file_sample("/in/a.mid"), chain=CHAIN, now=NOW) for _ in range(3)]
    catalog.advance_job(jobs[0], sample=file_sample("/in/a.mid").with_changes(sample_id="s0"), now=NOW, finished=True)
    assert catalog.imported_before("/in/a.mid", job_id=jobs[2]) == (jobs[0], "s0")
    assert catalog.imported_before("/in/a.mid", job_id=jobs[0]) is None
    assert catalog.imported_before("/in/b.mid", job_id=jobs[2]) is None


@pytest.mark.parametrize("query, args", [
    ("SELECT f.size, f.mtime_ns, j.job_id, j.state, j.step FROM files f JOIN jobs j ON j.job_id = f.job_id"
     " WHERE f.path = ?", ("/in/a.mid",)),
    ("SELECT job_id, sample_id FROM jobs WHERE origin_path = ? AND job_id < ? AND sample_id IS NOT NULL"
     " ORDER BY job_id DESC LIMIT 1", ("/in/a.mid", 5)),
])
def test_the_per_file_lookups_use_keys_not_scans(catalog, query, args):
    """The catalog must cost the same per file at 100,000 samples as at 1,000: no table scan."""
    plan = " | ".join(row[-1] for row in catalog.db.execute("EXPLAIN QUERY PLAN " + query, args))
    assert "SCAN" not in plan and "SEARCH" in plan, plan


def test_an_old_catalog_learns_the_vanished_state_and_keeps_its_jobs(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA.replace(", 'vanished'", "").replace("CREATE INDEX IF NOT EXISTS jobs_origin", "-- "))
    db.execute("INSERT INTO jobs (dataset_id, origin_path, chain, state, sample, created_at, updated_at)"
               " VALUES ('mix', '/in/a.mid', '[\"import\"]', 'done', '{}', 1, 1)")
    db.commit()
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE jobs SET state = 'vanished'")
    db.close()
    catalog = Catalog(path)
    try:
        assert job_rows(catalog) == [(1, "/in/a.mid", "done", 0)]
        catalog.end_job(1, state="vanished", now=NOW)
        assert job_rows(catalog) == [(1, "/in/a.mid", "vanished", 0)]
        indexes = {r[0] for r in catalog.db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'jobs'"
                                                    " AND type = 'index'")}
        assert {"jobs_pending", "jobs_origin"} <= indexes
    finally:
        catalog.close()
    Catalog(path).close()  # opening it again changes nothing


# -- the runner, with the real handlers ------------------------------------------------------------


@pytest.fixture
def runner(tmp_path):
    tree = make_tree(tmp_path)
    cfg = load_config(tree.config)
    catalog = Catalog(cfg.catalog_path)
    runner = Runner(cfg, catalog, {"mix": build_runtime(cfg, "mix", cfg.datasets["mix"], catalog)},
                    lambda: ThreadPoolExecutor(max_workers=2), None)
    yield runner
    runner.executor.shutdown()
    catalog.close()


def drop(folder: Path, name: str, index: int) -> NewFile:
    path = folder / "happy" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(small_midi_bytes(index))
    st = path.stat()
    return NewFile(str(path), st.st_size, st.st_mtime_ns, "mix", ("happy",))


def test_enqueue_counts_only_the_jobs_it_created(runner, tmp_path):
    files = [drop(tmp_path / "in", f"{i}.mid", i) for i in range(3)]
    assert runner.enqueue(files, now=NOW) == 3
    assert runner.enqueue(files + files, now=NOW) == 0  # an event, a scan, a burst after SIGCONT
    assert runner.catalog.pending_count() == 3


def test_a_file_gone_before_its_import_is_a_logged_skip_not_an_error(runner, tmp_path):
    f = drop(tmp_path / "in", "gone.mid", 1)
    runner.enqueue([f], now=time.time())
    Path(f.path).unlink()  # the user took it back
    run_until_idle(runner)
    assert runner.catalog.db.execute("SELECT state FROM jobs").fetchall() == [("vanished",)]
    assert runner.catalog.quarantined() == [] and runner.counters.errors == 0
    assert runner.catalog.file_record(f.path) is None
    assert not (runner.cfg.quarantine_dir / "mix").exists()


def test_a_second_job_for_a_file_an_earlier_job_imported_ends_as_a_duplicate(runner, tmp_path):
    """Jobs made before the catalog checked (an older daemon) still end quietly when their file was
    moved into the dataset by the first."""
    f = drop(tmp_path / "in", "a.mid", 2)
    sample = Sample(dataset_id="mix", origin_path=f.path, label_dirs=f.label_dirs,
                    source={"type": "inbox", "on_import": "move"})
    with runner.catalog.transaction():
        first = runner.catalog.add_job(sample=sample, chain=CHAIN, size=f.size, mtime_ns=f.mtime_ns, now=NOW)
        second = runner.catalog.add_job(sample=sample, chain=CHAIN, size=f.size, mtime_ns=f.mtime_ns, now=NOW)
    runner.capacity = 1  # the first job's import (which moves the file) commits before the second runs
    run_until_idle(runner)
    states = dict(runner.catalog.db.execute("SELECT job_id, state FROM jobs"))
    assert states == {first: "done", second: "duplicate"}
    (error,) = runner.catalog.db.execute("SELECT error FROM jobs WHERE job_id = ?", (second,)).fetchone()
    assert error.startswith(f"already imported by job {first}")
    assert runner.catalog.quarantined() == [] and runner.counters.errors == 0
    assert runner.catalog.sample_count("mix") == 1


def test_a_redropped_file_restores_the_lost_raw_copy_and_its_lost_features(tmp_path):
    datasets = {"mix": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate", "features"]}}
    cfg = load_config(make_tree(tmp_path, datasets=datasets).config)
    catalog = Catalog(cfg.catalog_path)
    rt = build_runtime(cfg, "mix", cfg.datasets["mix"], catalog)
    runner = Runner(cfg, catalog, {"mix": rt}, lambda: ThreadPoolExecutor(max_workers=2), None)
    try:
        runner.enqueue([drop(tmp_path / "in", "a.mid", 3)], now=time.time())
        run_until_idle(runner)
        (sample,) = catalog.samples("mix")
        raw, features = rt.ctx.root / sample.file_path, rt.ctx.root / sample.features_path
        content = raw.read_bytes()
        raw.unlink()  # a user cleans up by hand
        features.unlink()
        runner.enqueue([drop(tmp_path / "in2", "b.mid", 3)], now=time.time())  # the same bytes, another name
        run_until_idle(runner)
        assert raw.read_bytes() == content and features.exists()
        (after,) = catalog.samples("mix")
        assert (after.sample_id, after.file_path) == (sample.sample_id, sample.file_path)
        assert sorted(after.original_names) == ["a.mid", "b.mid"]
        assert sorted(p.name for p in (rt.ctx.root / "raw").rglob("*.mid")) == [raw.name]
        chains = [c for (c,) in catalog.db.execute("SELECT chain FROM jobs ORDER BY job_id")]
        assert chains[-1] == '["features"]'
        assert catalog.quarantined() == [] and runner.counters.errors == 0
    finally:
        runner.executor.shutdown()
        catalog.close()


def test_each_dispatch_lane_gives_its_oldest_due_jobs_less_those_in_flight(catalog):
    ids = [catalog.add_job(sample=file_sample(f"/in/{i}.mid"), chain=CHAIN, now=NOW) for i in range(8)]
    catalog.retry_job(ids[1], not_before=NOW, error="flaky", now=NOW)
    catalog.retry_job(ids[2], not_before=NOW + 60, error="flaky", now=NOW)  # waits out its backoff
    catalog.retry_job(ids[5], not_before=NOW, error="flaky", now=NOW)
    catalog.postpone_job(ids[3], not_before=NOW + 60, error="disk full", now=NOW)  # not due, never tried
    catalog.end_job(ids[6], state="done", now=NOW)

    def lane(retries, exclude=(), limit=10):
        return [job.job_id for job in catalog.runnable_jobs(now=NOW, limit=limit, exclude=exclude, retries=retries)]

    assert lane(False) == [ids[0], ids[4], ids[7]]
    assert lane(True) == [ids[1], ids[5]]
    assert lane(None) == [ids[0], ids[1], ids[4], ids[5], ids[7]]
    assert lane(False, exclude=[ids[0], ids[7]]) == [ids[4]]
    assert lane(False, limit=1, exclude=[ids[0]]) == [ids[4]]
    assert lane(True, exclude=[ids[1]]) == [ids[5]]
    # A cluster keeps 4 steps in flight per worker: more than SQLite's variable limit (32,766) still works.
    assert lane(False, exclude=[ids[0], *range(ids[-1] + 1, ids[-1] + 40_000)]) == [ids[4], ids[7]]
    assert catalog.runnable_jobs(now=NOW + 61, limit=10, retries=True)[-1].job_id == ids[5]
    assert catalog.has_runnable_job(now=NOW)
    for job_id in (ids[0], ids[1], ids[4], ids[5], ids[7]):
        catalog.end_job(job_id, state="done", now=NOW)
    assert not catalog.has_runnable_job(now=NOW) and catalog.has_runnable_job(now=NOW + 60)


def test_a_dispatch_takes_only_the_jobs_of_the_datasets_served(catalog):
    held = [catalog.add_job(sample=Sample(dataset_id="away", origin_path=f"/in/away/{i}.mid", label_dirs=(),
                                          source={"type": "inbox"}), chain=CHAIN, now=NOW) for i in range(5)]
    catalog.retry_job(held[0], not_before=NOW, error="flaky", now=NOW)
    served = [catalog.add_job(sample=file_sample(f"/in/{i}.mid"), chain=CHAIN, now=NOW) for i in range(3)]
    catalog.retry_job(served[2], not_before=NOW, error="flaky", now=NOW)

    def lane(retries, datasets=None):
        return [job.job_id for job in catalog.runnable_jobs(now=NOW, limit=2, retries=retries, datasets=datasets)]

    assert lane(False) == held[1:3]  # the oldest first: the other dataset's jobs would fill the room
    assert lane(False, datasets={"mix"}) == served[:2]
    assert lane(True, datasets=["mix"]) == [served[2]]
    assert lane(None, datasets=["mix", "other"]) == served[:2]
    assert lane(None, datasets=[]) == []
    for job_id in served:
        catalog.end_job(job_id, state="done", now=NOW)
    assert catalog.has_runnable_job(now=NOW) and not catalog.has_runnable_job(now=NOW, datasets={"mix"})


def test_the_jobs_of_a_dataset_taken_out_of_the_config_do_not_hold_up_the_others(runner, tmp_path):
    with runner.catalog.transaction():
        for i in range(3 * runner.capacity):  # older than any new file, more than the runner takes at once
            runner.catalog.add_job(sample=Sample(dataset_id="removed", origin_path=f"/in/removed/{i}.mid", label_dirs=(),
                                                 source={"type": "inbox"}), chain=CHAIN, now=NOW)
    f = drop(tmp_path / "in", "a.mid", 1)
    runner.enqueue([f], now=time.time())
    assert runner.dispatch(now=time.time()) == 1
    run_until_idle_of(runner, "mix")
    assert runner.catalog.db.execute("SELECT state FROM jobs WHERE dataset_id = 'mix'").fetchall() == [("done",)]
    assert [Path(s.file_path).name for s in runner.catalog.samples("mix")] == ["a.mid"]
    assert runner.catalog.pending_count() == 3 * runner.capacity  # the removed dataset's jobs still wait for it


def run_until_idle_of(runner, dataset_id: str, timeout_s: float = 30.0) -> None:
    """Dispatch and collect until no job of `dataset_id` is pending (the other datasets' jobs wait)."""
    deadline = time.monotonic() + timeout_s
    while runner.catalog.db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND dataset_id = ?",
                                    (dataset_id,)).fetchone()[0] or runner.in_flight:
        assert time.monotonic() < deadline, "the dataset's jobs did not finish"
        runner.dispatch(now=time.time())
        runner.collect(timeout_s=0.2)


def sqlite_steps(catalog: Catalog, fn) -> int:
    """How many SQLite virtual-machine instructions `fn` runs (a cost measure that does not depend on the machine)."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    catalog.db.set_progress_handler(tick, 1)
    try:
        fn()
    finally:
        catalog.db.set_progress_handler(None, 1)
    return count[0]


def test_a_dispatch_reads_the_jobs_it_takes_not_the_whole_backlog(tmp_path):
    """The runner asks each lane for a few jobs several times a second during a drop: the cost must
    not grow with the jobs waiting behind them (it sorted every due job before)."""
    costs = {}
    for backlog in (20, 2000):
        catalog = Catalog(tmp_path / f"{backlog}.sqlite3")
        with catalog.transaction():
            ids = [catalog.add_job(sample=file_sample(f"/in/{i}.mid"), chain=CHAIN, now=NOW) for i in range(backlog)]
        in_flight = ids[:8]
        costs[backlog] = {retries: sqlite_steps(catalog, lambda: catalog.runnable_jobs(
            now=NOW, limit=8, exclude=in_flight, retries=retries)) for retries in (True, False)}
        costs[backlog]["any"] = sqlite_steps(catalog, lambda: catalog.has_runnable_job(now=NOW))
        catalog.close()
    for key in (True, False, "any"):
        assert costs[2000][key] < 2 * costs[20][key] + 50, costs


def test_names_and_split_read_the_fields_the_catalog_owns_as_the_whole_row_holds_them(catalog):
    sample = Sample(dataset_id="mix", origin_path="", sample_id="ab12", sha256="ab12" * 16, kind="midi",
                    original_names=("take 1.mid", "Таке ✓.mid"), split="val", annotations={"emotion": "happy"})
    with catalog.transaction():
        catalog.put_sample(sample, now=NOW)
        catalog.put_sample(Sample(dataset_id="mix", origin_path="", sample_id="cd34", sha256="cd34" * 16), now=NOW)
    stored = catalog.sample("mix", "ab12")
    assert catalog.names_and_split("mix", "ab12") == (stored.original_names, stored.split) \
        == (("take 1.mid", "Таке ✓.mid"), "val")
    assert catalog.names_and_split("mix", "cd34") == ((), None)
    assert catalog.names_and_split("mix", "none") is None and catalog.names_and_split("other", "ab12") is None
