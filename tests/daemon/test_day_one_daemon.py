"""The running daemon as a user first meets it: Ctrl-C in a terminal, and `kellyd dataset create`."""

from __future__ import annotations

import json
import os
import signal
import time

from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for
from tests.daemon.midi_files import small_midi_bytes


def test_ctrl_c_stops_the_daemon_and_its_workers_without_tracebacks(tmp_path):
    tree = make_tree(tmp_path, datasets={"mix": {"target_model": "EmotionRecognizer",
                                                 "chain": ["import", "annotate", "features"]}})
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        folder = tree.inbox / "mix" / "happy"
        folder.mkdir()
        (folder / "one.mid").write_bytes(small_midi_bytes(1))
        wait_for(lambda: len(tree.manifest_samples("mix")) == 1, 60, "a file processed, so the workers have worked")
        # A terminal's Ctrl-C: SIGINT to the whole foreground process group (daemon, forkserver, workers).
        os.killpg(daemon.proc.pid, signal.SIGINT)
        assert daemon.proc.wait(timeout=30) == 0
    finally:
        daemon.stop()
    log = daemon.log_text()
    assert "daemon_stopped" in log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log[-3000:]


def originals(tree, dataset_id: str) -> list[dict]:
    """Manifest samples dropped by the test (augmented children left out)."""
    return [s for s in tree.manifest_samples(dataset_id) if not s.get("parent_id")]


def test_dataset_create_is_picked_up_by_a_running_daemon_without_a_signal(tmp_path):
    tree = make_tree(tmp_path)
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        created = run_cli(tree, "dataset", "create", "grooves", "--target-model", "GroovePredictor")
        assert created.returncode == 0, created.stderr
        # Dropped at once, most likely before the daemon has noticed the new dataset: the file
        # must not be lost to a routing that did not know the dataset yet.
        folder = tree.inbox / "grooves" / "swing"
        folder.mkdir(parents=True, exist_ok=True)
        scratch = folder / ".groove.mid.part"
        scratch.write_bytes(small_midi_bytes(7))
        scratch.rename(folder / "groove.mid")
        wait_for(lambda: len(originals(tree, "grooves")) == 1, 30, "the file in the new dataset's manifest")
        sample = originals(tree, "grooves")[0]
        assert sample["annotations"].get("groove_type") == "swing"
        later = folder / "later.mid"
        later.write_bytes(small_midi_bytes(8))
        wait_for(lambda: len(originals(tree, "grooves")) == 2, 30, "a second file, routed directly")
        assert not any(event.get("event") == "config_reloaded" for event in daemon.log_events())
        assert any(event.get("event") == "dataset_added" and event.get("dataset") == "grooves"
                   for event in daemon.log_events())
    finally:
        assert daemon.stop() == 0


def test_a_dataset_folder_with_a_config_json_kellyd_refuses_is_left_out_not_fatal(tmp_path):
    tree = make_tree(tmp_path)
    bad_values = {"broken": {"target_model": "GroovePredictor", "multiplier": "many"},  # refused when read
                  "badchain": {"target_model": "GroovePredictor", "chain": ["import", "magic"]},  # checked as
                  "toomany": {"target_model": "GroovePredictor", "multiplier": 5000}}  # config.toml; at build
    for ds_id, settings in bad_values.items():
        (tree.datasets / ds_id).mkdir(parents=True)
        (tree.datasets / ds_id / "config.json").write_text(json.dumps(settings))
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()  # before: the multiplier refused when built stopped the start
        (tree.inbox / "mix" / "happy").mkdir(parents=True)
        (tree.inbox / "mix" / "happy" / "one.mid").write_bytes(small_midi_bytes(1))
        wait_for(lambda: len(originals(tree, "mix")) == 1, 60, "the configured dataset still at work")
        time.sleep(5.0)  # the running daemon looks for new dataset folders every 2 s
        refused = [e for e in daemon.log_events() if e.get("event") == "dataset_refused"]
        assert sorted(e["dataset"] for e in refused) == ["badchain", "broken", "toomany"], refused  # once each
        by_id = {e["dataset"]: e for e in refused}
        assert by_id["broken"]["key"].endswith("config.json.multiplier"), by_id["broken"]
        assert by_id["badchain"]["key"].endswith("config.json.chain[1]"), by_id["badchain"]
        assert "unknown handler 'magic'" in by_id["badchain"]["reason"], by_id["badchain"]
        assert by_id["toomany"]["key"] == "datasets.toomany.multiplier", by_id["toomany"]

        # Mended, then SIGHUP: the dataset is served.
        (tree.datasets / "broken" / "config.json").write_text(json.dumps({"target_model": "GroovePredictor"}))
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: any(e.get("event") == "config_reloaded" and "broken" in e.get("datasets", [])
                             for e in daemon.log_events()), 30, "the mended dataset served after a reload")
    finally:
        assert daemon.stop() == 0
