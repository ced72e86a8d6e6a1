"""A real Dask cluster on 127.0.0.1 for tests: `dask scheduler` and `dask worker` processes,
started with the distributed package's own commands."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.daemon.harness import REPO_ROOT, wait_for

DASK = str(Path(sys.executable).parent / "dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskCluster:
    """One scheduler and its workers. Workers run with `env` added (and import kellyd and the tests
    from the repository); each is a nanny with one single-threaded worker process."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._logs = 0

    def _popen(self, name: str, argv: list[str], prefix: tuple[str, ...] = ()) -> subprocess.Popen:
        self._logs += 1
        log = open(self.root / f"dask-{self._logs}-{name}.log", "w")
        return subprocess.Popen([*prefix, *argv], stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.root,
                                start_new_session=True)

    def start_scheduler(self) -> None:
        self.scheduler = self._popen("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                                   "--no-dashboard"])

    def add_worker(self, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
        worker = self._popen("worker", [DASK, "worker", self.address, "--nthreads", "1", "--nworkers", "1",
                                        "--no-dashboard", "--host", "127.0.0.1"], prefix)
        self.workers.append(worker)
        return worker

    def wait_workers(self, count: int, timeout_s: float = 30.0) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout_s, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=timeout_s)

    def kill_scheduler(self) -> None:
        os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait()

    def worker_pids(self) -> set[int]:
        """The processes alive now in the `dask worker` commands' sessions, less the commands (nannies)."""
        nannies = {nanny.pid for nanny in self.workers}
        pids = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, session = int(stat.parent.name), int(fields[3])  # fields after the name: state ppid pgrp session
            if session in nannies and pid not in nannies:
                pids.add(pid)
        return pids

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def open_files(pid: int) -> set[str]:
    folder = Path(f"/proc/{pid}/fd")
    names = set()
    for fd in folder.iterdir() if folder.exists() else ():
        try:
            names.add(os.readlink(fd))
        except OSError:
            pass
    return names


def wait_gone(proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    wait_for(lambda: proc.poll() is not None, 0.1, "process exit")
