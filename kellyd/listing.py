"""A dataset's listings: `manifest.json` and `splits/<split>.txt`, written from the catalog's rows.

Both list samples in the order the catalog added them, so that the exporter can rewrite them from
the first row that changed (`kellyd.row_file`): the manifest from the rows the catalog keeps
serialised, each split file from the sample ids placed in that split. `write_listings` with the
layouts of the previous write costs what changed; without them (the first write of a daemon, a
one-shot command) it writes every file whole.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping

from kellyd.catalog import Catalog
from kellyd.row_file import RowFileLayout, RowFileWrite, RowFormat, layout_from_json, layout_to_json, write_row_file
from kellyd.splits import SPLITS, SPLITS_DIR

MANIFEST_NAME = "manifest.json"
SAMPLES_KEY = ', "samples": ['
MANIFEST_ROWS = RowFormat(first=b"\n  ", between=b",\n  ")
MANIFEST_FOOT = b"\n]}\n"
SPLIT_ROWS = RowFormat(first=b"", between=b"")
IN_BATCH = 500  # sample ids per IN (...) query, well under SQLite's bound on parameters


def catalog_state(catalog: Catalog, dataset_id: str) -> dict:
    """What the manifest must show: the sample count and the newest change (any write to a sample moves it).
    Both are key lookups: the count is kept by the catalog, the newest change read from an index."""
    (changed_at,) = catalog.db.execute("SELECT MAX(updated_at) FROM samples WHERE dataset_id = ?",
                                       (dataset_id,)).fetchone()
    return {"samples": catalog.sample_count(dataset_id), "changed_at": changed_at}


def first_changed_rowid(catalog: Catalog, dataset_id: str, sample_ids: set[str]) -> int | None:
    """The smallest rowid among `sample_ids` still in the catalog (None when none is)."""
    ids = sorted(sample_ids)
    found = []
    for at in range(0, len(ids), IN_BATCH):
        part = ids[at:at + IN_BATCH]
        (rowid,) = catalog.db.execute(
            f"SELECT MIN(rowid) FROM samples WHERE dataset_id = ? AND sample_id IN ({','.join('?' * len(part))})",
            (dataset_id, *part)).fetchone()
        if rowid is not None:
            found.append(rowid)
    return min(found, default=None)


def _manifest_rows(catalog: Catalog, dataset_id: str, from_rowid: int) -> Iterator[tuple[int, str]]:
    # `+dataset_id`: walk the table from `from_rowid` on (a few rows after a burst), not the dataset's index.
    yield from catalog.db.execute("SELECT rowid, manifest FROM samples WHERE +dataset_id = ? AND rowid >= ?"
                                  " ORDER BY rowid", (dataset_id, from_rowid))


def _split_rows(catalog: Catalog, dataset_id: str, split: str, from_rowid: int) -> Iterator[tuple[int, str]]:
    for rowid, sample_id in catalog.db.execute("SELECT rowid, sample_id FROM samples WHERE +dataset_id = ?"
                                               " AND +split = ? AND rowid >= ? ORDER BY rowid",
                                               (dataset_id, split, from_rowid)):
        yield rowid, f"{sample_id}\n"


def manifest_head_bytes(dataset_id: str, state: dict, now: datetime) -> bytes:
    head = {"dataset_id": dataset_id, "updated_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "catalog_state": state}
    return (json.dumps(head, ensure_ascii=False)[:-1] + SAMPLES_KEY).encode("utf-8")


def write_manifest_file(catalog: Catalog, dataset_id: str, root: Path, *, layout: RowFileLayout | None = None,
                        from_rowid: int | None = None, now: datetime | None = None) -> RowFileWrite:
    """manifest.json alone (see `write_listings`); call inside a read transaction."""
    now = now or datetime.now(timezone.utc)
    state = catalog_state(catalog, dataset_id)
    return write_row_file(Path(root) / MANIFEST_NAME, head=manifest_head_bytes(dataset_id, state, now),
                          foot=MANIFEST_FOOT, fmt=MANIFEST_ROWS, expected_rows=state["samples"],
                          rows_from=lambda r: _manifest_rows(catalog, dataset_id, r), layout=layout,
                          from_rowid=from_rowid)


@contextmanager
def read_snapshot(catalog: Catalog) -> Iterator[None]:
    """One read transaction (or the caller's), so that a file's head, its rows and the other listings agree."""
    if catalog.db.in_transaction:
        yield
        return
    catalog.db.execute("BEGIN")
    try:
        yield
    finally:
        catalog.db.execute("COMMIT")


def write_listings(catalog: Catalog, dataset_id: str, root: Path, *,
                   layouts: Mapping[str, RowFileLayout] | None = None, from_rowid: int | None = None,
                   now: datetime | None = None) -> dict[str, RowFileLayout]:
    """Write manifest.json and the split files in one read snapshot; keep the rows before `from_rowid`
    from the files `layouts` describe. Returns the new layouts, keyed by path relative to `root`; their
    manifest entry's `rows` is the sample count."""
    layouts = dict(layouts or {})
    with read_snapshot(catalog):
        manifest = write_manifest_file(catalog, dataset_id, root, layout=layouts.get(MANIFEST_NAME),
                                       from_rowid=from_rowid, now=now)
        # The split files cannot count their rows cheaply; when the manifest found rows gone from the
        # part it would have kept (a sample deleted), they are written whole too.
        keep = layouts if manifest.resumed else {}
        return {MANIFEST_NAME: manifest.layout, **_write_split_listings(catalog, dataset_id, root, keep, from_rowid)}


def write_split_listings(catalog: Catalog, dataset_id: str, root: Path) -> dict[str, RowFileLayout]:
    """The split files alone, whole, in the catalog's order as the exporter writes them (`kellyd splits`)."""
    with read_snapshot(catalog):
        return _write_split_listings(catalog, dataset_id, root, {}, None)


def _write_split_listings(catalog: Catalog, dataset_id: str, root: Path, layouts: Mapping[str, RowFileLayout],
                          from_rowid: int | None) -> dict[str, RowFileLayout]:
    written = {}
    for split in SPLITS:
        name = f"{SPLITS_DIR}/{split}.txt"
        written[name] = write_row_file(Path(root) / name, head=b"", foot=b"", fmt=SPLIT_ROWS, expected_rows=None,
                                       rows_from=lambda r, split=split: _split_rows(catalog, dataset_id, split, r),
                                       layout=layouts.get(name), from_rowid=from_rowid).layout
    return written


def save_layouts(path: Path, layouts: Mapping[str, RowFileLayout]) -> None:
    """Keep the layouts for the next daemon start, so its first write is not a whole one. Not fsynced:
    a layout lost or damaged in a crash only costs one whole write (each is checked against its file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({name: layout_to_json(layout) for name, layout in layouts.items()}), encoding="utf-8")
    os.replace(tmp, path)


def load_layouts(path: Path) -> dict[str, RowFileLayout]:
    """The layouts `save_layouts` kept (only those that still read as layouts; none when the file is missing)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    found = {name: layout_from_json(value) for name, value in data.items() if isinstance(value, dict)}
    return {name: layout for name, layout in found.items() if layout is not None}


def manifest_fields(path: Path, fields: tuple[str, ...]) -> dict[str, tuple]:
    """sample_id -> the values of `fields` of every entry of a manifest, without holding the whole
    document: a manifest in the layout this module writes (one entry a line) is read a line at a time
    (400 MB of JSON at 1,000,000 samples is several GB as Python objects); any other layout (a file
    edited or pretty-printed by hand) is parsed whole. Raises OSError, or ValueError when it is not a
    manifest (with the reason)."""

    def pick(entries) -> dict[str, tuple]:
        found = {}
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("sample_id"), str):
                found[entry["sample_id"]] = tuple(entry.get(f) for f in fields)
        return found

    with open(path, "rb") as f:
        head = f.readline().decode("utf-8", errors="replace")
        if head.rstrip("\n").endswith(SAMPLES_KEY):
            try:
                return pick(_line_entries(f))
            except ValueError:
                pass  # not one entry a line after all: read whole below
    document = json.loads(Path(path).read_bytes())
    entries = document.get("samples") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError('has no "samples" list')
    return pick(entries)


def _line_entries(lines) -> Iterator[dict]:
    """The entries of the lines after the head, up to the foot; ValueError at a line that is neither."""
    for raw in lines:
        line = raw.decode("utf-8").strip()
        if line == MANIFEST_FOOT.decode().strip():
            if next(lines, None) is not None:
                raise ValueError("text after the end of the manifest")
            return
        yield json.loads(line[:-1] if line.endswith(",") else line)
    raise ValueError("the manifest ends without closing its samples")
