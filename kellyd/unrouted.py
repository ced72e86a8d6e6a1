"""What sits at the top of the inbox that no dataset takes, and why.

Files are routed from `inbox/<dataset>/...` only (`kellyd.routing`). Anything else at the top of the
inbox is left where it is, and without a word it would look like a daemon that ignores its input:

- a file dropped into the inbox itself, not into a dataset's folder;
- a folder named after no dataset (a typo, a dataset taken out of the configuration);
- a dataset's folder that is a symbolic link (never followed, `kellyd.pathpolicy`: whoever may write
  into the inbox could otherwise point the daemon at any folder it can read, and in move mode empty
  it), or that is not a folder at all.

The daemon logs each such entry once (`inbox_entry_unrouted`) and `kellyd status` lists them. Hidden
names and names matching `watch.ignore` are skipped, as the router skips them.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from kellyd.pathpolicy import display, link_kind
from kellyd.routing import is_ignored


# At most this many entries are logged at once, and shown by `kellyd status` (its --json lists them all).
UNROUTED_LISTED = 20


@dataclass(frozen=True)
class Unrouted:
    """An entry at the top of the inbox (`path`, as `display` shows it) and why no dataset takes it."""

    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


def unrouted_entries(inbox: Path, datasets: Iterable[str], ignore: tuple[str, ...] = ()) -> list[Unrouted]:
    """The entries directly under `inbox` that no dataset in `datasets` takes files from, by name.
    An inbox that cannot be listed gives none (the configuration check and the scan report it)."""
    known = frozenset(datasets)
    try:
        with os.scandir(inbox) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.name.startswith(".") or is_ignored(entry.path, ignore):
            continue
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError:  # gone since the listing
            continue
        reason = unrouted_reason(entry.path, entry.name, mode, known)
        if reason is not None:
            found.append(Unrouted(display(entry.path), reason))
    return found


def unrouted_reason(path: str, name: str, mode: int, datasets: frozenset[str]) -> str | None:
    """Why the inbox entry `name` (its lstat `mode`) routes nowhere, or None when a dataset takes it."""
    shown = display(name)
    names = ", ".join(sorted(display(d) for d in datasets)) or "none"
    if stat.S_ISLNK(mode):
        if name in datasets:
            return (f"the inbox of dataset {shown!r} is a {link_kind(path)}: not followed; make it a real folder"
                    " and move the files into it")
        return f"{link_kind(path)}, and no dataset is named {shown!r} (datasets: {names}): not followed"
    if stat.S_ISDIR(mode):
        if name in datasets:
            return None
        return (f"no dataset is named {shown!r} (datasets: {names}); its files wait here until one is"
                " (`kellyd dataset create`) or they are moved into a dataset's folder")
    if name in datasets:
        return f"not a folder: dataset {shown!r} takes its files from a folder of this name; move this away"
    if stat.S_ISREG(mode):
        return f"a file directly in the inbox: files go into a dataset's folder, inbox/<dataset>/ (datasets: {names})"
    return "neither a file nor a folder (a pipe, socket or device is never read)"


def make_inbox_folder(folder: Path) -> str | None:
    """Create a dataset's inbox folder, to show users where to drop files. Whatever already holds the
    name (a link, a file) is left as it is: returns why the folder is not usable, else None."""
    try:
        folder.mkdir()
        return None
    except FileExistsError:
        pass
    except OSError as exc:
        return f"cannot create {display(folder)}: {exc.strerror or exc}"
    try:
        mode = os.lstat(folder).st_mode
    except OSError as exc:  # removed again since
        return f"cannot look at {display(folder)}: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        return None
    return unrouted_reason(os.fspath(folder), folder.name, mode, frozenset({folder.name}))
