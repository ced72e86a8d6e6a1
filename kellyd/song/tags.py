"""A song file's own tags and stream facts, read with mutagen.

`read_tags(path)` never raises for anything the file holds: missing, broken or
unsupported tags give a `FileTags` whose `reason` says why fields are empty,
and the analysis goes on (a song without tags is still a song). Supported:
ID3 (MP3, and ID3 chunks in WAV/AIFF), Vorbis comments (FLAC, Ogg Vorbis,
Opus, Ogg FLAC) and MP4/M4A atoms.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

# mutagen class name -> the codec its stream uses (MP4 reads its own from the stream).
CODEC_OF_TYPE = {"MP3": "mp3", "EasyMP3": "mp3", "FLAC": "flac", "OggVorbis": "vorbis", "OggOpus": "opus",
                 "OggFLAC": "flac", "OggSpeex": "speex", "WAVE": "pcm", "AIFF": "pcm"}
# What each tag family calls the fields we keep.
ID3_FRAMES = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "year": "TDRC", "genre": "TCON",
              "track_number": "TRCK"}
VORBIS_KEYS = {"title": "title", "artist": "artist", "album": "album", "year": "date", "genre": "genre",
               "track_number": "tracknumber"}
MP4_ATOMS = {"title": "\xa9nam", "artist": "\xa9ART", "album": "\xa9alb", "year": "\xa9day", "genre": "\xa9gen",
             "track_number": "trkn"}
# The fields that become annotations (labels); the stream facts stay provenance.
LABEL_FIELDS = ("title", "artist", "album", "year", "genre", "track_number")
_YEAR = re.compile(r"(1[0-9]{3}|20[0-9]{2})")
_FIRST_INT = re.compile(r"\d+")
MAX_TEXT_CHARS = 256


@dataclass(frozen=True)
class FileTags:
    """What the file says about itself; None where it says nothing. `reason` explains an empty result."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    year: int | None = None
    genre: str | None = None
    track_number: int | None = None
    has_cover: bool = False
    container: str | None = None
    codec: str | None = None
    bitrate_kbps: float | None = None
    sample_rate_hz: int | None = None
    channels: int | None = None
    duration_s: float | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def labels(self) -> dict[str, Any]:
        """The tag fields that are set, for the sample's annotations."""
        return {k: getattr(self, k) for k in LABEL_FIELDS if getattr(self, k) not in (None, "")}


def parse_year(text: Any) -> int | None:
    """Pure: the first plausible 4-digit year in a date tag ('2004-05-01', '2004') or None."""
    match = _YEAR.search(str(text)) if text is not None else None
    return int(match.group(1)) if match else None


def parse_track(value: Any) -> int | None:
    """Pure: the track number of '3', '3/12', (3, 12) or None."""
    if isinstance(value, tuple):  # MP4 (track, total)
        value = value[0] if value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    match = _FIRST_INT.search(str(value)) if value is not None else None
    return int(match.group(0)) if match and int(match.group(0)) > 0 else None


def _text(value: Any) -> str | None:
    """The first non-empty string of a tag value (lists, ID3 frames and plain strings alike)."""
    if value is None:
        return None
    if hasattr(value, "text"):  # an ID3 frame
        value = value.text
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _text(item)
            if found:
                return found
        return None
    raw = str(value)
    # A damaged frame decodes to control characters: keep the printable text, drop a field that is mostly noise.
    text = "".join(ch for ch in raw if ch.isprintable() or ch == " ").strip()[:MAX_TEXT_CHARS]
    return text if text and len(text) * 2 >= len(raw.strip()) else None


def fields_from_mapping(raw: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """Pure: title..track_number from a tag mapping whose keys for each field are `names`."""
    def get(field: str) -> Any:
        key = names[field]
        try:
            return raw.get(key) if hasattr(raw, "get") else None
        except (KeyError, ValueError):
            return None

    track = get("track_number")
    track = getattr(track, "text", track)  # an ID3 frame holds a list of strings
    if isinstance(track, list):
        track = track[0] if track else None
    return {
        "title": _text(get("title")), "artist": _text(get("artist")), "album": _text(get("album")),
        "year": parse_year(_text(get("year"))), "genre": _text(get("genre")),
        "track_number": parse_track(track),
    }


def _cover(audio: Any, tags: Any) -> bool:
    if getattr(audio, "pictures", None):  # FLAC picture blocks
        return True
    if tags is None:
        return False
    keys = {str(k).lower() for k in tags.keys()}
    return any(k.startswith("apic") for k in keys) or "covr" in keys or "metadata_block_picture" in keys


def _tag_fields(tags: Any) -> dict[str, Any]:
    from mutagen.id3 import ID3
    from mutagen.mp4 import MP4Tags

    if isinstance(tags, ID3):
        return fields_from_mapping(tags, ID3_FRAMES)
    if isinstance(tags, MP4Tags):
        return fields_from_mapping(tags, MP4_ATOMS)
    # Vorbis comments: case-insensitive keys, list values.
    lowered = {str(k).lower(): v for k, v in tags.items()}
    return fields_from_mapping(lowered, VORBIS_KEYS)


def read_tags(path: Path | str) -> FileTags:
    """The tags and stream facts of the file at `path`; never raises for the file's content."""
    import mutagen

    try:
        audio = mutagen.File(str(path))
    except Exception as exc:  # noqa: BLE001 - mutagen raises many kinds for damaged headers
        return FileTags(reason=f"unreadable tags: {type(exc).__name__}: {exc}")
    if audio is None:
        return FileTags(reason="no tags: mutagen does not recognise this file's format")
    info = getattr(audio, "info", None)
    container = type(audio).__name__
    bitrate = getattr(info, "bitrate", None)
    stream = {
        "container": container,
        "codec": CODEC_OF_TYPE.get(container) or (getattr(info, "codec", None) or None),
        "bitrate_kbps": round(bitrate / 1000.0, 1) if isinstance(bitrate, (int, float)) and bitrate > 0 else None,
        "sample_rate_hz": getattr(info, "sample_rate", None) or None,
        "channels": getattr(info, "channels", None) or None,
        "duration_s": round(float(info.length), 3) if getattr(info, "length", None) else None,
    }
    tags = audio.tags
    if tags is None or not len(tags.keys()):
        return FileTags(has_cover=_cover(audio, None), reason="no tags in the file", **stream)
    try:
        fields = _tag_fields(tags)
        cover = _cover(audio, tags)
    except Exception as exc:  # noqa: BLE001 - a malformed frame must not stop the analysis
        return FileTags(reason=f"unreadable tags: {type(exc).__name__}: {exc}", **stream)
    reason = None if any(v is not None for v in fields.values()) else "tags hold none of the known fields"
    return FileTags(has_cover=cover, reason=reason, **fields, **stream)
