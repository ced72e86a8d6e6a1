"""Shared fixtures: the real-music test corpus, and guards against leaked threads and processes
and against reading the full corpus beside the repository (tests/corpus_guard.py)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "corpus"

pytest_plugins = ["tests.corpus_guard"]


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The small licence-clean corpus of real music in the repository (sources in corpus/LICENSES.md).

    Read-only: tests copy what they need into tmp_path.
    """
    return CORPUS


@pytest.fixture(autouse=True)
def no_leaked_threads_or_processes():
    """Fail a test that leaves threads or child processes running behind it."""
    threads_before = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + 5.0
    while True:
        leaked_threads = [
            t for t in threading.enumerate()
            if t.ident not in threads_before and t.is_alive() and not t.daemon
        ]
        leaked_children = [p for p in multiprocessing.active_children()]
        if not leaked_threads and not leaked_children:
            return
        if time.monotonic() > deadline:
            names = [t.name for t in leaked_threads] + [f"pid {p.pid}" for p in leaked_children]
            pytest.fail(f"test leaked threads or processes: {names}")
        time.sleep(0.05)
