"""The one error of reading a dataset folder for training."""

from __future__ import annotations


class UnusableData(Exception):
    """The dataset cannot be trained on as it is; `reasons` say why, one line each."""

    def __init__(self, reasons: list[str] | tuple[str, ...] | str) -> None:
        self.reasons = (reasons,) if isinstance(reasons, str) else tuple(reasons)
        super().__init__("; ".join(self.reasons))
