"""Making finished steps durable before their commit, off the daemon's main loop.

A worker of the local pool leaves the files of an ok step unsynced and says which they are
(`StepOutcome.unsynced`). The runner gathers the ok steps a loop iteration collects into one batch
and hands it to `SyncLane`, whose thread makes all their files durable together (`sync_steps`:
one `syncfs` per file system) while the main loop goes on dispatching, collecting and pinging the
service watchdog: a sync waits for every dirty page of the file system, which another program's
large write can make take minutes. The runner commits a batch's steps once its sync has finished,
so the catalog never shows a file that is not on disk; until then they stay in flight.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import Future

from kellyd.atomic import WriteGroup
from kellyd.outcome import StepOutcome, outcome_for


def needs_sync(step: Future) -> bool:
    """A finished step whose ok result still has files to make durable (a step that wrote none, such as
    `annotate`, commits at once)."""
    if not step.done() or step.cancelled() or step.exception() is not None:
        return False
    unsynced = step.result().unsynced
    return unsynced is not None and bool(unsynced.files or unsynced.folders)


def sync_steps(steps: list[Future]) -> dict[Future, StepOutcome]:
    """Make the files of `steps` (finished, `needs_sync`) durable, all together. Where that fails,
    each step's files are synced apart, so that only the steps whose own files fail do; returns
    what each of those becomes instead, as if its own write had failed (a full disk waits for space)."""
    group = WriteGroup()
    for step in steps:
        group.adopt(step.result().unsynced)
    try:
        group.sync()
        return {}
    except OSError:
        pass  # a full disk, or one step's files gone (a folder removed under it): each step apart
    failed = {}
    for step in steps:
        own = WriteGroup()
        own.adopt(step.result().unsynced)
        try:
            own.sync()
        except OSError as exc:
            failed[step] = dataclasses.replace(outcome_for(exc), elapsed_s=step.result().elapsed_s)
    return failed


class SyncLane:
    """One thread that makes batches of finished steps durable. The batches that queue while it syncs
    are synced together next (one `syncfs` for all of them), so a slow disk costs fewer syncs, not more."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queued: list[tuple[Future, list[Future]]] = []  # batches the thread has not taken yet
        self._batches: dict[Future, list[Future]] = {}  # every batch not given back: its sync -> its steps
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self, steps: list[Future]) -> None:
        """Queue `steps` to be made durable (the thread starts with the first batch)."""
        sync: Future = Future()
        sync.set_running_or_notify_cancel()
        with self._cond:
            self._batches[sync] = steps
            self._queued.append((sync, steps))
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="kellyd-sync", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queued and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                taken, self._queued = self._queued, []
            try:
                failed = sync_steps([step for _, steps in taken for step in steps])
            except Exception as exc:  # not an OSError (those are mapped per step): every step fails with it
                for sync, _ in taken:
                    sync.set_exception(exc)
                continue
            for sync, steps in taken:
                sync.set_result({step: failed[step] for step in steps if step in failed})

    def syncs(self) -> list[Future]:
        """The batches not committed yet, to wait on beside the running steps."""
        with self._cond:
            return list(self._batches)

    def steps(self) -> set[Future]:
        """The steps waiting for their sync."""
        with self._cond:
            return {step for steps in self._batches.values() for step in steps}

    def finished(self, syncs) -> tuple[list[Future], dict[Future, StepOutcome]]:
        """The steps of the finished `syncs`, now durable, and what those whose files failed become."""
        steps: list[Future] = []
        failed: dict[Future, StepOutcome] = {}
        for sync in syncs:
            with self._cond:
                batch = self._batches.pop(sync)
            steps += batch
            if sync.exception() is not None:
                failed.update({step: outcome_for(sync.exception()) for step in batch})
            else:
                failed.update(sync.result())
        return steps, failed

    def shutdown(self) -> None:
        """Stop the thread without waiting: steps not committed run again at the next start."""
        with self._cond:
            self._stopping = True
            self._queued.clear()
            self._batches.clear()
            self._thread = None
            self._cond.notify_all()
