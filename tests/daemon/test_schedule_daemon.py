"""The scheduler in the real daemon: a run missed while it was down runs at start, a reload (SIGHUP)
keeps every next run, and a job that cannot run (no Freesound key) is reported at start."""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime

from kellyd.catalog import Catalog
from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for


def _schedule(tree) -> dict:
    return json.loads(run_cli(tree, "status", "--json").stdout)["schedule"]


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_missed_run_sighup_and_a_missing_key(tmp_path, monkeypatch):
    monkeypatch.delenv("FREESOUND_API_KEY", raising=False)
    tree = make_tree(tmp_path, datasets={"grooves": {"target_model": "GroovePredictor", "chain": ["import"]}},
                     extra={"schedule": {"validate": "1h", "freesound": "12h", "validate_after_samples": 0},
                            "freesound": {"enabled": True, "dataset": "grooves",
                                          "key_file": str(tmp_path / "absent.json")}})
    (tree.root / "state").mkdir(exist_ok=True)
    last_run = time.time() - 2 * 3600  # the daemon was down when the 1 h validation was due
    catalog = Catalog(tree.root / "state" / "catalog.sqlite3")
    with catalog.transaction():
        catalog.record_schedule_run("validate", at=last_run, status="ok", next_run=last_run + 3600)
    catalog.close()
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        assert "scheduled_job_cannot_run" in daemon.log_text() and "Freesound: no API key" in daemon.log_text()
        wait_for(lambda: (_schedule(tree)["validate"]["last_run"] or "") > "" and
                 _ts(_schedule(tree)["validate"]["last_run"]) > last_run + 60, 60, "the missed validation run")
        before = _schedule(tree)
        ran_at = _ts(before["validate"]["last_run"])
        assert abs(_ts(before["validate"]["next_run"]) - (ran_at + 3600)) < 5  # an hour after it ran
        assert before["freesound"]["can_run"] is False and "no API key" in before["freesound"]["blocked"]
        time.sleep(1.5)  # a reload later than the start must not move the next run
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: "config_reloaded" in daemon.log_text(), 30, "the reload")
        after = _schedule(tree)
        assert after["validate"]["next_run"] == before["validate"]["next_run"]
        assert after["freesound"]["next_run"] == before["freesound"]["next_run"]
    finally:
        assert daemon.stop() == 0
