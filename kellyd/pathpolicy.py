"""One policy for every path the daemon touches (settle, scan, watcher, import, quarantine, sidecars).

- A symbolic link is never followed: it is refused as a link, its target is never opened, read or
  copied. Files are opened with O_NOFOLLOW, so a file swapped for a link after a check is refused too.
- A name that is not valid UTF-8 (os.fsdecode gave surrogates) is refused: the catalog, the manifest
  and JSON cannot hold it. What leaves the process shows such a path escaped (`display`).
- A path longer than PATH_MAX cannot be opened by name at all: it is skipped and logged.
- Names the daemon derives from a user's name (temp files, quarantine, raw copies) are shortened
  to fit NAME_MAX (`fit_name`) and stay recognisable: start and extension kept, a hash of the full
  name added.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from typing import BinaryIO

from kellyd.errors import InvalidInput

NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 4096
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


class PathRefused(InvalidInput):
    """The path breaks the policy; `reason` says how, in words meant for a user (the file is quarantined)."""


def display(path: str | os.PathLike) -> str:
    """The path as text that can always be encoded: bytes that are not UTF-8 shown as \\xNN."""
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that did not come from the file system (not \udc80-\udcff)
        return os.fspath(path).encode("utf-8", "backslashreplace").decode("utf-8")


def is_valid_text(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def link_kind(path: str) -> str:
    """What kind of link `path` is ("symbolic link to a folder"), without following it further."""
    try:
        target = os.stat(path)  # only the kind of target is asked, its content is never opened
        kind = "to a folder" if stat.S_ISDIR(target.st_mode) else "to a file"
    except OSError as exc:
        kind = {errno.ELOOP: "in a loop", errno.EACCES: "to a place the daemon may not look into",
                errno.EPERM: "to a place the daemon may not look into"}.get(exc.errno, "that points nowhere (dangling)")
    return f"symbolic link {kind}"


def link_reason(path: str) -> str:
    """Why a link is refused, naming what kind of link it is."""
    return f"{link_kind(path)}: not followed (links are never read; drop the file itself)"


def refusal(path: str, st: os.stat_result) -> str | None:
    """Why a settled path (with its lstat) is refused, or None when it may be imported."""
    if not is_valid_text(path):
        return (f"the name is not valid UTF-8 ({display(path)!r}); rename the file or folder"
                " with UTF-8 characters and drop it again")
    if stat.S_ISLNK(st.st_mode):
        return link_reason(path)
    return None


def skip_reason(exc: OSError) -> str:
    """A short reason for a path that cannot even be looked at (logged, the file stays where it is)."""
    if exc.errno == errno.ENAMETOOLONG:
        return f"the path is longer than PATH_MAX ({PATH_MAX_BYTES} bytes) or a name longer than NAME_MAX; move it higher up"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "not readable by the daemon (permission denied)"
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    return f"{type(exc).__name__}: {exc.strerror or exc}"


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open a regular file for reading, never through a link. PathRefused says why not."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PathRefused(link_reason(os.fspath(path))) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise PathRefused("not a regular file (a folder, pipe, socket or device is never read)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def is_plain_file(path: str | os.PathLike, *, what: str, logger) -> bool:
    """True for a regular file; a link is never followed: it is logged as `<what>_link_ignored`, False."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    if stat.S_ISLNK(mode):  # its target could be any file the service can read
        logger.warning(f"{what}_link_ignored", path=display(path), reason="symbolic link: not followed")
        return False
    return stat.S_ISREG(mode)


def fit_name(name: str, max_bytes: int) -> str:
    """`name` if it fits in `max_bytes` of UTF-8, else its start, a hash of the whole name and its extension.

    Two different long names give different short names; the cut never splits a character.
    """
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) <= max_bytes:
        return name
    stem, ext = os.path.splitext(name)
    ext_bytes = ext.encode("utf-8", "surrogateescape")
    if len(ext_bytes) > 16:
        stem, ext_bytes = name, b""
    tag = "~" + hashlib.sha256(encoded).hexdigest()[:8]
    room = max_bytes - len(tag) - len(ext_bytes)
    if room < 1:
        raise ValueError(f"max_bytes {max_bytes} leaves no room for a name")
    head = stem.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return head + tag + ext_bytes.decode("utf-8", "surrogateescape")


class SkipLog:
    """Logs a path that is skipped (left where it is) once per (path, reason): a rescan meets it again."""

    def __init__(self, logger, *, limit: int = 10_000) -> None:
        self._log = logger
        self._seen: set[tuple[str, str]] = set()
        self._limit = limit

    def __call__(self, path: str | os.PathLike, reason: str) -> None:
        key = (display(path), reason)
        if key in self._seen:
            return
        if len(self._seen) >= self._limit:  # bounded: forgetting only means logging again
            self._seen.clear()
        self._seen.add(key)
        self._log.warning("path_skipped", path=key[0], reason=reason)
