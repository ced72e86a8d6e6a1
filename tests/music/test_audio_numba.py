"""The numba cache persists across processes: a second cold start loads librosa's kernels instead of compiling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kellyd.music.audio_numba import NUMBA_CACHE_DIRNAME, NUMBA_CACHE_ENV, configure_numba_cache

REPO_ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter, as a worker would start: configure the cache, then run the extractor once.
COLD_START = """
import json, sys, time
started = time.perf_counter()
from kellyd.music.audio_numba import configure_numba_cache
cache_dir = configure_numba_cache(sys.argv[1])
import numpy as np
from kellyd.music.audio_features import extract_audio
sr_hz = 16000
t = np.arange(3 * sr_hz) / sr_hz
y = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.mod(t, 0.5) < 0.1)).astype(np.float32)
labels = extract_audio(y, sr_hz=sr_hz).labels
print(json.dumps({"seconds": time.perf_counter() - started, "cache_dir": str(cache_dir),
                  "tempo_bpm": labels["tempo_bpm"]}))
"""


def cold_start(state_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != NUMBA_CACHE_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", COLD_START, str(state_dir)], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=240, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cache_snapshot(cache_dir: Path) -> dict[str, int]:
    return {str(p.relative_to(cache_dir)): p.stat().st_mtime_ns for p in cache_dir.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_second_cold_start_does_not_recompile(tmp_path):
    state_dir = tmp_path / "state"
    first = cold_start(state_dir)
    cache_dir = Path(first["cache_dir"])
    assert cache_dir == state_dir / NUMBA_CACHE_DIRNAME
    after_first = cache_snapshot(cache_dir)
    assert any(name.endswith(".nbi") for name in after_first), "the first start wrote no numba cache index"

    second = cold_start(state_dir)
    # numba saves what it compiles: an unchanged cache means every kernel was loaded, none compiled.
    assert cache_snapshot(cache_dir) == after_first
    assert second["seconds"] < first["seconds"]
    assert first["tempo_bpm"] == second["tempo_bpm"] == pytest.approx(120.0, rel=0.04)


@pytest.fixture
def numba_env(monkeypatch):
    """Run with no NUMBA_CACHE_DIR and give numba back its configuration afterwards."""
    monkeypatch.delenv(NUMBA_CACHE_ENV, raising=False)
    yield monkeypatch
    monkeypatch.undo()
    config = sys.modules.get("numba.core.config")
    if config is not None:
        config.reload_config()


def test_configure_points_numba_into_the_state_folder(numba_env, tmp_path):
    cache_dir = configure_numba_cache(tmp_path / "state")
    assert cache_dir == tmp_path / "state" / NUMBA_CACHE_DIRNAME and cache_dir.is_dir()
    assert os.environ[NUMBA_CACHE_ENV] == str(cache_dir)


def test_a_cache_dir_from_the_environment_wins(numba_env, tmp_path):
    chosen = tmp_path / "elsewhere"
    numba_env.setenv(NUMBA_CACHE_ENV, str(chosen))
    assert configure_numba_cache(tmp_path / "state") == chosen
    assert chosen.is_dir() and not (tmp_path / "state").exists()


# -- one folder per worker ---------------------------------------------------------------------

CLAIM = """
import sys, time
from pathlib import Path
from kellyd.music.audio_numba import claim_worker_cache
slot, folder = claim_worker_cache(Path(sys.argv[1]))
print(slot, folder, flush=True)
sys.stdin.readline()  # hold the folder until the test lets go
"""


def test_live_processes_never_share_a_cache_folder_and_a_dead_ones_is_reused(tmp_path):
    root = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", CLAIM, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env, cwd=REPO_ROOT) for _ in range(3)]
    try:
        claimed = [p.stdout.readline().split()[0] for p in procs]
        assert sorted(claimed) == ["0", "1", "2"]
        procs[1].kill()  # the kernel drops its lock with it
        procs[1].wait()
        again = subprocess.Popen([sys.executable, "-c", CLAIM, str(root)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
        procs.append(again)
        slot = again.stdout.readline().split()[0]
        assert slot == claimed[1], "the dead process's folder (and its compiled code) is taken over"
        assert (root / f"w{slot}").is_dir()
    finally:
        for p in procs:
            if p.poll() is None:
                p.stdin.close()
                p.wait(timeout=10)


def test_set_aside_keeps_the_old_folder_and_leaves_an_empty_one(tmp_path):
    from kellyd.music.audio_numba import SET_ASIDE_DIRNAME, set_aside

    folder = tmp_path / "w0"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f.nbi").write_bytes(b"index")
    aside = set_aside(folder, now_s=12.345)
    assert aside == tmp_path / SET_ASIDE_DIRNAME / "w0-12345"
    assert (aside / "sub" / "f.nbi").read_bytes() == b"index"
    assert folder.is_dir() and not any(folder.iterdir())
    assert set_aside(tmp_path / "missing", now_s=1.0) is None


BROKEN_CACHE = """
import os, sys
os.environ["NUMBA_CACHE_DIR"] = sys.argv[1]
import numba
from kellyd.music.audio_numba import is_cache_failure

@numba.njit(cache=True)
def double(x):
    return 2 * x

try:
    double(3)
except Exception as exc:
    print("cache failure" if is_cache_failure(exc) else f"other {type(exc).__name__}")
else:
    print("ran")
try:
    int("x")
except ValueError as exc:
    print("cache failure" if is_cache_failure(exc) else "not a cache failure")
"""


def test_an_unreadable_numba_index_is_recognised_as_a_cache_failure(tmp_path):
    script = tmp_path / "kernel.py"
    script.write_text(BROKEN_CACHE)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cache = tmp_path / "cache"

    def run() -> list[str]:
        done = subprocess.run([sys.executable, str(script), str(cache)], capture_output=True, text=True, env=env,
                              cwd=REPO_ROOT, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.split("\n")[:2]

    assert run() == ["ran", "not a cache failure"]
    indexes = list(cache.rglob("*.nbi"))
    assert indexes
    for index in indexes:
        index.write_bytes(b"not a pickle at all")
    assert run() == ["cache failure", "not a cache failure"]
