"""`kellyd status` stays fast on a large catalog: no query it makes reads the sample rows themselves
(each carries the sample's JSON; reading them all took 4.6 s at 300,000 samples). Every query on
`samples` must be answered from an index."""

from __future__ import annotations

import hashlib
import sqlite3

from kellyd.catalog import Catalog
from kellyd.sample import Sample, sample_id_for
from kellyd.status import collect_status


def put(catalog: Catalog, index: int, *, split: str | None, parent_id: str | None = None) -> Sample:
    sha = hashlib.sha256(str(index).encode()).hexdigest()
    sample = Sample(dataset_id="ds", origin_path="", sample_id=sample_id_for(sha), sha256=sha, kind="midi",
                    file_path=f"raw/midi/{index}.mid", split=split, parent_id=parent_id)
    catalog.put_sample(sample, now=1.0, label="x", group_key=f"sample:{sample.sample_id}")
    return sample


def test_status_answers_sample_counts_from_an_index(tmp_path, monkeypatch):
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    with catalog.transaction():
        parent = put(catalog, 1, split="train")
        put(catalog, 2, split="val")
        put(catalog, 3, split="train", parent_id=parent.sample_id)
        put(catalog, 4, split=None)
    catalog.close()
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args, **kwargs):
        db = connect(*args, **kwargs)
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(sqlite3, "connect", traced)
    shown = collect_status(path, tmp_path, jobs={}, blockers={})["datasets"]["ds"]
    monkeypatch.undo()
    assert (shown["samples"], shown["originals"], shown["derived"]) == (4, 3, 1)
    assert shown["splits"] == {"train": 2, "val": 1, "unassigned": 1}
    on_samples = [s for s in statements if "FROM samples" in s and s.lstrip().upper().startswith("SELECT")]
    assert on_samples, "status no longer counts samples: this test must follow it"
    db = connect(path)
    try:
        for statement in on_samples:
            plan = [row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + statement)]
            # SQLite never calls an index on an expression "covering", though the split count reads nothing else.
            reads_rows = [step for step in plan if step.startswith("SCAN samples")
                          and "COVERING INDEX" not in step and "INDEX samples_split" not in step]
            assert not reads_rows, (statement, plan)
    finally:
        db.close()


def test_a_group_split_is_looked_up_by_its_group_not_by_walking_the_placed_samples(tmp_path):
    """Every commit of a new sample asks where its group already went; at 1,000,000 samples the
    planner's pick of the split index cost 0.2 s a commit (bench/bench_scale.py)."""
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    with catalog.transaction():
        for index in range(200):
            put(catalog, index, split=("train", "val", "test")[index % 3])
    statements: list[str] = []
    catalog.db.set_trace_callback(statements.append)
    put_key = "sample:" + sample_id_for(hashlib.sha256(b"7").hexdigest())
    assert catalog.group_split("ds", put_key) == ("train", "val", "test")[7 % 3]
    catalog.db.set_trace_callback(None)
    [statement] = [s for s in statements if "group_key" in s]
    plan = [row[-1] for row in catalog.db.execute("EXPLAIN QUERY PLAN " + statement)]
    assert any("INDEX samples_group" in step for step in plan), plan
    catalog.close()
