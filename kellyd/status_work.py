"""The work-in-progress part of `kellyd status`: steps in flight, retries waiting, worker deaths,
numba cache rebuilds, and whether the queue is stalled. Reads only small tables and indexed rows.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from kellyd.inflight import (DATASETS_AWAY, LAST_STEP_DONE_AT, NUMBA_CACHE_LAST_REBUILD, NUMBA_CACHE_REBUILDS,
                             RUNNER_STARTED_AT)
from kellyd.stall import QueueView, stall

MAX_LISTED = 10


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _float(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def _has_tables(db: sqlite3.Connection) -> bool:
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {"running", "worker_deaths"} <= names  # a catalog no daemon of this version has opened yet


def collect_work(db: sqlite3.Connection, *, now: float, daemon_running: bool) -> dict:
    pending = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'pending'").fetchone()[0]
    runnable = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND not_before <= ?",
                          (now,)).fetchone()[0]
    retries = [
        {"file": Path(origin).name, "dataset": ds, "step": json.loads(chain)[step] if step < len(json.loads(chain)) else None,
         "attempts": attempts, "next_attempt_at": _iso(not_before), "next_attempt_in_s": round(max(0.0, not_before - now), 1),
         "error": error}
        for ds, origin, chain, step, attempts, not_before, error in db.execute(
            "SELECT dataset_id, origin_path, chain, step, attempts, not_before, error FROM jobs"
            " WHERE state = 'pending' AND not_before > ? ORDER BY not_before LIMIT ?", (now, MAX_LISTED))]
    next_retry = db.execute("SELECT MIN(not_before) FROM jobs WHERE state = 'pending' AND not_before > ?",
                            (now,)).fetchone()[0]
    work: dict = {"pending": pending, "runnable": runnable, "retries_waiting": retries, "in_flight": [],
                  "worker_deaths": {"count": 0, "charged": 0, "by_signal": {}, "last": None},
                  "numba_cache": {"rebuilds": 0, "last": None}}
    last_done = _float(_meta(db, LAST_STEP_DONE_AT))
    started = _float(_meta(db, RUNNER_STARTED_AT))
    progress_at = max((t for t in (last_done, started) if t is not None), default=None)
    work["last_step_done_at"] = _iso(last_done)
    deaths_since = 0
    last_death_text = None
    if _has_tables(db):
        work["in_flight"] = [
            {"job": job, "dataset": ds, "file": Path(path).name, "step": step, "pid": pid,
             "started_at": _iso(started_at), "running_s": round(max(0.0, now - started_at), 1)}
            for job, ds, path, step, pid, started_at in db.execute(
                "SELECT job_id, dataset_id, path, step, pid, started_at FROM running ORDER BY started_at")]
        count, charged = db.execute("SELECT COUNT(*), COALESCE(SUM(charged), 0) FROM worker_deaths").fetchone()
        by_signal = {sig or "exit": n for sig, n in db.execute(
            "SELECT signal, COUNT(*) FROM worker_deaths GROUP BY signal")}
        last = db.execute("SELECT at, pid, exitcode, signal, cause, step, path, reason FROM worker_deaths"
                          " ORDER BY death_id DESC LIMIT 1").fetchone()
        work["worker_deaths"] = {"count": count, "charged": charged, "by_signal": by_signal, "last": None if last is None else {
            "at": _iso(last[0]), "pid": last[1], "exitcode": last[2], "signal": last[3], "cause": last[4],
            "step": last[5], "file": Path(last[6]).name if last[6] else None, "reason": last[7]}}
        if last is not None:
            deaths_since = db.execute("SELECT COUNT(*) FROM worker_deaths WHERE at >= ?",
                                      (progress_at or 0.0,)).fetchone()[0]
            how = f"signal {last[3]}" if last[3] else f"exit code {last[2]}"
            last_death_text = f"{how} in {last[5] or 'no step'} on {Path(last[6]).name if last[6] else 'no file'}"
    if daemon_running:  # what a stopped daemon left there is not true any more
        work["datasets_away"] = json.loads(_meta(db, DATASETS_AWAY) or "{}")
    rebuilds = _meta(db, NUMBA_CACHE_REBUILDS)
    last_rebuild = _meta(db, NUMBA_CACHE_LAST_REBUILD)
    if rebuilds:
        detail = json.loads(last_rebuild) if last_rebuild else {}
        work["numba_cache"] = {"rebuilds": int(rebuilds), "last": {**detail, "at": _iso(detail.get("at"))}}
    oldest = work["in_flight"][0] if work["in_flight"] else None
    view = QueueView(
        pending=pending, runnable=runnable, next_retry_at=next_retry,
        longest_running=None if oldest is None else (oldest["step"], oldest["file"], now - oldest["running_s"]),
        last_progress_at=progress_at, daemon_running=daemon_running, deaths_since_progress=deaths_since,
        last_death=last_death_text)
    found = stall(view, now=now)
    work["stalled"] = None if found is None else {"idle_s": None if found.idle_s == float("inf") else round(found.idle_s, 1),
                                                  "reason": found.reason}
    return work


def render_work(work: dict) -> list[str]:
    lines = []
    for step in work.get("in_flight", []):
        lines.append(f"  running: {step['step']} on {step['dataset']}/{step['file']} for {step['running_s']:.0f} s"
                     f" (pid {step['pid']})")
    for r in work.get("retries_waiting", []):
        lines.append(f"  retry: {r['step']} on {r['dataset']}/{r['file']} (attempt {r['attempts'] + 1}) in "
                     f"{r['next_attempt_in_s']:.0f} s at {r['next_attempt_at']}: {r['error']}")
    deaths = work.get("worker_deaths") or {}
    if deaths.get("count"):
        signals = ", ".join(f"{k} {v}" for k, v in sorted(deaths["by_signal"].items()))
        last = deaths["last"]
        lines.append(f"worker deaths: {deaths['count']} ({signals}); last {last['at']}: {last['reason']}")
    numba = work.get("numba_cache") or {}
    if numba.get("rebuilds"):
        lines.append(f"numba cache rebuilt {numba['rebuilds']} time(s); last {numba['last'].get('at')}: "
                     f"{numba['last'].get('cause')}")
    for dataset, reason in sorted((work.get("datasets_away") or {}).items()):
        lines.append(f"WAITING: dataset {dataset}: {reason}")
    if work.get("stalled"):
        lines.append(f"STALLED: {work['stalled']['reason']}")
    return lines
