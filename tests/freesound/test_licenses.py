from __future__ import annotations

import pytest

from kellyd.freesound.licenses import (
    ATTRIBUTION, ATTRIBUTION_NC, CC0, SAMPLING_PLUS, canonical_family, parse_license,
)


@pytest.mark.parametrize(
    "text, family, label, deed",
    [
        ("http://creativecommons.org/licenses/by/4.0/", ATTRIBUTION, "CC BY 4.0",
         "https://creativecommons.org/licenses/by/4.0/"),
        ("https://creativecommons.org/licenses/by-nc/3.0/", ATTRIBUTION_NC, "CC BY-NC 3.0",
         "https://creativecommons.org/licenses/by-nc/3.0/"),
        ("http://creativecommons.org/publicdomain/zero/1.0/", CC0, "CC0 1.0",
         "https://creativecommons.org/publicdomain/zero/1.0/"),
        ("http://creativecommons.org/licenses/sampling+/1.0/", SAMPLING_PLUS, "Sampling+ 1.0",
         "https://creativecommons.org/licenses/sampling+/1.0/"),
        ("Attribution 4.0", ATTRIBUTION, "CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/"),
        ("Attribution NonCommercial 4.0", ATTRIBUTION_NC, "CC BY-NC 4.0",
         "https://creativecommons.org/licenses/by-nc/4.0/"),
        ("Creative Commons 0", CC0, "CC0 1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
        ("Attribution", ATTRIBUTION, "CC BY", ""),   # no version: no deed to point at
    ],
)
def test_licence_strings_as_the_api_gives_them(text, family, label, deed):
    info = parse_license(text)
    assert info is not None
    assert (info.family, info.label, info.deed_url) == (family, label, deed)
    assert info.requires_attribution == (family != CC0)
    assert info.non_commercial == (family == ATTRIBUTION_NC)


@pytest.mark.parametrize("text", ["", "   ", "GPL-3.0", "http://creativecommons.org/licenses/by-nd/4.0/",
                                  "https://example.org/licenses/by/4.0/", None])
def test_unknown_licences_are_none(text):
    assert parse_license(text) is None


@pytest.mark.parametrize(
    "name, family",
    [("cc0", CC0), ("CC-BY", ATTRIBUTION), ("Attribution  NonCommercial", ATTRIBUTION_NC),
     ("sampling+", SAMPLING_PLUS), ("public domain-ish", None)],
)
def test_config_names_map_to_families(name, family):
    assert canonical_family(name) == family
