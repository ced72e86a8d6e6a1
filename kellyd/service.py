"""`kellyd service install`: render the systemd unit or launchd plist with real paths.

The templates ship inside the package (`kellyd.systemd`), so this works from an
installed wheel as well as from a checkout.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from xml.sax.saxutils import escape

from kellyd.config import Config

UNIT_NAME = "kellyd.service"
PLIST_NAME = "com.kelly.kellyd.plist"
DEFAULT_RUN_AS = "kellyd"
# What useradd and systemd accept as a user or group name.
_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")

# What seccomp and the kernel give any process, so both units have it: a user manager
# can set up mount namespaces only where unprivileged user namespaces are allowed, and
# cannot drop capabilities, so the user unit keeps to this and starts on every distribution.
COMMON_HARDENING = """NoNewPrivileges=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
# AF_UNIX: the worker pool and sd_notify; AF_INET/AF_INET6: Freesound.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
# @resources stays allowed: workers and training lower their own priority (nice).
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
# No MemoryDenyWriteExecute: numba (used by librosa) compiles machine code at run time
# and needs memory that is writable and executable.
"""
# The system unit runs as an unprivileged user in a sandbox that may write only the
# folders kellyd owns. `systemd-analyze security` lists each of these settings.
SYSTEM_HARDENING = """User={user}
Group={group}
ReadWritePaths={paths}
ProtectSystem=strict
# read-only, not hidden: the config file and the data folders may live under /home.
ProtectHome=read-only
PrivateTmp=yes
# PrivateDevices hides GPUs too: a retrain on a GPU needs a drop-in with PrivateDevices=no.
PrivateDevices=yes
PrivateMounts=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectClock=yes
ProtectHostname=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectProc=invisible
# No ProcSubset=pid: the music libraries read /proc/cpuinfo and /proc/stat when they load.
RemoveIPC=yes
KeyringMode=private
""" + COMMON_HARDENING
USER_HARDENING = COMMON_HARDENING


@dataclass(frozen=True)
class RunAs:
    user: str
    group: str


@dataclass(frozen=True)
class Rendered:
    path: Path
    text: str
    next_steps: str
    warnings: tuple[str, ...] = ()


def parse_run_as(text: str) -> RunAs:
    """`USER` or `USER:GROUP` (the group defaults to the user's name)."""
    user, _, group = text.partition(":")
    group = group or user
    for what, name in (("user", user), ("group", group)):
        if not _NAME.fullmatch(name):
            raise argparse.ArgumentTypeError(
                f"{what} name {name!r} is not valid: use lower-case letters, digits, '_' or '-', 32 at most")
    if user == "root":
        raise argparse.ArgumentTypeError("the system unit must not run as root; name an unprivileged user")
    return RunAs(user, group)


def template(name: str) -> str:
    return files("kellyd.systemd").joinpath(name).read_text(encoding="utf-8")


def kellyd_executable() -> str:
    found = shutil.which("kellyd")
    if found:
        return str(Path(found).resolve())
    candidate = Path(sys.executable).with_name("kellyd")
    return str(candidate)


def writable_paths(cfg: Config) -> list[Path]:
    return [cfg.paths.state, cfg.paths.datasets, cfg.paths.inbox, cfg.paths.staging]


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def _documentation_line(cfg: Config) -> str:
    # Only a checkout has the README next to the config; a unit must not point at nothing.
    readme = cfg.source.parent / "README.md"
    return f"Documentation=file://{readme}\n" if readme.is_file() else ""


def render_systemd(cfg: Config, *, user: bool, exec_path: str | None = None,
                   run_as: RunAs = RunAs(DEFAULT_RUN_AS, DEFAULT_RUN_AS)) -> Rendered:
    paths = " ".join(f'"{p}"' if " " in str(p) else str(p) for p in writable_paths(cfg))
    hardening = USER_HARDENING if user else SYSTEM_HARDENING.format(user=run_as.user, group=run_as.group,
                                                                    paths=paths)
    text = _fill(template(UNIT_NAME), {
        "DOCUMENTATION": _documentation_line(cfg),
        "EXEC": exec_path or kellyd_executable(),
        "CONFIG": str(cfg.source),
        "WORKDIR": str(cfg.source.parent),
        "HARDENING": hardening,
        "WANTED_BY": "default.target" if user else "multi-user.target",
    })
    if user:
        target = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "systemd" / "user" / UNIT_NAME
        steps = "systemctl --user daemon-reload && systemctl --user enable --now kellyd"
    else:
        target = Path("/etc/systemd/system") / UNIT_NAME
        folders = " ".join(str(p) for p in writable_paths(cfg))
        steps = (f"useradd --system --user-group --home-dir {cfg.paths.state} --shell /usr/sbin/nologin "
                 f"{run_as.user}  # once, if the user does not exist\n"
                 f"      mkdir -p {folders} && chown -R {run_as.user}:{run_as.group} {folders}\n"
                 "      systemctl daemon-reload && systemctl enable --now kellyd")
    return Rendered(target, text, steps, () if user else home_warnings(cfg, run_as, Path.home()))


def home_warnings(cfg: Config, run_as: RunAs, home: Path) -> tuple[str, ...]:
    """Folders the system unit must write that sit in the installing user's home (`~/.kelly`
    when the config does not name staging): the service user usually cannot enter it."""
    return tuple(f"{path} is inside {home}: make sure user {run_as.user!r} can enter and write it, "
                 "or name a folder outside it under [paths] in the config"
                 for path in writable_paths(cfg) if path.is_relative_to(home))


def render_launchd(cfg: Config, *, exec_path: str | None = None) -> Rendered:
    values = {
        "EXEC": exec_path or kellyd_executable(),
        "CONFIG": str(cfg.source),
        "WORKDIR": str(cfg.source.parent),
        "LOGDIR": str(cfg.paths.state),
    }
    text = _fill(template(PLIST_NAME), {k: escape(v) for k, v in values.items()})
    target = Path.home() / "Library" / "LaunchAgents" / PLIST_NAME
    return Rendered(target, text, f"launchctl bootstrap gui/$(id -u) {target}")


def install(rendered: Rendered) -> None:
    rendered.path.parent.mkdir(parents=True, exist_ok=True)
    from kellyd.atomic import atomic_write_bytes

    atomic_write_bytes(rendered.path, rendered.text.encode("utf-8"))
