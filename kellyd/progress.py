"""Progress bars of the batch commands (import, features, augment, synthesize): a total and an ETA.

Work grows while it runs (augmentation adds children that need features; a quarantined file
drops the rest of its chain), so the total is the steps done plus the steps still queued,
read from the catalog after each batch of results: the bar ends at exactly 100 % and its ETA
follows the real remaining work.
"""

from __future__ import annotations

import sqlite3
from typing import Any


def remaining_steps(db: sqlite3.Connection) -> int:
    """Handler steps still to run over every pending job (each job: its chain's length minus its step)."""
    row = db.execute("SELECT COALESCE(SUM(json_array_length(chain) - step), 0) FROM jobs "
                     "WHERE state = 'pending'").fetchone()
    return max(0, int(row[0] or 0))


class StepProgress:
    """A tqdm bar over handler steps whose total follows the catalog (see the module docstring)."""

    def __init__(self, db: sqlite3.Connection, *, desc: str, enabled: bool, unit: str = "step",
                 not_queued: int = 0) -> None:
        from tqdm import tqdm

        self.db = db
        self.not_queued = not_queued  # steps the caller will queue later (import: the steps after annotate)
        self.bar: Any = tqdm(total=remaining_steps(db) + not_queued, desc=desc, unit=unit, disable=not enabled,
                             dynamic_ncols=True)

    def expect(self, steps: int) -> None:
        """`steps` more will be queued later: count them in the total now."""
        self.not_queued = max(0, steps)
        self.bar.total = self.bar.n + remaining_steps(self.db) + self.not_queued
        self.bar.refresh()

    def update(self, done: int) -> None:
        self.bar.total = self.bar.n + done + remaining_steps(self.db) + self.not_queued
        self.bar.update(done)

    def close(self) -> None:
        self.bar.total = self.bar.n  # whatever was dropped (quarantined files) is not still to come
        self.bar.refresh()
        self.bar.close()


def counting_bar(total: int, *, desc: str, enabled: bool, unit: str):
    """A plain bar with a fixed total (pieces to write, epochs at most)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)


class EpochLog:
    """`on_epoch` of `kellyd train`: one line per epoch with the validation score, the best so far,
    and the time left at most (early stopping may end sooner)."""

    def __init__(self, key: str, max_epochs: int, log, *, clock=None) -> None:
        import time

        self.key, self.max_epochs, self.log = key, max_epochs, log
        self.clock = clock or time.monotonic
        self.started = self.clock()
        self.best: tuple[float, int] | None = None

    def __call__(self, record: Any) -> None:
        elapsed_s = self.clock() - self.started
        per_epoch_s = elapsed_s / max(record.epoch, 1)
        left_s = per_epoch_s * max(0, self.max_epochs - record.epoch)
        if self.best is None or record.val_score < self.best[0]:
            self.best = (record.val_score, record.epoch)
        self.log(f"{self.key}: epoch {record.epoch}/{self.max_epochs} train loss {record.train_loss:.4f} "
                 f"val loss {record.val_loss:.4f} val score {record.val_score:.4f} (best {self.best[0]:.4f} at "
                 f"epoch {self.best[1]}; {per_epoch_s:.1f} s/epoch, at most {left_s / 60:.1f} min left)")
