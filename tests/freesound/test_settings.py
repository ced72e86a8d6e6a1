from __future__ import annotations

from pathlib import Path

import pytest

from kellyd.errors import ConfigError
from kellyd.freesound.licenses import ATTRIBUTION, ATTRIBUTION_NC, CC0, LICENSE_FAMILIES
from kellyd.freesound.settings import FreesoundSettings, combinations, parse_freesound_section
from kellyd.taxonomy import BASE_EMOTION_NAMES, SUB_EMOTIONS_OF


def test_an_empty_table_gives_the_documented_defaults():
    settings = parse_freesound_section({})
    assert settings == FreesoundSettings()
    assert settings.enabled is True
    assert settings.base_url == "https://freesound.org/apiv2"
    assert settings.emotions == BASE_EMOTION_NAMES
    assert settings.instruments == ("piano", "guitar", "drums", "vocals")
    assert settings.licenses == LICENSE_FAMILIES
    assert (settings.requests_per_minute, settings.requests_per_day) == (60, 2000)
    assert settings.download == "preview"
    assert settings.key_file == Path("~/.kelly/freesound_config.json")


def test_values_are_read_and_canonicalised():
    settings = parse_freesound_section({
        "base_url": "http://127.0.0.1:8000/apiv2/",
        "emotions": ["joy", "calm"],
        "instruments": ["bass"],
        "target_per_combination": 3,
        "max_mb_per_combination": 2,
        "licenses": ["cc0", "CC-BY", "Attribution"],
        "timeout_s": 0.5,
        "download": "original",
        "key_file": "keys/fs.json",
    })
    assert settings.base_url == "http://127.0.0.1:8000/apiv2"
    assert settings.emotions == ("joy", "calm")
    assert settings.licenses == (CC0, ATTRIBUTION)
    assert settings.max_mb_per_combination == 2.0
    assert settings.max_bytes_per_combination == 2_000_000
    assert settings.key_file == Path("keys/fs.json")
    assert not settings.all_licenses_allowed


@pytest.mark.parametrize(
    "table, key, words",
    [
        ({"colour": "red"}, "freesound.colour", "unknown key"),
        ({"enabled": "yes"}, "freesound.enabled", "expected bool"),
        ({"target_per_combination": 2.5}, "freesound.target_per_combination", "expected int"),
        ({"target_per_combination": True}, "freesound.target_per_combination", "expected int"),
        ({"target_per_combination": 0}, "freesound.target_per_combination", "at least 1"),
        ({"requests_per_minute": -5}, "freesound.requests_per_minute", "-5"),
        ({"max_mb_per_combination": 0}, "freesound.max_mb_per_combination", "greater than 0"),
        ({"max_mb_per_combination": float("nan")}, "freesound.max_mb_per_combination", "finite"),
        ({"timeout_s": float("inf")}, "freesound.timeout_s", "finite"),
        ({"min_duration_s": -1.0}, "freesound.min_duration_s", "-1.0"),
        ({"min_duration_s": 10, "max_duration_s": 5}, "freesound.max_duration_s", "greater than min_duration_s"),
        ({"base_url": "ftp://example.org/api"}, "freesound.base_url", "ftp://example.org/api"),
        ({"base_url": "freesound.org/apiv2"}, "freesound.base_url", "http(s) URL"),
        ({"base_url": "https://u:p@freesound.org/apiv2"}, "freesound.base_url", "credentials"),
        ({"base_url": "https://freesound.org/apiv2?token=x"}, "freesound.base_url", "query"),
        ({"base_url": "https://freesound.org:99999/apiv2"}, "freesound.base_url", "port"),
        ({"emotions": []}, "freesound.emotions", "at least one"),
        ({"emotions": ["happy", "bored-ish"]}, "freesound.emotions[1]", "bored-ish"),
        ({"emotions": ["happy", "happy"]}, "freesound.emotions", "listed twice"),
        ({"emotions": "happy"}, "freesound.emotions", "expected list"),
        ({"instruments": ["kazoo"]}, "freesound.instruments[0]", "kazoo"),
        ({"licenses": []}, "freesound.licenses", "at least one"),
        ({"licenses": ["GPL"]}, "freesound.licenses[0]", "GPL"),
        ({"sort": "random"}, "freesound.sort", "random"),
        ({"page_size": 500}, "freesound.page_size", "150"),
        ({"download": "lossless"}, "freesound.download", "lossless"),
        ({"oauth_token_env": "MY TOKEN"}, "freesound.oauth_token_env", "MY TOKEN"),
        ({"dataset": "../etc"}, "freesound.dataset", "../etc"),
        ({"key_file": ""}, "freesound.key_file", "expected Path"),
        ({"backoff_base_s": 5.0, "backoff_max_s": 1.0}, "freesound.backoff_max_s", "backoff_base_s"),
    ],
)
def test_a_bad_value_names_its_key_and_the_value(table, key, words):
    with pytest.raises(ConfigError) as err:
        parse_freesound_section(table)
    assert err.value.key == key
    assert words in err.value.reason


def test_a_section_that_is_not_a_table_is_refused():
    with pytest.raises(ConfigError) as err:
        parse_freesound_section(["happy"])  # type: ignore[arg-type]
    assert err.value.key == "freesound"


def test_combinations_pair_every_emotion_with_every_instrument():
    settings = parse_freesound_section({"emotions": ["happy", "sad"], "instruments": ["piano", "drums"]})
    assert combinations(settings) == (("happy", "piano"), ("happy", "drums"), ("sad", "piano"), ("sad", "drums"))


def test_sub_emotions_follow_their_base_emotion_once():
    settings = parse_freesound_section({
        "emotions": ["happy", "joy", "calm"], "instruments": ["piano"], "include_sub_emotions": True,
    })
    emotions = [emotion for emotion, _ in combinations(settings)]
    assert emotions == ["happy", *SUB_EMOTIONS_OF["happy"], "calm"]
    assert len(emotions) == len(set(emotions))


def test_all_36_sub_emotions_come_with_the_six_base_emotions():
    settings = parse_freesound_section({"include_sub_emotions": True, "instruments": ["piano"]})
    assert len(combinations(settings)) == 6 + 36


def test_excluding_non_commercial_keeps_the_other_families():
    settings = parse_freesound_section({"licenses": ["Creative Commons 0", "Attribution", "Sampling+"]})
    assert ATTRIBUTION_NC not in settings.licenses
    assert not settings.all_licenses_allowed
