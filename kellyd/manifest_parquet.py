"""`manifest.parquet`: the manifest as a columnar table, beside `manifest.json`, for pandas, polars,
DuckDB and Hugging Face `datasets`.

One row per sample: the manifest's flat fields, the split, the common labels as typed columns,
the MIDI feature vector as a fixed-size list of float32 (null for audio and for samples without
features), and the whole annotations, source and augmentation as JSON text, so nothing of the
manifest is lost. `manifest.json` stays the contract; this is a view of the same catalog rows.

It is a folder of shards, one file per block of SHARD_ROWS catalog rows in the order the catalog added
them (`part-<block>.parquet`, rows in that order): new samples fall in the last block, and a sample
changed by a later step was added a moment ago, so a burst rewrites one shard or two however large
the dataset (shards by sample-id prefix were all touched by any burst of a few hundred files, so a
refresh at a million samples read them all). A shard whose rows come out the same is not written. Each file is written atomically (temp name, rename); readers globbing `*.parquet`
never see a temp file (read with that glob: polars refuses a folder with a temp file in it).
`manifest.parquet.state.json` records the newest catalog change shown, so the next
write reads only what changed since, and a write cut short is finished by the next one.

    pandas.read_parquet("datasets/<id>/manifest.parquet")
    duckdb.sql("SELECT * FROM 'datasets/<id>/manifest.parquet/*.parquet'")
    polars.read_parquet("datasets/<id>/manifest.parquet/*.parquet")
    datasets.load_dataset("parquet", data_files="datasets/<id>/manifest.parquet/*.parquet")
"""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kellyd.atomic import atomic_write_bytes, atomic_write_json, make_folder, writes_inside
from kellyd.catalog import Catalog
from kellyd.data.features import feature_array
from kellyd.music.midi_vector import FEATURE_SIZE
from kellyd.parquet_refresh import STATE_NAME, deletions_seen, parquet_state  # beside the folder: the folder holds parquet files only

PARQUET_DIR = "manifest.parquet"
SHARD_ROWS = 16_384  # catalog rows per shard: 62 shards at 1,000,000 samples, ~1 s to rewrite one
STATE_SAVE_EVERY_S = 2.0  # progress of a first (whole) write is saved this often
# Bump when the columns change: the next write then rewrites every shard.
TABLE_VERSION = 1

# The annotations given their own typed column (DESIGN.md's manifest contract); the rest is in annotations_json.
LABEL_TYPES: Mapping[str, pa.DataType] = {
    "emotion": pa.string(), "base_emotion": pa.string(), "valence": pa.float64(), "arousal": pa.float64(),
    "key": pa.string(), "mode": pa.string(), "tempo_bpm": pa.float64(), "time_signature": pa.string(),
    "groove_type": pa.string(), "swing_ratio": pa.float64(), "articulation": pa.string(),
    "instrument": pa.string(), "chord_progression": pa.list_(pa.string()), "tags": pa.list_(pa.string()),
}
VECTOR_TYPE = pa.list_(pa.float32(), FEATURE_SIZE)
SCHEMA = pa.schema([
    ("sample_id", pa.string()), ("dataset_id", pa.string()), ("split", pa.string()), ("kind", pa.string()),
    ("file_path", pa.string()), ("sha256", pa.string()), ("parent_id", pa.string()),
    ("features_path", pa.string()), ("source_type", pa.string()), ("original_names", pa.list_(pa.string())),
    *LABEL_TYPES.items(),
    ("feature_vector", VECTOR_TYPE),
    ("annotations_json", pa.string()), ("source_json", pa.string()), ("augmentation_json", pa.string()),
], metadata={"kellyd_table_version": str(TABLE_VERSION),
             "feature_vector": "kellyd.music.midi_vector.FEATURE_NAMES, MIDI samples only"})


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def label_value(value: Any, kind: pa.DataType) -> Any:
    """`value` if it fits the column's type, else None (it is still in annotations_json)."""
    if value is None:
        return None
    if pa.types.is_floating(kind):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
        return float(value) if ok else None
    if pa.types.is_list(kind):
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        return None
    return value if isinstance(value, str) else None


def feature_vector_of(vector: np.ndarray | None) -> list[float] | None:
    """The sample's feature vector as a list of FEATURE_SIZE floats; None when absent or of another layout."""
    if vector is None:
        return None
    flat = np.asarray(vector, dtype=np.float32).reshape(-1)
    return flat.tolist() if flat.size == FEATURE_SIZE and np.all(np.isfinite(flat)) else None


def sample_row(dataset_id: str, entry: Mapping[str, Any], vector: np.ndarray | None) -> dict[str, Any]:
    """One row of the table from a manifest entry (as in manifest.json) and its feature vector."""
    annotations = entry.get("annotations") or {}
    source = entry.get("source") or {}
    row = {
        "sample_id": entry.get("sample_id"), "dataset_id": dataset_id, "split": entry.get("split"),
        "kind": entry.get("kind"), "file_path": entry.get("file_path"), "sha256": entry.get("sha256"),
        "parent_id": entry.get("parent_id"), "features_path": entry.get("features_path"),
        "source_type": source.get("type") if isinstance(source, dict) else None,
        "original_names": list(entry.get("original_names") or []),
    }
    for name, kind in LABEL_TYPES.items():
        row[name] = label_value(annotations.get(name), kind)
    row["feature_vector"] = feature_vector_of(vector)
    row["annotations_json"] = _json(annotations)
    row["source_json"] = _json(source)
    row["augmentation_json"] = _json(entry.get("augmentation"))
    return row


def rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def table_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def entry_vector(root: Path, entry: Mapping[str, Any]) -> np.ndarray | None:
    """The `feature_vector` array of a manifest entry's features (None for audio or before features)."""
    if entry.get("kind") != "midi":
        return None
    return feature_array(root, entry.get("features_path"), "feature_vector")


# -- the incremental writer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParquetWrite:
    """What one update did: the shards written (block names), removed, and left as they were."""

    written: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    rows: int


def shard_of(rowid: int) -> str:
    """The shard of the catalog row `rowid`: its block of SHARD_ROWS rows, as the file names it."""
    return f"{rowid // SHARD_ROWS:06d}"


def shard_of_sample(catalog: Catalog, dataset_id: str, sample_id: str) -> str | None:
    row = catalog.db.execute("SELECT rowid FROM samples WHERE dataset_id = ? AND sample_id = ?",
                             (dataset_id, sample_id)).fetchone()
    return None if row is None else shard_of(row[0])


def shard_path(folder: Path, shard: str) -> Path:
    return folder / f"part-{shard}.parquet"


def _rowid_range(shard: str) -> tuple[int, int] | None:
    """The rowids a shard holds; None for a name that is no block (a shard of an older layout)."""
    if len(shard) != 6 or not shard.isdigit():
        return None
    return int(shard) * SHARD_ROWS, (int(shard) + 1) * SHARD_ROWS


def _read_state(root: Path) -> dict | None:
    """The state file, if it is of this table layout (else the shards are all built again)."""
    state = parquet_state(root)
    ok = state is not None and state.get("table_version") == TABLE_VERSION and state.get("shard_rows") == SHARD_ROWS
    return state if ok else None


def _old_table(path: Path) -> pa.Table | None:
    try:
        # One file: `ParquetFile` reads it without `pq.read_table`'s dataset layer, whose import cost the
        # refresh process more than a second on a cold start.
        table = pq.ParquetFile(path).read()
    except (OSError, pa.ArrowException):
        return None  # missing or damaged: written anew
    return table if table.schema.equals(SCHEMA, check_metadata=False) else None


def _shards_on_disk(folder: Path) -> set[str]:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return set()
    return {n[len("part-"):-len(".parquet")] for n in names if n.startswith("part-") and n.endswith(".parquet")}


def _write_shard(catalog: Catalog, dataset_id: str, root: Path, folder: Path, shard: str,
                 changed: set[str] | None) -> tuple[str, int]:
    """Rewrite one shard from the catalog; returns ("written" | "removed" | "unchanged", rows)."""
    path = shard_path(folder, shard)
    rowids = _rowid_range(shard)
    # `+dataset_id`: a walk of the table's rowid range, not of the dataset's index.
    entries = [] if rowids is None else [json.loads(text) for (text,) in catalog.db.execute(
        "SELECT manifest FROM samples WHERE +dataset_id = ? AND rowid >= ? AND rowid < ? ORDER BY rowid",
        (dataset_id, *rowids))]
    if not entries:
        existed = path.exists()
        path.unlink(missing_ok=True)
        return ("removed" if existed else "unchanged"), 0
    old = _old_table(path)
    # The feature vectors of samples that did not change are taken from the old shard, so a burst
    # reads only its own samples' features files.
    kept: dict[str, Any] = {}
    if old is not None and changed is not None:
        kept = dict(zip(old.column("sample_id").to_pylist(), old.column("feature_vector").to_pylist()))
    rows = []
    for entry in entries:
        sample_id = entry.get("sample_id")
        if sample_id in kept and sample_id not in changed:
            row = sample_row(dataset_id, entry, None)
            row["feature_vector"] = kept[sample_id]
        else:
            row = sample_row(dataset_id, entry, entry_vector(root, entry))
        rows.append(row)
    table = rows_table(rows)
    if old is not None and old.equals(table):
        return "unchanged", len(rows)
    atomic_write_bytes(path, table_bytes(table))
    return "written", len(rows)


def _all_shards(catalog: Catalog, dataset_id: str, folder: Path) -> set[str]:
    return {shard_of(r[0] * SHARD_ROWS) for r in catalog.db.execute(
        "SELECT DISTINCT rowid / ? FROM samples WHERE dataset_id = ?", (SHARD_ROWS, dataset_id))} | _shards_on_disk(folder)


def write_manifest_parquet(catalog: Catalog, dataset_id: str, root: Path) -> ParquetWrite:
    """Bring `<root>/manifest.parquet/` up to the catalog: rewrite the shards whose samples changed since
    the last write, and every shard the first time (or after a column change). Call inside one read
    transaction so the shards and the state agree. Raises OSError only (a full disk...).

    A shard that lost a sample is found in the catalog's deletion log (`sample_deletions`; the state's
    `deletions_seen` is the last entry shown). The state file says which catalog change the shards
    show (`changed_at`) and which shards are
    still to be built whole (`pending`), saved as they are done: a first write cut short (a stop,
    a kill, at a million samples an hour of features files to read) goes on where it was.
    """
    with writes_inside(root):  # a dataset folder moved away is not laid out again for its parquet
        return _write_manifest_parquet(catalog, dataset_id, root)


def _write_manifest_parquet(catalog: Catalog, dataset_id: str, root: Path) -> ParquetWrite:
    folder = Path(root) / PARQUET_DIR
    make_folder(folder)
    state_path = Path(root) / STATE_NAME
    state = _read_state(root)
    newest = catalog.db.execute("SELECT MAX(updated_at) FROM samples WHERE dataset_id = ?",
                                (dataset_id,)).fetchone()[0]
    if state is None:
        since, pending = newest, _all_shards(catalog, dataset_id, folder)
    else:
        since, pending = state.get("changed_at"), set(state.get("pending") or ())
    head = {"table_version": TABLE_VERSION, "shard_rows": SHARD_ROWS, "dataset_id": dataset_id}
    if state is None:
        atomic_write_json(state_path, {**head, "changed_at": since, "pending": sorted(pending),
                                       "deletions_seen": 0})
    # `>=`: a change in the same clock tick as the last one shown is not missed; a shard it makes
    # us rebuild for nothing comes out equal and is not written.
    query, args = "SELECT sample_id, rowid FROM samples WHERE dataset_id = ?", (dataset_id,)
    if isinstance(since, (int, float)):
        query, args = query + " AND updated_at >= ?", (dataset_id, since)
    changed_rows = dict(catalog.db.execute(query, args))
    changed = set(changed_rows)
    # Blocks that lost a sample since the last write: no row of theirs changed, so only the log shows them.
    seen = 0 if state is None else deletions_seen(state)
    deleted_rows, deletions_now = catalog.deletions_since(dataset_id, seen)
    touched = {shard_of(rowid) for rowid in (*changed_rows.values(), *deleted_rows)}
    written, removed, unchanged, rows = [], [], 0, 0
    saved_at = time.monotonic()
    for shard in sorted(pending | touched):
        whole = shard in pending
        outcome, count = _write_shard(catalog, dataset_id, root, folder, shard, None if whole else changed)
        rows += count
        if outcome == "written":
            written.append(shard)
        elif outcome == "removed":
            removed.append(shard)
        else:
            unchanged += 1
        if whole:
            pending.discard(shard)
            if time.monotonic() - saved_at > STATE_SAVE_EVERY_S:
                atomic_write_json(state_path, {**head, "changed_at": since, "pending": sorted(pending),
                                               "deletions_seen": seen})
                saved_at = time.monotonic()
    if state is None or newest != since or state.get("pending") or deletions_now != seen:
        atomic_write_json(state_path, {**head, "changed_at": newest, "pending": [], "deletions_seen": deletions_now})
    return ParquetWrite(tuple(written), tuple(removed), unchanged, rows)


def update_manifest_parquet(catalog: Catalog, dataset_id: str, root: Path) -> ParquetWrite | None:
    """`write_manifest_parquet` in one read snapshot, for a batch command at its end; a failure (a full
    disk...) is logged and left for the next write, never raised: the samples are committed already."""
    import structlog

    try:
        if catalog.db.in_transaction:
            return write_manifest_parquet(catalog, dataset_id, root)
        catalog.db.execute("BEGIN")
        try:
            return write_manifest_parquet(catalog, dataset_id, root)
        finally:
            catalog.db.execute("COMMIT")
    except OSError as exc:
        structlog.get_logger("kellyd.parquet").error("parquet_failed", dataset=dataset_id, error=str(exc),
                                                     retry="at the next change")
        return None


def read_manifest_parquet(root: Path) -> pa.Table:
    """Every shard of `<root>/manifest.parquet/` as one table, in catalog order (empty when none)."""
    folder = Path(root) / PARQUET_DIR
    tables = [pq.read_table(shard_path(folder, p)) for p in sorted(_shards_on_disk(folder))]
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def main(argv: list[str] | None = None) -> int:
    """`python -m kellyd.manifest_parquet --catalog C --dataset ID --root DIR`: one update, from a process of
    its own, so the daemon never loads pyarrow (see `kellyd.parquet_refresh`). Prints the outcome as JSON."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m kellyd.manifest_parquet")
    parser.add_argument("--catalog", required=True, type=Path)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's priority by this much first")
    args = parser.parse_args(argv)
    if args.nice > 0:
        os.nice(args.nice)
    catalog = Catalog(args.catalog, readonly=True)
    try:
        catalog.db.execute("BEGIN")  # one snapshot: the shards and the recorded state agree
        try:
            done = write_manifest_parquet(catalog, args.dataset, args.root)
        finally:
            catalog.db.execute("COMMIT")
    except OSError as exc:
        print(f"manifest.parquet of {args.dataset}: {exc}", file=sys.stderr)
        return 1
    finally:
        catalog.close()
    print(json.dumps({"dataset": args.dataset, "written": list(done.written), "removed": list(done.removed),
                      "unchanged": done.unchanged, "rows": done.rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
