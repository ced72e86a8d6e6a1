"""One sound from the network to its staged name, never seen half-written.

The bytes stream into `.<id>.<ext>.part` beside the final name; the size is
checked (non-empty, as announced, within the combination's budget), the audio
must decode, the file is fsynced, the sidecar is written (atomically), and only
then does `os.replace` give the audio its final name, so the daemon's watcher
sees a complete file whose sidecar is already there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from kellyd.atomic import atomic_write_json, fsync_dir
from kellyd.errors import InvalidInput
from kellyd.freesound.api import SoundInfo
from kellyd.freesound.client import Auth, FreesoundClient, LocalWriteError, copy_body
from kellyd.freesound.staging import part_path, sidecar_path
from kellyd.music.audio_io import read_native


def check_decodes(path: Path) -> float:
    """Decode the whole file; returns its duration in seconds.

    Raises InvalidInput (named after the file) for what is not audio: not a
    known format, a header that does not parse, a file shorter than its header
    says, nothing that decodes, NaN samples (see `kellyd.music.audio_io`).
    """
    try:
        return read_native(path).info.duration_s
    except InvalidInput as exc:
        raise InvalidInput(f"{path.name}: {exc.reason}") from None


def sidecar_for(
    sound: SoundInfo, *, query: str, emotion: str, instrument: str, downloaded_at: str
) -> dict[str, Any]:
    """The metadata written beside a staged file; the daemon's annotate step reads it."""
    return {
        "source": "freesound",
        "freesound_id": sound.freesound_id,
        "name": sound.name,
        "username": sound.username,
        "license": sound.license,
        "url": sound.url,
        "tags": list(sound.tags),
        "duration_s": sound.duration_s,
        "query": query,
        "emotion": emotion,
        "instrument": instrument,
        "downloaded_at": downloaded_at,
    }


def _stream_to_part(response: Any, part: Path, max_bytes: int) -> int:
    try:
        sink = open(part, "wb")  # truncates what an earlier attempt left
    except OSError as exc:
        raise LocalWriteError(f"cannot create {part}: {exc.strerror or exc}") from exc
    with sink:
        size = copy_body(response, sink, max_bytes=max_bytes)
        try:
            sink.flush()
            os.fsync(sink.fileno())
        except OSError as exc:
            raise LocalWriteError(f"cannot write {part}: {exc.strerror or exc}") from exc
    return size


def fetch_to_staging(
    client: FreesoundClient,
    *,
    url: str,
    auth: Auth,
    final_path: Path,
    freesound_id: int,
    max_bytes: int,
    sidecar: Mapping[str, Any],
) -> int:
    """Download `url` to `final_path` with its sidecar; returns the bytes written.

    Raises TooLarge (over `max_bytes`), InvalidInput (does not decode),
    RequestFailed / PullAborted (network, see the client), LocalWriteError.
    Whatever happens, no `.part` file is left behind.
    """
    folder = final_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalWriteError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    part = part_path(final_path, freesound_id)
    try:
        size = client.exchange(
            url, lambda response: _stream_to_part(response, part, max_bytes), auth=auth, what=f"sound {freesound_id}"
        )
        check_decodes(part)
        try:
            atomic_write_json(sidecar_path(final_path), dict(sidecar))
            os.replace(part, final_path)
            fsync_dir(folder)
        except OSError as exc:
            raise LocalWriteError(f"cannot stage {final_path.name}: {exc.strerror or exc}") from exc
        return size
    finally:
        part.unlink(missing_ok=True)
