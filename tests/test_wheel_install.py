"""kellyd installed from its wheel into a fresh virtual environment, used the way a new user would.

The wheel is built from a copy of the sources, installed with --no-deps into a venv outside the
repository; the dev venv's third-party packages are made visible through a `.pth` file that lists
its site-packages (no network is needed). A folder listed in a `.pth` file is only put on sys.path:
the `.pth` files inside it are not run, so the dev venv's editable-install hook for kellyd stays
off and the only kellyd importable is the installed one. Every command runs with its working
directory and HOME in a temporary folder and no repository on the path.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.daemon.harness import wait_for
from tests.daemon.midi_files import small_midi_bytes

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def copy_wheel_sources(dest: Path) -> None:
    """What the wheel is built from: pyproject, README, the package and the folders mapped into it.

    A copy, so that no build/ folder is left in (or reused from) the working tree.
    """
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    dest.mkdir()
    for name in ("pyproject.toml", pyproject["project"]["readme"]):
        shutil.copy2(REPO / name, dest / name)
    folders = {"kellyd", *pyproject["tool"]["setuptools"]["package-dir"].values()}
    for folder in folders:
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def user_env(home: Path, venv: Path) -> dict[str, str]:
    """A login-like environment: the new venv's bin first, no repository and no kellyd settings."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "KELLYD_CONFIG"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("XDG_")}
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONUNBUFFERED="1")
    return env


def test_the_wheel_installs_and_runs_outside_the_repository(tmp_path):
    sources, wheels, venv, home, work = (tmp_path / n for n in ("src", "wheels", "venv", "home", "work"))
    home.mkdir()
    work.mkdir()
    copy_wheel_sources(sources)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-w", wheels, sources], cwd=tmp_path)
    (wheel,) = wheels.glob("kellyd-*.whl")
    top_level = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert top_level == {"kellyd", wheel.name.split("-py")[0] + ".dist-info"}, top_level

    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", wheel], cwd=tmp_path)
    env = user_env(home, venv)
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    env=env, cwd=work).stdout.strip())
    dev_packages = dict.fromkeys(sysconfig.get_paths()[kind] for kind in ("purelib", "platlib"))
    (site / "dev-venv-packages.pth").write_text("".join(f"{folder}\n" for folder in dev_packages))
    assert not (site / "handlers").exists() and not (site / "systemd").exists()

    where = json.loads(run([python, "-c", "import json, sys, kellyd, kellyd.handlers.registry as r, symusic; "
                                          "print(json.dumps([kellyd.__file__, r.__file__, sys.path]))"],
                           env=env, cwd=work).stdout)
    assert Path(where[0]).is_relative_to(site) and Path(where[1]).is_relative_to(site), where
    assert not any(Path(p).resolve() == REPO for p in where[2] if p), "the repository is on sys.path"

    def kellyd(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([venv / "bin" / "kellyd", *args], capture_output=True, text=True, env=env, cwd=work,
                              timeout=120)
        assert not check or proc.returncode == 0, f"kellyd {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    import kellyd as dev_kellyd

    assert kellyd("--version").stdout.strip() == f"kellyd {dev_kellyd.__version__}"

    lost = kellyd("status", check=False)  # before `kellyd init`: nothing to read, and no checkout
    assert lost.returncode == 2
    assert "no configuration found" in lost.stderr and "kellyd init" in lost.stderr
    assert "$KELLYD_CONFIG (not set)" in lost.stderr and "not a checkout" in lost.stderr
    assert str(home / ".config" / "kellyd" / "config.toml") in lost.stderr
    assert "Traceback" not in lost.stderr

    kellyd("init")
    config = home / ".config" / "kellyd" / "config.toml"
    assert config.is_file()
    check = kellyd("config", "check")
    assert check.stdout.startswith(f"{config}: OK")

    inbox = home / ".local" / "share" / "kellyd" / "inbox"
    manifest = home / ".local" / "share" / "kellyd" / "datasets" / "emotion_dataset_v1" / "manifest.json"
    log_path = tmp_path / "daemon.log"
    with open(log_path, "w") as log:
        daemon = subprocess.Popen([venv / "bin" / "kellyd", "run"], stdout=log, stderr=subprocess.STDOUT, env=env,
                                  cwd=work, start_new_session=True)
    try:
        wait_for(lambda: "daemon_started" in log_path.read_text() or daemon.poll() is not None, 90, "daemon start")
        assert daemon.poll() is None, log_path.read_text()[-3000:]
        folder = inbox / "emotion_dataset_v1" / "happy"
        folder.mkdir(parents=True, exist_ok=True)
        scratch = folder / ".tune.mid.part"
        scratch.write_bytes(small_midi_bytes(3))
        scratch.rename(folder / "tune.mid")

        def in_manifest() -> bool:
            try:
                samples = json.loads(manifest.read_text())["samples"]
            except (FileNotFoundError, json.JSONDecodeError):
                return False
            return any("tune.mid" in s.get("original_names", []) for s in samples)

        wait_for(in_manifest, 90, "the dropped MIDI in the manifest", interval_s=0.2)
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        try:
            code = daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
            raise
    assert code == 0, log_path.read_text()[-3000:]
    assert "Traceback" not in log_path.read_text()

    unit = kellyd("service", "install", "--print").stdout
    assert "[Service]" in unit and str((venv / "bin" / "kellyd").resolve()) in unit, unit
