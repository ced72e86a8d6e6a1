"""The staging folders pulls write into, their file names, and tidying after an interrupted pull.

Layout: `<staging_root>/emotion_samples/<emotion>/<instrument>/<id>_<safe name>.<ext>`,
each with a sidecar `<that name>.json`. While a download runs it lives in
`.<id>.<ext>.part` beside its final name (a dot name the watcher ignores).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

STAGING_SUBDIR = "emotion_samples"
PART_SUFFIX = ".part"
SIDECAR_SUFFIX = ".json"
MAX_NAME_CHARS = 60
_AUDIO_SUFFIX = re.compile(r"\.(wav|wave|mp3|flac|ogg|aiff?|m4a)$", re.IGNORECASE)
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_STAGED = re.compile(r"^(\d+)_[a-z0-9_]+\.([a-z0-9]+)$")


def safe_name(name: str) -> str:
    """A file-name-safe form of a sound's name: "Rain Piano.wav" -> "rain_piano" ("sound" when nothing is left)."""
    text = _AUDIO_SUFFIX.sub("", name.strip())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = _NOT_WORD.sub("_", text).strip("_")[:MAX_NAME_CHARS].rstrip("_")
    return text or "sound"


def combination_dir(staging_root: Path, emotion: str, instrument: str) -> Path:
    return Path(staging_root) / STAGING_SUBDIR / emotion / instrument


def audio_file_name(freesound_id: int, name: str, extension: str) -> str:
    """`1234`, "Rain Piano", "mp3" -> "1234_rain_piano.mp3"."""
    return f"{freesound_id}_{safe_name(name)}.{extension.lower().lstrip('.')}"


def part_path(final_path: Path, freesound_id: int) -> Path:
    """Where the bytes go while they arrive: `.<id>.<ext>.part` beside the final name."""
    return final_path.with_name(f".{freesound_id}{final_path.suffix}{PART_SUFFIX}")


def sidecar_path(audio_path: Path) -> Path:
    """`1234_rain_piano.mp3` -> `1234_rain_piano.mp3.json`."""
    return audio_path.with_name(audio_path.name + SIDECAR_SUFFIX)


@dataclass(frozen=True)
class StagedFile:
    """An audio file under its final name in the staging tree."""

    freesound_id: int
    emotion: str
    instrument: str
    path: Path
    size_bytes: int


@dataclass(frozen=True)
class Tidy:
    """What `tidy_staging` did: leftovers removed and files found under their final names."""

    removed: tuple[Path, ...]
    staged: tuple[StagedFile, ...]


def _combination_dirs(staging_root: Path) -> Iterator[tuple[str, str, Path]]:
    base = Path(staging_root) / STAGING_SUBDIR
    if not base.is_dir():
        return
    for emotion_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for instrument_dir in sorted(p for p in emotion_dir.iterdir() if p.is_dir()):
            yield emotion_dir.name, instrument_dir.name, instrument_dir


def tidy_staging(staging_root: Path, *, is_downloaded: Callable[[int], bool]) -> Tidy:
    """Clean up after a pull that was killed, and list what lies staged.

    Removes `.part` downloads and temp sidecars (dot names), and sidecars whose
    audio never got its final name (the pull died between the two renames) when
    the ledger does not know the sound as downloaded. A staged audio file the
    ledger does not know is returned in `staged` for the caller to adopt.
    """
    removed: list[Path] = []
    staged: list[StagedFile] = []
    for emotion, instrument, folder in _combination_dirs(staging_root):
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            name = path.name
            if name.startswith(".") and (name.endswith(PART_SUFFIX) or name.endswith(".tmp")):
                path.unlink(missing_ok=True)
                removed.append(path)
            elif name.endswith(SIDECAR_SUFFIX):
                match = _STAGED.match(name[: -len(SIDECAR_SUFFIX)])
                audio = path.with_name(name[: -len(SIDECAR_SUFFIX)])
                if match and not audio.exists() and not is_downloaded(int(match.group(1))):
                    path.unlink(missing_ok=True)
                    removed.append(path)
            else:
                match = _STAGED.match(name)
                if match:
                    staged.append(StagedFile(int(match.group(1)), emotion, instrument, path, path.stat().st_size))
    return Tidy(removed=tuple(removed), staged=tuple(staged))
