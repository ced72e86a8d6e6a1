"""The `[freesound]` section of the configuration, typed once at the edge.

`parse_freesound_section` checks structure (unknown keys, types, lower bounds)
with the generic `kellyd.config.parse_section`, then the rules only this
section has (a URL that is one, emotions and instruments of the taxonomy,
licence names Freesound knows, a duration range that is a range). Every error
is a `ConfigError("freesound.<key>", reason)` with the offending value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Mapping
from urllib.parse import urlsplit

from kellyd.config import DATASET_ID_RULE, is_dataset_id, parse_section
from kellyd.errors import ConfigError
from kellyd.freesound.licenses import LICENSE_FAMILIES, canonical_family
from kellyd.taxonomy import BASE_EMOTION_NAMES, EMOTIONS, INSTRUMENTS, SUB_EMOTIONS_OF

SECTION = "freesound"
# Sort orders of the Freesound search resource.
SORT_ORDERS: tuple[str, ...] = (
    "score", "rating_desc", "rating_asc", "downloads_desc", "downloads_asc",
    "created_desc", "created_asc", "duration_desc", "duration_asc",
)
MAX_PAGE_SIZE = 150  # the API's own ceiling for page_size
BYTES_PER_MB = 1_000_000
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _at_least(bound: float, *, exclusive: bool = False) -> dict[str, Any]:
    # The metadata convention `kellyd.config.parse_section` reads for lower bounds.
    return {"minimum": bound, "exclusive": exclusive}


@dataclass(frozen=True)
class FreesoundSettings:
    """How pulls from Freesound behave. Units are in the names; MB are 10**6 bytes."""

    enabled: bool = True
    base_url: str = "https://freesound.org/apiv2"
    dataset: str = "emotion_dataset_v1"
    emotions: tuple[str, ...] = BASE_EMOTION_NAMES
    include_sub_emotions: bool = False
    instruments: tuple[str, ...] = ("piano", "guitar", "drums", "vocals")
    target_per_combination: int = field(default=25, metadata=_at_least(1))
    max_mb_per_combination: float = field(default=50.0, metadata=_at_least(0.0, exclusive=True))
    min_duration_s: float = field(default=2.0, metadata=_at_least(0.0))
    max_duration_s: float = field(default=60.0, metadata=_at_least(0.0, exclusive=True))
    licenses: tuple[str, ...] = LICENSE_FAMILIES
    sort: str = "rating_desc"
    page_size: int = field(default=50, metadata=_at_least(1))
    requests_per_minute: int = field(default=60, metadata=_at_least(1))
    requests_per_day: int = field(default=2000, metadata=_at_least(1))
    timeout_s: float = field(default=30.0, metadata=_at_least(0.0, exclusive=True))
    max_retries: int = field(default=4, metadata=_at_least(0))
    backoff_base_s: float = field(default=1.0, metadata=_at_least(0.0, exclusive=True))
    backoff_max_s: float = field(default=60.0, metadata=_at_least(0.0, exclusive=True))
    max_retry_after_s: float = field(default=300.0, metadata=_at_least(0.0))
    download: Literal["preview", "original"] = "preview"
    key_file: Path = Path("~/.kelly/freesound_config.json")
    oauth_token_env: str = "FREESOUND_OAUTH_TOKEN"

    @property
    def max_bytes_per_combination(self) -> int:
        return int(self.max_mb_per_combination * BYTES_PER_MB)

    @property
    def all_licenses_allowed(self) -> bool:
        return set(self.licenses) >= set(LICENSE_FAMILIES)


def _fail(key: str, reason: str) -> ConfigError:
    return ConfigError(f"{SECTION}.{key}", reason)


def _check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail("base_url", f"expected an http(s) URL such as 'https://freesound.org/apiv2', got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise _fail("base_url", f"the URL must not carry a query, fragment or credentials, got {url!r}")
    try:
        parts.port
    except ValueError:
        raise _fail("base_url", f"bad port in {url!r}") from None
    return url.rstrip("/")


def _check_names(key: str, names: tuple[str, ...], known: Mapping[str, Any] | tuple[str, ...]) -> tuple[str, ...]:
    if not names:
        raise _fail(key, "must list at least one name")
    for i, name in enumerate(names):
        if name not in known:
            raise _fail(f"{key}[{i}]", f"unknown name {name!r}; known: {', '.join(sorted(known))}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _fail(key, f"names listed twice: {', '.join(duplicates)}")
    return names


def _check_licenses(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names:
        raise _fail("licenses", f"must allow at least one licence of {', '.join(LICENSE_FAMILIES)}")
    families = []
    for i, name in enumerate(names):
        family = canonical_family(name)
        if family is None:
            raise _fail(f"licenses[{i}]", f"unknown licence {name!r}; known: {', '.join(LICENSE_FAMILIES)}")
        if family not in families:
            families.append(family)
    return tuple(families)


def _check_finite(settings: FreesoundSettings) -> None:
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(f.name, f"must be a finite number, got {value}")


def validate(settings: FreesoundSettings) -> FreesoundSettings:
    """Check the rules that span keys or need the taxonomy; returns the canonical settings."""
    _check_finite(settings)
    if not is_dataset_id(settings.dataset):
        raise _fail("dataset", f"{DATASET_ID_RULE}, got {settings.dataset!r}")
    if settings.max_duration_s <= settings.min_duration_s:
        raise _fail(
            "max_duration_s",
            f"must be greater than min_duration_s ({settings.min_duration_s}), got {settings.max_duration_s}",
        )
    if settings.page_size > MAX_PAGE_SIZE:
        raise _fail("page_size", f"the API serves at most {MAX_PAGE_SIZE} per page, got {settings.page_size}")
    if settings.backoff_max_s < settings.backoff_base_s:
        raise _fail("backoff_max_s", f"must be at least backoff_base_s ({settings.backoff_base_s}), got {settings.backoff_max_s}")
    if settings.sort not in SORT_ORDERS:
        raise _fail("sort", f"must be one of {', '.join(SORT_ORDERS)}, got {settings.sort!r}")
    if not _ENV_NAME.match(settings.oauth_token_env):
        raise _fail("oauth_token_env", f"expected an environment variable name, got {settings.oauth_token_env!r}")
    if not str(settings.key_file).strip():
        raise _fail("key_file", "must be a path")
    return replace(
        settings,
        base_url=_check_base_url(settings.base_url),
        emotions=_check_names("emotions", settings.emotions, EMOTIONS),
        instruments=_check_names("instruments", settings.instruments, INSTRUMENTS),
        licenses=_check_licenses(settings.licenses),
    )


def parse_freesound_section(table: Mapping[str, Any]) -> FreesoundSettings:
    """Build `FreesoundSettings` from the `[freesound]` TOML table; raises ConfigError naming the key."""
    if not isinstance(table, Mapping):
        raise ConfigError(SECTION, f"expected a table, got {type(table).__name__}")
    return validate(parse_section(FreesoundSettings, dict(table), SECTION))


def combinations(settings: FreesoundSettings) -> tuple[tuple[str, str], ...]:
    """Every (emotion, instrument) pair a pull fills, in a stable order.

    With `include_sub_emotions`, each base emotion listed brings its six
    sub-emotions right after it (a sub-emotion is its own folder and label).
    """
    emotions: list[str] = []
    for name in settings.emotions:
        emotions.append(name)
        if settings.include_sub_emotions and name in BASE_EMOTION_NAMES:
            emotions.extend(SUB_EMOTIONS_OF[name])
    unique = tuple(dict.fromkeys(emotions))
    return tuple((emotion, instrument) for emotion in unique for instrument in settings.instruments)
