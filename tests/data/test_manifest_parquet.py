"""manifest.parquet: what pandas, DuckDB, polars and Hugging Face `datasets` read back equals
manifest.json (and the features files), and a new sample rewrites only the shard it falls in."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from kellyd.catalog import Catalog
from kellyd import manifest_parquet
from kellyd.manifest_parquet import (
    LABEL_TYPES, PARQUET_DIR, STATE_NAME, read_manifest_parquet, shard_of_sample, shard_path, write_manifest_parquet,
)
from kellyd.parquet_refresh import ParquetRefresher, deletions_seen, parquet_behind, parquet_state
from kellyd.sample import Sample
from tests.daemon.harness import DaemonProcess, make_tree, wait_for
from tests.data.conftest import DATASET, dataset_config, drum_takes


def _plain(value):
    """Reader-specific containers (numpy arrays, tuples) as plain lists and scalars; pandas' NaN for a
    null as None (no value in the table is NaN: non-finite labels and vectors are written as nulls)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_pandas(folder: Path, tmp_path: Path) -> list[dict]:
    import pandas as pd

    return pd.read_parquet(folder).to_dict("records")


def read_duckdb(folder: Path, tmp_path: Path) -> list[dict]:
    import duckdb

    relation = duckdb.sql(f"SELECT * FROM read_parquet('{folder}/*.parquet')")
    return [dict(zip(relation.columns, row)) for row in relation.fetchall()]


def read_polars(folder: Path, tmp_path: Path) -> list[dict]:
    import polars as pl

    return pl.read_parquet(f"{folder}/*.parquet").to_dicts()


def read_datasets(folder: Path, tmp_path: Path) -> list[dict]:
    import datasets

    loaded = datasets.load_dataset("parquet", data_files=f"{folder}/*.parquet", cache_dir=str(tmp_path / "hf"))
    return loaded["train"].to_list()


READERS = {"pandas": read_pandas, "duckdb": read_duckdb, "polars": read_polars, "datasets": read_datasets}


def shards_of(catalog_path: Path, dataset_id: str, sample_ids) -> set[str]:
    """The shards the catalog puts these samples in (blocks of catalog rows)."""
    catalog = Catalog(catalog_path, readonly=True)
    try:
        return {shard_of_sample(catalog, dataset_id, i) for i in sample_ids}
    finally:
        catalog.close()


def assert_rows_equal_manifest(rows: list[dict], built) -> None:
    entries = built.entries()
    rows = [{k: _plain(v) for k, v in row.items()} for row in rows]
    assert sorted(r["sample_id"] for r in rows) == sorted(entries)
    typed = 0
    for row in rows:
        entry = entries[row["sample_id"]]
        for field in ("split", "kind", "file_path", "sha256", "parent_id", "features_path"):
            assert row[field] == entry[field], field
        assert row["dataset_id"] == built.dataset_id
        assert row["original_names"] == entry["original_names"]
        assert json.loads(row["annotations_json"]) == entry["annotations"]
        assert json.loads(row["source_json"]) == entry["source"] and row["source_type"] == entry["source"]["type"]
        assert (json.loads(row["augmentation_json"]) if row["augmentation_json"] else None) == entry["augmentation"]
        for key in LABEL_TYPES:
            value = entry["annotations"].get(key)
            if value is None:
                assert row[key] is None, key
            else:
                assert row[key] == value, key
                typed += 1
        vector = np.asarray(row["feature_vector"], dtype=np.float32)
        assert np.array_equal(vector, built.npz(entry)["feature_vector"])
    assert typed >= 3 * len(rows), "emotion, tempo_bpm and time_signature at least come as typed columns"


@pytest.mark.parametrize("reader", sorted(READERS))
def test_manifest_parquet_reads_back_equal_to_manifest_json(moods, reader, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = moods.root / PARQUET_DIR
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        shard_path(folder, p).name for p in shards_of(moods.tree.state / "catalog.sqlite3", DATASET, moods.entries()))
    assert_rows_equal_manifest(READERS[reader](folder, tmp_path), moods)


def _shard_files(root: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (root / PARQUET_DIR).glob("*.parquet")}


def _drop(inbox: Path, takes: list[Path], label: str) -> None:
    folder = inbox / DATASET / label
    folder.mkdir(parents=True, exist_ok=True)
    for take in takes:
        scratch = folder / f".{take.name}.part"
        shutil.copyfile(take, scratch)
        scratch.rename(folder / take.name)  # whole, so the daemon never sees half a file


def test_the_daemon_rewrites_only_the_shards_of_new_samples(tmp_path, corpus):
    tree = make_tree(tmp_path, datasets=dataset_config(), settle_s=0.2)
    root = tree.datasets / DATASET
    daemon = DaemonProcess(tree)

    def parquet_shows(count: int):
        """manifest.parquet holds the same rows as manifest.json, which lists `count` samples with features
        (so no refresh that would change a shard is still to come)."""
        def shown() -> bool:
            samples = tree.manifest_samples(DATASET)
            if len(samples) != count or not all(s.get("features_path") for s in samples):
                return False
            try:
                rows = read_manifest_parquet(root).to_pylist()
            except OSError:
                return False
            view = {r["sample_id"]: (r["split"], r["features_path"], json.loads(r["annotations_json"])) for r in rows}
            return view == {s["sample_id"]: (s["split"], s["features_path"], s["annotations"]) for s in samples}
        return shown

    try:
        daemon.wait_started()
        _drop(tree.inbox, drum_takes(corpus, 6), "happy")
        wait_for(parquet_shows(6), 90, "manifest.parquet to show the first six samples", interval_s=0.2)
        before_files = _shard_files(root)
        before = {s["sample_id"]: s for s in tree.manifest_samples(DATASET)}
        _drop(tree.inbox, drum_takes(corpus, 2, skip=6), "sad")
        wait_for(parquet_shows(8), 90, "manifest.parquet to show the two new samples", interval_s=0.2)
    finally:
        assert daemon.stop() == 0
    after = {s["sample_id"]: s for s in tree.manifest_samples(DATASET)}
    changed = {i for i, s in after.items() if before.get(i) != s}
    assert len(changed) >= 2
    affected = {shard_path(root / PARQUET_DIR, p).name for p in shards_of(tree.state / "catalog.sqlite3", DATASET, changed)}
    after_files = _shard_files(root)
    rewritten = {name for name, stat in after_files.items() if before_files.get(name) != stat}
    assert rewritten == affected
    assert {name: before_files[name] for name in before_files if name not in affected} == \
        {name: after_files[name] for name in before_files if name not in affected}
    assert [p for p in root.rglob("*") if p.name.endswith(".tmp")] == []
    assert "parquet_failed" not in daemon.log_text()

    # A dataset from before manifest.parquet (or whose refresh a stop cut short) gets it at the next start.
    shutil.rmtree(root / PARQUET_DIR)
    (root / STATE_NAME).unlink()
    restarted = DaemonProcess(tree)
    try:
        restarted.wait_started()
        wait_for(parquet_shows(8), 60, "the restarted daemon to write manifest.parquet", interval_s=0.2)
    finally:
        assert restarted.stop() == 0


def _sample(i: int, **changes) -> Sample:
    sha = f"{i * 7919:064x}"[::-1]
    base = Sample(dataset_id="d", origin_path=f"/in/{i}.mid", sample_id=sha[:16], sha256=sha, kind="midi",
                  file_path=f"raw/midi/{i}.mid", annotations={"emotion": "happy", "tempo_bpm": 100.0 + i},
                  split="train")
    return base.with_changes(**changes)


def test_unchanged_shards_are_never_written_and_a_damaged_one_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest_parquet, "SHARD_ROWS", 16)  # 120 samples in 8 shards
    catalog = Catalog(tmp_path / "c.sqlite3")

    def shard_of(sample_id: str) -> str:
        return shard_of_sample(catalog, "d", sample_id)

    samples = [_sample(i) for i in range(120)]
    with catalog.transaction():
        for i, s in enumerate(samples):
            catalog.put_sample(s, now=1.0 + i / 1000)
    root = tmp_path / "d"
    root.mkdir()  # laid out, as the daemon does before anything is exported
    first = write_manifest_parquet(catalog, "d", root)
    shards = {shard_of(s.sample_id) for s in samples}
    assert set(first.written) == shards and first.rows == 120
    files = _shard_files(root)

    again = write_manifest_parquet(catalog, "d", root)
    assert again.written == () and _shard_files(root) == files

    changed = samples[42].with_changes(annotations={"emotion": "sad"})
    with catalog.transaction():
        catalog.put_sample(changed, now=5.0)
    third = write_manifest_parquet(catalog, "d", root)
    assert third.written == (shard_of(changed.sample_id),)
    table = read_manifest_parquet(root).to_pylist()
    assert {r["sample_id"]: r["emotion"] for r in table}[changed.sample_id] == "sad"
    assert len(table) == 120

    # A shard cut short (a crash mid-copy, a bad disk) and a lost state file: the next write compares
    # every shard with the catalog and rewrites the damaged one only.
    damaged = shard_path(root / PARQUET_DIR, shard_of(samples[0].sample_id))
    damaged.write_bytes(damaged.read_bytes()[:100])
    (root / STATE_NAME).unlink()
    fourth = write_manifest_parquet(catalog, "d", root)
    assert fourth.written == (shard_of(samples[0].sample_id),) and fourth.rows == 120
    assert len(read_manifest_parquet(root)) == 120

    # A first write cut short: the state lists the shards still to build whole; the next write builds
    # those (and what changed since), nothing else, and clears the list.
    state = json.loads((root / STATE_NAME).read_text())
    left = shard_of(samples[1].sample_id)
    shard_path(root / PARQUET_DIR, left).unlink()
    (root / STATE_NAME).write_text(json.dumps({**state, "pending": [left]}))
    fifth = write_manifest_parquet(catalog, "d", root)
    assert fifth.written == (left,)
    assert json.loads((root / STATE_NAME).read_text())["pending"] == []
    assert sorted(read_manifest_parquet(root).column("sample_id").to_pylist()) == sorted(
        s.sample_id for s in samples)
    catalog.close()


def test_a_deleted_sample_leaves_its_shard_and_nothing_else_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest_parquet, "SHARD_ROWS", 16)
    catalog = Catalog(tmp_path / "c.sqlite3")
    samples = [_sample(i) for i in range(40)]  # rowids 1-40: shards of rows 1-15, 16-31 and 32-40
    with catalog.transaction():
        for i, s in enumerate(samples):
            catalog.put_sample(s, now=1.0 + i / 1000)
    root = tmp_path / "d"
    root.mkdir()  # laid out, as the daemon does before anything is exported
    write_manifest_parquet(catalog, "d", root)
    gone, alone = samples[20], samples[-1]
    shard_of_sample_at_1 = shard_of_sample(catalog, "d", samples[0].sample_id)
    gone_shard = shard_of_sample(catalog, "d", gone.sample_id)
    # Deleted as the runner deletes a quarantined sample: no other row changes, so no updated_at shows it.
    with catalog.transaction():
        catalog.db.execute("DELETE FROM samples WHERE dataset_id = 'd' AND sample_id = ?", (gone.sample_id,))
    assert parquet_behind(catalog, "d", root)  # a restarted daemon asks for a refresh
    after = write_manifest_parquet(catalog, "d", root)
    assert after.written == (gone_shard,) and not parquet_behind(catalog, "d", root)
    ids = read_manifest_parquet(root).column("sample_id").to_pylist()
    assert gone.sample_id not in ids and len(ids) == 39
    assert write_manifest_parquet(catalog, "d", root).written == ()  # the deletion is counted once
    # A shard whose last sample goes is removed, not left with a stale row.
    alone_shard = shard_of_sample(catalog, "d", alone.sample_id)
    for s in samples[31:]:  # rowids 32-40
        with catalog.transaction():
            catalog.db.execute("DELETE FROM samples WHERE dataset_id = 'd' AND sample_id = ?", (s.sample_id,))
    last = write_manifest_parquet(catalog, "d", root)
    assert last.removed == (alone_shard,) and not shard_path(root / PARQUET_DIR, alone_shard).exists()
    assert len(read_manifest_parquet(root)) == 30
    # What the parquet shows, the log may forget (the daemon does at start); nothing is rebuilt for it.
    seen = deletions_seen(parquet_state(root))
    assert catalog.forget_deletions("d", seen) == 10 and catalog.deletions_since("d", 0) == ([], 0)
    assert write_manifest_parquet(catalog, "d", root).written == () and not parquet_behind(catalog, "d", root)
    # A deletion after that is still seen: log numbers are never reused.
    with catalog.transaction():
        catalog.db.execute("DELETE FROM samples WHERE dataset_id = 'd' AND sample_id = ?", (samples[0].sample_id,))
    assert parquet_behind(catalog, "d", root)
    assert write_manifest_parquet(catalog, "d", root).written == (shard_of_sample_at_1,)
    catalog.close()


def test_a_refresh_waits_for_the_end_of_the_daemon_s_burst_or_its_longest_delay(tmp_path):
    """A pause in requests in the middle of a burst (a long manifest write) does not start the refresh
    process; the end of the burst does, and a burst that never ends is refreshed after `max_delay_s`."""
    catalog = Catalog(tmp_path / "c.sqlite3")
    with catalog.transaction():
        for i in range(3):
            catalog.put_sample(_sample(i), now=1.0 + i)
    root = tmp_path / "d"
    root.mkdir()  # laid out, as the daemon does before anything is exported
    refresher = ParquetRefresher(catalog.path, quiet_s=0.1, max_delay_s=60.0)
    try:
        refresher.set_daemon_busy(True)
        refresher.request("d", root)
        time.sleep(1.0)  # ten quiet spells without a request
        assert refresher.runs == 0 and parquet_state(root) is None
        refresher.set_daemon_busy(False)
        assert refresher.wait_idle(60.0) and refresher.runs == 1 and refresher.failures == 0
        assert len(read_manifest_parquet(root)) == 3 and not parquet_behind(catalog, "d", root)
    finally:
        refresher.stop()
    steady = ParquetRefresher(catalog.path, quiet_s=0.1, max_delay_s=1.5)
    try:
        steady.set_daemon_busy(True)
        with catalog.transaction():
            catalog.put_sample(_sample(3), now=10.0)
        started = time.monotonic()
        steady.request("d", root)
        wait_for(lambda: steady.runs == 1, 60, "the refresh after max_delay_s of a burst")
        assert time.monotonic() - started >= 1.4
        assert steady.wait_idle(60.0) and len(read_manifest_parquet(root)) == 4
    finally:
        steady.stop()
        catalog.close()
