"""What a pull did, as frozen values the CLI prints and the scheduler logs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

Outcome = Literal["completed", "skipped", "stopped"]
# target_reached: the combination holds its target; budget_reached: the next file would pass
# max_mb_per_combination; exhausted: the search has no more results (today);
# incomplete: a search failed or gave unreadable pages; stopped: the pull ended during it.
CombinationStatus = Literal["target_reached", "budget_reached", "exhausted", "incomplete", "stopped"]


@dataclass(frozen=True)
class CombinationReport:
    """One (emotion, instrument) pair. In a dry run `downloaded` counts the files it would fetch."""

    emotion: str
    instrument: str
    query: str
    had: int
    downloaded: int
    bytes_downloaded: int
    skipped: Mapping[str, int]
    status: CombinationStatus
    errors: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.had + self.downloaded

    def to_json(self) -> dict[str, Any]:
        return {
            "emotion": self.emotion, "instrument": self.instrument, "query": self.query, "had": self.had,
            "downloaded": self.downloaded, "bytes_downloaded": self.bytes_downloaded, "total": self.total,
            "skipped": dict(self.skipped), "status": self.status, "errors": list(self.errors),
        }


@dataclass(frozen=True)
class PullReport:
    """A whole pull. `reason` says why it was skipped or stopped ("" when it completed)."""

    outcome: Outcome
    reason: str
    dry_run: bool
    started_at: str
    finished_at: str
    requests_made: int = 0
    combinations: tuple[CombinationReport, ...] = ()
    leftovers_removed: int = 0
    files_adopted: int = 0

    @property
    def files_downloaded(self) -> int:
        return sum(c.downloaded for c in self.combinations)

    @property
    def bytes_downloaded(self) -> int:
        return sum(c.bytes_downloaded for c in self.combinations)

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome, "reason": self.reason, "dry_run": self.dry_run,
            "started_at": self.started_at, "finished_at": self.finished_at,
            "requests_made": self.requests_made, "files_downloaded": self.files_downloaded,
            "bytes_downloaded": self.bytes_downloaded, "leftovers_removed": self.leftovers_removed,
            "files_adopted": self.files_adopted,
            "combinations": [c.to_json() for c in self.combinations],
        }


@dataclass
class Tally:
    """The running count of one combination while it is pulled (mutable; frozen into a report at the end)."""

    emotion: str
    instrument: str
    query: str
    had: int
    had_bytes: int
    downloaded: int = 0
    bytes_downloaded: int = 0
    skipped: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def files(self) -> int:
        return self.had + self.downloaded

    @property
    def bytes(self) -> int:
        return self.had_bytes + self.bytes_downloaded

    def report(self, status: CombinationStatus) -> CombinationReport:
        return CombinationReport(
            emotion=self.emotion, instrument=self.instrument, query=self.query, had=self.had,
            downloaded=self.downloaded, bytes_downloaded=self.bytes_downloaded,
            skipped=dict(sorted(self.skipped.items())), status=status, errors=tuple(self.errors),
        )
