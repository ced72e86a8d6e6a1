"""The exporter's cost follows what changed: a flush rewrites the changed samples' files only,
and the busy-share pause never holds the manifest back for long."""

from __future__ import annotations

import hashlib
import json

import pytest

from kellyd.catalog import Catalog
from kellyd.export import MAX_PAUSE_S, Exporter, annotation_path, busy_share_pause_s
from kellyd.sample import Sample


@pytest.mark.parametrize("rewrite_s, share, pause_s", [
    (0.0, 0.1, 0.0),
    (0.1, 0.1, 0.9),
    (0.2, 0.5, 0.2),
    (2.0, 0.1, MAX_PAUSE_S),    # a slow rewrite (a huge dataset): capped, not 18 s
    (20.0, 0.1, MAX_PAUSE_S),   # the 184 s pause of a 20 s flush is gone
])
def test_the_pause_after_a_rewrite_keeps_the_share_and_is_capped(rewrite_s, share, pause_s):
    assert busy_share_pause_s(rewrite_s, share) == pytest.approx(pause_s)


def sample(i: int, emotion: str = "happy") -> Sample:
    sha = hashlib.sha256(str(i).encode()).hexdigest()
    return Sample(dataset_id="d", origin_path="", sample_id=sha[:16], sha256=sha, kind="midi",
                  file_path=f"raw/midi/{i}.mid", annotations={"emotion": emotion}, split="train")


def catalog_of(tmp_path, count: int) -> tuple[Catalog, list[Sample]]:
    """A catalog of `count` happy samples, committed one after another."""
    catalog = Catalog(tmp_path / "c.sqlite3")
    samples = [sample(i) for i in range(count)]
    with catalog.transaction():
        for i, s in enumerate(samples):
            catalog.put_sample(s, now=1.0 + i / 10000, label="happy")
    return catalog, samples


def test_a_flush_after_one_change_rewrites_that_annotation_file_only(tmp_path):
    catalog, samples = catalog_of(tmp_path, 300)
    root = tmp_path / "d"
    root.mkdir()  # laid out, as the daemon's start does
    exporter = Exporter(tmp_path / "c.sqlite3", lambda _ds: root, debounce_s=0.0, max_busy_share=0.1)
    reader = Catalog(tmp_path / "c.sqlite3", readonly=True)
    try:
        exporter.mark("d", [s.sample_id for s in samples])  # a burst: every annotation file written
        exporter.flush(reader)
        files = {s.sample_id: annotation_path(root, s.sample_id) for s in samples}
        inodes = {sample_id: path.stat().st_ino for sample_id, path in files.items()}
        assert len(inodes) == 300

        changed = samples[7].with_changes(annotations={"emotion": "sad"})
        with catalog.transaction():
            catalog.put_sample(changed, now=2.0, label="sad")
        exporter.mark("d", [changed.sample_id])
        exporter.flush(reader)

        rewritten = {sample_id for sample_id, path in files.items() if path.stat().st_ino != inodes[sample_id]}
        # The newest sample the last manifest showed is written again (a change at the very same
        # instant could hide behind it); the other 298 are left alone.
        assert rewritten - {samples[-1].sample_id} == {changed.sample_id}
        assert json.loads(files[changed.sample_id].read_text())["annotations"]["emotion"] == "sad"
        shown = {s["sample_id"]: s for s in json.loads((root / "manifest.json").read_text())["samples"]}
        assert len(shown) == 300 and shown[changed.sample_id]["annotations"]["emotion"] == "sad"
        assert [p for p in root.rglob("*") if p.name.endswith(".tmp")] == []
    finally:
        reader.close()
        catalog.close()


def test_a_restarted_exporter_rewrites_only_the_new_rows(tmp_path, monkeypatch):
    """The layouts of the listings are kept beside the catalog, so the first flush after a restart
    copies the unchanged rows instead of encoding the whole manifest again."""
    from kellyd import listing
    from kellyd.row_file import MARK_EVERY_ROWS

    catalog, samples = catalog_of(tmp_path, 3000)
    root = tmp_path / "d"
    root.mkdir()
    reader = Catalog(tmp_path / "c.sqlite3", readonly=True)
    first = Exporter(tmp_path / "c.sqlite3", lambda _ds: root, debounce_s=0.0, max_busy_share=0.1)
    first.mark("d", [s.sample_id for s in samples])
    first.flush(reader)  # the first daemon: a whole write

    encoded = []
    real = listing._manifest_rows
    monkeypatch.setattr(listing, "_manifest_rows",
                        lambda *args: (encoded.append(row[0]) or row for row in real(*args)))
    new = sample(5000)
    with catalog.transaction():
        catalog.put_sample(new, now=5.0, label="happy")
    restarted = Exporter(tmp_path / "c.sqlite3", lambda _ds: root, debounce_s=0.0, max_busy_share=0.1)
    restarted.mark("d", [new.sample_id])
    restarted.flush(reader)
    shown = json.loads((root / "manifest.json").read_text())["samples"]
    assert len(shown) == 3001 and shown[-1]["sample_id"] == new.sample_id
    # From the last mark before the newest sample shown (written again: a change in its clock tick
    # could hide behind it); the rows before that mark were copied.
    assert encoded and len(encoded) <= MARK_EVERY_ROWS + 1 and encoded[-1] == 3001

    # A kept layout that no longer matches its file (the manifest replaced by hand) is not trusted.
    (root / "manifest.json").write_text('{"samples": []}')
    encoded.clear()
    again = Exporter(tmp_path / "c.sqlite3", lambda _ds: root, debounce_s=0.0, max_busy_share=0.1)
    again.mark("d", [new.sample_id])
    again.flush(reader)
    assert len(encoded) == 3001 and len(json.loads((root / "manifest.json").read_text())["samples"]) == 3001
    reader.close()
    catalog.close()


def test_a_flush_for_a_dataset_folder_that_went_away_writes_nothing_and_the_next_one_catches_up(tmp_path):
    catalog, samples = catalog_of(tmp_path, 20)
    root = tmp_path / "d"
    exporter = Exporter(tmp_path / "c.sqlite3", lambda _ds: root, debounce_s=0.0, max_busy_share=0.1)
    reader = Catalog(tmp_path / "c.sqlite3", readonly=True)
    try:
        exporter.mark("d", [s.sample_id for s in samples])
        exporter.flush(reader)  # the folder is not there: not made, nothing written, not marked again
        assert not root.exists() and exporter.flush(reader) == 0.0
        root.mkdir()  # back: the runner marks the dataset, with no sample named
        exporter.mark("d")
        exporter.flush(reader)
        assert len(json.loads((root / "manifest.json").read_text())["samples"]) == 20
        assert len(list((root / "annotations").rglob("*.json"))) == 20
    finally:
        reader.close()
        catalog.close()
