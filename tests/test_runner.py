"""The runner is written against `concurrent.futures.Executor`: another executor can replace the pool."""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

from kellyd.batch import run_until_idle
from kellyd.catalog import Catalog
from kellyd.config import load_config
from kellyd.outcome import backoff_s, outcome_for
from kellyd.errors import InvalidInput, TemporaryFailure
from kellyd.runner import Runner
from kellyd.runtime import NewFile, build_runtime
from tests.daemon.harness import make_tree

import errno
import pytest


def test_runner_works_on_a_thread_pool(tmp_path, corpus):
    tree = make_tree(tmp_path)
    cfg = load_config(tree.config)
    catalog = Catalog(cfg.catalog_path)
    files = sorted(corpus.glob("groove_midi/drummer1/session1/*.mid"))[:4]
    new = []
    for src in files:
        dst = tmp_path / "in" / "swing" / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        st = dst.stat()
        new.append(NewFile(str(dst), st.st_size, st.st_mtime_ns, "mix", ("swing",), "import", "copy"))
    pools = []

    def factory():
        pools.append(ThreadPoolExecutor(max_workers=2))
        return pools[-1]

    runner = Runner(cfg, catalog, {"mix": build_runtime(cfg, "mix", cfg.datasets["mix"], catalog)}, factory, None)
    try:
        runner.enqueue(new, now=time.time())
        run_until_idle(runner)
        samples = catalog.samples("mix")
        assert len(samples) == 4 and all(s.annotations["groove_type"] == "swing" for s in samples)
        assert runner.counters.processed == 4
    finally:
        for pool in pools:
            pool.shutdown()
        catalog.close()


@pytest.mark.parametrize("exc, status", [
    (InvalidInput("bad"), "invalid"),
    (TemporaryFailure("later"), "retry"),
    (OSError(errno.ENOSPC, "No space left on device"), "retry"),
    (OSError(errno.EACCES, "Permission denied"), "error"),
    (ValueError("bug"), "error"),
    (MemoryError(), "retry"),
])
def test_exceptions_map_to_one_outcome_each(exc, status):
    assert outcome_for(exc).status == status


def test_backoff_grows_and_is_capped():
    assert [backoff_s(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert backoff_s(30) == 600.0
    with pytest.raises(ValueError, match="0"):
        backoff_s(0)


def test_manifest_export_is_valid_json_and_atomic(tmp_path):
    import hashlib
    import json

    from kellyd.export import write_manifest
    from kellyd.sample import Sample

    catalog = Catalog(tmp_path / "c.sqlite3")
    with catalog.transaction():
        for i in range(3):
            sha = hashlib.sha256(str(i).encode()).hexdigest()
            catalog.put_sample(Sample(dataset_id="d", origin_path="", sample_id=sha[:16], sha256=sha, kind="midi",
                                      file_path=f"raw/midi/{i}.mid", annotations={"emotion": "joy ✓"}), now=0.0)
    assert write_manifest(catalog, "d", tmp_path / "d") == 3
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["dataset_id"] == "d" and len(manifest["samples"]) == 3
    assert manifest["samples"][0]["annotations"]["emotion"] == "joy ✓"
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["manifest.json"]
    catalog.close()


def test_a_worker_that_dies_costs_one_file_not_the_runner(tmp_path, corpus, monkeypatch):
    from kellyd.handlers import registry
    from kellyd.executor import make_executor

    monkeypatch.setitem(registry.HANDLERS, "kills_worker", "tests.crashing_handler:KillsItsWorker")
    datasets = {"mix": {"target_model": "GroovePredictor", "chain": ["import", "annotate", "kills_worker"]}}
    tree = make_tree(tmp_path, datasets=datasets, extra={"executor": {"max_attempts": 2}})
    cfg = load_config(tree.config)
    catalog = Catalog(cfg.catalog_path)
    files = sorted(corpus.glob("groove_midi/drummer1/session1/*.mid"))[:3]
    new = []
    for i, src in enumerate(files):
        dst = tmp_path / "in" / ("crash.mid" if i == 0 else f"ok{i}.mid")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        st = dst.stat()
        new.append(NewFile(str(dst), st.st_size, st.st_mtime_ns, "mix", ("swing",), "import", "copy"))
    runner = Runner(cfg, catalog, {"mix": build_runtime(cfg, "mix", cfg.datasets["mix"], catalog)},
                    lambda: make_executor(cfg), None)
    try:
        runner.enqueue(new, now=time.time())
        deadline = time.monotonic() + 120
        while not runner.idle() and time.monotonic() < deadline:
            runner.dispatch(now=time.time() + 10_000)  # skip the retry backoff
            runner.collect(timeout_s=0.2, now_fn=lambda: time.time())
        assert runner.idle()
        entries = catalog.quarantined("mix")
        assert [e.origin_path.endswith("crash.mid") for e in entries] == [True]
        assert "worker process died" in entries[0].reason and entries[0].handler == "kills_worker"
        assert sorted(s.original_names[0] for s in catalog.samples("mix")) == ["ok1.mid", "ok2.mid"]
    finally:
        runner.shutdown()
        catalog.close()


def test_steps_committed_together_are_synced_together_and_a_failed_sync_fails_its_step_alone(tmp_path, corpus,
                                                                                            monkeypatch):
    """The local pool's workers leave their files to the runner, which syncs a loop iteration's steps at
    once (on a thread of its own) before committing them; a step whose files cannot be synced (their
    folder was removed) is quarantined with the reason, and the steps synced beside it still commit."""
    from concurrent.futures import wait

    from kellyd.executor import make_executor
    from kellyd.handlers import registry

    monkeypatch.setitem(registry.HANDLERS, "writes_probe", "tests.writing_handler:WritesProbe")
    tree = make_tree(tmp_path, datasets={"mix": {"target_model": "GroovePredictor", "chain": ["import", "writes_probe"]}})
    cfg = load_config(tree.config)
    catalog = Catalog(cfg.catalog_path)
    new = []
    for name, src in zip(("ok1.mid", "lose.mid", "ok2.mid"), sorted(corpus.glob("groove_midi/drummer1/session1/*.mid"))):
        dst = tmp_path / "in" / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        st = dst.stat()
        new.append(NewFile(str(dst), st.st_size, st.st_mtime_ns, "mix", (), "import", "copy"))
    runner = Runner(cfg, catalog, {"mix": build_runtime(cfg, "mix", cfg.datasets["mix"], catalog)},
                    lambda: make_executor(cfg), None)
    try:
        runner.enqueue(new, now=time.time())
        for step in ("import", "writes_probe"):
            assert runner.dispatch(now=time.time()) == 3
            assert {job.handler_name for job in runner.in_flight.values()} == {step}
            futures = list(runner.in_flight)
            wait(futures, timeout=120)
            outcomes = [f.result() for f in futures]
            if step == "writes_probe":  # the workers left every sync to the runner
                assert all(o.status == "ok" and len(o.unsynced.files) == 2 for o in outcomes)
            # One loop iteration hands the three to one sync, off the main thread; a later one commits
            # them together once it is done. Until then they are in flight.
            assert runner.collect(timeout_s=0) == 0
            assert runner.sync_lane.steps() == set(futures) and len(runner.sync_lane.syncs()) == 1
            assert set(runner.in_flight) == set(futures)
            assert runner.dispatch(now=time.time()) == 0  # their jobs are not handed out again
            assert runner.collect(timeout_s=60) == 3
        assert runner.idle()
        [lost] = catalog.quarantined("mix")
        assert lost.origin_path.endswith("lose.mid") and lost.handler == "writes_probe"
        assert "No such file" in lost.reason
        kept = catalog.samples("mix")
        assert sorted(s.original_names[0] for s in kept) == ["ok1.mid", "ok2.mid"]
        for s in kept:
            assert (tree.datasets / "mix" / "processed" / "probe" / s.sample_id / "two.bin").read_bytes() == \
                s.sample_id.encode("ascii")
    finally:
        runner.shutdown()
        catalog.close()


def test_a_duplicate_name_survives_the_original_s_later_steps(tmp_path, corpus):
    """The same bytes under a second name arrive while the first copy's annotate step runs: the
    step's result must not overwrite the name the duplicate added."""
    from kellyd.outcome import run_step

    tree = make_tree(tmp_path)
    cfg = load_config(tree.config)
    catalog = Catalog(cfg.catalog_path)
    src = sorted(corpus.glob("groove_midi/drummer1/session1/*.mid"))[0]
    paths = []
    for name in ("a.mid", "a copy.mid"):
        dst = tmp_path / "in" / "happy" / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        paths.append(dst)
    rt = build_runtime(cfg, "mix", cfg.datasets["mix"], catalog)
    runner = Runner(cfg, catalog, {"mix": rt}, lambda: ThreadPoolExecutor(max_workers=1), None)
    try:
        now = time.time()
        runner.enqueue([NewFile(str(p), p.stat().st_size, p.stat().st_mtime_ns, "mix", ("happy",), "import", "copy")
                        for p in paths], now=now)
        first, second = catalog.runnable_jobs(now=now, limit=2)

        def step(job):  # the job's next step, run for real, committed like the runner does
            with catalog.transaction():
                runner.commits.record(job, run_step(rt.handlers[job.handler_name], job.sample), time.time(), [])

        step(first)                                            # a.mid imported
        first_again = catalog.runnable_jobs(now=time.time(), limit=2)[0]
        step(second)                                           # a copy.mid: a duplicate of a.mid
        step(first_again)                                      # a.mid annotated, from its older value
        (sample,) = catalog.samples("mix")
        assert sorted(sample.original_names) == ["a copy.mid", "a.mid"]
        assert sample.annotations["emotion"] == "happy" and sample.split in ("train", "val", "test")
    finally:
        runner.executor.shutdown()
        catalog.close()


def test_a_starting_runner_finishes_the_moves_a_kill_interrupted(tmp_path, corpus):
    """The state a kill between an import's commit and the origin's removal leaves: the origin still in
    the inbox, its `files` row still naming the job that imported it."""
    tree = make_tree(tmp_path)
    cfg = load_config(tree.config)
    catalog = Catalog(cfg.catalog_path)
    inbox = tmp_path / "in" / "swing"
    inbox.mkdir(parents=True)
    sources = sorted(corpus.glob("groove_midi/drummer1/session1/*.mid"))[:3]
    new = []
    for src in sources:
        shutil.copyfile(src, inbox / src.name)
        st = (inbox / src.name).stat()
        new.append(NewFile(str(inbox / src.name), st.st_size, st.st_mtime_ns, "mix", ("swing",), "import", "move"))
    pools = []

    def factory():
        pools.append(ThreadPoolExecutor(max_workers=2))
        return pools[-1]

    def runner() -> Runner:
        return Runner(cfg, catalog, {"mix": build_runtime(cfg, "mix", cfg.datasets["mix"], catalog)}, factory, None)

    try:
        first = runner()
        first.enqueue(new, now=time.time())
        run_until_idle(first)
        assert not any(inbox.iterdir()) and catalog.db.execute("SELECT COUNT(*) FROM files").fetchone() == (0,)
        unchanged, changed, _gone = new  # the third stays gone: only its row is left
        job_of = dict(catalog.db.execute("SELECT origin_path, job_id FROM jobs"))
        with catalog.transaction():
            for f in new:
                catalog.note_file(f.path, size=f.size, mtime_ns=f.mtime_ns, job_id=job_of[f.path], now=time.time())
        for f, src in zip((unchanged, changed), sources):
            shutil.copyfile(src, f.path)
            os.utime(f.path, ns=(f.mtime_ns, f.mtime_ns))
        os.utime(changed.path, ns=(changed.mtime_ns + 10**9, changed.mtime_ns + 10**9))  # written again since

        runner()
        assert not os.path.exists(unchanged.path)  # the move is finished
        assert os.path.exists(changed.path)  # not the file that was imported: left for the scan, a new arrival
        assert catalog.db.execute("SELECT COUNT(*) FROM files").fetchone() == (0,)
        assert len(catalog.samples("mix")) == 3
    finally:
        for pool in pools:
            pool.shutdown()
        catalog.close()


def test_the_running_steps_are_shown_at_most_once_a_second_and_at_once_when_none_runs(tmp_path):
    """`kellyd status` reads the steps running now from the catalog. In a burst the set changes at every
    loop iteration; it is written at most once a second, and at once when the last step ends."""
    import multiprocessing
    from concurrent.futures import Future

    from kellyd.runner import RUNNING_SHOWN_EVERY_S
    from kellyd.worker_board import WorkerBoard

    tree = make_tree(tmp_path)
    cfg = load_config(tree.config)
    catalog = Catalog(cfg.catalog_path)
    board = WorkerBoard.create(multiprocessing.get_context("spawn"), 2)
    board.register(0, pid=os.getpid(), cache_warm=False)

    def factory():
        pool = ThreadPoolExecutor(max_workers=1)
        pool.kellyd_board = board
        return pool

    runner = Runner(cfg, catalog, {"mix": build_runtime(cfg, "mix", cfg.datasets["mix"], catalog)}, factory, None)
    try:
        new = []
        for name in ("a.mid", "b.mid"):
            path = tmp_path / "in" / name
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"MThd")
            new.append(NewFile(str(path), 4, path.stat().st_mtime_ns, "mix", (), "import", "copy"))
        runner.enqueue(new, now=time.time())
        first, second = catalog.runnable_jobs(now=time.time(), limit=2)
        runner.in_flight.update({Future(): first, Future(): second})

        def shown(at_s: float) -> list[int]:
            runner.watch_workers(now_mono_s=at_s, now_wall_s=1_000_000.0 + at_s)
            return [job_id for (job_id,) in catalog.db.execute("SELECT job_id FROM running ORDER BY job_id")]

        board.started(0, first.job_id, now_mono_s=100.0)
        assert shown(100.0) == [first.job_id]
        board.started(0, second.job_id, now_mono_s=100.2)
        assert shown(100.2) == [first.job_id]  # changed, but shown less than a second ago
        assert shown(100.0 + RUNNING_SHOWN_EVERY_S) == [second.job_id]
        board.finished(0)
        assert shown(100.1 + RUNNING_SHOWN_EVERY_S) == []  # nothing runs: shown at once
    finally:
        runner.in_flight.clear()
        runner.executor.shutdown()
        catalog.close()
