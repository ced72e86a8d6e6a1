"""The catalog: SQLite (WAL) is the truth about files seen, jobs, steps and samples.

Only the daemon (or a one-shot batch command holding the same lock) writes it.
Every public write runs in one transaction; the runner groups a loop's worth of
step results into one `transaction()` so throughput does not pay a commit per row.
Queries touch rows by key or index only, so ingesting one file costs the same
at 100,000 samples as at 1,000.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from kellyd.sample import Sample

SCHEMA_VERSION = 1
WRITER_CACHE_KIB = 32 * 1024  # the writing connection's page cache (SQLite's default: 2 MB)
WAL_CHECKPOINT_PAGES = 8192  # pages of WAL before an automatic checkpoint (SQLite's default: 1,000)
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    job_id INTEGER, seen_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY, dataset_id TEXT NOT NULL, origin_path TEXT NOT NULL,
    chain TEXT NOT NULL, step INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'duplicate', 'quarantined', 'vanished')),
    sample_id TEXT, sample TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0, error TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (state, not_before) WHERE state = 'pending';
-- Dispatch reads the oldest pending jobs of a lane (never tried, or retries) several times a second
-- during a drop; walked in job_id order, these stop at the jobs it takes (sorting every due job cost
-- 66 ms a dispatch with 100,000 waiting: bench/bench_dispatch.py).
CREATE INDEX IF NOT EXISTS jobs_fresh ON jobs (job_id, not_before) WHERE state = 'pending' AND attempts = 0;
CREATE INDEX IF NOT EXISTS jobs_retried ON jobs (job_id, not_before) WHERE state = 'pending' AND attempts > 0;
CREATE INDEX IF NOT EXISTS jobs_origin ON jobs (origin_path);
CREATE TABLE IF NOT EXISTS samples (
    dataset_id TEXT NOT NULL, sample_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    kind TEXT, parent_id TEXT, split TEXT, group_key TEXT, label TEXT,
    data TEXT NOT NULL, manifest TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (dataset_id, sample_id));
CREATE UNIQUE INDEX IF NOT EXISTS samples_sha ON samples (dataset_id, sha256);
CREATE INDEX IF NOT EXISTS samples_group ON samples (dataset_id, group_key);
-- `kellyd status` counts samples per split from this index alone (its GROUP BY names the same
-- expression): without it, the count read every row's JSON, 4 s at 300,000 samples.
CREATE INDEX IF NOT EXISTS samples_split ON samples (dataset_id, split, parent_id IS NOT NULL);
-- The exporter's "what changed since the manifest" and "newest change" read this index, not every row.
CREATE INDEX IF NOT EXISTS samples_updated ON samples (dataset_id, updated_at);
CREATE TABLE IF NOT EXISTS steps (
    dataset_id TEXT NOT NULL, sample_id TEXT NOT NULL, handler TEXT NOT NULL,
    version INTEGER NOT NULL, done_at REAL NOT NULL,
    PRIMARY KEY (dataset_id, sample_id, handler));
CREATE TABLE IF NOT EXISTS quarantine (
    entry_id INTEGER PRIMARY KEY, dataset_id TEXT NOT NULL, origin_path TEXT NOT NULL,
    quarantine_path TEXT NOT NULL, handler TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS activity (
    at REAL NOT NULL, processed INTEGER NOT NULL, errors INTEGER NOT NULL, queue INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS schedule_runs (
    job TEXT PRIMARY KEY, last_run REAL, last_status TEXT, detail TEXT, next_run REAL);
CREATE TABLE IF NOT EXISTS running (
    job_id INTEGER PRIMARY KEY, dataset_id TEXT NOT NULL, path TEXT NOT NULL, step TEXT NOT NULL,
    pid INTEGER, started_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS worker_deaths (
    death_id INTEGER PRIMARY KEY, at REAL NOT NULL, pid INTEGER, exitcode INTEGER, signal TEXT,
    cause TEXT NOT NULL, job_id INTEGER, dataset_id TEXT, path TEXT, step TEXT, charged INTEGER NOT NULL,
    reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS worker_deaths_job ON worker_deaths (job_id);
-- Where deleted samples were (their rowid), numbered in order (never reused, though entries every reader
-- has shown are forgotten), kept by a trigger whoever deletes: the
-- columnar manifest (kellyd.manifest_parquet) rebuilds the blocks of rows that lost one. A deletion
-- is rare (a quarantined sample), so the log stays small.
CREATE TABLE IF NOT EXISTS sample_deletions (
    deletion_id INTEGER PRIMARY KEY AUTOINCREMENT, dataset_id TEXT NOT NULL, sample_rowid INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS samples_log_delete AFTER DELETE ON samples BEGIN
    INSERT INTO sample_deletions (dataset_id, sample_rowid) VALUES (OLD.dataset_id, OLD.rowid); END;
"""

# Per dataset: original and derived samples, kept by triggers (see `Catalog._keep_sample_counts`).
SAMPLE_COUNTS_SCHEMA = (
    "CREATE TABLE sample_counts (dataset_id TEXT PRIMARY KEY, originals INTEGER NOT NULL DEFAULT 0,"
    " derived INTEGER NOT NULL DEFAULT 0)",
    "CREATE TRIGGER samples_count_insert AFTER INSERT ON samples BEGIN"
    " INSERT INTO sample_counts (dataset_id, originals, derived)"
    " VALUES (NEW.dataset_id, NEW.parent_id IS NULL, NEW.parent_id IS NOT NULL)"
    " ON CONFLICT (dataset_id) DO UPDATE SET originals = originals + (NEW.parent_id IS NULL),"
    " derived = derived + (NEW.parent_id IS NOT NULL); END",
    "CREATE TRIGGER samples_count_delete AFTER DELETE ON samples BEGIN"
    " UPDATE sample_counts SET originals = originals - (OLD.parent_id IS NULL),"
    " derived = derived - (OLD.parent_id IS NOT NULL) WHERE dataset_id = OLD.dataset_id; END",
    "CREATE TRIGGER samples_count_update AFTER UPDATE OF parent_id, dataset_id ON samples BEGIN"
    " UPDATE sample_counts SET originals = originals - (OLD.parent_id IS NULL),"
    " derived = derived - (OLD.parent_id IS NOT NULL) WHERE dataset_id = OLD.dataset_id;"
    " INSERT INTO sample_counts (dataset_id, originals, derived)"
    " VALUES (NEW.dataset_id, NEW.parent_id IS NULL, NEW.parent_id IS NOT NULL)"
    " ON CONFLICT (dataset_id) DO UPDATE SET originals = originals + (NEW.parent_id IS NULL),"
    " derived = derived + (NEW.parent_id IS NOT NULL); END",
)


@dataclass(frozen=True)
class Job:
    job_id: int
    dataset_id: str
    origin_path: str
    chain: tuple[str, ...]
    step: int
    sample: Sample
    attempts: int

    @property
    def handler_name(self) -> str:
        return self.chain[self.step]


@dataclass(frozen=True)
class QuarantineEntry:
    dataset_id: str
    origin_path: str
    quarantine_path: str
    handler: str
    reason: str
    at: float


def manifest_entry(sample: Sample) -> dict[str, Any]:
    """The manifest's view of a sample (the contract in DESIGN.md)."""
    return {
        "sample_id": sample.sample_id,
        "file_path": sample.file_path,
        "sha256": sample.sha256,
        "kind": sample.kind,
        "split": sample.split,
        "parent_id": sample.parent_id,
        "augmentation": dict(sample.augmentation) if sample.augmentation else None,
        "source": dict(sample.source),
        "features_path": sample.features_path,
        "original_names": list(sample.original_names),
        "annotations": dict(sample.annotations),
        # Only samples a step wrote more for (songs) carry it, so clip manifests keep their shape.
        **({"outputs": dict(sample.outputs)} if sample.outputs else {}),
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Catalog:
    """One connection to the catalog file. Not shared between threads."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            uri = f"file:{self.path}?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            # A writer inserts into indexes keyed by hashes (sample id, sha256), so every insert lands on a
            # random page: at a million samples SQLite's default 2 MB page cache missed on most of them.
            self.db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
            # Checkpoints copy the WAL's pages into the catalog file, one random page each in a large catalog:
            # a longer WAL between them (32 MB, not 4 MB) writes a page changed by several commits once.
            self.db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            # Every page a job's commit changes inside its savepoint (and inside a statement that fires the
            # sample-count triggers) is first copied to a sub-journal, which SQLite spills to a temp file
            # past 64 KiB: a drop of 1,150 files wrote some 200 MB into a thousand such files, each made and
            # removed on the daemon's main loop. Kept in memory, they cost a copy; SQLite reads this setting
            # at each write transaction's start.
            self.db.execute("PRAGMA temp_store = MEMORY")
        self.db.execute("PRAGMA busy_timeout=10000")
        if not readonly:
            self._migrate()

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        # executescript commits on its own; every statement only creates what is missing.
        self.db.executescript(SCHEMA)
        self._allow_vanished_jobs()
        self._keep_sample_counts()
        self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _allow_vanished_jobs(self) -> None:
        """Catalogs written before the 'vanished' job state: rebuild `jobs` with the wider CHECK.

        SQLite cannot alter a CHECK constraint; the table is copied once, in one transaction."""
        (sql,) = self.db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone()
        if "'vanished'" in sql:
            return
        create = SCHEMA.split("CREATE TABLE IF NOT EXISTS jobs (", 1)[1].split(";", 1)[0]
        with self.transaction():
            self.db.execute(f"CREATE TABLE jobs_wider ({create}")
            self.db.execute("INSERT INTO jobs_wider SELECT * FROM jobs")
            self.db.execute("DROP TABLE jobs")
            self.db.execute("ALTER TABLE jobs_wider RENAME TO jobs")
        self.db.executescript(SCHEMA)  # the indexes went with the old table

    def _keep_sample_counts(self) -> None:
        """The `sample_counts` table and the triggers that keep it equal to the samples table.

        Counting a dataset's samples is then a key lookup: the daemon asks after every commit that
        added samples (is validation due?) and the exporter at every manifest write, and COUNT(*)
        walks an index of the whole dataset (a million entries). Triggers keep it exact whoever
        writes (the daemon, `kellyd import`, a synthesize job); a catalog from before the table is
        counted once, in the same transaction that creates it."""
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sample_counts'").fetchone():
            return
        with self.transaction():
            for statement in SAMPLE_COUNTS_SCHEMA:
                self.db.execute(statement)
            self.db.execute("INSERT INTO sample_counts (dataset_id, originals, derived)"
                            " SELECT dataset_id, SUM(parent_id IS NULL), SUM(parent_id IS NOT NULL)"
                            " FROM samples GROUP BY dataset_id")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            # A COMMIT can fail too (a full disk): the transaction is then still open.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    # -- files ---------------------------------------------------------------

    def file_record(self, path: str) -> tuple[int, int, int | None] | None:
        row = self.db.execute("SELECT size, mtime_ns, job_id FROM files WHERE path = ?", (path,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def job_state(self, job_id: int) -> str | None:
        row = self.db.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else row[0]

    def note_file(self, path: str, *, size: int, mtime_ns: int, job_id: int, now: float) -> None:
        """Remember that `job_id` took care of `path` as it was at (size, mtime_ns)."""
        self.db.execute(
            "INSERT INTO files (path, size, mtime_ns, job_id, seen_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,"
            " job_id = excluded.job_id, seen_at = excluded.seen_at",
            (path, size, mtime_ns, job_id, now),
        )

    def forget_file(self, path: str, *, job_id: int) -> None:
        """Forget `path` if `job_id` is still the job that took care of it."""
        self.db.execute("DELETE FROM files WHERE path = ? AND job_id = ?", (path, job_id))

    def moved_files_left(self) -> list[tuple[str, int, int, int]]:
        """(path, size, mtime_ns, job id) of files whose import by moving was committed and whose row is
        still here: the daemon stopped before removing the origin, or could not remove it."""
        return self.db.execute(
            "SELECT f.path, f.size, f.mtime_ns, f.job_id FROM files f JOIN jobs j ON j.job_id = f.job_id"
            " WHERE (j.step > 0 OR j.state = 'duplicate')"
            " AND json_extract(j.sample, '$.source.on_import') = 'move'").fetchall()

    def import_waiting(self, path: str) -> bool:
        """True when a job for `path` has not run its import yet. That import reads the file as it is
        when it runs, so nothing that happens to the file before then needs another job."""
        row = self.db.execute("SELECT 1 FROM files f JOIN jobs j ON j.job_id = f.job_id"
                              " WHERE f.path = ? AND j.state = 'pending' AND j.step = 0", (path,)).fetchone()
        return row is not None

    # -- jobs ----------------------------------------------------------------

    def add_job(self, *, sample: Sample, chain: Sequence[str], size: int | None = None,
                mtime_ns: int | None = None, now: float | None = None) -> int:
        now = time.time() if now is None else now
        cur = self.db.execute(
            "INSERT INTO jobs (dataset_id, origin_path, chain, step, state, sample_id, sample, created_at, updated_at)"
            " VALUES (?, ?, ?, 0, 'pending', ?, ?, ?, ?)",
            (sample.dataset_id, sample.origin_path, _dumps(list(chain)), sample.sample_id or None,
             _dumps(sample.to_json()), now, now),
        )
        job_id = int(cur.lastrowid)
        if size is not None and mtime_ns is not None:
            self.note_file(sample.origin_path, size=size, mtime_ns=mtime_ns, job_id=job_id, now=now)
        return job_id

    def add_file_job(self, *, sample: Sample, chain: Sequence[str], size: int, mtime_ns: int,
                     now: float) -> int | None:
        """A job for the file `sample.origin_path` seen at (size, mtime_ns), or None when the catalog
        already has one: a job that has not imported it yet, or a job that saw it at this size and mtime
        (finished or not). Checked and written in one transaction, by key, so however many times a file
        is reported (an event and a scan, a burst of events after SIGCONT) it gets one job."""
        path = sample.origin_path
        with self.transaction():
            row = self.db.execute("SELECT f.size, f.mtime_ns, j.job_id, j.state, j.step FROM files f"
                                  " JOIN jobs j ON j.job_id = f.job_id WHERE f.path = ?", (path,)).fetchone()
            if row is not None:
                known_size, known_mtime_ns, job_id, state, step = row
                if state == "pending" and step == 0:
                    self.note_file(path, size=size, mtime_ns=mtime_ns, job_id=job_id, now=now)
                    return None
                if (known_size, known_mtime_ns) == (size, mtime_ns) and state != "vanished":
                    return None
            return self.add_job(sample=sample, chain=chain, size=size, mtime_ns=mtime_ns, now=now)

    def imported_before(self, origin_path: str, *, job_id: int) -> tuple[int, str] | None:
        """(job id, sample id) of the latest job before `job_id` that imported `origin_path`, if any."""
        row = self.db.execute("SELECT job_id, sample_id FROM jobs WHERE origin_path = ? AND job_id < ?"
                              " AND sample_id IS NOT NULL ORDER BY job_id DESC LIMIT 1",
                              (origin_path, job_id)).fetchone()
        return None if row is None else (row[0], row[1])

    def runnable_jobs(self, *, now: float, limit: int, exclude: Iterable[int] = (),
                      retries: bool | None = None, datasets: Iterable[str] | None = None) -> list[Job]:
        """Pending jobs due by `now`, oldest first, less `exclude`, of `datasets` only (None: of any);
        `retries` True: only jobs tried before, False: only new (each lane reads its own index: see the schema)."""
        excluded = json.dumps(sorted(set(exclude)))  # one SQL variable however many jobs are in flight
        index, lane = {None: ("", ""), True: (" INDEXED BY jobs_retried", " AND attempts > 0"),
                       False: (" INDEXED BY jobs_fresh", " AND attempts = 0")}[retries]
        served, served_args = _datasets_filter(datasets)
        rows = self.db.execute(
            f"SELECT job_id, dataset_id, origin_path, chain, step, sample, attempts FROM jobs{index}"
            f" WHERE state = 'pending' AND not_before <= ?{lane}"
            f" AND job_id NOT IN (SELECT value FROM json_each(?)){served} ORDER BY job_id LIMIT ?",
            (now, excluded, *served_args, limit),
        ).fetchall()
        return [Job(job_id, dataset_id, origin, tuple(json.loads(chain)), step, Sample.from_json(json.loads(sample)),
                    attempts) for job_id, dataset_id, origin, chain, step, sample, attempts in rows]

    def has_runnable_job(self, *, now: float, datasets: Iterable[str] | None = None) -> bool:
        """Is any pending job of `datasets` (None: of any) due by `now`?"""
        served, served_args = _datasets_filter(datasets)
        return self.db.execute(f"SELECT 1 FROM jobs WHERE state = 'pending' AND not_before <= ?{served} LIMIT 1",
                               (now, *served_args)).fetchone() is not None

    def pending_job(self, job_id: int) -> Job | None:
        row = self.db.execute("SELECT job_id, dataset_id, origin_path, chain, step, sample, attempts FROM jobs"
                              " WHERE job_id = ? AND state = 'pending'", (job_id,)).fetchone()
        if row is None:
            return None
        job_id, dataset_id, origin, chain, step, sample, attempts = row
        return Job(job_id, dataset_id, origin, tuple(json.loads(chain)), step, Sample.from_json(json.loads(sample)),
                   attempts)

    def pending_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'pending'").fetchone()[0]

    def advance_job(self, job_id: int, *, sample: Sample, now: float, finished: bool) -> None:
        self.db.execute(
            "UPDATE jobs SET step = step + 1, sample = ?, sample_id = ?, state = ?, attempts = 0,"
            " error = NULL, updated_at = ? WHERE job_id = ?",
            (_dumps(sample.to_json()), sample.sample_id or None, "done" if finished else "pending", now, job_id),
        )

    def postpone_job(self, job_id: int, *, not_before: float, error: str, now: float) -> None:
        """Run the job's step again later without counting an attempt (a full disk is not the file's fault)."""
        self.db.execute("UPDATE jobs SET not_before = ?, error = ?, updated_at = ? WHERE job_id = ?",
                        (not_before, error, now, job_id))

    def end_job(self, job_id: int, *, state: str, now: float, error: str | None = None) -> None:
        self.db.execute("UPDATE jobs SET state = ?, error = ?, updated_at = ? WHERE job_id = ?",
                        (state, error, now, job_id))

    def retry_job(self, job_id: int, *, not_before: float, error: str, now: float) -> int:
        self.db.execute(
            "UPDATE jobs SET attempts = attempts + 1, not_before = ?, error = ?, updated_at = ? WHERE job_id = ?",
            (not_before, error, now, job_id),
        )
        return self.db.execute("SELECT attempts FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0]

    # -- samples -------------------------------------------------------------

    def sample_by_sha(self, dataset_id: str, sha256: str) -> Sample | None:
        row = self.db.execute("SELECT data FROM samples WHERE dataset_id = ? AND sha256 = ?",
                              (dataset_id, sha256)).fetchone()
        return None if row is None else Sample.from_json(json.loads(row[0]))

    def sample(self, dataset_id: str, sample_id: str) -> Sample | None:
        row = self.db.execute("SELECT data FROM samples WHERE dataset_id = ? AND sample_id = ?",
                              (dataset_id, sample_id)).fetchone()
        return None if row is None else Sample.from_json(json.loads(row[0]))

    def names_and_split(self, dataset_id: str, sample_id: str) -> tuple[tuple[str, ...], str | None] | None:
        """A sample's original names and split (the fields the catalog, not a step, owns), read without
        decoding the rest of its row; None if there is no such sample."""
        row = self.db.execute("SELECT json_extract(data, '$.original_names'), split FROM samples"
                              " WHERE dataset_id = ? AND sample_id = ?", (dataset_id, sample_id)).fetchone()
        return None if row is None else (tuple(json.loads(row[0] or "[]")), row[1])

    def put_sample(self, sample: Sample, *, now: float, group_key: str | None = None, label: str | None = None) -> None:
        """Insert or update a sample; `group_key` and `label` are kept once set."""
        self.db.execute(
            "INSERT INTO samples (dataset_id, sample_id, sha256, kind, parent_id, split, group_key, label,"
            " data, manifest, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (dataset_id, sample_id) DO UPDATE SET kind = excluded.kind,"
            " parent_id = excluded.parent_id, split = excluded.split, data = excluded.data,"
            " manifest = excluded.manifest, updated_at = excluded.updated_at,"
            " group_key = COALESCE(samples.group_key, excluded.group_key),"
            " label = COALESCE(excluded.label, samples.label)",
            (sample.dataset_id, sample.sample_id, sample.sha256, sample.kind, sample.parent_id, sample.split,
             group_key, label, _dumps(sample.to_json()), _dumps(manifest_entry(sample)), now),
        )

    def deletions_since(self, dataset_id: str, seen: int) -> tuple[list[int], int]:
        """(rowids of the dataset's samples deleted after log entry `seen`, the newest log entry); see
        `sample_deletions`. A catalog only ever opened read-only since before the log has none."""
        try:
            rows = self.db.execute("SELECT sample_rowid FROM sample_deletions WHERE deletion_id > ? AND dataset_id = ?",
                                   (seen, dataset_id)).fetchall()
            (newest,) = self.db.execute("SELECT COALESCE(MAX(deletion_id), 0) FROM sample_deletions").fetchone()
        except sqlite3.OperationalError:
            return [], seen
        return [rowid for (rowid,) in rows], max(newest, seen)

    def forget_deletions(self, dataset_id: str, upto: int) -> int:
        """Drop the dataset's deletion-log entries up to `upto` (those every reader has shown)."""
        with self.transaction():
            return self.db.execute("DELETE FROM sample_deletions WHERE dataset_id = ? AND deletion_id <= ?",
                                   (dataset_id, upto)).rowcount

    def samples(self, dataset_id: str) -> list[Sample]:
        rows = self.db.execute("SELECT data FROM samples WHERE dataset_id = ? ORDER BY sample_id", (dataset_id,))
        return [Sample.from_json(json.loads(r[0])) for r in rows]

    def manifest_rows(self, dataset_id: str) -> Iterator[str]:
        """Pre-serialised manifest entries, so an export is a join, not a re-encode."""
        for (text,) in self.db.execute("SELECT manifest FROM samples WHERE dataset_id = ? ORDER BY sample_id",
                                       (dataset_id,)):
            yield text

    def label_counts(self, dataset_id: str) -> dict[str, int]:
        """Original (non-derived) samples per class label."""
        rows = self.db.execute("SELECT label, COUNT(*) FROM samples WHERE dataset_id = ? AND parent_id IS NULL"
                               " AND label IS NOT NULL AND label != '' GROUP BY label", (dataset_id,))
        return {label: n for label, n in rows}

    def split_assignments(self, dataset_id: str) -> dict[str, str]:
        rows = self.db.execute("SELECT sample_id, split FROM samples WHERE dataset_id = ? AND split IS NOT NULL",
                               (dataset_id,))
        return {sample_id: split for sample_id, split in rows}

    def sample_count(self, dataset_id: str) -> int:
        return sum(self.sample_counts(dataset_id))

    def sample_counts(self, dataset_id: str) -> tuple[int, int]:
        """(originals, derived) samples of `dataset_id`: one key lookup, however large the dataset."""
        row = self.db.execute("SELECT originals, derived FROM sample_counts WHERE dataset_id = ?",
                              (dataset_id,)).fetchone()
        return (0, 0) if row is None else (row[0], row[1])

    def originals_per_dataset(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT dataset_id, originals FROM sample_counts WHERE originals + derived > 0"))

    def group_split(self, dataset_id: str, group_key: str) -> str | None:
        # `+split`: without statistics SQLite prefers samples_split for `split IS NOT NULL` and walks every
        # placed sample of the dataset (0.2 s per commit at 1,000,000 samples); a group holds a few rows.
        row = self.db.execute("SELECT split FROM samples WHERE dataset_id = ? AND group_key = ? AND +split IS NOT NULL"
                              " LIMIT 1", (dataset_id, group_key)).fetchone()
        return None if row is None else row[0]

    def split_counts(self, dataset_id: str) -> dict[tuple[str | None, str], int]:
        """(label, split) -> number of original (non-derived) samples."""
        rows = self.db.execute("SELECT label, split, COUNT(*) FROM samples WHERE dataset_id = ? AND parent_id IS NULL"
                               " AND split IS NOT NULL GROUP BY label, split", (dataset_id,))
        return {(label, split): n for label, split, n in rows}

    def dataset_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT dataset_id FROM samples ORDER BY dataset_id")]

    # -- steps ---------------------------------------------------------------

    def record_step(self, dataset_id: str, sample_id: str, handler: str, version: int, now: float) -> None:
        self.db.execute(
            "INSERT INTO steps (dataset_id, sample_id, handler, version, done_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (dataset_id, sample_id, handler) DO UPDATE SET version = excluded.version,"
            " done_at = excluded.done_at",
            (dataset_id, sample_id, handler, version, now),
        )

    def stale_samples(self, dataset_id: str, handler: str, version: int, *, derived: bool | None = None) -> list[Sample]:
        """Samples of `dataset_id` whose `handler` step ran at another version (or never)."""
        query = ("SELECT s.data FROM samples s LEFT JOIN steps t ON t.dataset_id = s.dataset_id"
                 " AND t.sample_id = s.sample_id AND t.handler = ? WHERE s.dataset_id = ?"
                 " AND (t.version IS NULL OR t.version != ?)")
        if derived is not None:
            query += " AND s.parent_id IS " + ("NOT NULL" if derived else "NULL")
        rows = self.db.execute(query, (handler, dataset_id, version))
        return [Sample.from_json(json.loads(r[0])) for r in rows]

    def samples_with_pending_job(self, dataset_id: str) -> set[str]:
        rows = self.db.execute("SELECT sample_id FROM jobs WHERE dataset_id = ? AND state = 'pending'"
                               " AND sample_id IS NOT NULL", (dataset_id,))
        return {r[0] for r in rows}

    # -- quarantine ----------------------------------------------------------

    def add_quarantine(self, entry: QuarantineEntry) -> None:
        self.db.execute(
            "INSERT INTO quarantine (dataset_id, origin_path, quarantine_path, handler, reason, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (entry.dataset_id, entry.origin_path, entry.quarantine_path, entry.handler, entry.reason, entry.at),
        )

    def quarantined(self, dataset_id: str | None = None) -> list[QuarantineEntry]:
        query = "SELECT dataset_id, origin_path, quarantine_path, handler, reason, at FROM quarantine"
        args: tuple = ()
        if dataset_id is not None:
            query += " WHERE dataset_id = ?"
            args = (dataset_id,)
        return [QuarantineEntry(*row) for row in self.db.execute(query + " ORDER BY at", args)]

    # -- activity and schedule ----------------------------------------------

    def record_activity(self, *, at: float, processed: int, errors: int, queue: int) -> None:
        self.db.execute("INSERT INTO activity (at, processed, errors, queue) VALUES (?, ?, ?, ?)",
                        (at, processed, errors, queue))

    def activity(self, since: float = 0.0) -> list[tuple[float, int, int, int]]:
        return list(self.db.execute("SELECT at, processed, errors, queue FROM activity WHERE at >= ? ORDER BY at",
                                    (since,)))

    def record_schedule_run(self, job: str, *, at: float, status: str, detail: str = "",
                            next_run: float | None = None) -> None:
        self.db.execute(
            "INSERT INTO schedule_runs (job, last_run, last_status, detail, next_run) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (job) DO UPDATE SET last_run = excluded.last_run, last_status = excluded.last_status,"
            " detail = excluded.detail, next_run = excluded.next_run",
            (job, at, status, detail, next_run),
        )

    def set_next_run(self, job: str, next_run: float | None) -> None:
        self.db.execute(
            "INSERT INTO schedule_runs (job, next_run) VALUES (?, ?)"
            " ON CONFLICT (job) DO UPDATE SET next_run = excluded.next_run", (job, next_run))

    def schedule_runs(self) -> list[tuple[str, float | None, str | None, str | None, float | None]]:
        return list(self.db.execute("SELECT job, last_run, last_status, detail, next_run FROM schedule_runs ORDER BY job"))


def _datasets_filter(datasets: Iterable[str] | None) -> tuple[str, tuple]:
    """The SQL condition (and its one argument) that keeps the jobs of `datasets`; none for None."""
    if datasets is None:
        return "", ()
    return " AND dataset_id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(set(datasets))),)
