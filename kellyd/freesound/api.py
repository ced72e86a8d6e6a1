"""The Freesound search API as data: the query we send, and what we read from an answer.

Pure functions; the HTTP lives in `client.py`. Search answers are checked
field by field: one bad result is skipped with a reason, a page that is not
the documented shape raises `MalformedAnswer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from kellyd.freesound.licenses import parse_license
from kellyd.freesound.settings import FreesoundSettings

SEARCH_PATH = "/search/"
LEGACY_SEARCH_PATH = "/search/text/"
SEARCH_FIELDS = "id,name,tags,duration,filesize,type,license,username,previews,avg_rating,url"
PREVIEW_KEY = "preview-hq-mp3"
# Original file types whose decoding we can check (soundfile / libsndfile).
DECODABLE_TYPES = frozenset({"wav", "flac", "ogg", "mp3", "aif", "aiff"})


class MalformedAnswer(Exception):
    """The server answered 200 with something that is not the documented JSON."""


@dataclass(frozen=True)
class SoundInfo:
    """One search result, with the fields a pull needs. `duration_s` in seconds, `filesize` of the original in bytes."""

    freesound_id: int
    name: str
    username: str
    license: str
    url: str
    tags: tuple[str, ...]
    duration_s: float
    type: str
    filesize: int
    preview_url: str
    avg_rating: float


@dataclass(frozen=True)
class SearchPage:
    sounds: tuple[SoundInfo, ...]
    malformed_results: int
    has_next: bool
    count: int


def search_query(emotion: str, instrument: str) -> str:
    """The text query for one combination: `moral_disgust`, `piano` -> "moral disgust piano"."""
    return f"{emotion.replace('_', ' ')} {instrument}"


def _plain(number: float) -> str:
    """2.0 -> "2", 1.5 -> "1.5", 1234567.0 -> "1234567": no exponent, no lost digits for durations."""
    return f"{number:f}".rstrip("0").rstrip(".")


def search_filter(settings: FreesoundSettings) -> str:
    """Duration range, plus the allowed licences when not all of them are."""
    parts = [f"duration:[{_plain(settings.min_duration_s)} TO {_plain(settings.max_duration_s)}]"]
    if not settings.all_licenses_allowed:
        names = " OR ".join(f'"{name}"' for name in settings.licenses)
        parts.append(f"license:({names})")
    return " ".join(parts)


def search_params(settings: FreesoundSettings, query: str, page: int) -> dict[str, str]:
    """The GET parameters of one search page (1-based `page`)."""
    if page < 1:
        raise ValueError(f"page must be >= 1, got {page}")
    return {
        "query": query,
        "filter": search_filter(settings),
        "sort": settings.sort,
        "fields": SEARCH_FIELDS,
        "page_size": str(settings.page_size),
        "page": str(page),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def parse_sound(item: Any) -> SoundInfo | None:
    """One result of a search page, or None when a field we need is missing or of the wrong type."""
    if not isinstance(item, Mapping):
        return None
    sound_id = item.get("id")
    duration = _number(item.get("duration"))
    previews = item.get("previews")
    if isinstance(sound_id, bool) or not isinstance(sound_id, int) or sound_id < 1 or duration is None:
        return None
    texts = [item.get(k) for k in ("name", "username", "license", "url")]
    if not all(isinstance(t, str) and t for t in texts):
        return None
    preview = previews.get(PREVIEW_KEY) if isinstance(previews, Mapping) else None
    tags = item.get("tags", [])
    if not isinstance(tags, list):
        return None
    filesize = _number(item.get("filesize"))
    rating = _number(item.get("avg_rating"))
    name, username, license_text, url = texts
    return SoundInfo(
        freesound_id=sound_id,
        name=name,
        username=username,
        license=license_text,
        url=url,
        tags=tuple(str(t) for t in tags),
        duration_s=duration,
        type=str(item.get("type") or ""),
        filesize=int(filesize) if filesize is not None else 0,
        preview_url=preview if isinstance(preview, str) else "",
        avg_rating=rating if rating is not None else 0.0,
    )


def parse_search_page(payload: Any) -> SearchPage:
    """A decoded search answer -> its usable sounds. Raises MalformedAnswer for a page of the wrong shape."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("results"), list):
        raise MalformedAnswer("a search answer must be an object with a 'results' list")
    sounds = [parse_sound(item) for item in payload["results"]]
    count = payload.get("count")
    return SearchPage(
        sounds=tuple(s for s in sounds if s is not None),
        malformed_results=sum(s is None for s in sounds),
        has_next=isinstance(payload.get("next"), str) and bool(payload["next"]),
        count=count if isinstance(count, int) and not isinstance(count, bool) else len(sounds),
    )


def rejection(sound: SoundInfo, settings: FreesoundSettings) -> str | None:
    """Why a result must not be downloaded under these settings, or None when it may.

    The server is asked to filter too; this check makes the settings hold even
    when it does not.
    """
    info = parse_license(sound.license)
    if info is None:
        return "unknown licence"
    if info.family not in settings.licenses:
        return "licence not allowed"
    if not settings.min_duration_s <= sound.duration_s <= settings.max_duration_s:
        return "duration out of range"
    if settings.download == "preview" and not sound.preview_url:
        return "no preview"
    if settings.download == "original" and sound.type.lower() not in DECODABLE_TYPES:
        return "original type not checkable"
    return None
