"""A handler that takes its worker process down, as a segfault in a C parser would."""

from __future__ import annotations

import os
from typing import ClassVar

from kellyd.handlers.base import DatasetContext
from kellyd.sample import Sample


class KillsItsWorker:
    name: ClassVar[str] = "kills_worker"
    version: ClassVar[int] = 1

    def __init__(self, ctx: DatasetContext) -> None:
        self.ctx = ctx

    def __call__(self, sample: Sample) -> Sample:
        if "crash" in sample.original_names[0]:
            os._exit(139)
        return sample
