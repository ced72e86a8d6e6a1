"""Quarantined files grouped by why: 282 identical rows read as one line with a count.

Shared by the validation report, the status page and `kellyd status`. Light (standard library
only): `kellyd status` imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Iterable

EXAMPLES_PER_GROUP = 3
# Numbers in a reason (sizes, offsets, counts) differ from file to file; the kind of problem does not.
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


@dataclass(frozen=True)
class QuarantineGroup:
    """Files set aside for the same kind of reason by the same step.

    reason: the reason of the first file, as written (an example of the group's kind);
    count: files in the group; examples: up to EXAMPLES_PER_GROUP of their paths.
    """

    handler: str
    reason: str
    count: int
    examples: tuple[str, ...]


def reason_kind(reason: str, path: str = "") -> str:
    """What stays of a reason once the file's own path, names, quoted values and numbers are taken out."""
    text = reason
    for own in sorted({path, PurePath(path).name} - {""}, key=len, reverse=True):  # the whole path first
        text = text.replace(own, "<file>")
    return _NUMBER.sub("#", _QUOTED.sub("'…'", text)).strip()


def group_quarantine(items: Iterable[tuple[str, str, str]], *, examples: int = EXAMPLES_PER_GROUP
                     ) -> list[QuarantineGroup]:
    """(path, handler, reason) triples grouped by step and reason kind, largest group first."""
    groups: dict[tuple[str, str], list] = {}
    for path, handler, reason in items:
        key = (handler, reason_kind(reason, path))
        group = groups.setdefault(key, [reason, 0, []])
        group[1] += 1
        if len(group[2]) < examples:
            group[2].append(path)
    found = [QuarantineGroup(handler, first, count, tuple(paths))
             for (handler, _), (first, count, paths) in groups.items()]
    return sorted(found, key=lambda g: (-g.count, g.handler, g.reason))
