"""Is a dataset's folder still the one the daemon laid out?

A user may move or remove a whole dataset folder while the daemon runs (`mv datasets/mix
datasets/mix.old`). The steps in flight then lose their input, and their writes would lay out a new,
partial folder where the old one was. So the runner compares each dataset folder with the one it laid
out (device and inode, taken when the dataset's runtime was built) before it dispatches and before it
commits: a dataset whose folder is gone or was replaced is held back (its jobs wait, nothing is
quarantined for it, and the writes of its steps never make the folder again:
`kellyd.atomic.writes_inside`) until the same folder is back. A restart or a reload lays out and
serves whatever folder is there then.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from kellyd.pathpolicy import display


@dataclass(frozen=True)
class FolderIdentity:
    device: int
    inode: int


def folder_identity(path: Path) -> FolderIdentity | None:
    """The identity of the folder at `path` (a link is not followed), None when there is no folder."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return FolderIdentity(st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def away_reason(root: Path, laid_out: FolderIdentity | None) -> str | None:
    """Why the dataset folder `root` is not the one laid out (`laid_out`), or None when it is."""
    now = folder_identity(root)
    if laid_out is None or now == laid_out:
        return None
    what = "is gone (moved or removed)" if now is None else "was replaced by another folder"
    return (f"the dataset folder {display(root)} {what} while kellyd ran; its jobs wait until that folder is"
            " back where it was (or until a restart or a reload takes the folder there then)")
