"""Secrets attacks on the real daemon: a malformed Freesound key never shows itself, and
scrubbing never hides what is not a secret (the config key a reload refused)."""

from __future__ import annotations

import json
import signal
import sqlite3

import pytest
import tomli_w

from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for

pytestmark = pytest.mark.slow

# Each part is long enough to be recognisable; the newline is what used to reach an HTTP
# library, whose ValueError quoted the whole header value.
KEY_HEAD, KEY_TAIL = "fsKEYhead0123456789abcdef", "fsKEYtail9876543210fedcba"
BAD_KEY = f"{KEY_HEAD}\n{KEY_TAIL}"


def leaked(text: str) -> list[str]:
    return [part for part in (KEY_HEAD, KEY_TAIL) if part in text]


def write_key_file(tree, key: str):
    path = tree.staging / "freesound_config.json"
    path.write_text(json.dumps({"freesound_api_key": key}))
    path.chmod(0o600)
    return path


def freesound_tree(tmp_path, **schedule):
    return make_tree(tmp_path, extra={
        "schedule": schedule,
        "freesound": {"enabled": True, "dataset": "mix", "base_url": "http://127.0.0.1:9/apiv2",
                      "emotions": ["happy"], "instruments": ["piano"], "timeout_s": 1.0, "max_retries": 0}})


@pytest.mark.parametrize("bad_key", [BAD_KEY, f"{KEY_HEAD}\x07{KEY_TAIL}", f"{KEY_HEAD} {KEY_TAIL}"],
                         ids=["newline", "control", "space"])
def test_a_dry_run_with_a_malformed_key_names_the_file_never_the_key(tmp_path, monkeypatch, bad_key):
    monkeypatch.delenv("FREESOUND_API_KEY", raising=False)
    tree = freesound_tree(tmp_path, freesound="off")
    key_file = write_key_file(tree, bad_key)
    proc = run_cli(tree, "freesound", "pull", "--dry-run")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert str(key_file) in out and "API key" in out and "Traceback" not in out
    assert leaked(out) == []


def test_a_malformed_key_from_the_environment_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("FREESOUND_API_KEY", BAD_KEY)
    tree = freesound_tree(tmp_path, freesound="off")
    proc = run_cli(tree, "freesound", "pull", "--dry-run")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "environment variable FREESOUND_API_KEY" in out
    assert leaked(out) == []


def test_the_scheduled_pull_with_a_malformed_key_leaks_nowhere(tmp_path, monkeypatch):
    monkeypatch.delenv("FREESOUND_API_KEY", raising=False)
    tree = freesound_tree(tmp_path, freesound="1s")
    key_file = write_key_file(tree, BAD_KEY)
    daemon = DaemonProcess(tree)
    seen: list[str] = []
    try:
        daemon.wait_started()

        def pull_failed() -> bool:
            proc = run_cli(tree, "status", "--json")
            seen.append(proc.stdout + proc.stderr)
            if proc.returncode != 0:
                return False
            return json.loads(proc.stdout)["schedule"].get("freesound", {}).get("last_status") == "failed"

        wait_for(pull_failed, 60, "the scheduled pull recorded as failed")
    finally:
        assert daemon.stop() == 0
    with sqlite3.connect(tree.state / "catalog.sqlite3") as db:
        details = [row[0] or "" for row in db.execute("SELECT detail FROM schedule_runs")]
    assert any(str(key_file) in d for d in details), details
    for text in (daemon.log_text(), *details, *seen):
        assert leaked(text) == [], text[-2000:]


def test_reload_refused_names_the_config_key(tmp_path):
    tree = make_tree(tmp_path)
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        config = tree.config.read_text()
        tree.config.write_text(config + "\n" + tomli_w.dumps({"limits": {"max_sidecar_kb": -1}}))
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: any(e.get("event") == "reload_refused" for e in daemon.log_events()), 20, "reload_refused")
    finally:
        assert daemon.stop() == 0
    refused = next(e for e in daemon.log_events() if e.get("event") == "reload_refused")
    assert refused["key"] == "limits.max_sidecar_kb", refused
