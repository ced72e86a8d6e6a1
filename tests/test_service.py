"""The service files: the unit passes systemd-analyze verify, the plist parses."""

from __future__ import annotations

import plistlib
import shutil
import subprocess

import pytest

from kellyd.config import load_config
from kellyd.service import render_launchd, render_systemd


@pytest.mark.parametrize("user", [False, True])
def test_systemd_unit_verifies(tmp_path, user):
    cfg = load_config()
    exe = tmp_path / "kellyd"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    rendered = render_systemd(cfg, user=user, exec_path=str(exe))
    assert "@" not in rendered.text.replace("$MAINPID", "")
    assert f"ExecStart={exe} --config {cfg.source} run" in rendered.text
    assert "Restart=on-failure" in rendered.text
    if not user:
        assert "ProtectSystem=strict" in rendered.text and str(cfg.paths.state) in rendered.text
    unit = tmp_path / "kellyd.service"
    unit.write_text(rendered.text)
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True)
    problems = [line for line in proc.stderr.splitlines() if "kellyd.service" in line]
    assert proc.returncode == 0 and problems == [], proc.stderr


def test_launchd_plist_parses_with_real_paths():
    cfg = load_config()
    rendered = render_launchd(cfg, exec_path="/opt/kelly & co/bin/kellyd")
    plist = plistlib.loads(rendered.text.encode())
    assert plist["Label"] == "com.kelly.kellyd"
    assert plist["ProgramArguments"] == ["/opt/kelly & co/bin/kellyd", "--config", str(cfg.source), "run"]
    assert plist["KeepAlive"] == {"SuccessfulExit": False} and plist["RunAtLoad"] is True
    assert rendered.path.name == "com.kelly.kellyd.plist"
