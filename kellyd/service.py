"""`kellyd service install`: render the systemd unit or launchd plist with real paths."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from kellyd.config import Config

TEMPLATES = Path(__file__).resolve().parents[1] / "systemd"
UNIT_NAME = "kellyd.service"
PLIST_NAME = "com.kelly.kellyd.plist"

# The system unit is sandboxed; it may write only the folders kellyd owns.
# (No MemoryDenyWriteExecute: numba, used by librosa, compiles machine code.)
SYSTEM_HARDENING = """NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={paths}
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
SystemCallArchitectures=native
"""
USER_HARDENING = "NoNewPrivileges=yes\n"


@dataclass(frozen=True)
class Rendered:
    path: Path
    text: str
    next_steps: str


def kellyd_executable() -> str:
    found = shutil.which("kellyd")
    if found:
        return str(Path(found).resolve())
    candidate = Path(sys.executable).with_name("kellyd")
    return str(candidate)


def writable_paths(cfg: Config) -> list[Path]:
    return [cfg.paths.state, cfg.paths.datasets, cfg.paths.inbox, cfg.paths.staging]


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    return template


def render_systemd(cfg: Config, *, user: bool, exec_path: str | None = None) -> Rendered:
    paths = " ".join(f'"{p}"' if " " in str(p) else str(p) for p in writable_paths(cfg))
    text = _fill((TEMPLATES / UNIT_NAME).read_text(), {
        "EXEC": exec_path or kellyd_executable(),
        "CONFIG": str(cfg.source),
        "WORKDIR": str(cfg.source.parent),
        "REPO": str(TEMPLATES.parent),
        "HARDENING": USER_HARDENING if user else SYSTEM_HARDENING.format(paths=paths),
        "WANTED_BY": "default.target" if user else "multi-user.target",
    })
    if user:
        target = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "systemd" / "user" / UNIT_NAME
        steps = "systemctl --user daemon-reload && systemctl --user enable --now kellyd"
    else:
        target = Path("/etc/systemd/system") / UNIT_NAME
        steps = "systemctl daemon-reload && systemctl enable --now kellyd"
    return Rendered(target, text, steps)


def render_launchd(cfg: Config, *, exec_path: str | None = None) -> Rendered:
    values = {
        "EXEC": exec_path or kellyd_executable(),
        "CONFIG": str(cfg.source),
        "WORKDIR": str(cfg.source.parent),
        "LOGDIR": str(cfg.paths.state),
    }
    text = _fill((TEMPLATES / PLIST_NAME).read_text(), {k: escape(v) for k, v in values.items()})
    target = Path.home() / "Library" / "LaunchAgents" / PLIST_NAME
    return Rendered(target, text, f"launchctl bootstrap gui/$(id -u) {target}")


def install(rendered: Rendered) -> None:
    rendered.path.parent.mkdir(parents=True, exist_ok=True)
    from kellyd.atomic import atomic_write_bytes

    atomic_write_bytes(rendered.path, rendered.text.encode("utf-8"))
