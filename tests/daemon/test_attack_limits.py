"""Resource-limit attacks on the real daemon: every input over a `[limits]` key is quarantined
with a reason naming the key, before it costs its size; audio augmentation decodes only the
allowed start; sidecars are size-limited, finite JSON, and cannot blank folder labels."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from kellyd.music.midi_io import write_score
from tests.daemon.harness import DaemonProcess, make_tree, wait_for
from tests.music.midi_builders import notes, score

pytestmark = pytest.mark.slow

SPARSE_BYTES = 3 * 1024**3  # 3 GiB apparent size, a few blocks on disk
AUGMENT_S = 2.0
SR_HZ = 16000
LIMITS = {"max_midi_mb": 0.05, "max_midi_notes": 200, "max_midi_duration_s": 120.0,
          "max_audio_augment_s": AUGMENT_S, "max_sidecar_kb": 4}
DATASETS = {"mix": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate", "augment"],
                    "multiplier": 2, "splits": [1.0, 0.0, 0.0], "sample_rate_hz": SR_HZ}}


def write_midi(path, n_notes: int = 8, note_s: float = 0.5) -> None:
    rows = [(i * note_s, (i + 1) * note_s, 60 + i % 12, 80) for i in range(n_notes)]
    write_score(score(notes(rows)), path)


def rss_kib(pid: int) -> int:
    """Resident memory of the process and its children (the workers), in KiB, from /proc."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(entry) != pid and int(fields[1]) != pid:
                continue
            with open(f"/proc/{entry}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return total


@pytest.fixture
def daemon(tmp_path):
    tree = make_tree(tmp_path, datasets=DATASETS, extra={"limits": LIMITS})
    proc = DaemonProcess(tree)
    proc.wait_started()
    yield proc
    assert proc.stop() == 0


def reasons(tree) -> dict[str, str]:
    return {e["original_path"].rsplit("/", 1)[1]: e["reason"] for e in tree.quarantine_errors("mix")}


def wait_quarantined(daemon, *names: str, timeout_s: float = 60.0) -> dict[str, str]:
    wait_for(lambda: set(names) <= set(reasons(daemon.tree)), timeout_s, f"{names} quarantined")
    return reasons(daemon.tree)


def test_a_sparse_3_gib_midi_is_quarantined_by_size_without_being_read(daemon):
    tree = daemon.tree
    target = tree.inbox / "mix" / "huge.mid"
    with open(target.with_name(".huge.mid.part"), "wb") as f:
        f.write(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0")
        f.truncate(SPARSE_BYTES)
    os.rename(target.with_name(".huge.mid.part"), target)
    reason = wait_quarantined(daemon, "huge.mid")["huge.mid"]
    assert "limits.max_file_mb" in reason and "3072.0 MiB" in reason
    # Nothing of it reached the dataset, and no process read it into memory (3 GiB would show).
    assert [p for p in (tree.datasets / "mix").rglob("*") if p.is_file() and p.stat().st_size > 1 << 20] == []
    assert rss_kib(daemon.proc.pid) < 1024**2


@pytest.mark.parametrize("name, make, key", [
    ("big.mid", lambda p: (write_midi(p), p.write_bytes(p.read_bytes() + b"\0" * 60_000)), "limits.max_midi_mb"),
    ("busy.mid", lambda p: write_midi(p, n_notes=300, note_s=0.05), "limits.max_midi_notes"),
    ("long.mid", lambda p: write_midi(p, n_notes=10, note_s=20.0), "limits.max_midi_duration_s"),
], ids=["size", "notes", "duration"])
def test_midi_over_a_limit_is_quarantined_naming_the_key(daemon, tmp_path, name, make, key):
    staged = tmp_path / name
    make(staged)
    os.replace(staged, daemon.tree.inbox / "mix" / name)
    assert key in wait_quarantined(daemon, name)[name]


def test_augmentation_decodes_only_the_allowed_seconds(daemon, tmp_path):
    tree = daemon.tree
    long_s = 4 * AUGMENT_S
    t = np.arange(int(long_s * SR_HZ)) / SR_HZ
    staged = tmp_path / "long.wav"
    sf.write(staged, (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32), SR_HZ, subtype="PCM_16")
    (tree.inbox / "mix" / "happy").mkdir()
    os.replace(staged, tree.inbox / "mix" / "happy" / "long.wav")
    wait_for(lambda: any(s.get("parent_id") for s in tree.manifest_samples("mix")), 120, "augmented children")
    samples = tree.manifest_samples("mix")
    parent = next(s for s in samples if s.get("parent_id") is None)
    assert parent["annotations"]["duration_s"] == pytest.approx(long_s, abs=0.01)
    children = [s for s in samples if s.get("parent_id")]
    assert children
    for child in children:
        seconds = sf.info(str(tree.datasets / "mix" / child["file_path"])).duration
        # The start only: at most the limit, stretched by at most the largest time_stretch factor (1.1).
        assert seconds <= AUGMENT_S * 1.1 + 0.01, (child["file_path"], seconds)


def test_a_sidecar_over_the_limit_is_refused_with_the_key(daemon, tmp_path):
    folder = daemon.tree.inbox / "mix" / "happy"
    folder.mkdir()
    staged = tmp_path / "tune.mid"
    write_midi(staged)
    (folder / "tune.mid.json").write_text(json.dumps({"tags": ["x" * 100] * 80}))  # about 8 KiB
    os.replace(staged, folder / "tune.mid")
    reason = wait_quarantined(daemon, "tune.mid")["tune.mid"]
    assert "limits.max_sidecar_kb" in reason and "tune.mid.json" in reason
    assert daemon.tree.manifest_samples("mix") == []


@pytest.mark.parametrize("text", ['{"valence": NaN}', '{"arousal": Infinity}', '{"valence": -1e999}'],
                         ids=["nan", "infinity", "overflow"])
def test_a_sidecar_with_a_non_finite_number_is_refused(daemon, tmp_path, text):
    folder = daemon.tree.inbox / "mix"
    staged = tmp_path / "nan.mid"
    write_midi(staged)
    (folder / "nan.mid.json").write_text(text)
    os.replace(staged, folder / "nan.mid")
    assert "not finite" in wait_quarantined(daemon, "nan.mid")["nan.mid"]


def test_a_sidecar_cannot_blank_folder_labels(daemon, tmp_path):
    tree = daemon.tree
    folder = tree.inbox / "mix" / "sad"
    folder.mkdir()
    staged = tmp_path / "blank.mid"
    write_midi(staged)
    (folder / "blank.mid.json").write_text(json.dumps({"emotion": None, "base_emotion": "", "tags": [],
                                                         "instrument": "piano"}))
    os.replace(staged, folder / "blank.mid")
    wait_for(lambda: len(tree.manifest_samples("mix")) >= 1, 60, "the sample in the manifest")
    annotations = next(s for s in tree.manifest_samples("mix") if s.get("parent_id") is None)["annotations"]
    assert annotations["emotion"] == "sad" and annotations["base_emotion"] == "sad"
    assert annotations["instrument"] == "piano"  # a real value still adds to the labels
