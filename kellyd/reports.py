"""Report files in `datasets/<id>/reports/`: written atomically, newest also as `latest.*`, old ones pruned.

Every validation writes `validation-<UTC time>.json` and `.html` (time as
`20240501T120000Z`, so names sort by time), then `latest.json` and `latest.html`
with the same content. Each file is replaced atomically (temporary file in the
same folder, fsync, rename), so a reader sees a whole old report or a whole new
one. Only the newest `keep` validation reports stay.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from kellyd.atomic import atomic_write_bytes, make_folder, writes_inside
from kellyd.sample import Sample
from kellyd.validate.dataset import validate_dataset
from kellyd.validate.report import FileStamp, ValidationReport
from kellyd.validate.report_html import render_validation_report
from kellyd.validate.report_json import report_to_json
from kellyd.validate.status_html import render_status_report

__all__ = ["ReportFiles", "latest_report", "prune_reports", "read_stamps", "render_status_report", "report_stem",
           "run_validation", "write_stamps", "write_status_report", "write_validation_report"]

REPORTS_DIR = "reports"
LATEST_STEM = "latest"
STAMPS_FILE = "file-stamps.json"
STAMPS_FORMAT_VERSION = 1
_STEM = re.compile(r"^validation-(\d{8}T\d{6}Z)(?:-(\d+))?$")


@dataclass(frozen=True)
class ReportFiles:
    json_path: Path
    html_path: Path
    latest_json: Path
    latest_html: Path
    pruned: tuple[Path, ...]


def report_stem(created_at: str) -> str:
    """'2024-05-01T12:00:00Z' -> 'validation-20240501T120000Z'."""
    try:
        moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"created_at {created_at!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"created_at {created_at!r} has no time zone")
    return "validation-" + moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _free_stem(folder: Path, stem: str) -> str:
    """`stem`, or `stem-2`, `stem-3`... when a report of the same second exists."""
    candidate, n = stem, 1
    while (folder / f"{candidate}.json").exists() or (folder / f"{candidate}.html").exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def _sort_key(stem: str) -> tuple[str, int]:
    match = _STEM.match(stem)
    assert match is not None
    return match.group(1), int(match.group(2) or 1)


def prune_reports(folder: Path, keep: int) -> tuple[Path, ...]:
    """Delete all but the newest `keep` validation reports (json and html together); returns the deleted paths."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    stems = sorted({p.stem for p in folder.glob("validation-*.*")
                    if p.suffix in (".json", ".html") and _STEM.match(p.stem)}, key=_sort_key)
    deleted = []
    for stem in stems[:-keep]:
        for suffix in (".json", ".html"):
            path = folder / f"{stem}{suffix}"
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            deleted.append(path)
    return tuple(deleted)


def write_validation_report(root: Path, report: ValidationReport, *, keep: int = 20) -> ReportFiles:
    """Write the report of dataset folder `root` as JSON and HTML, update `latest.*`, prune to `keep`."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    folder = Path(root) / REPORTS_DIR
    with writes_inside(root):  # a dataset folder moved away meanwhile is not laid out again for a report
        make_folder(folder)
        stem = _free_stem(folder, report_stem(report.created_at))
        json_bytes = (json.dumps(report_to_json(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
        html_bytes = render_validation_report(report).encode("utf-8")
        paths = ReportFiles(folder / f"{stem}.json", folder / f"{stem}.html", folder / f"{LATEST_STEM}.json",
                            folder / f"{LATEST_STEM}.html", ())
        atomic_write_bytes(paths.json_path, json_bytes)
        atomic_write_bytes(paths.html_path, html_bytes)
        atomic_write_bytes(paths.latest_json, json_bytes)
        atomic_write_bytes(paths.latest_html, html_bytes)
    return ReportFiles(paths.json_path, paths.html_path, paths.latest_json, paths.latest_html,
                       prune_reports(folder, keep))


def latest_report(root: Path) -> dict[str, Any] | None:
    """The JSON of `reports/latest.json` (the `previous` to pass to the next validation), or None
    when there is none or it does not parse."""
    try:
        data = json.loads((Path(root) / REPORTS_DIR / f"{LATEST_STEM}.json").read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_status_report(path: Path, history: Any, *, now: datetime | None = None,
                        status: Mapping[str, Any] | None = None) -> Path:
    """Render the daemon status page from activity rows (and the state `kellyd.status.collect_status`
    read, when given) and write it atomically to `path`."""
    atomic_write_bytes(Path(path), render_status_report(history, status=status, now=now).encode("utf-8"))
    return Path(path)


def write_stamps(root: Path, stamps: Mapping[str, FileStamp]) -> Path:
    """Keep `report.stamps` in `reports/file-stamps.json` for the next cheap validation."""
    path = Path(root) / REPORTS_DIR / STAMPS_FILE
    document = {"format_version": STAMPS_FORMAT_VERSION,
                "stamps": {sample_id: stamp.to_json() for sample_id, stamp in sorted(stamps.items())}}
    with writes_inside(root):
        atomic_write_bytes(path, json.dumps(document, separators=(",", ":")).encode("utf-8"))
    return path


def read_stamps(root: Path) -> dict[str, FileStamp]:
    """The stamps `write_stamps` kept; empty when there are none or they do not parse (then every
    file is verified again, which is slower but never wrong)."""
    try:
        document = json.loads((Path(root) / REPORTS_DIR / STAMPS_FILE).read_bytes())
        if document.get("format_version") != STAMPS_FORMAT_VERSION:
            return {}
        return {sample_id: FileStamp.from_json(data) for sample_id, data in document["stamps"].items()}
    except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def run_validation(samples: Sequence[Sample], root: Path, *, keep: int = 20, **options: Any
                   ) -> tuple[ValidationReport, ReportFiles]:
    """One validation job end to end: compare with `reports/latest.json`, trust the stamps kept by the
    last run (unless `verify_hashes=True`), validate, write the reports and keep the new stamps.

    options: the keyword arguments of `validate_dataset` (target_model, schema_version, now, ...);
    `previous` and `recorded_stamps` are read from the dataset folder when not given.
    """
    root = Path(root)
    options.setdefault("previous", latest_report(root))
    options.setdefault("recorded_stamps", read_stamps(root))
    report = validate_dataset(samples, root, **options)
    files = write_validation_report(root, report, keep=keep)
    write_stamps(root, report.stamps)
    return report, files
