"""The HTML reports rendered by a real headless browser (Chromium): sections present, screenshots saved.

Screenshots go to `test-artifacts/` at the repository root for people to look at.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kellyd.reports import latest_report, write_status_report, write_validation_report
from kellyd.splits import SPLITS
from kellyd.validate import QuarantinedFile, validate_dataset

from .builders import GROOVE_SETTINGS, SCHEMA_VERSION, Entry, augmented_copy, build_dataset
from .pages import PageText

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


def chromium(tmp_path: Path, *args: str) -> str:
    """Run headless Chromium with the given arguments; its stdout."""
    profile = tmp_path / "chromium-profile"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--hide-scrollbars", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(tmp_path: Path, page: Path, name: str, height_px: int) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / name
    target.unlink(missing_ok=True)
    chromium(tmp_path, f"--window-size=1100,{height_px}", f"--screenshot={target}", page.as_uri())
    assert target.stat().st_size > 10_000
    return target


def test_validation_report_in_a_browser(small_dataset, tmp_path):
    root, parents = small_dataset
    children = []
    for parent in parents[:12]:
        rel = f"processed/augmented/{parent.sample_id}_soft.mid"
        augmented_copy(root / parent.file_path, root / rel, 0.7)
        children.append(Entry(root / rel, rel, dict(parent.annotations), parent_rel_path=parent.file_path))
    samples = build_dataset(root, children, settings=GROOVE_SETTINGS, existing=parents)

    def validate(now, **kwargs):
        return validate_dataset(samples, root, target_model="GroovePredictor", schema_version=SCHEMA_VERSION,
                                now=now, split_settings=GROOVE_SETTINGS, storage_budget_bytes=50_000_000,
                                verify_hashes=True, **kwargs)

    write_validation_report(root, validate(NOW))
    missing = samples[4].file_path
    (root / missing).unlink()
    quarantined = [QuarantinedFile("inbox/groove/straight/take7.mid", "not a MIDI file: header is b'RIFF'",
                                   "import", "2025-03-01T13:12:09Z")]
    report = validate(NOW + timedelta(hours=6), quarantined=quarantined, previous=latest_report(root))
    files = write_validation_report(root, report)

    dom = chromium(tmp_path, "--dump-dom", files.html_path.as_uri())
    page = PageText(dom)
    # The headline is the dataset's worst real problem: the file deleted above.
    assert page.text("headline") == f"1 file is missing ({missing}: does not exist)"
    originals = [s for s in samples if not s.parent_id]
    shares = {split: f"{sum(s.split == split for s in originals) / len(originals):.0%}" for split in SPLITS}
    rows = page.rows_with("data-split")
    assert {split: cells[2] for split, cells in rows.items()} == shares  # originals only, as the ratios mean
    assert {split: cells[4] for split, cells in rows.items()} == {
        split: str(sum(s.split == split for s in samples if s.parent_id)) for split in SPLITS}
    assert "features" not in page.text("headline")
    for section_id in ("verdict", "reasons", "figures", "classes", "splits", "sources", "distributions", "quality",
                       "quarantine", "changes"):
        assert f'id="{section_id}"' in dom, section_id
    for text in ("Invalid", "Classes against targets", "Split composition", "Quality problems",
                 "Quarantined files", "Changes since the last report", "take7.mid", "file_missing"):
        assert text in dom, text
    assert dom.count("<svg") >= 3
    # The verdict comes before everything else on the page.
    assert dom.index('id="verdict"') < dom.index('id="reasons"') < dom.index('id="classes"')
    print(f"screenshot: {screenshot(tmp_path, files.html_path, 'validation-small.png', 3400)}")


def test_status_report_in_a_browser(tmp_path):
    start = NOW.timestamp() - 6 * 3600
    rows = [(start + 60 * i, 20 + (i * 7) % 13 if i < 250 else 4 + i % 3, 1 if i % 29 == 0 else 0,
             max(0, 120 - i // 2) if i < 250 else 40 + (i % 20)) for i in range(360)]
    page = write_status_report(tmp_path / "status.html", rows, now=NOW)
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    for text in ("Throughput", "Errors", "Queue depth", "files processed", "Most recent intervals"):
        assert text in dom, text
    assert dom.count("<svg") == 3
    screenshot(tmp_path, page, "status-report.png", 1500)
