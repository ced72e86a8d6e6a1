"""sd_notify: a real datagram socket stands in for systemd, the real daemon talks to it."""

from __future__ import annotations

import os
import select
import signal
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from kellyd.notify import Notifier, NotifyTarget, socket_address, target_from_environ, watchdog_interval_s
from kellyd.music.midi_io import write_score
from tests.daemon.harness import DaemonProcess, make_tree, wait_for
from tests.music.midi_builders import notes, score

pytestmark = pytest.mark.slow


class FakeSystemd:
    """The receiving end of $NOTIFY_SOCKET: every datagram with the monotonic time it arrived."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)
        self.received: list[tuple[float, list[str]]] = []

    def _drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return
            self.received.append((time.monotonic(), data.decode().split("\n")))

    def listen(self, duration_s: float) -> None:
        """Receive for `duration_s`, stamping each datagram as it arrives (the test's sleep)."""
        deadline = time.monotonic() + duration_s
        while (left_s := deadline - time.monotonic()) > 0:
            if select.select([self.sock], [], [], left_s)[0]:
                self._drain()

    def wait_quiet(self, line: str, *, quiet_s: float, timeout_s: float) -> None:
        """Listen until `line` has not arrived for `quiet_s`."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            self.listen(0.1)
            now = time.monotonic()
            if now - start >= quiet_s and not self.times_of(line, since_s=now - quiet_s):
                return
        raise AssertionError(f"{line} kept arriving for {timeout_s}s: {self.times_of(line, since_s=start)}")

    def lines(self, since_s: float = 0.0) -> list[str]:
        self._drain()
        return [line for at, lines in self.received if at >= since_s for line in lines]

    def times_of(self, line: str, since_s: float = 0.0) -> list[float]:
        self._drain()
        return [at for at, lines in self.received if at >= since_s and line in lines]

    def wait_line(self, predicate, timeout_s: float, what: str) -> str:
        found: list[str] = []
        wait_for(lambda: bool(found.extend(l for l in self.lines() if predicate(l)) or found), timeout_s, what)
        return found[0]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake_systemd(tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    assert len(str(path)) < 100, "AF_UNIX paths are limited to 107 bytes; shorten the test name"
    listener = FakeSystemd(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield listener
    listener.close()


def drop_midi(tree, name: str) -> Path:
    target = tree.inbox / "mix" / "happy" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = tree.root / name
    write_score(score(notes([(0, 0.5, 60, 90), (0.5, 1.0, 64, 90), (1.0, 2.0, 67, 90)])), staged)
    os.replace(staged, target)
    return target


def wait_manifest(tree, daemon, count: int = 1) -> None:
    try:
        wait_for(lambda: len(tree.manifest_samples("mix")) == count, 30, f"{count} file(s) in the manifest")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the daemon's log ends:\n{daemon.log_text()[-3000:]}") from None


# -- the daemon and a fake systemd ------------------------------------------------------------


def test_ready_after_startup_status_and_stopping_on_sigterm(tmp_path, fake_systemd):
    tree = make_tree(tmp_path)
    daemon = DaemonProcess(tree)
    try:
        fake_systemd.wait_line(lambda l: l == "READY=1", 60, "READY=1")
        # READY=1 is sent after start-up is complete, never before.
        assert "daemon_started" in daemon.log_text()
        first_status = next(l for l in fake_systemd.lines() if l.startswith("STATUS="))
        assert first_status == "STATUS=watching 1 datasets; queue 0, in flight 0; processed 0, quarantined 0"
        drop_midi(tree, "a.mid")
        wait_manifest(tree, daemon)
        fake_systemd.wait_line(lambda l: l.startswith("STATUS=") and "processed 1," in l, 15,
                               "a STATUS line counting the processed file")
        assert "WATCHDOG=1" not in fake_systemd.lines()  # no WATCHDOG_USEC: no pings
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=20) == 0
    finally:
        daemon.stop()
    assert "STOPPING=1" in fake_systemd.lines()
    assert fake_systemd.lines().count("READY=1") == 1


def test_watchdog_pings_stop_while_the_daemon_is_stopped(tmp_path, fake_systemd, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")  # systemd's WatchdogSec=2: a ping every second
    tree = make_tree(tmp_path)
    daemon = DaemonProcess(tree)
    try:
        fake_systemd.wait_line(lambda l: l == "READY=1", 60, "READY=1")
        start = time.monotonic()
        fake_systemd.listen(3.2)
        pings = fake_systemd.times_of("WATCHDOG=1", since_s=start)
        assert len(pings) >= 2, pings
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.9 <= gap < 2.0 for gap in gaps), gaps  # every half interval, not every pass; < WatchdogSec
        # SIGSTOP freezes every thread of the daemon: no ping may arrive.
        daemon.signal(signal.SIGSTOP)
        fake_systemd.listen(0.3)  # a datagram in flight when it stopped
        frozen_at = time.monotonic()
        fake_systemd.listen(2.5)
        assert fake_systemd.times_of("WATCHDOG=1", since_s=frozen_at) == []
        daemon.signal(signal.SIGCONT)
        resumed_at = time.monotonic()
        wait_for(lambda: fake_systemd.times_of("WATCHDOG=1", since_s=resumed_at), 3, "pings after SIGCONT")
    finally:
        daemon.signal(signal.SIGCONT)
        daemon.stop()


def test_a_blocked_main_loop_stops_the_pings_while_other_threads_run(tmp_path, fake_systemd, monkeypatch):
    """The ping is tied to the main loop's progress, not to a timer thread."""
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # a ping every 0.5 s
    tree = make_tree(tmp_path, settle_s=0.2)
    daemon = DaemonProcess(tree)
    try:
        fake_systemd.wait_line(lambda l: l == "READY=1", 60, "READY=1")
        before_s = time.monotonic()
        fake_systemd.listen(1.2)
        assert fake_systemd.times_of("WATCHDOG=1", since_s=before_s), "no pings before the loop blocked"
        # Another writer holds the catalog: the main loop blocks on its next write (at the latest,
        # enqueueing the dropped file) inside SQLite's busy timeout, while observers and exporter go on.
        holder = sqlite3.connect(tree.state / "catalog.sqlite3", timeout=5, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            drop_midi(tree, "blocked.mid")
            # The pings stop and stay stopped (SQLite gives up after 10 s; the lock goes before).
            fake_systemd.wait_quiet("WATCHDOG=1", quiet_s=2.5, timeout_s=7.0)
            assert daemon.proc.poll() is None
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        released_at = time.monotonic()
        wait_for(lambda: fake_systemd.times_of("WATCHDOG=1", since_s=released_at), 3, "pings after release")
        wait_manifest(tree, daemon)
    finally:
        daemon.stop()


@pytest.mark.parametrize("socket_name, failures_logged", [
    (None, 0),  # not under systemd: nothing is sent, nothing is logged
    ("nobody-listens.sock", 1),  # systemd gone: logged once, however many sends fail
])
def test_without_a_listener_the_daemon_goes_on(tmp_path, monkeypatch, socket_name, failures_logged):
    if socket_name is None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / socket_name))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # a ping due every 0.2 s
    tree = make_tree(tmp_path)
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        drop_midi(tree, "b.mid")
        wait_manifest(tree, daemon)
        time.sleep(1.0)  # several pings due
    finally:
        assert daemon.stop() == 0
    failures = [e for e in daemon.log_events() if e.get("event") == "notify_failed"]
    assert len(failures) == failures_logged, failures
    assert all(socket_name in f["socket"] for f in failures)


# -- the protocol, without the daemon ----------------------------------------------------------


@pytest.mark.parametrize("environ, pid, expected_s", [
    ({}, 10, None),
    ({"WATCHDOG_USEC": "2000000"}, 10, 1.0),
    ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "10"}, 10, 30.0),
    ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "11"}, 10, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, 10, None),
    ({"WATCHDOG_USEC": "soon"}, 10, None),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "x"}, 10, None),
])
def test_watchdog_interval_is_half_the_usec_for_the_named_pid(environ, pid, expected_s):
    assert watchdog_interval_s(environ, pid) == expected_s


@pytest.mark.parametrize("value, expected", [
    ("/run/systemd/notify", "/run/systemd/notify"),
    ("@kellyd/notify", b"\0kellyd/notify"),
])
def test_socket_address_forms(value, expected):
    assert socket_address(value) == expected


@pytest.mark.parametrize("value", ["", "relative/notify.sock", "vsock:2:1234"])
def test_no_target_for_unset_or_unsupported_socket_names(value):
    notifier = Notifier(target_from_environ({"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "2000000"}, 10))
    assert not notifier.enabled and notifier.send("READY=1") is False
    notifier.ready(lambda: pytest.fail("no status is computed without a socket"), now_s=100.0)
    notifier.tick(100.0, lambda: pytest.fail("no status is computed without a socket"))


def test_abstract_socket_receives_messages():
    name = f"@kellyd-test-{os.getpid()}-{time.monotonic_ns()}"
    listener = FakeSystemd(socket_address(name))
    notifier = Notifier(target_from_environ({"NOTIFY_SOCKET": name}, os.getpid()))
    try:
        notifier.ready(lambda: "up", now_s=0.0)
        notifier.stopping("bye")
        wait_for(lambda: len(listener.lines()) == 4, 2, "two datagrams")
        assert listener.lines() == ["READY=1", "STATUS=up", "STOPPING=1", "STATUS=bye"]
    finally:
        notifier.close()
        listener.close()


def test_tick_pings_when_due_and_sends_status_only_when_changed(tmp_path):
    listener = FakeSystemd(str(tmp_path / "n.sock"))
    notifier = Notifier(NotifyTarget(str(tmp_path / "n.sock"), watchdog_interval_s=1.0))
    status = iter(["queue 0", "queue 0", "queue 3"])
    try:
        notifier.ready(lambda: "starting", now_s=0.0)
        notifier.tick(0.0, lambda: next(status))  # due at once
        notifier.tick(0.5, lambda: next(status))  # not yet
        notifier.tick(1.0, lambda: next(status))
        notifier.tick(5.0, lambda: next(status))  # status due: "queue 0"
        notifier.tick(10.0, lambda: next(status))  # "queue 0" again: not repeated
        notifier.tick(15.0, lambda: next(status))  # "queue 3"
        wait_for(lambda: "STATUS=queue 3" in listener.lines(), 2, "the last status")
        assert listener.lines() == ["READY=1", "STATUS=starting", "WATCHDOG=1", "WATCHDOG=1",
                                    "WATCHDOG=1", "STATUS=queue 0", "WATCHDOG=1", "WATCHDOG=1", "STATUS=queue 3"]
    finally:
        notifier.close()
        listener.close()
