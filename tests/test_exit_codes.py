"""Exit codes a script can rely on (kellyd.exitcodes), each from a real `kellyd` subprocess."""

from __future__ import annotations

import json

from kellyd.exitcodes import EXIT_FAILED, EXIT_INVALID, EXIT_NO_DAEMON, EXIT_OK, EXIT_QUARANTINED, EXIT_TABLE
from kellyd.lock import StateLock
from tests.daemon.harness import make_tree, run_cli
from tests.daemon.midi_files import small_midi_bytes

GROOVE = {"grooves": {"target_model": "GroovePredictor", "chain": ["import", "annotate"]}}


def _drop(folder, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_every_code_is_distinct_and_documented_once():
    codes = [code for code, _, _ in EXIT_TABLE]
    assert len(codes) == len(set(codes))
    assert EXIT_QUARANTINED not in (EXIT_OK, EXIT_FAILED) and EXIT_INVALID not in (EXIT_OK, EXIT_FAILED)


def test_import_with_quarantined_files_exits_5_and_a_clean_import_0(tmp_path):
    tree = make_tree(tmp_path, datasets=GROOVE)
    bad = tmp_path / "bad"
    _drop(bad, {"straight/a.mid": small_midi_bytes(1), "swing/not-midi.mid": b"RIFF" + b"\0" * 60})
    done = run_cli(tree, "import", str(bad), "--dataset", "grooves", "--quiet")
    assert done.returncode == EXIT_QUARANTINED, done.stderr
    result = json.loads(done.stdout)
    assert result["quarantined"] == 1 and result["added"] == 1
    good = tmp_path / "good"
    _drop(good, {"straight/b.mid": small_midi_bytes(2)})
    clean = run_cli(tree, "import", str(good), "--dataset", "grooves", "--quiet")
    assert clean.returncode == EXIT_OK, clean.stderr
    assert json.loads(clean.stdout)["quarantined"] == 0


def test_an_import_that_cannot_run_exits_1_not_5(tmp_path):
    tree = make_tree(tmp_path, datasets=GROOVE)
    (tree.root / "state").mkdir(exist_ok=True)
    (tree.root / "state" / "catalog.sqlite3").write_bytes(b"this is not a database" * 100)
    folder = tmp_path / "in"
    _drop(folder, {"straight/a.mid": small_midi_bytes(3)})
    done = run_cli(tree, "import", str(folder), "--dataset", "grooves", "--quiet")
    assert done.returncode == EXIT_FAILED, (done.returncode, done.stderr)
    assert "kellyd:" in done.stderr


def test_a_pipeline_with_an_invalid_verdict_exits_6(tmp_path):
    tree = make_tree(tmp_path, datasets=GROOVE)
    folder = tmp_path / "in"
    _drop(folder, {"straight/a.mid": small_midi_bytes(4), "straight/b.mid": small_midi_bytes(5)})
    done = run_cli(tree, "pipeline", "--dataset", "grooves", "--import-dir", str(folder), "--quiet")
    assert done.returncode == EXIT_INVALID, done.stderr
    steps = json.loads(done.stdout)
    assert steps["validate"]["verdict"] == "invalid"
    strict = run_cli(tree, "validate", "--dataset", "grooves", "--strict")
    assert strict.returncode == EXIT_INVALID and "grooves: invalid" in strict.stdout
    assert run_cli(tree, "validate", "--dataset", "grooves").returncode == EXIT_OK  # not asked to be strict


def test_status_without_a_daemon_exits_7_and_still_prints_json(tmp_path):
    tree = make_tree(tmp_path)
    done = run_cli(tree, "status", "--json")
    assert done.returncode == EXIT_NO_DAEMON
    assert json.loads(done.stdout)["daemon"] is None
    state = tree.root / "state"
    state.mkdir(exist_ok=True)
    lock = StateLock(state)
    lock.acquire(purpose="daemon")  # what `kellyd run` holds
    try:
        held = run_cli(tree, "status", "--json")
        assert held.returncode == EXIT_OK, held.stderr
        assert "daemon" in json.loads(held.stdout)["daemon"]
    finally:
        lock.release()
