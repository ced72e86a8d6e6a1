"""The tiny base every handler follows.

A handler is built once per dataset with its settings (`__init__`) and called
once per sample (`__call__`) in a worker process, so it must be picklable and
must not touch the catalog. It returns the updated sample or, for steps that
derive new samples (augmentation), a `Derived` holding the parent and children.
Calling a handler twice on the same sample must be safe (same files, same result).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Protocol, Union

from kellyd.config import LimitsConfig
from kellyd.sample import Sample


@dataclass(frozen=True)
class DatasetContext:
    """What a handler knows about the dataset it works for."""

    dataset_id: str
    root: Path
    settings: Mapping[str, Any] = field(default_factory=dict)
    # What one input may cost (`[limits]`): every handler reads its caps here, none has its own.
    limits: LimitsConfig = field(default_factory=LimitsConfig)

    def path_of(self, sample: Sample) -> Path:
        """Absolute path of an imported sample's file."""
        return self.root / sample.file_path


@dataclass(frozen=True)
class Derived:
    """The result of a step that makes new samples from one parent."""

    parent: Sample
    children: tuple[Sample, ...]


StepResult = Union[Sample, Derived]


class Handler(Protocol):
    name: ClassVar[str]
    version: ClassVar[int]

    def __call__(self, sample: Sample) -> StepResult: ...
