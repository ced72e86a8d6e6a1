"""Attack: librosa's numba kernels, compiled by several workers at once, and a cache broken on disk.

Worker processes once compiled into one shared `state/numba-cache`. numba names a function's
overload files by their position in its index, so two processes compiling different overloads
of one function can leave an index that points at the other one's machine code; the next process
that loads it dies of SIGSEGV, and every audio file was quarantined, blamed. Here each worker owns
a cache folder. The tests drop real audio files (written with soundfile) on a real daemon:
a cold cache with two workers compiles without a crash; a cache whose overload files are swapped
(what the race leaves behind: a real SIGSEGV) or filled with garbage is set aside and rebuilt,
every file still gets its features, nothing is quarantined, and status and the log say what happened.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kellyd.music.audio_numba import NUMBA_CACHE_DIRNAME, SET_ASIDE_DIRNAME, cache_tag
from tests.daemon.harness import DaemonProcess, Tree, make_tree, run_cli, wait_for

pytestmark = pytest.mark.slow

SR_HZ = 16000
AUDIO_FILES = 4
# librosa's beat tracker has two compiled overloads of this kernel; swapping their files
# gives the index/data mismatch a concurrent compile leaves, and a SIGSEGV on load.
SWAPPED_KERNEL = "beat.__trim_beats-"
COMPILE_BOUND_S = 240.0


def write_clicks(path: Path, index: int) -> None:
    """A 3 s click track at 100 + 10 * index bpm over a quiet tone: tempo and beats to find."""
    t = np.arange(3 * SR_HZ) / SR_HZ
    period_s = 60.0 / (100 + 10 * index)
    y = 0.05 * np.sin(2 * np.pi * (220 + 20 * index) * t) + 0.4 * (np.mod(t, period_s) < 0.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), SR_HZ)


def audio_tree(tmp: Path, workers: int) -> Tree:
    datasets = {"emo": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate", "features"]}}
    return make_tree(tmp, datasets=datasets, settle_s=0.3, extra={"executor": {"workers": workers}})


def drop_audio(tree: Tree, count: int, *, first: int = 0) -> None:
    for i in range(first, first + count):
        write_clicks(tree.inbox / "emo" / "happy" / f"clip{i}.wav", i)


def featured(tree: Tree) -> int:
    return sum(1 for s in tree.manifest_samples("emo") if s["features_path"])


def cache_folders(tree: Tree) -> Path:
    return tree.state / NUMBA_CACHE_DIRNAME / cache_tag()


def worker_deaths(tree: Tree) -> list[tuple]:
    db = sqlite3.connect(f"file:{tree.state / 'catalog.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT signal, cause, charged, step FROM worker_deaths").fetchall()
    finally:
        db.close()


def status(tree: Tree) -> dict:
    done = run_cli(tree, "status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def warm_folder(tmp_path_factory) -> Path:
    """A cold start with two workers: both compile at once, none crashes. Returns a worker folder
    that holds the beat tracker's compiled kernels."""
    tree = audio_tree(tmp_path_factory.mktemp("cold"), workers=2)
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        drop_audio(tree, AUDIO_FILES)
        wait_for(lambda: featured(tree) == AUDIO_FILES, COMPILE_BOUND_S, "features of every audio file", interval_s=0.5)
    finally:
        daemon.stop()
    assert worker_deaths(tree) == [] and tree.quarantine_errors("emo") == []
    folders = [f for f in sorted(cache_folders(tree).glob("w*")) if f.is_dir()]
    assert folders and all(f.name in {"w0", "w1"} for f in folders), folders
    with_kernel = [f for f in folders if len(list(f.rglob(f"*{SWAPPED_KERNEL}*.nbc"))) >= 2]
    assert with_kernel, "no worker folder holds the beat tracker's two overloads"
    return with_kernel[0]


def test_cold_cache_with_two_workers_compiles_without_a_crash(warm_folder):
    # The fixture did the work: every file featured, no death, no quarantine, one folder per worker.
    assert any(warm_folder.rglob("*.nbi"))


def plant(warm: Path, tree: Tree, slots: list[int]) -> list[Path]:
    root = cache_folders(tree)
    root.mkdir(parents=True)
    planted = []
    for slot in slots:
        shutil.copytree(warm, root / f"w{slot}")
        planted.append(root / f"w{slot}")
    return planted


def swap_overloads(folder: Path) -> None:
    for prefix in ("", "guf-"):
        files = sorted(p for p in folder.rglob(f"{prefix}{SWAPPED_KERNEL}*.nbc")
                       if p.name.startswith("guf-") == (prefix == "guf-"))
        assert len(files) >= 2, files
        first, second = files[0].read_bytes(), files[1].read_bytes()
        files[0].write_bytes(second)
        files[1].write_bytes(first)


def garble(folder: Path) -> None:
    rng = np.random.default_rng(7)
    for path in list(folder.rglob("*.nbi")) + list(folder.rglob("*.nbc")):
        data = bytearray(path.read_bytes())
        cut = len(data) // 3
        data[cut:] = rng.integers(0, 256, len(data) - cut, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))


def test_a_cache_that_segfaults_is_set_aside_not_blamed_on_the_file(tmp_path, warm_folder):
    tree = audio_tree(tmp_path, workers=1)  # one worker: it must load the swapped kernel
    (planted,) = plant(warm_folder, tree, [0])
    swap_overloads(planted)
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        drop_audio(tree, 2)
        wait_for(lambda: featured(tree) == 2, COMPILE_BOUND_S, "features after the cache rebuild", interval_s=0.5)
        shown = status(tree)
    finally:
        daemon.stop()
    assert tree.quarantine_errors("emo") == []
    deaths = worker_deaths(tree)
    assert ("SIGSEGV", "numba_cache", 0, "features") in deaths, deaths
    assert all(charged == 0 for _, _, charged, _ in deaths), deaths
    assert list((cache_folders(tree) / SET_ASIDE_DIRNAME).glob("w0-*")), "the crashing folder was not set aside"
    assert shown["work"]["worker_deaths"]["by_signal"].get("SIGSEGV", 0) >= 1
    assert shown["work"]["worker_deaths"]["charged"] == 0
    assert shown["work"]["numba_cache"]["rebuilds"] >= 1
    assert "numba_cache_set_aside" in daemon.log_text()


def test_a_garbled_cache_is_rebuilt_by_the_worker(tmp_path, warm_folder):
    tree = audio_tree(tmp_path, workers=2)
    for folder in plant(warm_folder, tree, [0, 1]):
        garble(folder)
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        drop_audio(tree, AUDIO_FILES)
        wait_for(lambda: featured(tree) == AUDIO_FILES, COMPILE_BOUND_S, "features after the cache rebuild",
                 interval_s=0.5)
        wait_for(lambda: status(tree)["work"]["numba_cache"]["rebuilds"] >= 1, 10, "the rebuild in status")
        shown = status(tree)
    finally:
        daemon.stop()
    assert tree.quarantine_errors("emo") == []
    assert [d for d in worker_deaths(tree) if d[2]] == []
    assert list((cache_folders(tree) / SET_ASIDE_DIRNAME).iterdir())
    assert "numba cache unreadable" in shown["work"]["numba_cache"]["last"]["cause"]
    assert "numba_cache_set_aside" in daemon.log_text()
