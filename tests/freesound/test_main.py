"""`python -m kellyd.freesound` in a subprocess: exit codes, and a SIGKILL in the middle of a pull."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import tomli_w

from .support import KEY, populate, staged

REPO_ROOT = Path(__file__).resolve().parents[2]
EMOTIONS, INSTRUMENTS = ("happy", "sad"), ("piano", "guitar")


def wait_until(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def write_config(tmp_path: Path, server, **overrides) -> Path:
    table = {
        "base_url": server.base_url, "emotions": list(EMOTIONS), "instruments": list(INSTRUMENTS),
        "target_per_combination": 3, "page_size": 2, "timeout_s": 5.0, "backoff_base_s": 0.05,
        "backoff_max_s": 0.2, "key_file": str(tmp_path / "no-key-file.json"), **overrides,
    }
    path = tmp_path / "kellyd.toml"
    path.write_text(tomli_w.dumps({"freesound": table}))
    return path


def command(tmp_path: Path, config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kellyd.freesound", "--staging", str(tmp_path / "kelly"),
            "--state-db", str(tmp_path / "state" / "catalog.sqlite3"), "--config", str(config),
            "--log-format", "json", *extra]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FREESOUND_API_KEY"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra)
    return env


def test_a_pull_killed_mid_download_resumes_to_the_target_without_duplicates(server, tmp_path):
    ids = populate(server, EMOTIONS, INSTRUMENTS)
    stalled_id = ids["happy guitar"][1]
    server.fault(("preview", stalled_id), "stall")
    config = write_config(tmp_path, server)
    first_log = tmp_path / "first.log"
    with open(first_log, "wb") as out:
        child = subprocess.Popen(command(tmp_path, config), cwd=REPO_ROOT, env=child_env(FREESOUND_API_KEY=KEY),
                                 stdout=out, stderr=subprocess.STDOUT)
        try:
            assert server.stalled.wait(30), "the pull never reached the stalled download"
            part = tmp_path / "kelly" / "emotion_samples" / "happy" / "guitar" / f".{stalled_id}.mp3.part"
            assert wait_until(lambda: part.exists() and part.stat().st_size > 0), "no bytes reached the part file"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
    assert child.returncode == -signal.SIGKILL
    audio, _, leftovers = staged(tmp_path / "kelly")
    assert len(audio) == 4 and leftovers == [part]  # 3 happy/piano + 1 happy/guitar, and the part file
    done_before_kill = {p.name.split("_")[0] for p in audio}
    server.release_stall()

    resumed = subprocess.run(command(tmp_path, config, "--json"), cwd=REPO_ROOT, env=child_env(FREESOUND_API_KEY=KEY),
                             capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["outcome"] == "completed" and report["leftovers_removed"] == 1
    assert [c["total"] for c in report["combinations"]] == [3, 3, 3, 3]
    audio, sidecars, leftovers = staged(tmp_path / "kelly")
    assert len(audio) == len(sidecars) == 12 and leftovers == []
    assert len({p.name.split("_")[0] for p in audio}) == 12
    assert sum(server.complete_files.values()) == 12 and max(server.complete_files.values()) == 1
    for sound_id in done_before_kill:
        assert len(server.paths(f"/previews/{sound_id}-")) == 1  # never asked for again
    assert KEY not in first_log.read_text() and KEY not in resumed.stdout + resumed.stderr


def test_without_a_key_the_module_exits_3_with_one_clear_line(server, tmp_path):
    result = subprocess.run(command(tmp_path, write_config(tmp_path, server)), cwd=REPO_ROOT, env=child_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == ["freesound.skipped"]
    assert "FREESOUND_API_KEY" in lines[0]["reason"]
    assert server.seen == []


def test_a_bad_setting_exits_2_naming_the_key(server, tmp_path):
    result = subprocess.run(command(tmp_path, write_config(tmp_path, server), "--target", "0"), cwd=REPO_ROOT,
                            env=child_env(FREESOUND_API_KEY=KEY), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "freesound.target_per_combination" in result.stderr and "got 0" in result.stderr
