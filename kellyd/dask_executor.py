"""Steps on a Dask cluster: a `concurrent.futures.Executor` that outlives its scheduler.

The daemon stays the catalog's only writer: a task gets a handler and a sample and returns a
`StepOutcome`; the daemon commits it. Workers read the inbox and write the datasets themselves,
so they must see the daemon's folders at the same paths (a shared filesystem, such as NFS).
A probe file written by the daemon into each shared folder checks that: every worker connected
at start-up must read it back (else start-up fails, naming the worker and the folder), and a
worker that joins later checks it before its first step.

When the scheduler goes away, the client cancels every step in flight (and this executor cancels
any step sent on the broken connection that the client missed); the runner forgets those
(`resubmits_lost_steps`: their jobs are still pending in the catalog, so they are dispatched
again, unpaid) and this executor connects again, to the same address, when it can.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from concurrent.futures import CancelledError, Executor, Future
from dataclasses import dataclass
from pathlib import Path

import structlog

from kellyd.errors import ConfigError

log = structlog.get_logger("kellyd.dask")

PROBE_PREFIX = ".kellyd-probe-"  # a dot name: the watcher, the scan and the validators skip it
START_CONNECT_TIMEOUT_S = 10.0  # also how long the client itself tries to win a lost scheduler back
RECONNECT_TIMEOUT_S = 2.0  # one later attempt (the daemon's loop waits for it)
RECONNECT_EVERY_S = 2.0
WATCH_EVERY_S = 0.5  # how often steps sent on a broken connection are looked for


class ClusterUnavailable(RuntimeError):
    """No scheduler answers now; the runner dispatches again on a later tick."""


@dataclass(frozen=True)
class Probe:
    """A token written to `<folder>/.kellyd-probe-<token>` in each folder the workers share."""

    token: str
    folders: tuple[str, ...]
    writable: tuple[str, ...]  # of `folders`, those a worker writes into (the datasets)

    def path_in(self, folder: str) -> str:
        return os.path.join(folder, PROBE_PREFIX + self.token)


def write_probe(read_folders: list[Path], write_folders: list[Path]) -> Probe:
    """Write a fresh probe file into every folder (old ones, left by a killed daemon, are removed)."""
    folders = [str(f) for f in (*read_folders, *write_folders)]
    probe = Probe(uuid.uuid4().hex, tuple(folders), tuple(str(f) for f in write_folders))
    for folder in folders:
        for old in Path(folder).glob(PROBE_PREFIX + "*"):
            old.unlink(missing_ok=True)
        with open(probe.path_in(folder), "w") as fh:
            fh.write(probe.token)
            fh.flush()
            os.fsync(fh.fileno())  # another machine reads it through the shared filesystem
    return probe


def remove_probe(probe: Probe) -> None:
    for folder in probe.folders:
        try:
            os.unlink(probe.path_in(folder))
        except OSError:
            pass


def probe_problem(probe: Probe) -> str | None:
    """Run on a worker: None when it reads every probe file and can write beside the writable ones,
    else what it found instead."""
    for folder in probe.folders:
        path = probe.path_in(folder)
        try:
            with open(path) as fh:
                seen = fh.read()
        except OSError as exc:
            return f"cannot read {path} ({type(exc).__name__}: {exc.strerror or exc})"
        if seen != probe.token:
            return f"{path} holds another daemon's token: this folder is not the daemon's"
        if folder in probe.writable:
            mine = f"{path}-{socket.gethostname()}-{os.getpid()}"
            try:
                with open(mine, "w"):
                    pass
                os.unlink(mine)
            except OSError as exc:
                return f"cannot write in {folder} ({type(exc).__name__}: {exc.strerror or exc})"
    return None


_checked_tokens: set[str] = set()  # on a worker: the probes it has passed (one check per daemon start)


def run_checked(probe: Probe, fn, *args):
    """The task a worker runs: check once that it sees the shared folders, then run the step."""
    if probe.token not in _checked_tokens:
        problem = probe_problem(probe)
        if problem is not None:
            from kellyd.outcome import StepOutcome

            return StepOutcome("retry", reason=f"Dask worker on {socket.gethostname()} does not see kellyd's "
                                               f"shared folders: {problem}")
        _checked_tokens.add(probe.token)
    return fn(*args)


def check_workers(client, probe: Probe) -> int:
    """Run the probe on every worker connected now; raise ConfigError naming those that fail.
    Returns how many workers passed."""
    reports = client.run(probe_problem, probe)
    failing = {address: problem for address, problem in reports.items() if problem is not None}
    if failing:
        lines = "; ".join(f"{address}: {problem}" for address, problem in sorted(failing.items()))
        raise ConfigError("executor.address",
                          f"{len(failing)} of {len(reports)} Dask workers do not see the daemon's folders at the same "
                          f"paths ({lines}). Workers read the inbox and write the datasets themselves: mount them "
                          "(NFS or similar) at the same paths on every worker machine.")
    return len(reports)


class DaskExecutor(Executor):
    """Submits each step to the scheduler at `address`; see the module docstring."""

    resubmits_lost_steps = True  # the runner forgets a cancelled step: its job runs again, unpaid

    def __init__(self, address: str, probe: Probe) -> None:
        self.address = address
        self.probe = probe
        self._client = None
        self._next_try_s = 0.0
        self._lock = threading.Lock()
        # Each step's future -> (its Dask future, the scheduler connection it was sent on). A step sent
        # just as the connection broke can be lost without the client cancelling it; once the client runs
        # on another connection, the watcher cancels every step still waiting from an older one.
        self._outstanding: dict[Future, tuple[object, object]] = {}
        self._stopping = threading.Event()
        try:
            self._connect(timeout_s=START_CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            remove_probe(probe)
            raise ConfigError("executor.address", f"no Dask scheduler answered at {address} "
                                                  f"({type(exc).__name__}: {exc})") from None
        except BaseException:
            remove_probe(probe)
            raise
        self._watcher = threading.Thread(target=self._watch, name="kellyd-dask-watch", daemon=True)
        self._watcher.start()

    def _connect(self, *, timeout_s: float) -> None:
        from distributed import Client

        client = Client(self.address, timeout=timeout_s, set_as_default=False)
        try:
            workers = check_workers(client, self.probe)
        except BaseException:
            client.close()
            raise
        self._client = client
        log.info("dask_connected", address=self.address, workers=workers,
                 shared_folders=list(self.probe.folders))

    def _ready(self):
        """The client to submit with, connected now; else ClusterUnavailable (a new client is tried
        every RECONNECT_EVERY_S once the old one has given up)."""
        client = self._client
        status = client.status if client is not None else "closed"
        if status == "running":
            return client
        if status == "connecting":  # the client is winning the scheduler back by itself
            raise ClusterUnavailable(f"reconnecting to the Dask scheduler at {self.address}")
        now_s = time.monotonic()
        if now_s < self._next_try_s:
            raise ClusterUnavailable(f"Dask scheduler at {self.address} unreachable")
        self._next_try_s = now_s + RECONNECT_EVERY_S
        self._close_client()
        try:
            self._connect(timeout_s=RECONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ConfigError) as exc:
            log.warning("dask_unreachable", address=self.address, error=str(exc)[:500])
            raise ClusterUnavailable(str(exc)) from None
        return self._client

    def submit(self, fn, /, *args, **kwargs) -> Future:
        client = self._ready()
        sent_on = client.scheduler_comm
        step = Future()
        try:
            task = client.submit(run_checked, self.probe, fn, *args, pure=False, **kwargs)  # a retry is a new task
        except Exception as exc:  # the client closed between the check and the submit
            raise ClusterUnavailable(f"Dask client refused the step: {type(exc).__name__}: {exc}") from None
        with self._lock:
            self._outstanding[step] = (task, sent_on)
        task.add_done_callback(lambda done: self._finished(step, done))
        return step

    def _finished(self, step: Future, task) -> None:
        """Runs on the client's callback thread when a Dask future ends."""
        if task.status == "cancelled":
            self._settle(step, "cancel")
            return
        try:
            value = task.result()
        except BaseException as exc:  # noqa: BLE001 - passed to the runner, which maps it
            if task.status == "cancelled" or isinstance(exc, (CancelledError, asyncio.CancelledError)):
                self._settle(step, "cancel")  # (Dask's cancellation is an asyncio one, not an Exception)
            elif isinstance(exc, Exception):
                self._settle(step, "error", exc)
            else:
                self._settle(step, "error", RuntimeError(f"Dask task ended with {type(exc).__name__}: {exc}"))
        else:
            self._settle(step, "result", value)

    def _settle(self, step: Future, how: str, value=None) -> None:
        with self._lock:
            self._outstanding.pop(step, None)
            if step.done():
                return
            if how == "result":
                step.set_result(value)
            elif how == "error":
                step.set_exception(value)
            else:
                step.cancel()
                step.set_running_or_notify_cancel()  # wakes `concurrent.futures.wait`

    def _watch(self) -> None:
        while not self._stopping.wait(WATCH_EVERY_S):
            client = self._client
            if client is None or client.status != "running":
                continue
            current = client.scheduler_comm
            with self._lock:
                stale = [(step, task) for step, (task, sent_on) in self._outstanding.items() if sent_on is not current]
            for step, task in stale:
                self._settle(step, "cancel")
                try:
                    task.release()
                except Exception:  # noqa: BLE001 - a future of a closed client
                    pass
            if stale:
                log.warning("dask_steps_lost", count=len(stale), reason="sent on a scheduler connection that broke")

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close(timeout=2)
            except Exception as exc:  # noqa: BLE001 - a client of a dead scheduler may fail to close cleanly
                log.info("dask_client_close_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Close the client: steps still running on workers are dropped (their jobs stay pending)."""
        self._stopping.set()
        if self._watcher.is_alive() and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=2 * WATCH_EVERY_S + 1.0)
        if cancel_futures:
            with self._lock:
                steps = list(self._outstanding)
            for step in steps:
                self._settle(step, "cancel")
        self._close_client()
        remove_probe(self.probe)


def make_dask_executor(address: str, *, read_folders: list[Path], write_folders: list[Path]) -> DaskExecutor:
    """Connect to the scheduler and check that its workers share `read_folders` and `write_folders`."""
    probe = write_probe(read_folders, write_folders)
    return DaskExecutor(address, probe)
