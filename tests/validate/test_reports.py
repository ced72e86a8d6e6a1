"""Report files: atomic JSON + HTML, latest.*, pruning, round trips, changes, stamps, status page."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from kellyd.reports import (
    latest_report,
    prune_reports,
    read_stamps,
    render_status_report,
    report_stem,
    write_stamps,
    write_status_report,
    write_validation_report,
)
from kellyd.validate import report_from_json, validate_dataset
from kellyd.validate.report_html import render_validation_report
from kellyd.validate.status_html import bucket_activity

from .builders import GROOVE_SETTINGS, SCHEMA_VERSION

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def validate(root, samples, now=NOW, **kwargs):
    return validate_dataset(samples, root, target_model="GroovePredictor", schema_version=SCHEMA_VERSION,
                            now=now, split_settings=GROOVE_SETTINGS, **kwargs)


class _Outline(HTMLParser):
    """Collects section ids, external references and scripts of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id", ""))
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if attrs.get(name) and not attrs[name].startswith("#"):
                self.external.append(attrs[name])


def outline(html: str) -> _Outline:
    parser = _Outline()
    parser.feed(html)
    return parser


def test_write_report_files(small_dataset):
    root, samples = small_dataset
    report = validate(root, samples)
    files = write_validation_report(root, report, keep=5)
    assert files.json_path.name == "validation-20250301T120000Z.json"
    assert json.loads(files.json_path.read_text()) == report.to_json()
    assert files.latest_json.read_bytes() == files.json_path.read_bytes()
    assert files.latest_html.read_bytes() == files.html_path.read_bytes()
    assert not [p for p in (root / "reports").iterdir() if p.name.startswith(".")]
    page = outline(files.html_path.read_text())
    assert page.sections == ["verdict", "reasons", "figures", "classes", "splits", "sources", "distributions", "quality",
                             "quarantine", "changes"]
    assert page.external == [] and page.scripts == 0


def test_json_round_trip(small_dataset):
    root, samples = small_dataset
    report = validate(root, samples)
    again = report_from_json(json.loads(json.dumps(report.to_json())))
    assert again == report
    with pytest.raises(ValueError, match="format_version"):
        report_from_json({**report.to_json(), "format_version": 99})


def test_same_second_reports_do_not_overwrite_and_pruning_keeps_the_newest(small_dataset):
    root, samples = small_dataset
    report = validate(root, samples)
    first = write_validation_report(root, report, keep=10)
    second = write_validation_report(root, report, keep=10)
    assert second.json_path.name == "validation-20250301T120000Z-2.json" and first.json_path.exists()
    for hours in range(1, 6):
        write_validation_report(root, validate(root, samples, now=NOW + timedelta(hours=hours)), keep=3)
    kept = sorted(p.name for p in (root / "reports").glob("validation-*"))
    assert kept == [f"validation-20250301T{h:02d}0000Z.{ext}" for h in (15, 16, 17) for ext in ("html", "json")]
    assert latest_report(root)["created_at"] == "2025-03-01T17:00:00Z"
    assert prune_reports(root / "reports", 1) and len(list((root / "reports").glob("validation-*.json"))) == 1


def test_changes_since_the_previous_report(small_dataset):
    root, samples = small_dataset
    first = validate(root, samples)
    assert first.previous_created_at is None and first.changes == ()
    write_validation_report(root, first)
    (root / samples[0].file_path).unlink()
    second = validate(root, samples, now=NOW + timedelta(hours=6), previous=latest_report(root))
    assert second.previous_created_at == "2025-03-01T12:00:00Z"
    kinds = {(c.kind, c.subject): (c.before, c.after) for c in second.changes}
    assert kinds[("verdict", "verdict")] == ("usable_with_warnings", "invalid")
    assert kinds[("new_problem", "quality.file_missing")] == (None, "error")
    html = render_validation_report(second)
    assert "Compared with the report of 2025-03-01T12:00:00Z" in html and "file_missing" in html


def test_previous_report_of_another_format_is_ignored(small_dataset):
    root, samples = small_dataset
    report = validate(root, samples, previous={"format_version": 0, "verdict": "ready"})
    assert report.previous_created_at is None and report.changes == ()


def test_latest_report_tolerates_absence_and_garbage(tmp_path):
    assert latest_report(tmp_path) is None
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "latest.json").write_text("{half")
    assert latest_report(tmp_path) is None


def test_stamps_round_trip(small_dataset):
    root, samples = small_dataset
    stamps = validate(root, samples, verify_hashes=True).stamps
    write_stamps(root, stamps)
    assert read_stamps(root) == stamps
    cheap = validate(root, samples, recorded_stamps=read_stamps(root))
    assert cheap.files_hashed == 0 and cheap.files_trusted == len(samples)
    (root / "reports" / "file-stamps.json").write_text("[]")
    assert read_stamps(root) == {}


@pytest.mark.parametrize("created_at, stem", [
    ("2025-03-01T12:00:00Z", "validation-20250301T120000Z"),
    ("2025-03-01T13:30:05+01:00", "validation-20250301T123005Z"),
])
def test_report_stem(created_at, stem):
    assert report_stem(created_at) == stem


@pytest.mark.parametrize("bad", ["yesterday", "2025-03-01T12:00:00"])
def test_report_stem_refuses(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        report_stem(bad)


ACTIVITY = [(1_700_000_000 + 60 * i, 10 + i % 5, 1 if i % 17 == 0 else 0, max(0, 50 - i)) for i in range(600)]


def test_bucketing_keeps_the_totals():
    buckets = bucket_activity(ACTIVITY, max_points=50)
    assert len(buckets) <= 50
    assert sum(b.processed for b in buckets) == sum(r[1] for r in ACTIVITY)
    assert sum(b.errors for b in buckets) == sum(r[2] for r in ACTIVITY)
    assert buckets[-1].queue == ACTIVITY[-1][3]
    # 10 to 14 files a minute, whatever the bucket width.
    assert all(9.0 <= b.files_per_min <= 15.0 for b in buckets)


def test_status_report_page(tmp_path):
    path = write_status_report(tmp_path / "status.html", ACTIVITY, now=NOW)
    page = outline(path.read_text())
    assert page.sections == ["state", "summary", "datasets", "schedule", "throughput", "errors", "queue", "recent"]
    assert page.external == [] and page.scripts == 0
    empty = render_status_report([])
    assert "No activity recorded yet" in empty


@pytest.mark.parametrize("rows, message", [
    ([(1.0, 1, 2)], "activity row"),
    ([(1.0, -1, 0, 0)], "non-negative"),
    ([(float("nan"), 1, 0, 0)], "finite"),
    ([(datetime(2025, 1, 1), 1, 0, 0)], "time zone"),
])
def test_status_report_refuses_bad_rows(rows, message):
    with pytest.raises(ValueError, match=message):
        render_status_report(rows)


def test_quarantined_file_forms():
    from kellyd.catalog import QuarantineEntry
    from kellyd.validate import QuarantinedFile, quarantined_file

    expected = QuarantinedFile("inbox/a.mid", "not MIDI", "import", "2023-11-14T22:13:20Z")
    assert quarantined_file(("inbox/a.mid", "not MIDI", "import", 1_700_000_000)) == expected
    assert quarantined_file({"path": "inbox/a.mid", "reason": "not MIDI", "handler": "import",
                             "when": datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)}) == expected
    entry = QuarantineEntry("d", "inbox/a.mid", "state/quarantine/a.mid", "import", "not MIDI", 1_700_000_000.0)
    assert quarantined_file(entry) == expected


def test_names_from_users_are_escaped(small_dataset):
    root, samples = small_dataset
    hostile = '<script>alert("x")</script>.mid'
    report = validate(root, samples, quarantined=[(f"inbox/{hostile}", "<img src=x>", "import", 0.0)])
    page = outline(render_validation_report(report))
    assert page.scripts == 0 and page.external == []


def test_run_validation_chains_previous_report_and_stamps(small_dataset):
    from kellyd.reports import run_validation

    root, samples = small_dataset
    options = {"target_model": "GroovePredictor", "schema_version": SCHEMA_VERSION,
               "split_settings": GROOVE_SETTINGS}
    first, _ = run_validation(samples, root, now=NOW, **options)
    assert first.files_hashed == len(samples) and first.previous_created_at is None
    second, files = run_validation(samples, root, now=NOW + timedelta(hours=1), **options)
    assert second.files_hashed == 0 and second.files_trusted == len(samples)
    assert second.previous_created_at == first.created_at and second.changes == ()
    assert latest_report(root)["created_at"] == second.created_at == "2025-03-01T13:00:00Z"
    assert files.json_path.exists() and files.html_path.exists()
