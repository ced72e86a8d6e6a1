"""`kellyd status` reads the catalog without importing the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.daemon.harness import kellyd_env, make_tree, run_cli


def test_status_imports_nothing_heavy(tmp_path):
    tree = make_tree(tmp_path)
    code = ("import sys, io, contextlib; from kellyd.cli import main; "
            f"buf = io.StringIO()\nwith contextlib.redirect_stdout(buf): rc = main(['--config', {str(tree.config)!r}, 'status', '--json'])\n"
            "heavy = sorted(m for m in ('numpy', 'librosa', 'torch', 'symusic', 'scipy') if m in sys.modules)\n"
            "print(rc, heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=kellyd_env(tree))
    assert proc.stdout.strip() == "7 []", proc.stderr  # 7: no daemon runs (kellyd.exitcodes)


def test_status_of_an_empty_state(tmp_path):
    tree = make_tree(tmp_path)
    proc = run_cli(tree, "status", "--json")
    assert proc.returncode == 7  # no daemon: a script can tell, and --json still prints the state
    status = json.loads(proc.stdout)
    assert status["daemon"] is None and status["queue"] == 0 and status["quarantined"] == 0
    text = run_cli(tree, "status").stdout
    assert "daemon: not running" in text
