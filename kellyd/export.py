"""Exports of the catalog into the dataset folders: manifest.json, annotations/ and splits/.

They are views for people and tools that read a dataset without the daemon;
the catalog stays the truth. Writes are atomic, run on a background thread with
their own read connection, and are debounced: a file after a quiet spell is
exported at once, a burst of files rewrites the manifest at most every `debounce_s`,
and the burst's last changes are written as soon as the daemon has no work left
(`set_quiet`), not a debounce later.

What a write costs follows what changed: the annotation files of the changed
samples only (written together, fsynced together before the manifest that lists
them), and the manifest and split files are rewritten from the first changed row
on, the rows before it copied from the last version (`kellyd.listing`), from the
rows the catalog keeps serialised. The pause between two manifest writes grows with
the time that took (`max_busy_share`), so a large dataset rewrites it less often,
but never by more than `MAX_PAUSE_S`: under a steady drop the manifest stays
seconds, not minutes, behind the catalog.

The manifest's head records the catalog state it shows (`catalog_state`: sample
count and newest change), so start-up can tell in one query whether a kill
left it behind the catalog (`out_of_date`) and export again what changed since.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

import structlog

from kellyd.atomic import DatasetFolderGone, atomic_write_bytes, write_group, writes_inside
from kellyd.catalog import Catalog
from kellyd.diskspace import is_disk_full
from kellyd.parquet_refresh import ParquetRefresher
from kellyd.listing import (MANIFEST_NAME, SAMPLES_KEY, catalog_state, first_changed_rowid, load_layouts,
                            read_snapshot, save_layouts, write_listings, write_manifest_file)
from kellyd.row_file import RowFileLayout
from kellyd.shard import sample_file

log = structlog.get_logger("kellyd.export")

GATHER_S = 0.05
DISK_FULL_RETRY_S = 5.0
MAX_PAUSE_S = 4.0  # the busy-share pause never holds a manifest back longer than this
HEAD_BYTES = 4096
ANNOTATIONS_DIR = PurePosixPath("annotations")
ANNOTATION_QUERY_IDS = 500  # sample ids per catalog query when annotation files are written (SQLite allows 32,766)
LAYOUTS_DIR = "listings"  # under the state folder: where each dataset's listing rows lie (kellyd.listing)


def write_manifest(catalog: Catalog, dataset_id: str, root: Path, *, now: datetime | None = None) -> int:
    """Write `manifest.json` whole from the catalog's pre-serialised rows; returns the sample count."""
    with read_snapshot(catalog):
        return write_manifest_file(catalog, dataset_id, root, now=now).layout.rows


def manifest_head(path: Path) -> dict | None:
    """The manifest's fields before its samples, read from its first bytes; None if unreadable."""
    try:
        with open(path, "rb") as f:
            start = f.read(HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    cut = start.find(SAMPLES_KEY)
    try:
        return json.loads(start[:cut] + "}") if cut > 0 else None
    except ValueError:
        return None


def out_of_date(catalog: Catalog, dataset_id: str, root: Path) -> set[str] | None:
    """None when `manifest.json` shows the catalog as it is; else the samples whose annotation files
    must be written again (changed since the manifest, or gone from the catalog)."""
    state = catalog_state(catalog, dataset_id)
    head = manifest_head(root / "manifest.json")
    shown = head.get("catalog_state") if head else None
    if shown == state or (head is None and state["samples"] == 0):
        return None
    since = shown.get("changed_at") if isinstance(shown, dict) else None
    query, args = "SELECT sample_id FROM samples WHERE dataset_id = ?", (dataset_id,)
    if isinstance(since, (int, float)):
        query, args = query + " AND updated_at > ?", (dataset_id, since)
    changed = {r[0] for r in catalog.db.execute(query, args)}
    annotated = annotated_ids(root)
    if annotated:
        alive = {r[0] for r in catalog.db.execute("SELECT sample_id FROM samples WHERE dataset_id = ?",
                                                  (dataset_id,))}
        changed |= annotated - alive
    return changed


def annotation_path(root: Path, sample_id: str) -> Path:
    """`annotations/<3 hex>/<sample_id>.json`: sharded like processed/ (kellyd.shard), since the folder gets
    one file per sample. Datasets written before keep their flat `annotations/<sample_id>.json` until
    the sample's annotation is written again (see `write_annotations`)."""
    return Path(root) / sample_file(ANNOTATIONS_DIR, sample_id, f"{sample_id}.json")


def annotated_ids(root: Path) -> set[str]:
    """The sample ids that have an annotation file, sharded or flat."""
    found = set()
    for dirpath, _dirs, names in os.walk(Path(root) / ANNOTATIONS_DIR):
        found.update(name[:-5] for name in names if name.endswith(".json") and not name.startswith("."))
    return found


def write_annotations(catalog: Catalog, dataset_id: str, sample_ids: Iterable[str], root: Path) -> None:
    """Write the annotation file of each sample from its catalog row; remove those of samples gone from
    the catalog, and any flat file from before sharding (only looked for when the folder still has some)."""
    wanted = sorted(sample_ids)
    flat_dir = Path(root) / ANNOTATIONS_DIR
    flat_left = _has_flat_annotations(flat_dir)
    for start in range(0, len(wanted), ANNOTATION_QUERY_IDS):
        chunk = wanted[start:start + ANNOTATION_QUERY_IDS]
        marks = ",".join("?" * len(chunk))
        rows = dict(catalog.db.execute(f"SELECT sample_id, manifest FROM samples WHERE dataset_id = ? AND "
                                       f"sample_id IN ({marks})", (dataset_id, *chunk)))
        for sample_id in chunk:
            if flat_left:
                (flat_dir / f"{sample_id}.json").unlink(missing_ok=True)
            path = annotation_path(root, sample_id)
            row = rows.get(sample_id)
            if row is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write_bytes(path, row.encode("utf-8"))


def _has_flat_annotations(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.name.endswith(".json") and not e.name.startswith(".") for e in entries)
    except FileNotFoundError:
        return False


def layouts_path(catalog_path: Path, dataset_id: str) -> Path:
    """Where the layouts of a dataset's listings (kellyd.listing) are kept between starts: beside the catalog."""
    return Path(catalog_path).parent / LAYOUTS_DIR / f"{dataset_id}.json"


def busy_share_pause_s(rewrite_s: float, max_busy_share: float) -> float:
    """The pause after a manifest rewrite that took `rewrite_s`, so that rewriting takes at most
    `max_busy_share` of the time; capped at MAX_PAUSE_S so the manifest never falls far behind."""
    return min(MAX_PAUSE_S, rewrite_s / max_busy_share - rewrite_s)


class Exporter:
    """Collects what changed and writes it from a background thread."""

    def __init__(self, catalog_path: Path, dataset_root: Callable[[str], Path], *, debounce_s: float,
                 max_busy_share: float) -> None:
        self.catalog_path = catalog_path
        self.dataset_root = dataset_root
        self.debounce_s = debounce_s
        self.max_busy_share = max_busy_share
        self._dirty: dict[str, set[str]] = defaultdict(set)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        # Set while the daemon has no work (and at stop): the debounce, which rations rewrites during a
        # burst, is then cut short.
        self._quiet = threading.Event()
        self._thread: threading.Thread | None = None
        self.manifest_writes = 0
        self._disk_full_logged = False
        self._shown: dict[str, float | None] = {}  # per dataset: the newest change the last manifest showed
        # Per dataset whose folder went away: the samples its failed flush did not write, written with the
        # next mark of that dataset (the runner's, once the folder is back), not retried meanwhile.
        self._parked: dict[str, set[str]] = defaultdict(set)
        self._layouts: dict[str, dict[str, RowFileLayout]] = {}  # per dataset: where its listings' rows lie
        self.parquet: ParquetRefresher | None = None  # manifest.parquet, when started (a process of its own)

    def mark(self, dataset_id: str, sample_ids=()) -> None:
        with self._lock:
            self._dirty[dataset_id].update(sample_ids)
            self._dirty[dataset_id].update(self._parked.pop(dataset_id, ()))
            self._idle.clear()
        self._wake.set()

    def set_quiet(self, quiet: bool) -> None:
        """Whether the daemon is without work (no file being found, settling or in a step). While it is
        busy, a manifest rewrite waits out the debounce; once it is quiet, what is dirty is written as
        soon as the busy-share pause allows (a fraction of a second after cheap rewrites): the last
        changes of a burst do not wait for a debounce. The `manifest.parquet` refresh is told too
        (`ParquetRefresher.set_daemon_busy`)."""
        if quiet:
            self._quiet.set()
        else:
            self._quiet.clear()
        if self.parquet is not None:
            self.parquet.set_daemon_busy(not quiet)

    def start(self) -> None:
        self.parquet = ParquetRefresher(self.catalog_path)
        self._thread = threading.Thread(target=self._run, name="kellyd-export", daemon=True)
        self._thread.start()

    def _take(self) -> dict[str, set[str]]:
        with self._lock:
            dirty, self._dirty = self._dirty, defaultdict(set)
        return dirty

    def _run(self) -> None:
        catalog = Catalog(self.catalog_path, readonly=True)
        last_write = -float("inf")
        try:
            while not self._stop.is_set():
                self._wake.wait()
                if self._stop.is_set():
                    break
                # After a quiet spell, write almost at once (a single dropped file shows up
                # fast); within a burst, write at most every debounce_s, and at once when it ends.
                since_last_s = time.monotonic() - last_write
                self._stop.wait(GATHER_S)
                if since_last_s + GATHER_S < self.debounce_s:
                    self._quiet.wait(self.debounce_s - since_last_s - GATHER_S)
                self._wake.clear()
                pause_s = self.flush(catalog)
                last_write = time.monotonic()
                self._stop.wait(pause_s)  # max_busy_share holds busy or quiet (a trickle of files)
        finally:
            self.flush(catalog)
            catalog.close()

    def flush(self, catalog: Catalog) -> float:
        """Write everything dirty now; return the pause owed before the next write."""
        dirty = self._take()
        rewrite_s = 0.0  # time spent on what is rewritten whole (manifest, splits), not per change
        disk_full = False
        for dataset_id, sample_ids in dirty.items():
            root = self.dataset_root(dataset_id)
            try:
                # One read snapshot for the annotation files, the manifest and the splits, so that every
                # sample the manifest lists has its annotation file written from the same rows; samples
                # committed since the last manifest are written even if their mark has not arrived yet.
                # A dataset folder moved away is not made again by these writes (`writes_inside`).
                with read_snapshot(catalog), writes_inside(root):
                    changed = sample_ids | self._changed_since_shown(catalog, dataset_id, root)
                    with write_group() as annotations:
                        write_annotations(catalog, dataset_id, changed, root)
                        annotations.sync()  # on disk before the manifest that lists them
                    started = time.monotonic()
                    self._shown[dataset_id] = catalog_state(catalog, dataset_id)["changed_at"]
                    # The listings keep their rows before the first changed sample (see kellyd.listing);
                    # the first write of this process writes them whole.
                    kept = layouts_path(self.catalog_path, dataset_id)
                    layouts = self._layouts.pop(dataset_id, None)
                    if layouts is None:  # the first write of this process: the last one's layouts, if kept
                        layouts = load_layouts(kept)
                    layouts = write_listings(catalog, dataset_id, root, layouts=layouts,
                                             from_rowid=first_changed_rowid(catalog, dataset_id, changed))
                    self._layouts[dataset_id] = layouts
                    save_layouts(kept, layouts)
                    count = layouts[MANIFEST_NAME].rows
                    rewrite_s += time.monotonic() - started
                self.manifest_writes += 1
                if self.parquet is not None:
                    self.parquet.request(dataset_id, root)
                log.debug("manifest_written", dataset=dataset_id, samples=count)
            except DatasetFolderGone as exc:
                with self._lock:  # the runner marks the dataset when its folder is back
                    self._parked[dataset_id].update(sample_ids)
                log.warning("export_waits_for_dataset_folder", dataset=dataset_id, folder=exc.filename)
            except OSError as exc:
                disk_full = disk_full or is_disk_full(exc)
                if not (is_disk_full(exc) and self._disk_full_logged):  # once per full spell, not every retry
                    log.error("export_failed", dataset=dataset_id, error=str(exc), retry="when space returns"
                              if is_disk_full(exc) else "at the next change")
                self.mark(dataset_id, sample_ids)
        self._disk_full_logged = disk_full
        with self._lock:
            if not self._dirty:
                self._idle.set()
        if disk_full:
            return DISK_FULL_RETRY_S
        return busy_share_pause_s(rewrite_s, self.max_busy_share) if dirty else 0.0

    def _changed_since_shown(self, catalog: Catalog, dataset_id: str, root: Path) -> set[str]:
        """Samples changed at or after the newest change the last manifest showed (empty when unknown)."""
        if dataset_id not in self._shown:
            head = manifest_head(root / "manifest.json")
            state = head.get("catalog_state") if head else None
            self._shown[dataset_id] = state.get("changed_at") if isinstance(state, dict) else None
        since = self._shown[dataset_id]
        if not isinstance(since, (int, float)):
            return set()
        rows = catalog.db.execute("SELECT sample_id FROM samples WHERE dataset_id = ? AND updated_at >= ?",
                                  (dataset_id, since))
        return {r[0] for r in rows}

    def wait_idle(self, timeout_s: float) -> bool:
        return self._idle.wait(timeout_s)

    def stop(self) -> None:
        """Flush what is pending and stop the thread."""
        self._stop.set()
        self._quiet.set()  # what is dirty is written now
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60.0)
        if self.parquet is not None:
            self.parquet.stop()
