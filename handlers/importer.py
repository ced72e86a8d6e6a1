"""The `import` step: check the file, hash it, and place it under `raw/`.

The kind comes from the content (MIDI header, audio magic bytes), not the name.
A file only counts when it is readable: MIDI must parse, audio must decode its
header. The copy is atomic and lands at a name that depends only on the
origin's name and its hash, so running the step again writes the same file.
De-duplication (same bytes under two names) is decided by the runner against
the catalog, since only the daemon's process may read and write it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import ClassVar

import structlog

from kellyd.handlers.base import DatasetContext
from kellyd.atomic import atomic_write_bytes, note_kept
from kellyd.config import LimitsConfig
from kellyd.errors import InvalidInput
from kellyd.handlers.sidecar import parse_sidecar, read_sidecar_bytes
from kellyd.limits import check_file_size
from kellyd.pathpolicy import NAME_MAX_BYTES, fit_name, is_plain_file, open_regular
from kellyd.sample import Sample, sample_id_for
from kellyd.shard import sample_file

HEAD_BYTES = 64
CHUNK_BYTES = 1 << 20
SIDECAR_SUFFIX = ".json"
# A raw copy's name leaves room for the `_<hash8>` a name clash adds and for its sidecar's `.json`.
RAW_NAME_MAX_BYTES = NAME_MAX_BYTES - len("_12345678") - len(SIDECAR_SUFFIX)

log = structlog.get_logger("kellyd.import")


def sidecar_of(path: Path) -> Path | None:
    """The JSON sidecar next to a file: `song.mid.json`, else `song.json`."""
    for candidate in (path.with_name(path.name + SIDECAR_SUFFIX), path.with_suffix(SIDECAR_SUFFIX)):
        if candidate != path and is_plain_file(candidate, what="sidecar", logger=log):
            return candidate
    return None


def detect_kind(head: bytes, name: str) -> str:
    """'midi' or 'audio' from the first bytes; InvalidInput naming what was found."""
    from kellyd.music.audio_io import describe_start, sniff_audio_format

    if head.startswith(b"MThd"):
        return "midi"
    if sniff_audio_format(head) is not None:
        return "audio"
    if head.startswith(b"RIFF") and head[8:12] == b"RMID":
        raise InvalidInput("RIFF-wrapped MIDI (.rmi) is not supported; export a standard MIDI file")
    raise InvalidInput(f"not a MIDI or audio file: it holds {describe_start(head)} (name {name!r})")


def check_readable(path: Path, kind: str, limits: LimitsConfig | None = None) -> dict:
    """Parse MIDI fully / read the audio header; return facts worth keeping (`duration_s`...).

    With `limits`, MIDI over its size, note or duration limit is refused (InvalidInput).
    """
    if kind == "midi":
        from kellyd.music.midi_io import read_score

        score = read_score(path, limits=limits)
        n_notes = sum(len(t.notes) for t in score.tracks)
        if n_notes == 0:
            raise InvalidInput("MIDI parses but holds no notes")
        return {"duration_s": round(score.duration_s, 3), "n_notes": n_notes}
    from kellyd.music.audio_io import probe_audio

    info = probe_audio(path)
    return {"duration_s": round(info.duration_s, 3), "sr_hz": info.sr_hz, "channels": info.channels}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as f:
        while block := f.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def destination(root: Path, kind: str, label_dirs: tuple[str, ...], name: str, sha256: str) -> PurePosixPath:
    """Where a file lands under the dataset: `raw/<kind>/<labels...>/<shard>/<name>` (see kellyd.shard).

    If another file already holds that name, the hash is added to the stem.
    """
    rel = sample_file(PurePosixPath("raw", kind, *label_dirs), sample_id_for(sha256), name)
    existing = root / rel
    if existing.exists() and file_sha256(existing) != sha256:
        stem, suffix = os.path.splitext(name)
        rel = rel.with_name(f"{stem}_{sha256[:8]}{suffix}")
    return rel


class Import:
    name: ClassVar[str] = "import"
    version: ClassVar[int] = 1

    def __init__(self, ctx: DatasetContext) -> None:
        self.ctx = ctx

    def __call__(self, sample: Sample) -> Sample:
        origin = Path(sample.origin_path)
        try:
            with open_regular(origin) as f:  # never through a link (PathRefused says so)
                size = os.fstat(f.fileno()).st_size
                # Before anything is read: a huge (or sparse) file costs one stat, not its size in memory.
                check_file_size(size, self.ctx.limits)
                head = f.read(HEAD_BYTES)
        except FileNotFoundError:
            raise InvalidInput(f"file vanished before import: {origin}") from None
        except PermissionError as exc:
            raise InvalidInput(f"file is not readable: {exc}") from None
        if size == 0:
            raise InvalidInput("empty file (0 bytes)")
        kind = detect_kind(head, origin.name)
        check_file_size(size, self.ctx.limits, kind=kind)  # MIDI has its own, lower limit
        facts = check_readable(origin, kind, self.ctx.limits)
        # A bad sidecar refuses the file before anything lands in raw/ (annotate reads the copy).
        sidecar = sidecar_of(origin)
        sidecar_bytes = None
        if sidecar is not None:
            sidecar_bytes = read_sidecar_bytes(sidecar, self.ctx.limits)
            parse_sidecar(sidecar_bytes, name=sidecar.name)
        sha256 = file_sha256(origin)
        rel = destination(self.ctx.root, kind, sample.label_dirs, fit_name(origin.name, RAW_NAME_MAX_BYTES), sha256)
        target = self.ctx.root / rel
        if not target.exists():
            with open_regular(origin) as f:
                atomic_write_bytes(target, iter(lambda: f.read(CHUNK_BYTES), b""))
        else:
            note_kept(target)  # a killed earlier run may have left it unsynced
        if sidecar_bytes is not None:
            atomic_write_bytes(target.with_name(target.name + SIDECAR_SUFFIX), sidecar_bytes)
        return sample.with_changes(
            sha256=sha256,
            sample_id=sample_id_for(sha256),
            kind=kind,
            file_path=str(rel),
            original_names=tuple(dict.fromkeys((*sample.original_names, origin.name))),
            annotations={"duration_s": facts["duration_s"], **sample.annotations},
        )
