"""The per-dataset sample counts the catalog keeps by trigger equal a COUNT(*) after every kind of write.

The daemon asks for them after every commit that added samples, so they must be a key lookup and
exact whoever wrote the samples (the daemon, `kellyd import`, an older catalog opened again).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest

from kellyd.catalog import Catalog
from kellyd.sample import Sample, sample_id_for
from kellyd.schedule import read_originals

NOW = 1_700_000_000.0


def sample(dataset_id: str, n: int, parent: str | None = None) -> Sample:
    sha = hashlib.sha256(f"{dataset_id}-{n}".encode()).hexdigest()
    return Sample(dataset_id=dataset_id, origin_path="", sample_id=sample_id_for(sha), sha256=sha, kind="midi",
                  parent_id=parent)


def counted(catalog: Catalog, dataset_id: str) -> tuple[int, int]:
    return catalog.db.execute("SELECT SUM(parent_id IS NULL), SUM(parent_id IS NOT NULL) FROM samples"
                              " WHERE dataset_id = ?", (dataset_id,)).fetchone()


def test_counts_follow_inserts_updates_and_deletes(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    originals = [sample("a", n) for n in range(5)]
    with catalog.transaction():
        for s in originals:
            catalog.put_sample(s, now=NOW)
        child = sample("a", 99, parent=originals[0].sample_id)
        catalog.put_sample(child, now=NOW)
        catalog.put_sample(sample("b", 0), now=NOW)
    assert catalog.sample_counts("a") == counted(catalog, "a") == (5, 1)
    assert catalog.sample_counts("b") == (1, 0) and catalog.sample_counts("none") == (0, 0)
    with catalog.transaction():  # the same sample written again (a later step): no double count
        catalog.put_sample(originals[1], now=NOW + 1)
        # A sample that becomes derived (the upsert rewrites parent_id) moves between the counts.
        catalog.put_sample(sample("a", 2, parent=originals[0].sample_id), now=NOW + 1)
        catalog.db.execute("DELETE FROM samples WHERE dataset_id = 'a' AND sample_id = ?", (originals[3].sample_id,))
    assert catalog.sample_counts("a") == counted(catalog, "a") == (3, 2)
    assert read_originals(catalog.path) == {"a": 3, "b": 1}
    catalog.close()


def test_a_catalog_from_before_the_counts_is_counted_when_opened(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    with catalog.transaction():
        for n in range(7):
            catalog.put_sample(sample("old", n), now=NOW)
    catalog.close()
    db = sqlite3.connect(path)  # as an older kellyd left it: no table, no triggers
    for name in ("samples_count_insert", "samples_count_delete", "samples_count_update"):
        db.execute(f"DROP TRIGGER {name}")
    db.execute("DROP TABLE sample_counts")
    db.execute("INSERT INTO samples (dataset_id, sample_id, sha256, data, manifest, updated_at)"
               " VALUES ('old', 'fff000', 'x', '{}', '{}', 0)")
    db.commit()
    db.close()
    catalog = Catalog(path)
    assert catalog.sample_counts("old") == (8, 0)
    catalog.close()


def open_sqlite_temp_files() -> list[str]:
    """SQLite's temp files open in this process (it unlinks them at once; /proc still names them)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "etilqs_" in target:
            found.append(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to see open files")
def test_a_large_commit_inside_a_savepoint_writes_no_temp_file(tmp_path):
    """The runner commits each job inside a savepoint, and the sample-count triggers fire on every insert:
    SQLite copies each page they change to a sub-journal, which would spill to a temp file past 64 KiB.
    The writer keeps it in memory."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    try:
        with catalog.transaction():
            catalog.db.execute("SAVEPOINT job_commit")
            for i in range(400):  # a few hundred pages of rows and index entries
                catalog.put_sample(sample("ds", i), now=NOW)
            assert open_sqlite_temp_files() == []
            catalog.db.execute("RELEASE job_commit")
        assert counted(catalog, "ds") == (400, 0)
    finally:
        catalog.close()
