"""The catalog rebuilt from the dataset folders, and the start-up check that decides when.

A dataset folder makes sense without the daemon: `manifest.json`, one
`annotations/<3 hex>/<sample_id>.json` per sample (the same entry, written first) and
the files under `raw/` hold everything a sample is. So a catalog that is
missing while datasets hold samples is rebuilt from them, never replaced by an
empty one (whose next export would truncate every manifest). A catalog that is
not a usable database is never touched at start-up: the daemon refuses to start
and says to run `kellyd catalog rebuild`, which keeps the damaged file aside.

Steps are recorded at the current handler versions for what the files show was
done (features only where a features file is named, augmentation only where
children exist); the rest is recomputed by the daemon's stale-step pass.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Iterator

import structlog

from kellyd.catalog import Catalog, QuarantineEntry
from kellyd.dataset import all_datasets
from kellyd.config import Config, DatasetConfig
from kellyd.errors import KellydError
from kellyd.sample import Sample, sample_id_for
from kellyd.shard import raw_label_dirs

log = structlog.get_logger("kellyd.rebuild")

REBUILD_COMMAND = "kellyd catalog rebuild"
_SQLITE_SIDE_FILES = ("-wal", "-shm")
_SKIPPED_SUFFIXES = (".json", ".tmp")


class CatalogUnusable(KellydError):
    """The catalog file exists but is not a database kellyd can use."""


@dataclass
class RebuildReport:
    samples: dict[str, int] = field(default_factory=dict)
    from_raw_only: int = 0          # files under raw/ no manifest or annotation described (re-annotated)
    missing_files: int = 0          # entries kept although their file is gone (as the old catalog had them)
    left_out: int = 0               # manifest entries whose file and annotation are both gone (deleted samples)
    quarantine_entries: int = 0
    kept_aside: str | None = None   # where a damaged catalog was moved

    def to_json(self) -> dict:
        return {"samples": self.samples, "from_raw_only": self.from_raw_only, "missing_files": self.missing_files,
                "left_out": self.left_out, "quarantine_entries": self.quarantine_entries, "kept_aside": self.kept_aside}


# -- checks ------------------------------------------------------------------------------


def catalog_problem(path: Path, *, thorough: bool = True) -> str | None:
    """Why the catalog at `path` cannot be used, or None when it can (or does not exist yet)."""
    if not path.exists():
        return None
    if not path.is_file():
        return f"{path} is not a file"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return f"cannot open it ({exc})"
    try:
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("SELECT name FROM sqlite_master").fetchall()  # "file is not a database" shows here
        if thorough:
            verdict = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if verdict != "ok":
                return f"it is damaged ({verdict})"
    except sqlite3.DatabaseError as exc:
        return f"it is not a usable database ({exc})"
    finally:
        db.close()
    return None


def unusable_message(path: Path, problem: str) -> str:
    return (f"the catalog {path} cannot be used: {problem}. Stop the daemon and run `{REBUILD_COMMAND}`: "
            "it keeps the damaged file aside and rebuilds the catalog from the dataset folders")


def folder_holds_samples(root: Path) -> bool:
    """True if the dataset folder has a manifest entry, an annotation or a raw file."""
    try:
        with open(root / "manifest.json", "rb") as f:
            if b'"sample_id"' in f.read(1 << 16):
                return True
    except OSError:
        pass
    return next(_files_under(root / "annotations"), None) is not None or \
        next(_files_under(root / "raw"), None) is not None


def datasets_hold_samples(cfg: Config) -> bool:
    return any(folder_holds_samples(cfg.dataset_root(ds)) for ds in all_datasets(cfg))


def adopt_unknown_datasets(catalog: Catalog, cfg: Config, dataset_ids) -> dict[str, int]:
    """Datasets whose folder holds samples the catalog has none of (a folder copied in, a catalog
    from elsewhere) are read into the catalog, so their next export cannot truncate the manifest."""
    adopted = {}
    datasets = all_datasets(cfg)
    for ds_id in dataset_ids:
        root = cfg.dataset_root(ds_id)
        if ds_id in datasets and catalog.sample_count(ds_id) == 0 and folder_holds_samples(root):
            report = RebuildReport()
            adopted[ds_id] = _rebuild_dataset(catalog, ds_id, datasets[ds_id], root, time.time(), report)
            log.warning("dataset_adopted", dataset=ds_id, samples=adopted[ds_id], from_raw_only=report.from_raw_only,
                        reason="the catalog had no samples for a dataset folder that holds some")
    return adopted


def ensure_catalog(cfg: Config) -> RebuildReport | None:
    """Before anything opens the catalog for writing (holding the state lock): refuse a damaged one,
    rebuild a missing one when the datasets hold samples. Returns the rebuild's report, if one ran."""
    problem = catalog_problem(cfg.catalog_path)
    if problem is not None:
        raise CatalogUnusable(unusable_message(cfg.catalog_path, problem))
    exists = cfg.catalog_path.exists()
    # A file without the catalog's tables (another tool, such as a Freesound pull, made it after the
    # catalog was lost) counts as missing; its own tables are carried over into the rebuilt one.
    if exists and _has_catalog_tables(cfg.catalog_path):
        return None
    if not exists and any(Path(f"{cfg.catalog_path}{s}").exists() for s in _SQLITE_SIDE_FILES):
        # A WAL without its database would be replayed into the next one.
        log.warning("catalog_side_files_kept_aside", aside=str(_keep_aside(cfg.catalog_path, time.time())))
    if not datasets_hold_samples(cfg):
        return None
    report = rebuild_catalog(cfg)
    log.warning("catalog_rebuilt", reason="the catalog was missing while the datasets hold samples", **report.to_json())
    return report


# -- the rebuild ---------------------------------------------------------------------------


def rebuild_catalog(cfg: Config, *, now: float | None = None) -> RebuildReport:
    """Write a new catalog from the dataset folders and the quarantine; an existing one is kept aside."""
    now = time.time() if now is None else now
    target = cfg.catalog_path
    building = target.with_name(target.name + ".rebuilding")
    _remove_with_side_files(building)
    report = RebuildReport()
    catalog = Catalog(building)
    try:
        for dataset_id, settings in sorted(all_datasets(cfg).items()):
            report.samples[dataset_id] = _rebuild_dataset(catalog, dataset_id, settings, cfg.dataset_root(dataset_id),
                                                          now, report)
        report.quarantine_entries = _rebuild_quarantine(catalog, cfg.quarantine_dir)
        if target.exists() and catalog_problem(target, thorough=False) is None:
            _carry_other_tables(catalog, target)
    finally:
        catalog.close()
    if target.exists() or any(Path(f"{target}{s}").exists() for s in _SQLITE_SIDE_FILES):
        report.kept_aside = str(_keep_aside(target, now))
    os.replace(building, target)
    return report


def _rebuild_dataset(catalog: Catalog, dataset_id: str, settings: DatasetConfig, root: Path, now: float,
                     report: RebuildReport) -> int:
    from kellyd.handlers.registry import child_chain, handler_class
    from kellyd.split_state import SplitAssigner

    entries, left_out = _described_samples(root)
    report.left_out += left_out
    known_shas = {e.get("sha256") for e in entries.values()}
    described = {e.get("file_path") for e in entries.values()}
    for sample in _undescribed_raw_files(root, dataset_id, described, known_shas):
        entries[sample.sample_id] = {**_entry_of(sample), "_raw_only": True}
    parents_with_children = {e.get("parent_id") for e in entries.values() if e.get("parent_id")}
    splits = SplitAssigner.load(catalog, dataset_id, settings)
    versions = {name: handler_class(name).version for name in settings.chain}
    count = 0
    with catalog.transaction():
        for sample_id, entry in sorted(entries.items()):
            raw_only = entry.pop("_raw_only", False)
            sample = _sample_of(dataset_id, entry)
            if not (root / sample.file_path).exists():
                report.missing_files += 1
            catalog.put_sample(sample, now=now, group_key=splits.group_of(sample), label=splits.label_of(sample))
            count += 1
            if raw_only:
                report.from_raw_only += 1
                done = {"import"} & versions.keys()
            elif sample.parent_id:
                done = set(child_chain(settings.chain))
            else:
                done = set(versions) - {"augment"}
                if sample.split != "train" or sample_id in parents_with_children:
                    done |= {"augment"} & versions.keys()
            if sample.features_path is None:
                done.discard("features")
            for name in done & versions.keys():
                catalog.record_step(dataset_id, sample_id, name, versions[name], now)
    return count


def _described_samples(root: Path) -> tuple[dict[str, dict], int]:
    """Manifest entries, updated by the per-sample annotation files (written before the manifest),
    and how many were left out.

    An entry counts when its file or its annotation file is still there: a sample the daemon
    deleted (quarantined) lost both, one a user damaged keeps its annotation.
    """
    entries: dict[str, dict] = {}
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        for e in manifest.get("samples", []):
            if isinstance(e, dict) and e.get("sample_id") and e.get("sha256"):
                entries[e["sample_id"]] = e
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        log.warning("rebuild_manifest_unreadable", dataset=root.name, error=str(exc))
    annotated: set[str] = set()
    for path in _files_under(root / "annotations"):
        if not path.endswith(".json"):
            continue
        try:
            e = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("rebuild_annotation_unreadable", path=path, error=str(exc))
            continue
        if isinstance(e, dict) and e.get("sample_id") and e.get("sha256"):
            entries[e["sample_id"]] = e
            annotated.add(e["sample_id"])
    kept = {sid: e for sid, e in entries.items()
            if sid in annotated or (e.get("file_path") and (root / e["file_path"]).exists())}
    return kept, len(entries) - len(kept)


def _undescribed_raw_files(root: Path, dataset_id: str, described: set, known_shas: set) -> Iterator[Sample]:
    """Files under raw/ that no entry describes: imported again from where they lie.

    Only files at a path no entry names are read (hashed), so a rebuild does not read the dataset."""
    from kellyd.handlers.importer import HEAD_BYTES, detect_kind, file_sha256
    from kellyd.errors import InvalidInput

    for path in sorted(_files_under(root / "raw")):
        name = os.path.basename(path)
        if name.startswith(".") or name.endswith(_SKIPPED_SUFFIXES):
            continue
        if Path(path).relative_to(root).as_posix() in described:
            continue
        try:
            with open(path, "rb") as f:
                head = f.read(HEAD_BYTES)
            kind = detect_kind(head, name)
            sha256 = file_sha256(Path(path))
        except (OSError, InvalidInput) as exc:
            log.warning("rebuild_raw_file_skipped", path=path, reason=str(exc))
            continue
        if sha256 in known_shas:
            continue
        known_shas.add(sha256)
        rel = PurePosixPath(Path(path).relative_to(root).as_posix())
        # raw/<kind folder>/<label dirs...>/<name>: the label folders are kept on import.
        yield Sample(dataset_id=dataset_id, origin_path=path, label_dirs=raw_label_dirs(rel, sample_id_for(sha256)),
                     sample_id=sample_id_for(sha256), sha256=sha256, kind=kind, file_path=str(rel),
                     original_names=(name,))


def _entry_of(sample: Sample) -> dict:
    from kellyd.catalog import manifest_entry

    return {**manifest_entry(sample), "label_dirs": list(sample.label_dirs), "origin_path": sample.origin_path}


def _sample_of(dataset_id: str, entry: dict) -> Sample:
    rel = PurePosixPath(entry.get("file_path") or "")
    label_dirs = entry.get("label_dirs")
    if label_dirs is None:
        label_dirs = raw_label_dirs(rel, str(entry.get("sample_id") or "")) if rel.parts[:1] == ("raw",) else ()
    return Sample.from_json({**entry, "dataset_id": dataset_id, "label_dirs": list(label_dirs),
                             "origin_path": entry.get("origin_path") or "", "source": entry.get("source") or {"type": "inbox"},
                             "annotations": entry.get("annotations") or {},
                             "original_names": entry.get("original_names") or ()})


def _rebuild_quarantine(catalog: Catalog, quarantine_dir: Path) -> int:
    count = 0
    with catalog.transaction():
        for path in sorted(_files_under(quarantine_dir)):
            if not path.endswith(".error.json"):
                continue
            try:
                e = json.loads(Path(path).read_text(encoding="utf-8"))
                at = datetime.fromisoformat(e["at"]).timestamp()
                catalog.add_quarantine(QuarantineEntry(
                    dataset_id=e["dataset_id"], origin_path=e.get("original_path") or "",
                    quarantine_path=path[: -len(".error.json")], handler=e.get("handler") or "",
                    reason=e.get("reason") or "", at=at))
                count += 1
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("rebuild_quarantine_entry_skipped", path=path, error=str(exc))
    return count


def _has_catalog_tables(path: Path) -> bool:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'samples'").fetchone() is not None
    finally:
        db.close()


def _carry_other_tables(catalog: Catalog, old: Path) -> None:
    """Copy the tables kellyd's catalog schema does not define (the Freesound ledger) from `old`."""
    own = {r[0] for r in catalog.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    catalog.db.execute("ATTACH DATABASE ? AS old", (str(old),))
    try:
        rows = catalog.db.execute("SELECT type, name, tbl_name, sql FROM old.sqlite_master WHERE sql IS NOT NULL"
                                  " AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index'").fetchall()
        with catalog.transaction():
            for kind, name, table, sql in rows:
                if table in own:
                    continue
                catalog.db.execute(sql)
                if kind == "table":
                    catalog.db.execute(f'INSERT INTO main."{name}" SELECT * FROM old."{name}"')
    finally:
        catalog.db.execute("DETACH DATABASE old")


# -- files -----------------------------------------------------------------------------------


def _files_under(folder: Path) -> Iterator[str]:
    """Regular files under `folder`, never following links."""
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            full = os.path.join(dirpath, name)
            if os.path.isfile(full) and not os.path.islink(full):
                yield full


def _keep_aside(target: Path, now: float) -> Path:
    """Move the old catalog and its SQLite side files out of the way (a stale WAL must never meet the new file)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    aside = target.with_name(f"{target.name}.replaced-{stamp}")
    for suffix in ("", *_SQLITE_SIDE_FILES):
        src = Path(f"{target}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{aside}{suffix}"))
    return aside


def _remove_with_side_files(path: Path) -> None:
    for suffix in ("", *_SQLITE_SIDE_FILES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# -- the command ---------------------------------------------------------------------------------


def rebuild_command(cfg: Config, *, force: bool) -> RebuildReport:
    """`kellyd catalog rebuild`: with the daemon stopped (both locks held), rebuild the catalog.

    A readable catalog is only replaced with `force` (its pending jobs and history are lost;
    the old file is kept aside either way)."""
    from kellyd.lock import DatasetsLock, StateLock

    state_lock, datasets_lock = StateLock(cfg.paths.state), DatasetsLock(cfg.paths.datasets)
    state_lock.acquire(purpose="catalog rebuild")
    try:
        datasets_lock.acquire(purpose=f"catalog rebuild, state folder {cfg.paths.state}")
        try:
            if cfg.catalog_path.exists() and catalog_problem(cfg.catalog_path) is None and not force:
                raise RebuildRefused(f"the catalog {cfg.catalog_path} is readable; rebuilding it from the dataset "
                                     "folders drops its pending jobs and history (the old file is kept aside). "
                                     "Pass --force to rebuild anyway")
            return rebuild_catalog(cfg)
        finally:
            datasets_lock.release()
    finally:
        state_lock.release()


class RebuildRefused(KellydError):
    """`kellyd catalog rebuild` would replace a readable catalog without --force."""
