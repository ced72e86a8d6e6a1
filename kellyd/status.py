"""`kellyd status`: what the catalog says, read-only and fast.

This module imports nothing heavy (no librosa, numpy or torch), so the command
answers in well under a second even on a large catalog.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from kellyd.lock import lock_holder
from kellyd.status_work import collect_work, render_work


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def collect_status(catalog_path: Path, state_dir: Path) -> dict:
    status: dict = {"daemon": lock_holder(state_dir), "catalog": str(catalog_path)}
    if not catalog_path.exists():
        return {**status, "queue": 0, "datasets": {}, "quarantined": 0, "schedule": {}, "note": "no catalog yet"}
    from kellyd.rebuild import catalog_problem, unusable_message

    if (problem := catalog_problem(catalog_path, thorough=False)) is not None:
        return {**status, "catalog_error": unusable_message(catalog_path, problem)}
    db = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True)
    db.execute("PRAGMA busy_timeout=5000")
    try:
        status["queue"] = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'pending'").fetchone()[0]
        status["retrying"] = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND attempts > 0").fetchone()[0]
        datasets: dict[str, dict] = {}
        for ds, split, derived, n in db.execute(
                "SELECT dataset_id, split, parent_id IS NOT NULL, COUNT(*) FROM samples GROUP BY 1, 2, 3"):
            d = datasets.setdefault(ds, {"samples": 0, "derived": 0, "splits": {}, "quarantined": 0})
            d["samples"] += n
            d["derived"] += n if derived else 0
            key = split or "unassigned"
            d["splits"][key] = d["splits"].get(key, 0) + n
        for ds, n in db.execute("SELECT dataset_id, COUNT(*) FROM quarantine GROUP BY 1"):
            datasets.setdefault(ds, {"samples": 0, "derived": 0, "splits": {}, "quarantined": 0})["quarantined"] = n
        status["datasets"] = datasets
        status["quarantined"] = sum(d["quarantined"] for d in datasets.values())
        status["recent_quarantine"] = [
            {"dataset": ds, "file": Path(q).name, "handler": h, "reason": r, "at": _iso(at)}
            for ds, q, h, r, at in db.execute("SELECT dataset_id, quarantine_path, handler, reason, at FROM quarantine"
                                              " ORDER BY at DESC LIMIT 5")]
        status["work"] = collect_work(db, now=time.time(), daemon_running=bool(status["daemon"]))
        status["schedule"] = {
            job: {"last_run": _iso(last), "last_status": st, "next_run": _iso(nxt), "detail": detail}
            for job, last, st, detail, nxt in db.execute(
                "SELECT job, last_run, last_status, detail, next_run FROM schedule_runs ORDER BY job")}
    finally:
        db.close()
    return status


def render_status(status: dict) -> str:
    if status.get("catalog_error"):
        return f"daemon: {status['daemon'] or 'not running'}\ncatalog: {status['catalog_error']}"
    lines = [f"daemon: {status['daemon'] or 'not running'}",
             f"queue: {status.get('queue', 0)} pending ({status.get('retrying', 0)} waiting to retry)"]
    for ds, d in sorted(status.get("datasets", {}).items()):
        splits = ", ".join(f"{k} {v}" for k, v in sorted(d["splits"].items()))
        lines.append(f"dataset {ds}: {d['samples']} samples ({d['derived']} derived; {splits}); "
                     f"{d['quarantined']} quarantined")
    lines.extend(render_work(status.get("work") or {}))
    lines.append(f"quarantined files: {status.get('quarantined', 0)}")
    for q in status.get("recent_quarantine", []):
        lines.append(f"  {q['at']} {q['dataset']}/{q['file']} [{q['handler']}]: {q['reason']}")
    for job, s in sorted(status.get("schedule", {}).items()):
        lines.append(f"schedule {job}: last {s['last_run'] or 'never'} ({s['last_status'] or '-'}), "
                     f"next {s['next_run'] or 'not scheduled'}")
    return "\n".join(lines)


def status_json(status: dict) -> str:
    return json.dumps(status, indent=2)
