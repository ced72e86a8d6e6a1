"""A test step that leaves a mark of every run (which file, which process) and takes its time on
files named `slow*`, so a test can kill the process that runs it, or the scheduler, mid-step."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import ClassVar

from kellyd.handlers.base import DatasetContext
from kellyd.sample import Sample

RUNS_DIR_ENV = "KELLYD_TEST_RUNS_DIR"  # set on the worker processes by the test
SLOW_STEP_S = 2.5


def run_marks(runs_dir: Path) -> list[tuple[str, int]]:
    """(file name, worker pid) of every run started, oldest first."""
    marks = sorted(runs_dir.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    return [(p.name.rsplit("@", 2)[0], int(p.name.rsplit("@", 2)[1])) for p in marks]


class MarksEachRun:
    name: ClassVar[str] = "marks_runs"
    version: ClassVar[int] = 1

    def __init__(self, ctx: DatasetContext) -> None:
        self.ctx = ctx

    def __call__(self, sample: Sample) -> Sample:
        name = sample.original_names[0] if sample.original_names else os.path.basename(sample.origin_path)
        runs_dir = Path(os.environ[RUNS_DIR_ENV])
        (runs_dir / f"{name}@{os.getpid()}@{time.time_ns()}").touch()
        if name.startswith("slow"):
            time.sleep(SLOW_STEP_S)
        return sample
