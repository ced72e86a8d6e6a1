"""Freesound licences: the names its search filter knows, and what a licence string means.

The API gives a sound's licence as a Creative Commons deed URL
(`http://creativecommons.org/licenses/by-nc/3.0/`) or, in newer answers, as a
name (`Attribution NonCommercial 4.0`). Both forms are read into one
`LicenseInfo`, which says which search-filter family the licence belongs to,
whether the author must be credited, and where the deed lives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The licence families Freesound's search filter accepts (`license:"Attribution"`).
CC0 = "Creative Commons 0"
ATTRIBUTION = "Attribution"
ATTRIBUTION_NC = "Attribution NonCommercial"
SAMPLING_PLUS = "Sampling+"
LICENSE_FAMILIES: tuple[str, ...] = (CC0, ATTRIBUTION, ATTRIBUTION_NC, SAMPLING_PLUS)

# Short forms people write in a config file, mapped to the family.
_FAMILY_ALIASES: dict[str, str] = {
    "creative commons 0": CC0, "cc0": CC0, "cc-0": CC0, "cc zero": CC0, "creative commons zero": CC0,
    "attribution": ATTRIBUTION, "cc-by": ATTRIBUTION, "cc by": ATTRIBUTION, "by": ATTRIBUTION,
    "attribution noncommercial": ATTRIBUTION_NC, "cc-by-nc": ATTRIBUTION_NC, "cc by-nc": ATTRIBUTION_NC,
    "by-nc": ATTRIBUTION_NC, "attribution non-commercial": ATTRIBUTION_NC,
    "sampling+": SAMPLING_PLUS, "sampling plus": SAMPLING_PLUS,
}

_DEED_PATH = re.compile(r"/(licenses|publicdomain)/([a-z+\-]+)/(\d+(?:\.\d+)?)/?", re.IGNORECASE)
_NAME = re.compile(
    r"^(creative commons 0|attribution noncommercial|attribution|sampling\+)(?:\s+(\d+(?:\.\d+)?))?$",
    re.IGNORECASE,
)
_DEED_CODE_FAMILY = {"zero": CC0, "by": ATTRIBUTION, "by-nc": ATTRIBUTION_NC, "sampling+": SAMPLING_PLUS}
_FAMILY_CODE = {CC0: "zero", ATTRIBUTION: "by", ATTRIBUTION_NC: "by-nc", SAMPLING_PLUS: "sampling+"}
_FAMILY_LABEL = {CC0: "CC0", ATTRIBUTION: "CC BY", ATTRIBUTION_NC: "CC BY-NC", SAMPLING_PLUS: "Sampling+"}


@dataclass(frozen=True)
class LicenseInfo:
    """What one licence string means.

    `family` is one of LICENSE_FAMILIES; `version` is e.g. "4.0" or "" when the
    string did not say; `deed_url` is "" when it cannot be known.
    """

    family: str
    version: str
    label: str
    deed_url: str

    @property
    def requires_attribution(self) -> bool:
        return self.family != CC0

    @property
    def non_commercial(self) -> bool:
        return self.family == ATTRIBUTION_NC


def canonical_family(name: str) -> str | None:
    """`"cc-by-nc"`, `"Attribution NonCommercial"` -> "Attribution NonCommercial"; None when unknown."""
    return _FAMILY_ALIASES.get(" ".join(name.strip().lower().split()))


def _deed_url(family: str, version: str) -> str:
    if not version:
        return ""
    if family == CC0:
        return f"https://creativecommons.org/publicdomain/zero/{version}/"
    return f"https://creativecommons.org/licenses/{_FAMILY_CODE[family]}/{version}/"


def _info(family: str, version: str) -> LicenseInfo:
    if family == CC0 and not version:
        version = "1.0"  # CC0 has only ever had version 1.0
    label = f"{_FAMILY_LABEL[family]} {version}".strip()
    return LicenseInfo(family=family, version=version, label=label, deed_url=_deed_url(family, version))


def parse_license(text: str) -> LicenseInfo | None:
    """Read a licence as the API gives it (deed URL or name); None when it is not a known one."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    deed = _DEED_PATH.search(text)
    if deed and "creativecommons.org" in text.lower():
        family = _DEED_CODE_FAMILY.get(deed.group(2).lower())
        return _info(family, deed.group(3)) if family else None
    name = _NAME.match(" ".join(text.split()))
    if name:
        family = canonical_family(name.group(1))
        return _info(family, name.group(2) or "") if family else None
    return None
