"""Tell systemd how the daemon is doing (the sd_notify protocol).

The whole protocol is one datagram per message, newline-separated `KEY=value`
lines, sent to the AF_UNIX socket named in `$NOTIFY_SOCKET` (a path, or an
abstract socket when the name starts with '@'). Without that variable (a
terminal, launchd, tests) every call here does nothing. A failed send is
logged once and never raised: the daemon must not stop because its supervisor
is gone.

The watchdog ping comes only from `Notifier.tick`, which the daemon's main
loop calls once per pass: if that loop hangs, the pings stop and systemd
restarts the service. No thread sends it on the loop's behalf.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Callable, Mapping

import structlog

log = structlog.get_logger("kellyd.notify")

# How often STATUS= is refreshed at most: the status text costs a catalog query.
STATUS_EVERY_S = 5.0


@dataclass(frozen=True)
class NotifyTarget:
    """Where to send (`address`, as `socket.sendto` takes it) and how often to ping."""

    address: str | bytes
    watchdog_interval_s: float | None  # None: no watchdog asked for (or asked of another process)


def socket_address(name: str) -> str | bytes:
    """`$NOTIFY_SOCKET` as an address: '@name' is the abstract socket '\\0name'."""
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


def watchdog_interval_s(environ: Mapping[str, str], pid: int) -> float | None:
    """Half of `$WATCHDOG_USEC` in seconds, as systemd advises; None when no ping is due from `pid`.

    `$WATCHDOG_PID`, when set, names the one process the watchdog is meant for,
    so a child that inherited the environment stays quiet.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 1_000_000 / 2


def target_from_environ(environ: Mapping[str, str], pid: int) -> NotifyTarget | None:
    name = environ.get("NOTIFY_SOCKET", "")
    if not name or not (name.startswith("/") or name.startswith("@")):
        return None
    return NotifyTarget(socket_address(name), watchdog_interval_s(environ, pid))


class Notifier:
    """Sends notify messages; every method is a no-op when there is no target."""

    def __init__(self, target: NotifyTarget | None) -> None:
        self.target = target
        self._sock: socket.socket | None = None
        self._failed_once = False
        self._next_watchdog_s = 0.0
        self._next_status_s = 0.0
        self._last_status = ""

    @classmethod
    def from_environ(cls) -> "Notifier":
        return cls(target_from_environ(os.environ, os.getpid()))

    @property
    def enabled(self) -> bool:
        return self.target is not None

    def send(self, *lines: str) -> bool:
        """One datagram with `lines`; False (logged the first time) when it could not be sent."""
        if self.target is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            # MSG_DONTWAIT: a full socket buffer must not stall the main loop.
            self._sock.sendto("\n".join(lines).encode(), socket.MSG_DONTWAIT, self.target.address)
        except OSError as exc:
            if not self._failed_once:
                self._failed_once = True
                log.warning("notify_failed", socket=os.environ.get("NOTIFY_SOCKET"), error=str(exc),
                            hint="systemd will not see readiness or watchdog pings; later failures are not logged")
            return False
        return True

    def ready(self, status: Callable[[], str], *, now_s: float) -> None:
        """Start-up is done: systemd moves the unit to 'active' and arms the watchdog."""
        if self.target is None:
            return
        text = status()
        if self.send("READY=1", f"STATUS={text}"):
            self._last_status = text
        self._next_watchdog_s = now_s
        self._next_status_s = now_s + STATUS_EVERY_S

    def tick(self, now_s: float, status: Callable[[], str]) -> None:
        """Called once per main-loop pass (`now_s`: monotonic): ping the watchdog, refresh STATUS when due."""
        if self.target is None:
            return
        lines = []
        interval_s = self.target.watchdog_interval_s
        if interval_s is not None and now_s >= self._next_watchdog_s:
            lines.append("WATCHDOG=1")
            self._next_watchdog_s = now_s + interval_s
        if now_s >= self._next_status_s:
            self._next_status_s = now_s + STATUS_EVERY_S
            text = status()
            if text != self._last_status:
                lines.append(f"STATUS={text}")
                self._last_status = text
        if lines:
            self.send(*lines)

    def stopping(self, status: str = "stopping: finishing work in flight") -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
