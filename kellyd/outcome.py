"""What happened to one step, and the one place where exceptions become outcomes."""

from __future__ import annotations

import dataclasses
import errno
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

from kellyd.atomic import DatasetFolderGone, Unsynced, dataset_folder_gone
from kellyd.diskspace import is_disk_full
from kellyd.handlers.base import Handler, StepResult
from kellyd.errors import InvalidInput, TemporaryFailure
from kellyd.sample import Sample

Status = Literal["ok", "invalid", "retry", "error"]
_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EAGAIN, errno.EMFILE, errno.ENFILE, errno.EBUSY, errno.EINTR,
                               errno.ENOMEM, errno.EDQUOT})


@dataclass(frozen=True)
class StepOutcome:
    status: Status
    result: StepResult | None = None
    reason: str = ""
    retry_after_s: float | None = None
    elapsed_s: float = 0.0
    # The step failed for lack of disk space: it waits for space, uncounted, never quarantined.
    disk_full: bool = False
    # An ok step whose files are written but not yet durable: whoever commits it syncs them first
    # (`kellyd.executor.run_durable_step`, `kellyd.durable`).
    unsynced: Unsynced | None = None


def outcome_for(exc: BaseException) -> StepOutcome:
    """Map an exception raised by a handler to exactly one outcome."""
    if isinstance(exc, InvalidInput):
        return StepOutcome("invalid", reason=exc.reason)
    if is_disk_full(exc):
        return StepOutcome("retry", reason=f"disk full: {type(exc).__name__}: {exc}", disk_full=True)
    if isinstance(exc, DatasetFolderGone):  # not the file's fault: the runner holds the dataset's jobs back
        return StepOutcome("retry", reason=f"{exc.strerror}: {exc.filename}")
    if isinstance(exc, TemporaryFailure):
        return StepOutcome("retry", reason=exc.reason, retry_after_s=exc.retry_after_s)
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return StepOutcome("retry", reason=f"{type(exc).__name__}: {exc}")
    if isinstance(exc, MemoryError):
        return StepOutcome("retry", reason="out of memory while processing the file")
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        raise exc
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno}" if last else ""
    return StepOutcome("error", reason=f"internal error {type(exc).__name__}: {exc}{where}")


def run_step(handler: Handler, sample: Sample, *, dataset_root: Path | None = None) -> StepOutcome:
    """Run one handler on one sample; called in a worker process. Never raises. A step that failed
    while its dataset folder `dataset_root` was gone is retried: its input went with the folder."""
    structlog.contextvars.bind_contextvars(sample_id=sample.sample_id or None, path=sample.file_path or sample.origin_path,
                                           step=handler.name)
    started = time.perf_counter()
    try:
        result = handler(sample)
    except BaseException as exc:  # noqa: BLE001 - mapped in one place below
        outcome = outcome_for(exc)
        if dataset_root is not None and not os.path.isdir(dataset_root):
            outcome = outcome_for(dataset_folder_gone(dataset_root))
        if outcome.status == "error":
            structlog.get_logger("kellyd.worker").error("handler_failed", reason=outcome.reason,
                                                        traceback=traceback.format_exc(limit=6))
        return dataclasses.replace(outcome, result=None, elapsed_s=time.perf_counter() - started)
    finally:
        structlog.contextvars.clear_contextvars()
    return StepOutcome("ok", result, elapsed_s=time.perf_counter() - started)


def backoff_s(attempt: int, *, base_s: float = 2.0, cap_s: float = 600.0) -> float:
    """Delay before retry number `attempt` (1-based): exponential, capped."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    return min(cap_s, base_s * 2 ** (attempt - 1))
