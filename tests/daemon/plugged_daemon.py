"""The real daemon, started with extra test handlers in its registry (and so in its workers)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.daemon.harness import REPO_ROOT, DaemonProcess, Tree, kellyd_env

# Runs `kellyd ... run` after adding handlers; workers unpickle the handlers by module path.
LAUNCHER = ("import json, sys; from kellyd.handlers import registry; registry.HANDLERS.update(json.loads(sys.argv[1]));"
            " from kellyd.cli import main; sys.exit(main(sys.argv[2:]))")


class PluggedDaemon(DaemonProcess):
    def __init__(self, tree: Tree, handlers: dict[str, str]) -> None:  # noqa: super().__init__ would start `kellyd run`
        self.tree = tree
        self.log_path = tree.root / f"daemon-{time.time_ns()}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, json.dumps(handlers), "--config", str(tree.config), "run"],
            stdout=self._log, stderr=subprocess.STDOUT, env=kellyd_env(tree), cwd=REPO_ROOT, start_new_session=True)


def run_plugged_cli(tree: Tree, handlers: dict[str, str], *args: str,
                    timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    """`kellyd --config ... <args>` with the same handlers known (the config names them)."""
    return subprocess.run([sys.executable, "-c", LAUNCHER, json.dumps(handlers), "--config", str(tree.config), *args],
                          capture_output=True, text=True, timeout=timeout_s, env=kellyd_env(tree), cwd=REPO_ROOT)


def status_json(tree: Tree, handlers: dict[str, str]) -> dict:
    done = run_plugged_cli(tree, handlers, "status", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)
