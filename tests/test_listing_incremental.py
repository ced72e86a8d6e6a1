"""manifest.json and splits/*.txt rewritten from the first changed row equal the files written whole.

A real SQLite catalog with a few thousand samples (several row-file marks); after each kind of
change (new samples, a change near the end, a change at the very start, a deletion, a file
replaced by hand) the incremental write is compared byte for byte with a whole write made from
the same catalog, and the rows it encoded are counted: only those from the first changed one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from kellyd import listing
from kellyd.catalog import Catalog
from kellyd.listing import MANIFEST_NAME, first_changed_rowid, write_listings
from kellyd.row_file import MARK_EVERY_ROWS
from kellyd.sample import Sample, sample_id_for

DATASET = "d"
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
SPLITS = ("train", "train", "val", "test")


def sample(n: int, split: str | None = None, name: str = "") -> Sample:
    sha = hashlib.sha256(f"sample-{n}".encode()).hexdigest()
    return Sample(dataset_id=DATASET, origin_path="", sample_id=sample_id_for(sha), sha256=sha, kind="midi",
                  file_path=f"raw/midi/x/{name or n}.mid", split=split or SPLITS[n % len(SPLITS)])


def add(catalog: Catalog, samples: list[Sample], at: float) -> None:
    with catalog.transaction():
        for s in samples:
            catalog.put_sample(s, now=at)


def files(root: Path) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in (MANIFEST_NAME, "splits/train.txt", "splits/val.txt",
                                                          "splits/test.txt")}


def encoded_rows(monkeypatch) -> list[int]:
    """Counts the manifest rows the next writes encode (the catalog query the writer pulls from)."""
    seen: list[int] = []
    real = listing._manifest_rows

    def counting(catalog, dataset_id, from_rowid):
        for row in real(catalog, dataset_id, from_rowid):
            seen.append(row[0])
            yield row

    monkeypatch.setattr(listing, "_manifest_rows", counting)
    return seen


def test_incremental_listings_equal_whole_ones(tmp_path, monkeypatch):
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    first = [sample(n) for n in range(3 * MARK_EVERY_ROWS + 100)]
    add(catalog, first, 1.0)
    inc, whole = tmp_path / "inc", tmp_path / "whole"
    layouts = write_listings(catalog, DATASET, inc, now=NOW)

    def step(changed: set[str], at_least_kept: int | None) -> list[int]:
        nonlocal layouts
        seen = encoded_rows(monkeypatch)
        layouts = write_listings(catalog, DATASET, inc, layouts=layouts, now=NOW,
                                 from_rowid=first_changed_rowid(catalog, DATASET, changed))
        monkeypatch.undo()
        write_listings(catalog, DATASET, whole, now=NOW)
        assert files(inc) == files(whole)
        assert not [p for p in inc.rglob("*") if p.name.endswith(".tmp")]  # an abandoned resume leaves nothing
        manifest = json.loads((inc / MANIFEST_NAME).read_bytes())
        assert len(manifest["samples"]) == catalog.sample_count(DATASET) == layouts[MANIFEST_NAME].rows
        if at_least_kept is not None:  # the rows before the change were copied, not encoded (from the last mark)
            assert len(seen) <= catalog.sample_count(DATASET) - at_least_kept + MARK_EVERY_ROWS
        else:
            assert len(seen) == catalog.sample_count(DATASET)
        return seen

    # New samples only: everything before them is kept.
    burst = [sample(n) for n in range(10_000, 10_050)]
    add(catalog, burst, 2.0)
    assert len(step({s.sample_id for s in burst}, at_least_kept=len(first))) == len(burst)
    # A later step changes a sample added a moment ago, and its split moves.
    add(catalog, [sample(10_010, split="test", name="renamed")], 3.0)
    step({burst[10].sample_id}, at_least_kept=len(first))
    # A change to the second sample of all: nearly everything again, and still equal.
    add(catalog, [sample(1, split="val", name="changed")], 4.0)
    step({first[1].sample_id}, at_least_kept=0)
    # A deletion in the middle (a sample quarantined after import): found by the count, written whole.
    with catalog.transaction():
        catalog.db.execute("DELETE FROM samples WHERE sample_id = ?", (first[1500].sample_id,))
    step({first[1500].sample_id}, at_least_kept=None)
    # Nothing changed in the rows: only the head is new, the rows are all kept.
    assert step(set(), at_least_kept=catalog.sample_count(DATASET)) == []
    # The manifest replaced by hand: not trusted, written whole.
    (inc / MANIFEST_NAME).write_text('{"samples": []}')
    step(set(), at_least_kept=None)
    catalog.close()


def test_a_dataset_of_none_and_of_one_sample(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    layouts = write_listings(catalog, DATASET, tmp_path / "inc", now=NOW)
    assert json.loads((tmp_path / "inc" / MANIFEST_NAME).read_bytes())["samples"] == []
    add(catalog, [sample(7, split="val")], 1.0)
    write_listings(catalog, DATASET, tmp_path / "inc", layouts=layouts, now=NOW,
                   from_rowid=first_changed_rowid(catalog, DATASET, {sample(7).sample_id}))
    manifest = json.loads((tmp_path / "inc" / MANIFEST_NAME).read_bytes())
    assert [s["sample_id"] for s in manifest["samples"]] == [sample(7).sample_id]
    assert (tmp_path / "inc" / "splits" / "val.txt").read_text() == f"{sample(7).sample_id}\n"
    assert (tmp_path / "inc" / "splits" / "train.txt").read_text() == ""
    catalog.close()


def test_a_kernel_copy_larger_than_the_sync_step_is_whole(tmp_path):
    """CopyRange flushes every COPY_SYNC_BYTES; a copy spanning several steps and a partial one keeps every byte."""
    import os

    from kellyd.atomic import COPY_SYNC_BYTES, CopyRange, atomic_write_bytes

    source = tmp_path / "source.bin"
    data = os.urandom(COPY_SYNC_BYTES * 2 + 12345)
    source.write_bytes(data)
    fd = os.open(source, os.O_RDONLY)
    try:
        atomic_write_bytes(tmp_path / "copy.bin", [b"head", CopyRange(fd, 100, len(data) - 200), b"foot"])
    finally:
        os.close(fd)
    assert (tmp_path / "copy.bin").read_bytes() == b"head" + data[100:-100] + b"foot"


def test_manifest_fields_read_a_line_at_a_time_or_whole(tmp_path):
    """The exporter's layout is read a line at a time; a hand-edited or pretty-printed manifest, whole."""
    import pytest

    from kellyd.listing import manifest_fields

    catalog = Catalog(tmp_path / "catalog.sqlite3")
    add(catalog, [sample(n) for n in range(50)], 1.0)
    write_listings(catalog, DATASET, tmp_path, now=NOW)
    path = tmp_path / MANIFEST_NAME
    whole = json.loads(path.read_bytes())
    expected = {e["sample_id"]: (e["sha256"], e["split"]) for e in whole["samples"]}
    assert manifest_fields(path, ("sha256", "split")) == expected
    path.write_text(json.dumps(whole, indent=2))  # another layout
    assert manifest_fields(path, ("sha256", "split")) == expected
    path.write_text(json.dumps(whole)[:-40])  # cut short
    with pytest.raises(ValueError):
        manifest_fields(path, ("sha256",))
    path.write_text('{"dataset_id": "d"}')
    with pytest.raises(ValueError, match="no \"samples\" list"):
        manifest_fields(path, ("sha256",))
    catalog.close()


def test_kellyd_splits_writes_the_split_files_the_exporter_writes(tmp_path):
    from kellyd.config import load_config
    from tests.daemon.harness import make_tree, run_cli

    tree = make_tree(tmp_path / "tree", datasets={DATASET: {"target_model": "EmotionRecognizer"}})
    catalog = Catalog(load_config(tree.config).catalog_path)
    # Catalog order is not id order, so a sorted writer would differ from the exporter.
    samples = [sample(n) for n in range(40)]
    assert [s.sample_id for s in samples] != sorted(s.sample_id for s in samples)
    add(catalog, samples, 1.0)
    write_listings(catalog, DATASET, tmp_path / "exported", now=NOW)
    catalog.close()
    done = run_cli(tree, "splits", "--dataset", DATASET)
    assert done.returncode == 0, done.stderr
    for name in ("train", "val", "test"):
        written = (tree.datasets / DATASET / "splits" / f"{name}.txt").read_bytes()
        assert written == (tmp_path / "exported" / "splits" / f"{name}.txt").read_bytes()
        assert written.decode().split() == [s.sample_id for s in samples if s.split == name]
