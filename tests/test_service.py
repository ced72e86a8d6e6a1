"""The service files: the units pass systemd-analyze verify and stay hardened, the plist parses."""

from __future__ import annotations

import dataclasses
import os
import plistlib
import re
import shutil
import subprocess
import sys

import pytest

from kellyd.config import load_config
from kellyd.service import RunAs, home_warnings, render_launchd, render_systemd

# The system unit's `systemd-analyze security` exposure (0 best, 10 worst): 1.5 with systemd 252;
# dropping User= and ProtectSystem=strict alone would raise it to 2.0.
MAX_SYSTEM_EXPOSURE = 1.8


def analyze(*args: str, tmp_path) -> subprocess.CompletedProcess:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    runtime = tmp_path / "runtime"  # a user manager needs a runtime folder, even offline
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, env=env)


def write_unit(tmp_path, *, user: bool, run_as: RunAs = RunAs("kellyd", "kellyd")):
    cfg = load_config()
    exe = tmp_path / "kellyd"  # verify checks that ExecStart names a real executable
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    rendered = render_systemd(cfg, user=user, exec_path=str(exe), run_as=run_as)
    unit = tmp_path / "kellyd.service"
    unit.write_text(rendered.text)
    return cfg, exe, rendered, unit


@pytest.mark.parametrize("user", [False, True])
def test_systemd_unit_verifies(tmp_path, user):
    cfg, exe, rendered, unit = write_unit(tmp_path, user=user)
    assert re.findall(r"@[A-Z_]+@", rendered.text) == []  # every placeholder filled
    assert f"ExecStart={exe} --config {cfg.source} run" in rendered.text
    for line in ("Type=notify", "NotifyAccess=main", "WatchdogSec=60", "Restart=on-failure", "KillMode=mixed"):
        assert line in rendered.text.splitlines()
    proc = analyze("verify", "--man=no", *(["--user"] if user else []), str(unit), tmp_path=tmp_path)
    problems = [line for line in proc.stderr.splitlines() if "kellyd.service" in line]
    assert proc.returncode == 0 and problems == [], proc.stderr


def test_system_unit_runs_as_the_named_user_and_writes_only_its_folders(tmp_path):
    cfg, _, rendered, _ = write_unit(tmp_path, user=False, run_as=RunAs("kelly", "trainers"))
    lines = rendered.text.splitlines()
    assert "User=kelly" in lines and "Group=trainers" in lines
    assert "ProtectSystem=strict" in lines
    writable = next(line for line in lines if line.startswith("ReadWritePaths="))
    assert writable.split("=", 1)[1].split() == [str(p) for p in (cfg.paths.state, cfg.paths.datasets,
                                                                   cfg.paths.inbox, cfg.paths.staging)]
    assert not [line for line in lines if line.startswith("MemoryDenyWriteExecute=")]  # numba needs W+X


def test_folders_in_the_installers_home_are_flagged(tmp_path):
    srv, home = tmp_path / "srv", tmp_path / "home"
    default = load_config()
    cfg = dataclasses.replace(default, paths=dataclasses.replace(
        default.paths, inbox=srv / "inbox", datasets=srv / "datasets", state=srv / "state", staging=home / ".kelly"))
    kellyd = RunAs("kellyd", "kellyd")
    flagged = home_warnings(cfg, kellyd, home)
    assert len(flagged) == 1 and str(home / ".kelly") in flagged[0] and "'kellyd'" in flagged[0]
    assert len(home_warnings(cfg, kellyd, srv)) == 3
    assert home_warnings(cfg, kellyd, tmp_path / "elsewhere") == ()


def test_user_unit_has_no_user_switch(tmp_path):
    _, _, rendered, _ = write_unit(tmp_path, user=True)
    assert not [line for line in rendered.text.splitlines() if line.startswith(("User=", "Group=", "ReadWritePaths="))]
    assert "WantedBy=default.target" in rendered.text


def test_system_unit_exposure_stays_ok(tmp_path):
    _, _, _, unit = write_unit(tmp_path, user=False)
    proc = analyze("security", "--offline=yes", str(unit), tmp_path=tmp_path)
    if "--offline" in proc.stderr and proc.returncode != 0:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    match = re.search(r"Overall exposure level for kellyd\.service: (\d+\.\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= MAX_SYSTEM_EXPOSURE, proc.stdout


def kellyd_cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    env.pop("KELLYD_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "kellyd", "--config", str(load_config().source), *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_service_install_print_names_the_user():
    proc = kellyd_cli("service", "install", "--print", "--run-as", "kelly:trainers")
    assert proc.returncode == 0, proc.stderr
    assert {"Type=notify", "User=kelly", "Group=trainers"} <= set(proc.stdout.splitlines())
    default = kellyd_cli("service", "install", "--print")
    assert {"User=kellyd", "Group=kellyd"} <= set(default.stdout.splitlines())


@pytest.mark.parametrize("run_as, reason", [("root", "must not run as root"), ("Kelly Smith", "not valid"),
                                            ("kelly:", None)])
def test_service_install_run_as_is_checked(run_as, reason):
    proc = kellyd_cli("service", "install", "--print", "--run-as", run_as)
    if reason is None:  # "kelly:" means the group of the same name
        assert proc.returncode == 0 and "Group=kelly" in proc.stdout.splitlines(), proc.stderr
    else:
        assert proc.returncode == 2 and reason in proc.stderr and "Traceback" not in proc.stderr


def test_service_install_user_writes_the_unit(tmp_path):
    proc = kellyd_cli("service", "install", "--user", env_extra={"XDG_CONFIG_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    unit = tmp_path / "systemd" / "user" / "kellyd.service"
    printed = kellyd_cli("service", "install", "--user", "--print")
    assert unit.read_text() == printed.stdout.removesuffix("\n")
    assert "systemctl --user daemon-reload" in proc.stdout


def test_launchd_plist_parses_with_real_paths():
    cfg = load_config()
    rendered = render_launchd(cfg, exec_path="/opt/kelly & co/bin/kellyd")
    plist = plistlib.loads(rendered.text.encode())
    assert plist["Label"] == "com.kelly.kellyd"
    assert plist["ProgramArguments"] == ["/opt/kelly & co/bin/kellyd", "--config", str(cfg.source), "run"]
    assert plist["KeepAlive"] == {"SuccessfulExit": False, "Crashed": True} and plist["RunAtLoad"] is True
    assert plist["ProcessType"] == "Background" and plist["Umask"] == 0o027
    assert plist["StandardErrorPath"] == str(cfg.paths.state / "kellyd.log")
    assert rendered.path.name == "com.kelly.kellyd.plist"
