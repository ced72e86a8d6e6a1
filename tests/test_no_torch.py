"""Without torch (the `kellyd[train]` extra) kellyd still works, and training says what is missing.

torch is made unimportable for real: a `sitecustomize` on PYTHONPATH puts a finder first on
`sys.meta_path` that answers every `torch` import as a missing module, in the CLI process, the
daemon, its worker processes and the scheduled-job subprocesses alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for
from tests.daemon.midi_files import small_midi_bytes

REPO = Path(__file__).resolve().parents[1]

BLOCKER = '''
import sys


class _NoTorch:
    """Answers every torch import the way Python does when torch is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoTorch())
'''

IMPORT_EVERY_MODULE = '''
import importlib, json, pkgutil, sys
roots = [(sys.argv[1], "kellyd."), (sys.argv[2], "kellyd.handlers.")]
failed = {}
names = []
for folder, prefix in roots:
    for info in pkgutil.walk_packages([folder], prefix, onerror=lambda name: None):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # running a module's command line is not importing it
        names.append(info.name)
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            failed[info.name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"imported": names, "failed": failed, "torch_loaded": "torch" in sys.modules}))
'''


@pytest.fixture
def without_torch(tmp_path, monkeypatch) -> Path:
    """PYTHONPATH for every subprocess this test starts carries the torch blocker."""
    folder = tmp_path / "no-torch"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True, cwd=tmp_path)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr, probe.stderr
    return folder


def test_only_training_modules_need_torch(without_torch, tmp_path):
    proc = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE, str(REPO / "kellyd"), str(REPO / "handlers")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert "kellyd.daemon" in result["imported"] and "kellyd.handlers.features" in result["imported"]
    outside_training = {name: why for name, why in result["failed"].items() if not name.startswith("kellyd.train.")}
    assert outside_training == {}
    assert "kellyd.train.command" in result["failed"]  # the blocker was in force
    assert all("torch" in why for why in result["failed"].values()), result["failed"]
    assert result["torch_loaded"] is False


def _write_midi(folder: Path, index: int) -> None:
    """A small MIDI file, renamed into place so the daemon takes it whole."""
    folder.mkdir(parents=True, exist_ok=True)
    scratch = folder / f".drop-{index}.part"
    scratch.write_bytes(small_midi_bytes(index))
    scratch.rename(folder / f"piece-{index}.mid")


def test_daemon_features_augment_validate_without_torch_and_training_names_the_extra(without_torch, tmp_path):
    dataset = {"target_model": "EmotionRecognizer", "chain": ["import", "annotate", "features", "augment"],
               "multiplier": 1, "splits": [1.0, 0.0, 0.0]}
    tree = make_tree(tmp_path, datasets={"songs": dataset}, settle_s=0.2,
                     extra={"schedule": {"retrain": "2s"}})
    check = run_cli(tree, "config", "check")
    assert check.returncode == 0 and "warning: schedule.retrain is set" in check.stdout
    assert "kellyd[train]" in check.stdout
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        for index in range(3):
            _write_midi(tree.inbox / "songs" / "happy", index)

        def processed() -> bool:
            samples = tree.manifest_samples("songs")
            originals = [s for s in samples if not s.get("parent_id")]
            children = [s for s in samples if s.get("parent_id")]
            return len(originals) == 3 and len(children) == 3 and all(s.get("features_path") for s in samples)

        wait_for(processed, 60, "three files with features and one augmented child each")

        def retrain_recorded() -> bool:
            status = json.loads(run_cli(tree, "status", "--json").stdout)
            return status.get("schedule", {}).get("retrain", {}).get("last_status") == "failed"

        wait_for(retrain_recorded, 60, "the scheduled retrain to run and fail", interval_s=0.5)
        detail = json.loads(run_cli(tree, "status", "--json").stdout)["schedule"]["retrain"]["detail"]
        assert "kellyd[train]" in detail and "torch" in detail, detail
        assert "Traceback" not in detail
        assert daemon.proc.poll() is None, "the daemon must outlive a failed scheduled job"
    finally:
        assert daemon.stop() == 0
    assert "Traceback" not in daemon.log_text()

    validate = run_cli(tree, "validate", "--dataset", "songs")
    assert validate.returncode == 0, validate.stderr[-2000:]
    assert (tree.datasets / "songs" / "reports" / "latest.html").is_file()

    train = run_cli(tree, "train", "--dataset", "songs")
    assert train.returncode == 2
    assert "kellyd[train]" in train.stderr and "torch" in train.stderr, train.stderr
    assert "Traceback" not in train.stderr + train.stdout
