"""The daemon status page (`kellyd report`): state and stall reason, per-dataset work and quarantine,
scheduled jobs, then throughput, errors and queue depth over time.

Input rows are the catalog's activity table: (time, processed, errors, queue) where
time is a Unix time in s (or an aware datetime), processed and errors are counts
since the previous row, and queue is the number of pending jobs at that time.
Long histories are summed into at most `max_points` time buckets so the page stays
small; throughput is files per minute over each bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from kellyd.validate.html import utc_text
from kellyd.validate.svg import PALETTE, Series, line_chart

ActivityRow = tuple["float | datetime", int, int, int]
ERROR_COLOR = "#c62828"


@dataclass(frozen=True)
class Bucket:
    """Activity summed over [start_s, end_s): files processed, errors, the last queue depth seen."""

    start_s: float
    end_s: float
    processed: int
    errors: int
    queue: int

    @property
    def files_per_min(self) -> float:
        return 60.0 * self.processed / max(self.end_s - self.start_s, 1e-9)


def _unix_s(at: float | datetime) -> float:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError(f"activity time {at.isoformat()} has no time zone")
        return at.timestamp()
    value = float(at)
    if not math.isfinite(value):
        raise ValueError(f"activity time must be finite, got {at!r}")
    return value


def _rows(history: Sequence[ActivityRow]) -> list[tuple[float, int, int, int]]:
    rows = []
    for row in history:
        if len(row) != 4:
            raise ValueError(f"activity row must be (time, processed, errors, queue), got {row!r}")
        at, processed, errors, queue = row
        if min(processed, errors, queue) < 0:
            raise ValueError(f"activity counts must be non-negative, got {row!r}")
        rows.append((_unix_s(at), int(processed), int(errors), int(queue)))
    return sorted(rows)


def bucket_activity(history: Sequence[ActivityRow], *, max_points: int = 240) -> list[Bucket]:
    """Sum activity rows into at most `max_points` equal time buckets.

    Each row's counts cover the interval since the previous row; the first row's
    interval is taken as the median interval of the history (60 s with one row).
    """
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    rows = _rows(history)
    if not rows:
        return []
    gaps = sorted(b[0] - a[0] for a, b in zip(rows, rows[1:]) if b[0] > a[0])
    first_gap = gaps[len(gaps) // 2] if gaps else 60.0
    start, end = rows[0][0] - first_gap, rows[-1][0]
    # A whole number of row intervals per bucket, so buckets do not alternate between 1 and 2 rows.
    width = first_gap * max(1, math.ceil((end - start) / (first_gap * max_points)))
    n = max(1, math.ceil((end - start) / width - 1e-9))
    sums = [[0, 0, -1] for _ in range(n)]
    for at, processed, errors, queue in rows:
        index = min(n - 1, max(0, math.ceil((at - start) / width) - 1))
        cell = sums[index]
        cell[0] += processed
        cell[1] += errors
        cell[2] = queue
    buckets = []
    last_queue = 0
    for i, (processed, errors, queue) in enumerate(sums):
        last_queue = queue if queue >= 0 else last_queue
        buckets.append(Bucket(start + i * width, start + (i + 1) * width, processed, errors, last_queue))
    return buckets


def _state(status: Mapping[str, Any] | None, buckets: Sequence[Bucket]) -> tuple[str, str, str]:
    """(css class, word, line) of the page's first box: the stall and why, else how the queue stands."""
    if status is None:
        return "ready", "Activity", "Activity only: no catalog state was given."
    work = status.get("work") or {}
    stalled = work.get("stalled")
    if stalled:
        return "invalid", "Stalled", f"Stalled: {stalled['reason']}"
    blocked = sorted(f"{job}: {s['blocked']}" if not str(s["blocked"]).lower().startswith(job) else s["blocked"]
                     for job, s in (status.get("schedule") or {}).items() if not s.get("can_run", True))
    queue = status.get("queue", 0)
    if not status.get("daemon"):
        line = f"No daemon is running; {queue:,} job(s) pending."
        return "usable_with_warnings", "Not running", line + (" " + "; ".join(blocked) if blocked else "")
    if blocked:
        return "usable_with_warnings", "Running", "A scheduled job cannot run: " + "; ".join(blocked)
    return "ready", "Running", f"Running: {queue:,} job(s) pending, nothing stalled."


def render_status_report(history: Sequence[ActivityRow], *, status: Mapping[str, Any] | None = None,
                         title: str = "kellyd status", now: datetime | None = None, max_points: int = 240) -> str:
    """A self-contained HTML page of the daemon: its state (a stall and its reason first), per dataset the
    work in flight, retries, worker deaths and the quarantine by reason, the scheduled jobs and whether
    they can run, then activity over time. status: what `kellyd.status.collect_status` returns."""
    from kellyd.validate.templating import render

    buckets = bucket_activity(history, max_points=max_points)
    processed = sum(b.processed for b in buckets)
    errors = sum(b.errors for b in buckets)
    span_s = buckets[-1].end_s - buckets[0].start_s if buckets else 0.0
    context: dict[str, Any] = {"figures": [], "throughput": "", "error_chart": "", "queue_chart": "", "recent": []}
    if buckets:
        mean_rate = 60.0 * processed / max(span_s, 1e-9)
        context["figures"] = [
            (f"{processed:,}", "files processed"), (f"{errors:,}", "errors"),
            (f"{errors / processed:.1%}" if processed else "-", "error share"),
            (f"{buckets[-1].queue:,}", "queue depth now"), (f"{max(b.queue for b in buckets):,}", "deepest queue"),
            (f"{mean_rate:,.1f}", "files / min on average"),
            (f"{max(b.files_per_min for b in buckets):,.1f}", "files / min at best"),
        ]
        context["throughput"] = line_chart([Series("files per minute", PALETTE[0],
                                                   tuple((b.end_s, b.files_per_min) for b in buckets))],
                                           title="throughput in files per minute", unit="files / min")
        context["error_chart"] = line_chart([Series("errors", ERROR_COLOR,
                                                    tuple((b.end_s, float(b.errors)) for b in buckets))],
                                            title="errors per interval", unit="errors")
        context["queue_chart"] = line_chart([Series("queue depth", PALETTE[1],
                                                    tuple((b.end_s, float(b.queue)) for b in buckets))],
                                            title="queue depth", unit="jobs")
        context["recent"] = [(datetime.fromtimestamp(b.end_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                              f"{b.processed:,}", f"{b.errors:,}", f"{b.queue:,}", f"{b.files_per_min:,.1f}")
                             for b in buckets[-12:]][::-1]
    state_class, state_word, state_line = _state(status, buckets)
    deaths = ((status or {}).get("work") or {}).get("worker_deaths") or {}
    return render(
        "status.html", title=title, rows=len(history), span_h=span_s / 3600,
        now=utc_text(now) if now is not None else "", buckets=buckets, state_class=state_class,
        state_word=state_word, state_line=state_line, daemon=(status or {}).get("daemon"),
        datasets=sorted(((status or {}).get("datasets") or {}).items()),
        schedule=(status or {}).get("schedule") or {}, deaths=deaths if deaths.get("count") else None,
        deaths_by_signal=", ".join(f"{k} {v}" for k, v in sorted((deaths.get("by_signal") or {}).items())),
        **context)
