"""The daemon end to end: real observers on real folders, a real subprocess, real files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from kellyd.export import annotation_path
from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for

pytestmark = pytest.mark.slow

GROOVE_GLOB = "groove_midi/drummer1/session1/*.mid"
DAGSTUHL_WAV = ("audio_more/mirdata_dagstuhl_choirset/dagstuhl_choirset/audio_wav_22050_mono/"
                "DCS_LI_QuartetB_Take04_Stereo_STM.wav")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def groove_files(corpus: Path, n: int) -> list[Path]:
    files = sorted(corpus.glob("groove_midi/**/*.mid"))
    assert len(files) >= n
    return files[:n]


def catalog_sample_count(tree, dataset_id: str) -> int:
    path = tree.state / "catalog.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM samples WHERE dataset_id = ?", (dataset_id,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_dropped_mix_lands_in_manifest_once_with_labels(tmp_path, corpus):
    tree = make_tree(tmp_path)
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        midi = groove_files(corpus, 4)
        drops = {
            "happy/a.mid": midi[0],
            "01-Sad/Grief/b.mid": midi[1],
            "Q2_calm/piano/c.mid": midi[2],
            "tense/choir.wav": corpus / DAGSTUHL_WAV,
            "joy/guitar/em9.flac": corpus / "sonic_pi" / "guit_em9.flac",
            "happy/vibe.ogg": corpus / "librosa" / "Kevin_MacLeod_-_Vibe_Ace.ogg",
            "surprise/kick.mp3": corpus / "beatnet" / "808kick120bpm.mp3",
            "C_major/d.mid": midi[3],
            "happy/a copy.mid": midi[0],  # same bytes, another name
        }
        for rel, src in drops.items():
            dst = tree.inbox / "mix" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        def settled() -> bool:
            samples = tree.manifest_samples("mix")
            names = sum(len(s["original_names"]) for s in samples)
            inbox_empty = not any(p.is_file() for p in (tree.inbox / "mix").rglob("*"))
            return len(samples) == 8 and names == 9 and inbox_empty

        wait_for(settled, 60, "8 samples (9 names) in the manifest and an empty inbox")
        samples = {s["sha256"]: s for s in tree.manifest_samples("mix")}
        assert len(samples) == 8
        a = samples[sha(midi[0])]
        assert sorted(a["original_names"]) == ["a copy.mid", "a.mid"]
        assert a["annotations"]["emotion"] == "happy" and a["annotations"]["base_emotion"] == "happy"
        assert a["kind"] == "midi" and a["file_path"].startswith("raw/midi/happy/")
        b = samples[sha(midi[1])]["annotations"]
        assert (b["emotion"], b["base_emotion"]) == ("grief", "sad") and b["valence"] < 0
        c = samples[sha(midi[2])]["annotations"]
        assert (c["emotion"], c["instrument"]) == ("calm", "piano")
        d = samples[sha(midi[3])]["annotations"]
        assert (d["key"], d["mode"]) == ("C", "major")
        wav = samples[sha(corpus / DAGSTUHL_WAV)]
        assert wav["kind"] == "audio" and wav["annotations"]["emotion"] == "tense"
        assert wav["annotations"]["base_emotion"] == "fear"
        flac = samples[sha(corpus / "sonic_pi" / "guit_em9.flac")]["annotations"]
        assert (flac["emotion"], flac["instrument"]) == ("joy", "guitar")
        for s in samples.values():
            assert (tree.datasets / "mix" / s["file_path"]).is_file()
            assert sha(tree.datasets / "mix" / s["file_path"]) == s["sha256"]
            assert annotation_path(tree.datasets / "mix", s["sample_id"]).is_file()
    finally:
        assert daemon.stop() == 0


def test_kill9_mid_ingest_then_restart_loses_and_duplicates_nothing(tmp_path, corpus):
    tree = make_tree(tmp_path)
    files = groove_files(corpus, 400)
    for i, src in enumerate(files):
        dst = tree.inbox / "mix" / ("happy" if i % 2 else "sad") / f"{i:04d}_{src.name}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    expected = {sha(src) for src in files}
    daemon = DaemonProcess(tree)
    daemon.wait_started()
    wait_for(lambda: catalog_sample_count(tree, "mix") >= 20, 60, "some samples committed", interval_s=0.01)
    daemon.kill9()
    killed_at = catalog_sample_count(tree, "mix")
    assert killed_at < len(expected), "the kill came too late to test anything"

    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        wait_for(lambda: len(tree.manifest_samples("mix")) == len(expected), 120, "every file in the manifest")
        samples = tree.manifest_samples("mix")
        assert sorted(s["sha256"] for s in samples) == sorted(expected)  # each exactly once
        raw_files = {p.relative_to(tree.datasets / "mix").as_posix()
                     for p in (tree.datasets / "mix" / "raw").rglob("*") if p.is_file()}
        assert raw_files == {s["file_path"] for s in samples}, "orphan or missing files in raw/"
        leftovers = [p for p in (tree.datasets / "mix").rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
        assert leftovers == []
        assert not any(p.is_file() for p in (tree.inbox / "mix").rglob("*"))
    finally:
        assert daemon.stop() == 0


def test_slow_writer_is_processed_once_when_complete(tmp_path, corpus):
    tree = make_tree(tmp_path, settle_s=2.0)  # four times the gap between pieces: margin for a busy machine
    src = groove_files(corpus, 1)[0]
    data = src.read_bytes()
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        dst = tree.inbox / "mix" / "happy" / "slow.mid"
        dst.parent.mkdir(parents=True, exist_ok=True)
        pieces = 5
        step = len(data) // pieces + 1
        with open(dst, "wb") as f:
            for i in range(pieces):
                f.write(data[i * step:(i + 1) * step])
                f.flush()
                time.sleep(0.5)
        wait_for(lambda: len(tree.manifest_samples("mix")) == 1, 30, "the slow file in the manifest")
        time.sleep(1.0)
        samples = tree.manifest_samples("mix")
        assert len(samples) == 1 and samples[0]["sha256"] == hashlib.sha256(data).hexdigest()
        assert tree.quarantine_errors("mix") == []
    finally:
        assert daemon.stop() == 0


def test_atomic_rename_is_picked_up_without_waiting_to_settle(tmp_path, corpus):
    tree = make_tree(tmp_path, settle_s=30.0)
    src = groove_files(corpus, 1)[0]
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        part = tree.inbox / "mix" / "happy" / "song.mid.part"
        part.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, part)
        time.sleep(0.5)
        assert tree.manifest_samples("mix") == []  # a temporary name is never taken
        os.rename(part, part.with_name("song.mid"))
        wait_for(lambda: len(tree.manifest_samples("mix")) == 1, 10, "the renamed file, well before settle_s")
    finally:
        assert daemon.stop() == 0


def test_files_dropped_while_stopped_are_processed_at_start(tmp_path, corpus):
    tree = make_tree(tmp_path)
    daemon = DaemonProcess(tree)
    daemon.wait_started()
    assert daemon.stop() == 0
    files = groove_files(corpus, 6)
    for src in files:
        dst = tree.inbox / "mix" / "sad" / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        wait_for(lambda: len(tree.manifest_samples("mix")) == 6, 30, "files dropped while stopped")
    finally:
        assert daemon.stop() == 0


def test_bad_inputs_are_quarantined_with_reasons_and_the_daemon_lives(tmp_path, corpus):
    tree = make_tree(tmp_path)
    good = groove_files(corpus, 2)
    folder = tree.inbox / "mix" / "happy"
    folder.mkdir(parents=True)
    rng_bytes = hashlib.sha256(b"seed").digest() * 64
    bad = {
        "random.mid": rng_bytes,
        "truncated.mid": good[0].read_bytes()[: len(good[0].read_bytes()) // 3],
        "empty.mid": b"",
        "notes.wav": b"these are my notes, not a recording\n" * 20,
        "ドラム パターン 1.mid": rng_bytes[::-1],
    }
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        for name, data in bad.items():
            (folder / name).write_bytes(data)
        shutil.copyfile(good[1], folder / "ハッピー ソング.mid")
        wait_for(lambda: len(tree.quarantine_errors("mix")) == len(bad), 30, "every bad file quarantined")
        wait_for(lambda: len(tree.manifest_samples("mix")) == 1, 30, "the good file with a foreign name")
        assert daemon.proc.poll() is None
        errors = {Path(e["original_path"]).name: e for e in tree.quarantine_errors("mix")}
        assert set(errors) == set(bad)
        assert "empty" in errors["empty.mid"]["reason"]
        assert "not a MIDI or audio file" in errors["notes.wav"]["reason"]
        assert "MIDI" in errors["truncated.mid"]["reason"]
        for e in errors.values():
            assert e["handler"] == "import" and e["at"] and e["file"]
            assert (tree.state / "quarantine" / "mix" / e["file"]).is_file(), "the bad file is kept, not deleted"
        assert tree.manifest_samples("mix")[0]["original_names"] == ["ハッピー ソング.mid"]
        status = json.loads(run_cli(tree, "status", "--json").stdout)
        assert status["quarantined"] == len(bad)
        # Fixed and dropped again: processed.
        shutil.copyfile(good[0], folder / "truncated.mid")
        wait_for(lambda: len(tree.manifest_samples("mix")) == 2, 30, "the fixed file")
    finally:
        assert daemon.stop() == 0


def test_staging_file_with_freesound_sidecar_keeps_licence_and_author(tmp_path, corpus):
    datasets = {"emo": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate"]}}
    tree = make_tree(tmp_path, datasets=datasets, extra={"freesound": {"enabled": True, "dataset": "emo"}})
    folder = tree.staging / "emotion_samples" / "happy" / "base" / "drums"
    folder.mkdir(parents=True)
    sidecar = {"source": "freesound", "freesound_id": 1234, "name": "kick loop", "username": "someone",
               "license": "http://creativecommons.org/licenses/by/4.0/", "url": "https://example.org/s/1234/",
               "tags": ["kick", "808"], "duration_s": 10.0, "query": "happy drums"}
    (folder / "1234_kick_loop.mp3.json").write_text(json.dumps(sidecar))
    shutil.copyfile(corpus / "beatnet" / "808kick120bpm.mp3", folder / "1234_kick_loop.mp3")
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        wait_for(lambda: len(tree.manifest_samples("emo")) == 1, 30, "the staged file")
        s = tree.manifest_samples("emo")[0]
        assert s["source"]["type"] == "freesound" and s["source"]["author"] == "someone"
        assert s["source"]["license"].endswith("/by/4.0/") and s["source"]["freesound_id"] == 1234
        assert (s["annotations"]["emotion"], s["annotations"]["instrument"]) == ("happy", "drums")
        assert "kick" in s["annotations"]["tags"]
        assert (folder / "1234_kick_loop.mp3").exists(), "staging files are copied, never moved"
    finally:
        assert daemon.stop() == 0


def test_second_instance_is_refused_and_sigterm_stops_quickly(tmp_path):
    tree = make_tree(tmp_path)
    daemon = DaemonProcess(tree)
    daemon.wait_started()
    second = run_cli(tree, "run", timeout_s=30)
    assert second.returncode == 3
    assert "another kellyd" in second.stderr and str(daemon.proc.pid) in second.stderr
    started = time.monotonic()
    assert daemon.stop(timeout_s=10) == 0
    assert time.monotonic() - started < 8
    assert "daemon_stopped" in daemon.log_text()


def test_sighup_reloads_the_config(tmp_path, corpus):
    tree = make_tree(tmp_path)
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        text = tree.config.read_text()
        tree.config.write_text(text + '\n[datasets.late]\ntarget_model = "GroovePredictor"\nchain = ["import", "annotate"]\n')
        (tree.inbox / "late" / "swing").mkdir(parents=True)
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: "config_reloaded" in daemon.log_text(), 20, "the reload")
        shutil.copyfile(groove_files(corpus, 1)[0], tree.inbox / "late" / "swing" / "x.mid")
        wait_for(lambda: len(tree.manifest_samples("late")) == 1, 30, "a file routed to the new dataset")
        assert tree.manifest_samples("late")[0]["annotations"]["groove_type"] == "swing"
        tree.config.write_text(text.replace("settle_s = 0.5", "settle_s = -1"))
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: "reload_refused" in daemon.log_text(), 20, "a bad config refused on reload")
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop() == 0
