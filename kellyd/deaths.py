"""What a dead worker process means for the job it was running: one pure decision.

A worker can die of a signal (SIGSEGV in a C extension or in code loaded from a
broken numba cache, SIGKILL from the out-of-memory killer), exit on its own, or
be killed by the daemon because its step ran past `limits.step_timeout_s`. The
death is recorded as what it was, and the job is charged only when the file is
the likely cause.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Literal

# Signals a broken numba cache produces when its machine code is called.
CACHE_CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGILL})
# Exit codes that say nothing about the job: unknown (None), the SIGTERM a pool sends the workers it
# stops after another one died, and 255, what multiprocessing's forkserver reports when it could not
# read a child's status (an innocent worker stopped beside a crashing one shows it).
FORKSERVER_UNKNOWN_EXIT = 255
STOPPED_BY_POOL = frozenset({None, -signal.SIGTERM, FORKSERVER_UNKNOWN_EXIT})

Cause = Literal["crash", "timeout", "numba_cache"]
Action = Literal["retry", "quarantine", "rebuild_cache"]


@dataclass(frozen=True)
class WorkerDeath:
    """One worker that died while (maybe) running a job. `exitcode` as multiprocessing gives it:
    negative for a signal, None if unknown."""

    pid: int
    exitcode: int | None
    job_id: int | None
    slot: int | None = None
    cache_warm: bool = False
    timed_out: bool = False


@dataclass(frozen=True)
class DeathVerdict:
    action: Action
    cause: Cause
    charged: bool
    reason: str


def describe_exit(exitcode: int | None) -> str:
    """'signal SIGSEGV', 'exit code 3' or 'unknown exit'."""
    if exitcode is None:
        return "unknown exit"
    if exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    if exitcode > 128:  # a shell-style "killed by signal" code, e.g. os._exit(139)
        try:
            return f"exit code {exitcode} (signal {signal.Signals(exitcode - 128).name})"
        except ValueError:
            pass
    return f"exit code {exitcode}"


def signal_name(exitcode: int | None) -> str | None:
    if exitcode is None or exitcode >= 0:
        return None
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return str(-exitcode)


def judge_death(death: WorkerDeath, *, step: str, audio_step: bool, earlier_deaths: int, earlier_timeouts: int,
                max_attempts: int, step_timeout_s: float, earlier_cache_rebuilds: int = 0) -> DeathVerdict:
    """Decide the job's fate. `earlier_*` count this job's charged deaths, timeouts and the cache
    rebuilds its deaths caused before this one (one rebuild per job: a file that crashes a freshly
    compiled cache as well is the cause)."""
    if death.timed_out:
        if earlier_timeouts + 1 >= 2:  # retried once already
            return DeathVerdict("quarantine", "timeout", True, f"step {step} exceeded {step_timeout_s:g} s")
        return DeathVerdict("retry", "timeout", True,
                            f"step {step} exceeded {step_timeout_s:g} s; its worker was stopped (will retry once)")
    how = describe_exit(death.exitcode)
    crash_signal = death.exitcode is not None and death.exitcode < 0 and -death.exitcode in CACHE_CRASH_SIGNALS
    if crash_signal and audio_step and death.cache_warm and earlier_cache_rebuilds == 0:
        # The worker ran machine code loaded from its numba cache; a compiled-fresh
        # run tells whether the file or the cache was at fault.
        return DeathVerdict("rebuild_cache", "numba_cache", False,
                            f"worker process died ({how}) while running {step} with compiled code from its numba "
                            "cache; the cache folder was set aside and the step runs again")
    deaths = earlier_deaths + 1
    reason = f"worker process died ({how}) {deaths} time{'s' if deaths > 1 else ''} while running {step} on this file"
    if deaths >= max_attempts:
        return DeathVerdict("quarantine", "crash", True, reason)
    return DeathVerdict("retry", "crash", True, reason)
