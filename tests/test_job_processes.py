"""A stopping daemon ends its scheduled jobs' commands instead of waiting hours for them.

Real child processes: one that exits on SIGTERM, one that ignores it and is killed after the grace.
"""

from __future__ import annotations

import sys
import threading
import time

from kellyd.schedule import JobProcesses

SLEEPER = "import time; time.sleep(120)"
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"


def command(code: str) -> list[str]:
    return [sys.executable, "-c", code, "--config", "kellyd.toml", "validate"]


def run_in_thread(processes: JobProcesses, commands: list[list[str]]) -> tuple[threading.Thread, dict]:
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(zip(("status", "detail"),
                                                              processes.run(commands, nice=0))))
    thread.start()
    return thread, result


def test_stop_ends_running_commands_and_skips_the_rest():
    processes = JobProcesses()
    thread, result = run_in_thread(processes, [command(SLEEPER), command("print('never')")])
    time.sleep(1.0)  # the first command is running
    started = time.monotonic()
    assert processes.stop(grace_s=5.0) == 1
    thread.join(timeout=10)
    assert not thread.is_alive() and time.monotonic() - started < 5.0
    assert result["status"] == "failed"
    assert "exit -15" in result["detail"] and "the daemon stopped before the rest ran" in result["detail"]
    assert processes.run([command("print('late')")], nice=0)[0] == "failed"  # nothing starts once stopping


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace():
    processes = JobProcesses()
    thread, result = run_in_thread(processes, [command(STUBBORN)])
    time.sleep(1.0)
    started = time.monotonic()
    processes.stop(grace_s=1.0)
    thread.join(timeout=10)
    assert 1.0 <= time.monotonic() - started < 5.0
    assert "exit -9" in result["detail"]


def test_commands_run_in_order_with_their_exit_codes():
    status, detail = JobProcesses().run([command("print('a')"), command("import sys; sys.exit(3)")], nice=0)
    assert status == "failed" and "exit 0: a" in detail and "exit 3" in detail
