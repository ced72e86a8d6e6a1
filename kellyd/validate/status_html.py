"""The daemon status report (`kellyd report`): throughput, errors and queue depth over time.

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
from typing import Sequence

from kellyd.validate.html import esc, figure, page, section, table, utc_text
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


def render_status_report(history: Sequence[ActivityRow], *, title: str = "kellyd status",
                         now: datetime | None = None, max_points: int = 240) -> str:
    """A self-contained HTML page of the daemon's activity (see the module docstring for the rows)."""
    buckets = bucket_activity(history, max_points=max_points)
    processed = sum(b.processed for b in buckets)
    errors = sum(b.errors for b in buckets)
    span_s = buckets[-1].end_s - buckets[0].start_s if buckets else 0.0
    when = f" · {utc_text(now)}" if now is not None else ""
    header = (f'<header class="top"><h1>{esc(title)}</h1><div class="meta">{len(history):,} activity rows'
              f" over {span_s / 3600:.1f} h{esc(when)}</div></header>")
    if not buckets:
        body = section("activity", "Activity", '<p class="empty">No activity recorded yet.</p>')
        return page(title, header, body)
    mean_rate = 60.0 * processed / max(span_s, 1e-9)
    cells = [
        figure(f"{processed:,}", "files processed"),
        figure(f"{errors:,}", "errors"),
        figure(f"{errors / processed:.1%}" if processed else "-", "error share"),
        figure(f"{buckets[-1].queue:,}", "queue depth now"),
        figure(f"{max(b.queue for b in buckets):,}", "deepest queue"),
        figure(f"{mean_rate:,.1f}", "files / min on average"),
        figure(f"{max(b.files_per_min for b in buckets):,.1f}", "files / min at best"),
    ]
    throughput = line_chart([Series("files per minute", PALETTE[0],
                                    tuple((b.end_s, b.files_per_min) for b in buckets))],
                            title="throughput in files per minute", unit="files / min")
    error_chart = line_chart([Series("errors", ERROR_COLOR, tuple((b.end_s, float(b.errors)) for b in buckets))],
                             title="errors per interval", unit="errors")
    queue_chart = line_chart([Series("queue depth", PALETTE[1], tuple((b.end_s, float(b.queue)) for b in buckets))],
                             title="queue depth", unit="jobs")
    recent = [(datetime.fromtimestamp(b.end_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), f"{b.processed:,}",
               f"{b.errors:,}", f"{b.queue:,}", f"{b.files_per_min:,.1f}") for b in buckets[-12:]][::-1]
    body = "".join((
        section("summary", "At a glance", f'<div class="figures">{"".join(cells)}</div>'),
        section("throughput", "Throughput", throughput),
        section("errors", "Errors", error_chart),
        section("queue", "Queue depth", queue_chart),
        section("recent", "Most recent intervals",
                table(["until", "processed", "errors", "queue", "files / min"], recent, numeric=(1, 2, 3, 4))),
    ))
    return page(title, header, body)
