"""A handler that writes two files per sample; for a file named `*lose*` it then removes their folder,
as a user deleting it before the commit would, so that making them durable fails for that step alone."""

from __future__ import annotations

import shutil
from typing import ClassVar

from kellyd.atomic import atomic_write_bytes
from kellyd.handlers.base import DatasetContext
from kellyd.sample import Sample


class WritesProbe:
    name: ClassVar[str] = "writes_probe"
    version: ClassVar[int] = 1

    def __init__(self, ctx: DatasetContext) -> None:
        self.ctx = ctx

    def __call__(self, sample: Sample) -> Sample:
        folder = self.ctx.root / "processed" / "probe" / sample.sample_id
        for name in ("one.bin", "two.bin"):
            atomic_write_bytes(folder / name, sample.sample_id.encode("ascii"))
        if "lose" in sample.original_names[0]:
            shutil.rmtree(folder)
        return sample
