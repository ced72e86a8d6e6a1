"""Where the configuration is found and where kellyd keeps its files: the XDG base directories.

Search order: --config, $KELLYD_CONFIG, $XDG_CONFIG_HOME/kellyd/config.toml, the repository's
config.toml in a checkout. (That nothing found lists every place and names `kellyd init` is
shown by tests/test_wheel_install.py, where there is no checkout.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kellyd.config import DEFAULT_CONFIG_PATH, load_config
from kellyd.errors import ConfigError
from kellyd.locations import checkout_root, find_config
from tests.daemon.harness import wait_for

REPO = Path(__file__).resolve().parents[1]
XDG_VARIABLES = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "KELLYD_CONFIG")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh HOME with no XDG variables and no KELLYD_CONFIG."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    for name in XDG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return folder


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_search_order(home, tmp_path, monkeypatch):
    explicit = write(tmp_path / "explicit.toml")
    from_env = write(tmp_path / "env.toml")
    user = write(home / ".config" / "kellyd" / "config.toml")
    monkeypatch.setenv("KELLYD_CONFIG", str(from_env))
    assert find_config(explicit) == explicit.resolve()
    assert find_config(None) == from_env.resolve()
    monkeypatch.delenv("KELLYD_CONFIG")
    assert find_config(None) == user.resolve()
    user.unlink()
    assert DEFAULT_CONFIG_PATH is not None, "these tests run from a checkout"
    assert find_config(None) == DEFAULT_CONFIG_PATH.resolve()


def test_xdg_config_home_is_honoured_and_a_relative_one_ignored(home, tmp_path, monkeypatch):
    elsewhere = write(tmp_path / "xdg" / "kellyd" / "config.toml")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert find_config(None) == elsewhere.resolve()
    default = write(home / ".config" / "kellyd" / "config.toml")
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/xdg")  # invalid by the XDG spec: the default applies
    assert find_config(None) == default.resolve()


@pytest.mark.parametrize("label", ["--config", "$KELLYD_CONFIG"])
def test_a_named_file_that_is_missing_is_an_error_not_a_fall_through(home, tmp_path, monkeypatch, label):
    write(home / ".config" / "kellyd" / "config.toml")  # would be found next: must not be used
    missing = tmp_path / "nowhere.toml"
    if label == "--config":
        call = lambda: find_config(missing)  # noqa: E731
    else:
        monkeypatch.setenv("KELLYD_CONFIG", str(missing))
        call = lambda: find_config(None)  # noqa: E731
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.key == label
    assert str(missing) in info.value.reason and "init" in info.value.reason


def test_a_checkout_is_recognised_by_its_own_pyproject(tmp_path):
    assert checkout_root() == REPO

    def tree(name: str | None, with_handlers: bool = True) -> Path:
        root = tmp_path / f"t{len(list(tmp_path.iterdir()))}"
        (root / "kellyd").mkdir(parents=True)
        if with_handlers:
            write(root / "handlers" / "registry.py")
        if name is not None:
            write(root / "pyproject.toml", f'[project]\nname = "{name}"\n')
        return root

    good = tree("kellyd")
    assert checkout_root(good / "kellyd") == good
    assert checkout_root(tree("someone-else") / "kellyd") is None
    assert checkout_root(tree(None) / "kellyd") is None  # like site-packages
    assert checkout_root(tree("kellyd", with_handlers=False) / "kellyd") is None
    broken = tree(None)
    write(broken / "pyproject.toml", "not [ toml")
    assert checkout_root(broken / "kellyd") is None


def test_paths_default_to_xdg_folders(home, tmp_path, monkeypatch):
    empty = write(tmp_path / "conf" / "empty.toml")
    cfg = load_config(empty)
    assert cfg.paths.inbox == home / ".local" / "share" / "kellyd" / "inbox"
    assert cfg.paths.datasets == home / ".local" / "share" / "kellyd" / "datasets"
    assert cfg.paths.state == home / ".local" / "state" / "kellyd"
    assert cfg.paths.staging == home / ".kelly"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cfg = load_config(empty)
    assert (cfg.paths.inbox, cfg.paths.datasets, cfg.paths.state) == (
        tmp_path / "data" / "kellyd" / "inbox", tmp_path / "data" / "kellyd" / "datasets", tmp_path / "state" / "kellyd")
    assert not any(folder.exists() for folder in (cfg.paths.inbox, cfg.paths.datasets, cfg.paths.state)), \
        "reading a configuration creates nothing"


def test_named_relative_paths_follow_the_config_files_folder(home, tmp_path, monkeypatch):
    config = write(tmp_path / "project" / "kellyd.toml", '[paths]\ninbox = "in"\nstate = "../st"\n')
    monkeypatch.chdir(home)
    cfg = load_config(config)
    assert cfg.paths.inbox == tmp_path / "project" / "in"
    assert cfg.paths.state == (tmp_path / "project" / ".." / "st")
    assert cfg.paths.datasets == home / ".local" / "share" / "kellyd" / "datasets"


# -- the command line, in a subprocess with its own HOME ------------------------------------------------


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in XDG_VARIABLES}
    env["HOME"] = str(home)
    return env


def kellyd(home: Path, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kellyd", *args], capture_output=True, text=True,
                          env=cli_env(home), cwd=home, timeout=timeout_s)


def test_init_writes_the_user_config_and_its_folders_so_check_passes(home):
    init = kellyd(home, "init")
    assert init.returncode == 0, init.stderr
    user_config = home / ".config" / "kellyd" / "config.toml"
    assert user_config.is_file() and str(user_config) in init.stdout
    share = home / ".local" / "share" / "kellyd"
    for folder in (share / "inbox", share / "datasets", home / ".local" / "state" / "kellyd", home / ".kelly"):
        assert folder.is_dir(), folder
    check = kellyd(home, "config", "check")
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(f"{user_config}: OK")
    assert "does not exist yet" not in check.stdout
    again = kellyd(home, "init")
    assert again.returncode == 1 and "--force" in again.stderr
    assert kellyd(home, "init", "--force").returncode == 0


def test_init_writes_where_config_points(home, tmp_path):
    target = tmp_path / "elsewhere" / "kellyd.toml"
    assert kellyd(home, "--config", str(target), "init").returncode == 0
    assert target.is_file() and not (home / ".config" / "kellyd" / "config.toml").exists()
    assert kellyd(home, "--config", str(target), "config", "check").returncode == 0


def test_an_empty_config_passes_check_and_run_creates_its_folders(home):
    config = write(home / ".config" / "kellyd" / "config.toml")
    share, state = home / ".local" / "share" / "kellyd", home / ".local" / "state" / "kellyd"
    check = kellyd(home, "config", "check")
    assert check.returncode == 0, check.stderr
    for folder in (share / "inbox", share / "datasets", state):
        assert f"{folder} does not exist yet" in check.stdout
        assert not folder.exists()
    assert "no datasets configured" in check.stdout

    log_path = home / "daemon.log"
    with open(log_path, "w") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "kellyd", "run"], stdout=log, stderr=subprocess.STDOUT,
                                  env=cli_env(home), cwd=home, start_new_session=True)
    try:
        wait_for(lambda: "daemon_started" in log_path.read_text() or daemon.poll() is not None, 60, "daemon start")
        assert daemon.poll() is None, log_path.read_text()[-3000:]
        assert str(config) in log_path.read_text()
        for folder in (share / "inbox", share / "datasets", state):
            assert folder.is_dir(), folder
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0


def test_a_folder_that_cannot_be_created_stops_run_naming_it(home):
    # /proc accepts no new folders, even from root: creating one fails as a read-only mount would.
    config = write(home / "procs.toml", '[paths]\ninbox = "/proc/kellyd-test/inbox"\n')
    run = kellyd(home, "--config", str(config), "run")
    assert run.returncode == 2
    assert "cannot create the folder /proc/kellyd-test/inbox" in run.stderr and "Traceback" not in run.stderr
