"""A scheduled Freesound pull inside the real daemon, against a local server that speaks the API:
previews land in staging, the chain imports them, licence and author reach the manifest."""

from __future__ import annotations

import json
import time

import pytest

from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for
from tests.freesound.fake_server import FakeFreesound
from tests.freesound.support import KEY, populate

pytestmark = pytest.mark.slow


def with_id3v1_title(mp3: bytes, title: str) -> bytes:
    """The same audio with an ID3v1 tag appended, so every served sound has its own bytes."""
    tag = b"TAG" + title.encode()[:30].ljust(30, b"\0") + b"\0" * 94 + b"\xff"
    assert len(tag) == 128
    return mp3 + tag


def test_scheduled_pull_reaches_the_manifest_with_licences(tmp_path, corpus, monkeypatch):
    preview = (corpus / "beatnet" / "808kick120bpm.mp3").read_bytes()
    with FakeFreesound(api_key=KEY, preview_bytes=preview) as server:
        ids = populate(server, ["happy", "sad"], ["piano", "drums"], per_query=3)
        for sound_id in (i for group in ids.values() for i in group):
            server.preview_overrides[sound_id] = with_id3v1_title(preview, f"sound {sound_id}")
        datasets = {"emo": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate"]}}
        tree = make_tree(tmp_path, datasets=datasets, extra={
            "schedule": {"freesound": "2s"},
            "freesound": {"enabled": True, "dataset": "emo", "base_url": server.base_url,
                          "emotions": ["happy", "sad"], "instruments": ["piano", "drums"],
                          "target_per_combination": 2, "timeout_s": 2.0}})
        monkeypatch.setenv("FREESOUND_API_KEY", KEY)
        daemon = DaemonProcess(tree)
        try:
            daemon.wait_started()
            # The manifest follows each step: a sound shows after its import, its licence after annotate.
            wait_for(lambda: sum("license" in s["source"] for s in tree.manifest_samples("emo")) == 8, 60,
                     "8 pulled and annotated sounds in the manifest")
            samples = tree.manifest_samples("emo")
            for s in samples:
                assert s["source"]["type"] == "freesound"
                assert s["source"]["license"] and s["source"]["author"] and s["source"]["freesound_id"]
                assert s["annotations"]["emotion"] in ("happy", "sad")
                assert s["annotations"]["instrument"] in ("piano", "drums")
            assert run_cli(tree, "report", "--dataset", "emo").returncode == 0
            credits = (tree.datasets / "emo" / "reports" / "attributions.md").read_text()
            for s in samples:
                if "/by/" in s["source"]["license"] or "by-nc" in s["source"]["license"].lower():
                    assert s["source"]["author"] in credits and s["source"]["url"] in credits
            seen = []

            def pull_recorded() -> bool:
                proc = run_cli(tree, "status", "--json")
                seen.append(proc.stdout[-2000:] + proc.stderr[-2000:])
                return proc.returncode == 0 and json.loads(proc.stdout)["schedule"].get(
                    "freesound", {}).get("last_status") == "ok"

            try:
                wait_for(pull_recorded, 30, "the pull recorded in status")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; last status: {seen[-1] if seen else None}") from None
        finally:
            assert daemon.stop() == 0
        assert KEY not in daemon.log_text()
        for path in tree.root.rglob("*"):
            if path.is_file() and path.suffix in (".json", ".log", ".toml"):
                assert KEY not in path.read_text(errors="replace"), path


def test_no_key_skips_with_one_clear_line(tmp_path, monkeypatch):
    tree = make_tree(tmp_path, extra={"freesound": {"enabled": True, "dataset": "mix"}})
    monkeypatch.delenv("FREESOUND_API_KEY", raising=False)
    proc = run_cli(tree, "freesound", "pull")
    assert proc.returncode == 4
    assert "skipped" in proc.stdout and "FREESOUND_API_KEY" in (proc.stdout + proc.stderr)


def test_sigterm_during_a_scheduled_pull_ends_it_and_stops_within_seconds(tmp_path, monkeypatch):
    """A scheduled job still running at SIGTERM (here a pull waiting on a server that answers after a
    minute) is ended and recorded as failed; the daemon stops within seconds, not after the job."""
    with FakeFreesound(api_key=KEY, preview_bytes=b"", slow_s=60.0) as server:
        populate(server, ["happy"], ["piano"], per_query=2)
        server.fault(("search", "happy piano", 1), "slow")
        datasets = {"emo": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate"]}}
        tree = make_tree(tmp_path, datasets=datasets, extra={
            "schedule": {"freesound": "1s"},
            "freesound": {"enabled": True, "dataset": "emo", "base_url": server.base_url, "emotions": ["happy"],
                          "instruments": ["piano"], "target_per_combination": 2, "timeout_s": 90.0}})
        monkeypatch.setenv("FREESOUND_API_KEY", KEY)
        daemon = DaemonProcess(tree)
        daemon.wait_started()
        wait_for(lambda: server.paths("/apiv2/search"), 60, "the pull's search request at the server")
        started = time.monotonic()
        assert daemon.stop(timeout_s=30) == 0
        assert time.monotonic() - started < 15.0
        log = daemon.log_text()
        assert "scheduled_jobs_ended" in log and "scheduled_job_not_recorded" not in log
        status = json.loads(run_cli(tree, "status", "--json").stdout)
        assert status["schedule"]["freesound"]["last_status"] == "failed"
