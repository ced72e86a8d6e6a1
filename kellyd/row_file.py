"""Files that list a dataset's samples in catalog order, rewritten from the first row that changed.

`manifest.json` and `splits/*.txt` are a head, one row per sample in the order the catalog added
them (its rowid), and a foot. A burst of new files adds rows at the end and changes rows near it
(a later step of a sample added a moment ago), so a new version of the file is the old one's
unchanged prefix, copied in the kernel, and the rows from the first changed one on, encoded from
the catalog. What a write costs then follows what changed, not the dataset: at 1,000,000 samples
a whole manifest is 400 MB of JSON and 25 s of Python; its prefix is copied in a fraction of a
second.

Each write returns a `RowFileLayout`: where every MARK_EVERY_ROWS-th row starts in the file just
written. The next write trusts it only for that very file (same inode, size and mtime) and only
when the rows it copies are as many as the caller counts in the catalog; anything else (a file
edited or replaced by hand, a sample deleted from the prefix, a daemon just started) is a whole
rewrite, which is also what the first write is.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from kellyd.atomic import CopyRange, atomic_write_bytes

MARK_EVERY_ROWS = 1024


@dataclass(frozen=True)
class RowFileLayout:
    """Where the rows of one written file lie."""

    identity: tuple[int, int, int]  # (inode, size in bytes, mtime in ns) of the file as written
    body_start: int  # the first byte after the head
    body_end: int  # the first byte of the foot
    rowids: tuple[int, ...]  # every MARK_EVERY_ROWS-th row's rowid, ascending
    offsets: tuple[int, ...]  # where each of those rows starts (its separator included)
    rows: int
    last_rowid: int  # of the last row (0 when there are none)


@dataclass(frozen=True)
class RowFileWrite:
    layout: RowFileLayout
    resumed: bool  # the old file's unchanged rows were kept (False: written whole)


@dataclass(frozen=True)
class RowFormat:
    """How rows are joined: `first` before the first row, `between` before every other one."""

    first: bytes
    between: bytes


def file_identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def resume_point(layout: RowFileLayout | None, path: Path, from_rowid: int | None) -> tuple[int, int, int] | None:
    """(rowid to encode from, bytes of the old body to keep, rows they hold) for a write that keeps every
    row before `from_rowid` (None: no row changed, only new ones may follow); None: write it whole."""
    if layout is None or file_identity(path) != layout.identity:
        return None
    if from_rowid is None or from_rowid > layout.last_rowid:
        return layout.last_rowid + 1, layout.body_end, layout.rows
    mark = bisect.bisect_right(layout.rowids, from_rowid) - 1
    if mark < 0:
        return None
    return layout.rowids[mark], layout.offsets[mark], mark * MARK_EVERY_ROWS


def write_row_file(path: Path, *, head: bytes, foot: bytes, fmt: RowFormat,
                   rows_from: Callable[[int], Iterable[tuple[int, str]]], expected_rows: int | None,
                   layout: RowFileLayout | None, from_rowid: int | None) -> RowFileWrite:
    """Write `path` as `head`, every (rowid, text) row in rowid order and `foot`; return its layout.

    `rows_from(r)` yields the rows with rowid >= r in rowid order. With the previous write's `layout`,
    rows before `from_rowid` are copied from the old file; `expected_rows` (the catalog's count, when
    the caller knows it) must then equal the rows kept plus the rows encoded, else the file is written
    whole (a row was deleted from the part that would have been copied).
    """
    path = Path(path)
    resume = resume_point(layout, path, from_rowid)
    if resume is not None:
        try:
            return RowFileWrite(_write(path, head, foot, fmt, rows_from, layout, resume, expected_rows), resumed=True)
        except _RowsMissing:
            pass  # the resumed file was never put in place
    return RowFileWrite(_write(path, head, foot, fmt, rows_from, None, (0, 0, 0), None), resumed=False)


class _RowsMissing(Exception):
    """A resumed write came out with another row count than the catalog's: it is abandoned before its rename."""


def _write(path: Path, head: bytes, foot: bytes, fmt: RowFormat, rows_from: Callable[[int], Iterable[tuple[int, str]]],
           layout: RowFileLayout | None, resume: tuple[int, int, int], expected_rows: int | None) -> RowFileLayout:
    start_rowid, keep_until, kept_rows = resume
    rowids: list[int] = []
    offsets: list[int] = []
    if layout is not None:  # the marks of the kept rows stay, moved by the new head's length
        kept_marks = bisect.bisect_left(layout.offsets, keep_until)
        shift = len(head) - layout.body_start
        rowids = list(layout.rowids[:kept_marks])
        offsets = [offset + shift for offset in layout.offsets[:kept_marks]]
    body_end = len(head) + (keep_until - layout.body_start if layout is not None else 0)
    rows, last_rowid = kept_rows, (min(layout.last_rowid, start_rowid - 1) if layout is not None else 0)

    def chunks(old_fd: int | None) -> Iterator[bytes | CopyRange]:
        nonlocal rows, last_rowid, body_end
        yield head
        if old_fd is not None and keep_until > layout.body_start:
            yield CopyRange(old_fd, layout.body_start, keep_until - layout.body_start)
        for rowid, text in rows_from(start_rowid):
            if rows % MARK_EVERY_ROWS == 0:
                rowids.append(rowid)
                offsets.append(body_end)
            data = (fmt.between if rows else fmt.first) + text.encode("utf-8")
            yield data
            body_end += len(data)
            rows += 1
            last_rowid = rowid
        if expected_rows is not None and rows != expected_rows:
            raise _RowsMissing  # inside atomic_write_bytes: the temp file goes, the old file stays
        yield foot

    if layout is None:
        atomic_write_bytes(path, chunks(None))
    else:
        old_fd = os.open(path, os.O_RDONLY)
        try:
            atomic_write_bytes(path, chunks(old_fd))
        finally:
            os.close(old_fd)
    identity = file_identity(path)
    if identity is None:  # removed the instant after: the next write is whole
        identity = (-1, -1, -1)
    return RowFileLayout(identity, len(head), body_end, tuple(rowids), tuple(offsets), rows, last_rowid)


def layout_to_json(layout: RowFileLayout) -> dict:
    return {"identity": list(layout.identity), "body_start": layout.body_start, "body_end": layout.body_end,
            "rowids": list(layout.rowids), "offsets": list(layout.offsets), "rows": layout.rows,
            "last_rowid": layout.last_rowid}


def layout_from_json(data: dict) -> RowFileLayout | None:
    """The layout `layout_to_json` wrote; None when it is not one (a damaged or older file)."""
    try:
        layout = RowFileLayout(tuple(int(v) for v in data["identity"]), int(data["body_start"]),
                               int(data["body_end"]), tuple(int(v) for v in data["rowids"]),
                               tuple(int(v) for v in data["offsets"]), int(data["rows"]), int(data["last_rowid"]))
    except (KeyError, TypeError, ValueError):
        return None
    if len(layout.identity) != 3 or len(layout.rowids) != len(layout.offsets):
        return None
    return layout
