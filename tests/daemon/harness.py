"""Run the real daemon in a subprocess on a temporary tree, and read what it wrote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import tomli_w

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Tree:
    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def staging(self) -> Path:
        return self.root / "home" / ".kelly"

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    def manifest(self, dataset_id: str) -> dict | None:
        path = self.datasets / dataset_id / "manifest.json"
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def manifest_samples(self, dataset_id: str) -> list[dict]:
        m = self.manifest(dataset_id)
        return [] if m is None else m["samples"]

    def quarantine_errors(self, dataset_id: str) -> list[dict]:
        folder = self.state / "quarantine" / dataset_id
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.error.json"))] if folder.exists() else []


def make_tree(tmp: Path, *, datasets: dict | None = None, settle_s: float = 0.5, rescan_s: float = 300.0,
              extra: dict | None = None) -> Tree:
    tree = Tree(tmp)
    for folder in (tree.inbox, tree.datasets, tree.staging):
        folder.mkdir(parents=True, exist_ok=True)
    datasets = datasets or {"mix": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate"]}}
    config = {
        "paths": {"inbox": "inbox", "datasets": "datasets", "state": "state", "staging": str(tree.staging)},
        "watch": {"settle_s": settle_s, "rescan_s": rescan_s},
        "executor": {"workers": 2, "shutdown_grace_s": 2.0},
        "export": {"debounce_s": 0.2},
        "schedule": {"validate": "off", "retrain": "off", "freesound": "off"},
        "logging": {"format": "json", "level": "info"},
        "datasets": datasets,
        "freesound": {"enabled": False},
    }
    for section, values in (extra or {}).items():
        config.setdefault(section, {}).update(values)
    tree.config.write_text(tomli_w.dumps(config))
    for ds in datasets:
        (tree.inbox / ds).mkdir(exist_ok=True)
    return tree


def kellyd_env(tree: Tree) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(tree.root / "home")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("KELLYD_CONFIG", None)
    return env


def run_cli(tree: Tree, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kellyd", "--config", str(tree.config), *args],
                          capture_output=True, text=True, timeout=timeout_s, env=kellyd_env(tree), cwd=REPO_ROOT)


class DaemonProcess:
    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.log_path = tree.root / f"daemon-{time.time_ns()}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "kellyd", "--config", str(tree.config), "run"],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=kellyd_env(tree), cwd=REPO_ROOT,
                                     start_new_session=True)

    def wait_started(self, timeout_s: float = 30.0) -> None:
        wait_for(lambda: "daemon_started" in self.log_text() or self.proc.poll() is not None, timeout_s,
                 "daemon start")
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_events(self) -> list[dict]:
        events = []
        for line in self.log_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError(f"daemon did not stop on SIGTERM within {timeout_s}s")
        self._log.close()
        return self.proc.returncode

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # the daemon and its workers, like a power cut
        self.proc.wait()
        self._log.close()


def kill9_at_hook(tree: Tree, hook_env: str, step: str, marker: Path, feed: Callable[[], None] = lambda: None) -> DaemonProcess:
    """Start a daemon with one of the runner's test hooks (`kellyd.runner`: "<step>@<marker>"), `feed` it,
    wait until it stops at the hook, and kill it with SIGKILL there. Only that daemon gets the hook."""
    os.environ[hook_env] = f"{step}@{marker}"
    try:
        daemon = DaemonProcess(tree)
    finally:
        del os.environ[hook_env]
    try:
        daemon.wait_started()
        feed()
        wait_for(marker.exists, 60, f"the runner paused at its test hook ({hook_env}, step {step})")
    finally:
        daemon.kill9()
    return daemon


def wait_for(cond: Callable[[], bool], timeout_s: float, what: str, *, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
