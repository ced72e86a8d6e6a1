"""Each page (validation report, status page, training report) for a small and a large dataset, rendered
by headless Chromium: screenshots kept in `test-artifacts/`, and the rendered text read back.
The small validation report is `test_report_browser.test_validation_report_in_a_browser`."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from kellyd.lock import StateLock
from kellyd.reports import write_validation_report
from kellyd.train.report import render_training_report
from kellyd.validate import QuarantinedFile, validate_dataset

from tests.daemon.harness import make_tree, run_cli

from .builders import GROOVE_SETTINGS, SCHEMA_VERSION
from .pages import (
    FREESOUND_NO_KEY, LARGE_MIX, LONG_FOLDER, Epoch, PageText, large_groove_dataset, large_quarantine,
    stalled_catalog, training_entry,
)
from .test_report_browser import CHROMIUM, NOW, chromium, screenshot

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


def _render(tmp_path, page, name: str, height_px: int) -> PageText:
    shot = screenshot(tmp_path, page, name, height_px)
    print(f"screenshot: {shot}")
    return PageText(chromium(tmp_path, "--dump-dom", page.as_uri()))


def _validate(root, samples, **kwargs):
    return validate_dataset(samples, root, target_model="GroovePredictor", schema_version=SCHEMA_VERSION, now=NOW,
                            split_settings=GROOVE_SETTINGS, storage_budget_bytes=50_000_000, **kwargs)


def _split_shares_of_originals(samples) -> dict[str, str]:
    per = Counter(s.split for s in samples if not s.parent_id)
    total = sum(per.values())
    return {split: f"{per[split] / total:.0%}" for split in ("train", "val", "test")}


def test_validation_report_of_a_large_dataset(corpus, tmp_path):
    root = tmp_path / "large"
    sources = sorted((corpus / "groove_midi").glob("drummer1/**/*.mid"))[:12]
    samples, stamps = large_groove_dataset(root, sources)
    quarantined = [QuarantinedFile(*item) for item in large_quarantine()]
    report = _validate(root, samples, recorded_stamps=stamps, quarantined=quarantined, workers=2)
    assert report.files_hashed == 0  # the stamps are trusted: the large case costs no hashing
    page = _render(tmp_path, write_validation_report(root, report).html_path, "validation-large.png", 3600)

    headline = page.text("headline")
    # A third of the swing originals sit in val, 3 % in test: swing's share of each split is far from
    # its share overall, and the headline says so with the dataset's own figures.
    originals = [s for s in samples if not s.parent_id]
    val = [s for s in originals if s.split == "val"]
    swing_val = sum(s.annotations["groove_type"] == "swing" for s in val) / len(val)
    swing_all = sum(s.annotations["groove_type"] == "swing" for s in originals) / len(originals)
    assert f"swing is {swing_val:.0%} of val but {swing_all:.0%} overall" in headline, headline
    rows = page.rows_with("data-split")
    assert {split: cells[2] for split, cells in rows.items()} == _split_shares_of_originals(samples)
    assert "log scale" in page.text("classes")  # 1,500 straight beside 3 rushed
    assert f"rushed {LARGE_MIX['rushed']}" in headline or "rushed" in page.text("reasons")
    quarantine = [cells for _, cells in page.rows if len(cells) == 4 and cells[1] == "import"]
    assert [q[0] for q in quarantine] == ["282", "15"]
    long_paths = [(title, text) for title, text in page.titles if LONG_FOLDER in title]
    assert long_paths and all("…" in text and len(text) < len(title) for title, text in long_paths)


def _status_tree(tmp_path, monkeypatch, datasets):
    monkeypatch.delenv("FREESOUND_API_KEY", raising=False)
    config = {name: {"target_model": model, "chain": ["import", "annotate", "features"]}
              for name, model in datasets.items()}
    return make_tree(tmp_path, datasets=config, extra={
        "schedule": {"validate": "6h", "freesound": "12h"},
        "freesound": {"enabled": True, "dataset": next(iter(datasets)), "key_file": str(tmp_path / "no-such-key.json")}})


def test_status_page_and_command_of_a_small_dataset(tmp_path, monkeypatch):
    tree = _status_tree(tmp_path, monkeypatch, {"grooves": "GroovePredictor"})
    (tree.root / "state").mkdir(exist_ok=True)
    stalled_catalog(tree.root / "state" / "catalog.sqlite3", now=time.time(), datasets={"grooves": 8},
                    quarantined=1, stuck_file="/in/grooves/take-1.mid")
    page_path = tmp_path / "status-small.html"
    assert run_cli(tree, "report", "--output", str(page_path)).returncode == 0
    page = _render(tmp_path, page_path, "status-small.png", 2000)
    assert page.text("state-line") == "Stalled: no daemon is running; 8 job(s) wait for one"
    schedule = {cells[0]: cells for _, cells in page.rows if cells and cells[0] in ("validate", "freesound")}
    assert schedule["freesound"][-1] == f"no: {FREESOUND_NO_KEY} (" + schedule["freesound"][-1].split(" (", 1)[1]
    assert schedule["validate"][-1] == "yes"
    text = run_cli(tree, "status")
    assert text.returncode == 7
    assert f"CANNOT RUN: {FREESOUND_NO_KEY}" in text.stdout
    assert "dataset grooves: 8 samples (6 originals" in text.stdout


def test_status_page_of_a_large_stalled_daemon(tmp_path, monkeypatch):
    tree = _status_tree(tmp_path, monkeypatch, {"emotion_dataset_v1": "EmotionRecognizer",
                                                "groove_dataset_v1": "GroovePredictor"})
    state = tree.root / "state"
    state.mkdir(exist_ok=True)
    stuck = f"/in/emotion_dataset_v1/{LONG_FOLDER}/a-take-that-hangs-the-features-step.mid"
    stalled_catalog(state / "catalog.sqlite3", now=time.time(),
                    datasets={"emotion_dataset_v1": 3000, "groove_dataset_v1": 1200}, quarantined=282,
                    stuck_file=stuck)
    lock = StateLock(state)
    lock.acquire(purpose="daemon")  # a daemon that runs but makes no progress
    try:
        page_path = tmp_path / "status-large.html"
        assert run_cli(tree, "report", "--output", str(page_path)).returncode == 0
        status = run_cli(tree, "status")
    finally:
        lock.release()
    page = _render(tmp_path, page_path, "status-large.png", 2600)
    line = page.text("state-line")
    assert line.startswith("Stalled") and "a-take-that-hangs-the-features-step.mid" in line and "running for" in line
    emotion = page.text("dataset-emotion_dataset_v1")
    assert "282" in emotion and "not a MIDI file" in emotion and "913 MB" in emotion
    assert "3 in all" in page.text("deaths")
    assert status.returncode == 0 and "STALLED: step features on a-take-that-hangs" in status.stdout
    assert "quarantined 282 x [import] not a MIDI file" in status.stdout


HISTORY = [Epoch(e, 1.2 / e, 1.3 / e + 0.02 * max(0, e - 9), (0.9 - 0.02 * e,), 0.9 - 0.02 * e) for e in range(1, 15)]


def _head(head, metric, challenger, baselines, passed, reason):
    return {"head": head, "kind": "class", "metric": metric, "better": "higher", "unit": "", "level": "clip",
            "challenger": challenger, "baselines": baselines, "champion": None, "clips": 15, "passed": passed,
            "reason": reason}


def _training_page(tmp_path, name, entry, height_px):
    html = render_training_report("ds", [(entry, {"history": HISTORY, "champion": None, "heads": ["head"]})],
                                  created_at="2026-05-01T12:00:00Z")
    path = tmp_path / f"{name}.html"
    path.write_text(html)
    return _render(tmp_path, path, f"{name}.png", height_px)


def _matrix_header(page: PageText) -> list[list[str]]:
    return [cells for _, cells in page.rows if cells and cells[0].startswith("true ↓")]


def test_training_report_of_a_small_model(tmp_path):
    classes = ["shuffle", "straight", "swing"]
    reason = "every head beats its baselines on the validation split and no current model of this data"
    entry = training_entry("GroovePredictor", classes, [[3, 1, 0], [1, 6, 0], [0, 1, 3]], decision="promoted",
                           reason=reason,
                           heads=[_head("groove_type", "macro_f1", 0.71, {"majority": 0.24, "logistic": 0.55}, True,
                                        "0.71 beats majority 0.24 and logistic 0.55")],
                           test_metrics={"groove_type.accuracy": (0.43, 0.47)})
    page = _training_page(tmp_path, "training-small", entry, 1900)
    headline = page.text("headline")
    assert "GroovePredictor v0003: promoted" in headline and reason in headline
    assert "Caution" in headline and "groove_type.accuracy" in headline  # test accuracy under its baseline
    (header,) = _matrix_header(page)
    assert "predicted class" in header and "recall" in header
    assert "true class" in [cells[0] for _, cells in page.rows]
    assert [c for _, cells in page.rows for c in cells if c in classes][:3] == classes


def test_training_report_of_a_large_model_shows_only_present_classes(tmp_path):
    vocabulary = ["angry", "anxiety", "calm", "contentment", "despair", "excitement", "fear", "grief", "happy",
                  "joy", "sad", "surprise"]
    present = {"calm", "happy", "sad", "angry", "fear", "joy", "surprise"}
    size = len(vocabulary)
    matrix = [[0] * size for _ in range(size)]
    for i, name in enumerate(vocabulary):
        if name in present:
            matrix[i][i] = 40 + 3 * i
            matrix[i][(i + 2) % size if vocabulary[(i + 2) % size] in present else i] += 7
    reason = "emotion macro-F1 0.41 does not beat the logistic baseline's 0.44 on the validation split"
    entry = training_entry("EmotionRecognizer-midi", vocabulary, matrix, decision="below_baseline", reason=reason,
                           heads=[_head("emotion", "macro_f1", 0.41, {"majority": 0.05, "logistic": 0.44}, False,
                                        reason)],
                           test_metrics={"emotion.accuracy": (0.52, 0.18)})
    page = _training_page(tmp_path, "training-large", entry, 2100)
    headline = page.text("headline")
    assert "EmotionRecognizer-midi v0003: not promoted: below a baseline" in headline and reason in headline
    gate = [cells for _, cells in page.rows if cells and cells[0] == "emotion"]
    assert gate and "not beaten" in gate[0][4] and "beaten" in gate[0][3]
    column_names = next(cells for _, cells in page.rows if cells and set(cells) <= set(vocabulary) and len(cells) > 3)
    assert set(column_names) == present
    assert not {"anxiety", "grief", "despair"} & {c for _, cells in page.rows for c in cells}
