"""Where kellyd finds its configuration, and where it keeps its files when the configuration does not say.

Users of a Linux or macOS daemon expect the XDG base directories: the config in
`$XDG_CONFIG_HOME/kellyd/` (`~/.config/kellyd/`), data in `$XDG_DATA_HOME/kellyd/`
(`~/.local/share/kellyd/`), state in `$XDG_STATE_HOME/kellyd/` (`~/.local/state/kellyd/`).
A source checkout keeps its own `config.toml` (watching `./inbox`, writing `./datasets`) as the
last place looked at, so `make run` works in a clone; an installed wheel has no checkout.

Everything here reads the environment when called, never at import, so a changed `HOME` or
`XDG_*` (a test, a service with its own environment) is honoured.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from kellyd.errors import ConfigError

APP_DIR = "kellyd"
CONFIG_NAME = "config.toml"
CONFIG_ENV = "KELLYD_CONFIG"
_PACKAGE_DIR = Path(__file__).resolve().parent


def checkout_root(package_dir: Path = _PACKAGE_DIR) -> Path | None:
    """The source checkout kellyd runs from, or None for an installed package.

    A checkout is the folder above the package holding kellyd's own pyproject.toml and the
    top-level `handlers/` folder. Both are checked, and the project name is read, so that
    site-packages (which holds neither, but might hold some other project's files) never counts.
    """
    root = package_dir.parent
    if not (root / "handlers" / "registry.py").is_file():
        return None
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return root if project.get("name") == "kellyd" else None


def _xdg_home(variable: str, fallback: str) -> Path:
    # The XDG spec says a relative value is invalid and must be ignored.
    value = os.environ.get(variable, "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / fallback


def user_config_path() -> Path:
    """`$XDG_CONFIG_HOME/kellyd/config.toml`, by default `~/.config/kellyd/config.toml`."""
    return _xdg_home("XDG_CONFIG_HOME", ".config") / APP_DIR / CONFIG_NAME


def checkout_config_path() -> Path | None:
    """The repository's `config.toml` when kellyd runs from a checkout."""
    root = checkout_root()
    return None if root is None else root / CONFIG_NAME


def default_folders() -> dict[str, Path]:
    """The `[paths]` folders used when the configuration names none (absolute paths)."""
    data = _xdg_home("XDG_DATA_HOME", ".local/share") / APP_DIR
    return {
        "inbox": data / "inbox",
        "datasets": data / "datasets",
        "state": _xdg_home("XDG_STATE_HOME", ".local/state") / APP_DIR,
    }


def home_relative(path: Path) -> str:
    """`~/...` for a path under the home folder (what a user would type), else the path."""
    try:
        return "~/" + Path(path).relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Candidate:
    """One place the configuration is looked for: how the user names it, and the path (None: not set)."""

    label: str
    path: Path | None
    absent: str = "not set"  # what to say when `path` is None


def config_candidates(explicit: str | os.PathLike | None) -> list[Candidate]:
    """The places looked at, in order: --config, $KELLYD_CONFIG, the XDG user config, the checkout's."""
    env = os.environ.get(CONFIG_ENV, "")
    return [
        Candidate("--config", Path(explicit).expanduser() if explicit else None),
        Candidate(f"${CONFIG_ENV}", Path(env).expanduser() if env else None),
        Candidate("the user configuration", user_config_path()),
        Candidate("the repository's config.toml", checkout_config_path(), absent="not a checkout"),
    ]


def find_config(explicit: str | os.PathLike | None = None) -> Path:
    """The configuration file to read. Raises ConfigError listing every place looked at.

    A path given by --config or $KELLYD_CONFIG must exist: falling through to another file
    would run the daemon on a configuration the user did not ask for.
    """
    candidates = config_candidates(explicit)
    for named in candidates[:2]:
        if named.path is not None:
            if not named.path.is_file():
                raise ConfigError(named.label, f"no configuration file at {named.path}; "
                                  f"write one with `kellyd --config {named.path} init`")
            return named.path.resolve()
    for found in candidates[2:]:
        if found.path is not None and found.path.is_file():
            return found.path.resolve()
    looked = "; ".join(f"{c.label} ({c.path or c.absent})" for c in candidates)
    raise ConfigError("--config", f"no configuration found. Looked at: {looked}. "
                      f"Run `kellyd init` to write one at {user_config_path()}")


def init_target(positional: str | os.PathLike | None, explicit: str | os.PathLike | None) -> Path:
    """Where `kellyd init` writes: its PATH argument, else --config / $KELLYD_CONFIG, else the user config."""
    if positional:
        return Path(positional).expanduser()
    env = os.environ.get(CONFIG_ENV, "")
    chosen = explicit or env
    return Path(chosen).expanduser() if chosen else user_config_path()


def folder_problem(folder: Path) -> str | None:
    """Why `folder` can never be used as a folder, or None (it exists, or it can be created).

    A folder that does not exist yet is fine: `kellyd run` and `kellyd init` create it.
    """
    if folder.exists():
        return None if folder.is_dir() else f"{folder} exists and is not a folder"
    for parent in folder.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{folder} cannot be created: {parent} is not a folder"
    return None


def missing_folders(folders: Iterable[Path]) -> list[Path]:
    return [folder for folder in folders if not folder.is_dir()]


def make_folders(folders: Iterable[Path]) -> list[Path]:
    """Create the folders that do not exist yet; return those created. ConfigError if one cannot be."""
    created = missing_folders(folders)
    for folder in created:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError("paths", f"cannot create the folder {folder}: {exc.strerror or exc}") from None
    return created
