"""A test step that misbehaves on some files, by name: `crash` dies of a real SIGSEGV, `slow` sleeps
far past any step timeout; every other file passes straight through."""

from __future__ import annotations

import os
import signal
import time
from typing import ClassVar

from kellyd.handlers.base import DatasetContext
from kellyd.sample import Sample

SLOW_STEP_S = 3600.0


class MisbehavesOnSome:
    name: ClassVar[str] = "misbehaves"
    version: ClassVar[int] = 1

    def __init__(self, ctx: DatasetContext) -> None:
        self.ctx = ctx

    def __call__(self, sample: Sample) -> Sample:
        name = sample.original_names[0] if sample.original_names else os.path.basename(sample.origin_path)
        if name.startswith("crash"):
            os.kill(os.getpid(), signal.SIGSEGV)
        if name.startswith("slow"):
            time.sleep(SLOW_STEP_S)
        return sample
