"""`kellyd status`: what the catalog says, read-only and fast.

This module imports nothing heavy (no librosa, numpy or torch), so the command
answers in well under a second even on a large catalog. Per dataset it shows the
samples (originals apart from augmented children), the work in flight and its age,
retries, worker deaths and the quarantine grouped by reason; then the scheduled jobs
with their next run and whether they can run at all; and what the inbox holds that no
dataset takes (`kellyd.unrouted`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

from kellyd.lock import lock_holder
from kellyd.quarantine_groups import group_quarantine
from kellyd.status_work import collect_work, render_work
from kellyd.unrouted import UNROUTED_LISTED, Unrouted

QUARANTINE_GROUPS_LISTED = 8


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _empty_dataset() -> dict:
    return {"samples": 0, "originals": 0, "derived": 0, "splits": {}, "originals_by_split": {}, "quarantined": 0,
            "pending": 0, "retries_waiting": 0, "in_flight": [], "worker_deaths": 0, "quarantine_by_reason": []}


def _datasets(db: sqlite3.Connection, work: dict, *, daemon_running: bool) -> dict[str, dict]:
    datasets: dict[str, dict] = {}
    for ds, split, derived, n in db.execute(
            "SELECT dataset_id, split, parent_id IS NOT NULL, COUNT(*) FROM samples GROUP BY 1, 2, 3"):
        d = datasets.setdefault(ds, _empty_dataset())
        key = split or "unassigned"
        d["samples"] += n
        d["derived"] += n if derived else 0
        d["originals"] += 0 if derived else n
        d["splits"][key] = d["splits"].get(key, 0) + n
        if not derived:
            d["originals_by_split"][key] = d["originals_by_split"].get(key, 0) + n
    now = time.time()
    for ds, pending, waiting in db.execute(
            "SELECT dataset_id, COUNT(*), SUM(not_before > ?) FROM jobs WHERE state = 'pending' GROUP BY 1", (now,)):
        d = datasets.setdefault(ds, _empty_dataset())
        d["pending"], d["retries_waiting"] = pending, int(waiting or 0)
    for step in work.get("in_flight", []) if daemon_running else ():  # without a daemon: a killed one's leftovers
        datasets.setdefault(step["dataset"], _empty_dataset())["in_flight"].append(step)
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "worker_deaths" in names:
        for ds, n in db.execute("SELECT dataset_id, COUNT(*) FROM worker_deaths WHERE dataset_id IS NOT NULL "
                                "GROUP BY 1"):
            datasets.setdefault(ds, _empty_dataset())["worker_deaths"] = n
    rows: dict[str, list[tuple[str, str, str]]] = {}
    for ds, origin, handler, reason in db.execute(
            "SELECT dataset_id, origin_path, handler, reason FROM quarantine ORDER BY at"):
        rows.setdefault(ds, []).append((origin, handler, reason))
    for ds, items in rows.items():
        d = datasets.setdefault(ds, _empty_dataset())
        d["quarantined"] = len(items)
        d["quarantine_by_reason"] = [
            {"handler": g.handler, "reason": g.reason, "count": g.count, "examples": list(g.examples)}
            for g in group_quarantine(items)]
    return datasets


def _schedule(db: sqlite3.Connection, jobs: Mapping[str, str], blockers: Mapping[str, str]) -> dict[str, dict]:
    schedule = {job: {"every": spec, "last_run": None, "last_status": None, "next_run": None, "detail": None}
                for job, spec in jobs.items()}
    for job, last, st, detail, nxt in db.execute(
            "SELECT job, last_run, last_status, detail, next_run FROM schedule_runs ORDER BY job"):
        if jobs and job not in jobs:
            continue  # a job the configuration no longer schedules
        entry = schedule.setdefault(job, {"every": None})
        entry.update(last_run=_iso(last), last_status=st, next_run=_iso(nxt), detail=detail)
    for job, entry in schedule.items():
        entry["can_run"] = job not in blockers
        entry["blocked"] = blockers.get(job)
    return schedule


def collect_status(catalog_path: Path, state_dir: Path, *, jobs: Mapping[str, str] | None = None,
                   blockers: Mapping[str, str] | None = None, unrouted: Sequence[Unrouted] = ()) -> dict:
    """Everything `kellyd status` shows. jobs: scheduled job -> its schedule ('6h', a cron line);
    blockers: job -> why it cannot run (`kellyd.schedule.job_blockers`); unrouted: what the inbox
    holds outside every dataset's folder (`kellyd.unrouted`)."""
    jobs, blockers = dict(jobs or {}), dict(blockers or {})
    status: dict = {"daemon": lock_holder(state_dir), "catalog": str(catalog_path),
                    "inbox_unrouted": [entry.to_json() for entry in unrouted]}
    if not catalog_path.exists():
        schedule = {job: {"every": spec, "last_run": None, "last_status": None, "next_run": None, "detail": None,
                          "can_run": job not in blockers, "blocked": blockers.get(job)} for job, spec in jobs.items()}
        return {**status, "queue": 0, "datasets": {}, "quarantined": 0, "schedule": schedule, "note": "no catalog yet"}
    from kellyd.rebuild import catalog_problem, unusable_message

    if (problem := catalog_problem(catalog_path, thorough=False)) is not None:
        return {**status, "catalog_error": unusable_message(catalog_path, problem)}
    db = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True)
    db.execute("PRAGMA busy_timeout=5000")
    try:
        status["queue"] = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'pending'").fetchone()[0]
        status["retrying"] = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND attempts > 0").fetchone()[0]
        status["work"] = collect_work(db, now=time.time(), daemon_running=bool(status["daemon"]))
        status["datasets"] = _datasets(db, status["work"], daemon_running=bool(status["daemon"]))
        status["quarantined"] = sum(d["quarantined"] for d in status["datasets"].values())
        status["recent_quarantine"] = [
            {"dataset": ds, "file": Path(q).name, "handler": h, "reason": r, "at": _iso(at)}
            for ds, q, h, r, at in db.execute("SELECT dataset_id, quarantine_path, handler, reason, at FROM quarantine"
                                              " ORDER BY at DESC LIMIT 5")]
        status["schedule"] = _schedule(db, jobs, blockers)
    finally:
        db.close()
    return status


def _dataset_lines(ds: str, d: dict) -> list[str]:
    splits = ", ".join(f"{k} {v:,}" for k, v in sorted(d.get("originals_by_split", {}).items())) or "no splits yet"
    lines = [f"dataset {ds}: {d['samples']:,} samples ({d.get('originals', 0):,} originals: {splits}; "
             f"{d['derived']:,} augmented); {d['quarantined']:,} quarantined"]
    work = [f"{d.get('pending', 0):,} pending", f"{len(d.get('in_flight', [])):,} running",
            f"{d.get('retries_waiting', 0):,} waiting to retry", f"{d.get('worker_deaths', 0):,} worker deaths"]
    lines.append("  work: " + ", ".join(work))
    for step in d.get("in_flight", []):
        lines.append(f"  running: {step['step']} on {step['file']} for {step['running_s']:.0f} s (pid {step['pid']})")
    groups = d.get("quarantine_by_reason", [])
    for g in groups[:QUARANTINE_GROUPS_LISTED]:
        lines.append(f"  quarantined {g['count']:,} x [{g['handler']}] {g['reason']} (e.g. "
                     f"{', '.join(Path(p).name for p in g['examples'])})")
    if len(groups) > QUARANTINE_GROUPS_LISTED:
        lines.append(f"  ... and {len(groups) - QUARANTINE_GROUPS_LISTED} more kinds of reason (--json lists all)")
    return lines


def render_status(status: dict) -> str:
    entries = status.get("inbox_unrouted", [])
    unrouted = [f"inbox: {e['path']} is left alone: {e['reason']}" for e in entries[:UNROUTED_LISTED]]
    if len(entries) > UNROUTED_LISTED:
        unrouted.append(f"inbox: ... and {len(entries) - UNROUTED_LISTED} more left alone (--json lists all)")
    if status.get("catalog_error"):
        return "\n".join([f"daemon: {status['daemon'] or 'not running'}", f"catalog: {status['catalog_error']}", *unrouted])
    lines = [f"daemon: {status['daemon'] or 'not running'}",
             f"queue: {status.get('queue', 0)} pending ({status.get('retrying', 0)} waiting to retry)", *unrouted]
    work = status.get("work") or {}
    if work.get("stalled"):
        lines.append(f"STALLED: {work['stalled']['reason']}")
    for ds, d in sorted(status.get("datasets", {}).items()):
        lines.extend(_dataset_lines(ds, d))
    lines.extend(line for line in render_work({**work, "in_flight": [], "stalled": None}))
    lines.append(f"quarantined files: {status.get('quarantined', 0)}")
    for job, s in sorted(status.get("schedule", {}).items()):
        every = f" (every {s['every']})" if s.get("every") else ""
        can = "can run" if s.get("can_run", True) else f"CANNOT RUN: {s['blocked']}"
        lines.append(f"schedule {job}{every}: last {s['last_run'] or 'never'} ({s['last_status'] or '-'}), "
                     f"next {s['next_run'] or 'not scheduled'}; {can}")
    return "\n".join(lines)


def status_json(status: dict) -> str:
    return json.dumps(status, indent=2)
