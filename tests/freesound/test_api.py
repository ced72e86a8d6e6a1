from __future__ import annotations

import pytest

from kellyd.freesound.api import (
    SEARCH_FIELDS, MalformedAnswer, parse_search_page, parse_sound, rejection, search_filter, search_params,
    search_query,
)
from kellyd.freesound.settings import parse_freesound_section

CC_BY = "http://creativecommons.org/licenses/by/4.0/"
CC_BY_NC = "http://creativecommons.org/licenses/by-nc/4.0/"


def result(**changes):
    item = {
        "id": 1234, "name": "Rain Piano.wav", "tags": ["piano", "rain"], "duration": 12.5, "filesize": 2_000_000,
        "type": "wav", "license": CC_BY, "username": "alice", "avg_rating": 4.5,
        "previews": {"preview-hq-mp3": "https://cdn.example/previews/1234-hq.mp3"},
        "url": "https://freesound.org/people/alice/sounds/1234/",
    }
    item.update(changes)
    return item


def test_query_reads_sub_emotion_names_as_words():
    assert search_query("moral_disgust", "piano") == "moral disgust piano"


def test_params_carry_the_documented_fields_and_page():
    settings = parse_freesound_section({"page_size": 20, "sort": "downloads_desc"})
    params = search_params(settings, "happy piano", 3)
    assert params == {
        "query": "happy piano", "filter": "duration:[2 TO 60]", "sort": "downloads_desc",
        "fields": SEARCH_FIELDS, "page_size": "20", "page": "3",
    }
    with pytest.raises(ValueError, match="page must be >= 1, got 0"):
        search_params(settings, "happy piano", 0)


def test_filter_names_the_allowed_licences_only_when_some_are_excluded():
    settings = parse_freesound_section({"min_duration_s": 1.5, "max_duration_s": 30,
                                        "licenses": ["Creative Commons 0", "Attribution"]})
    assert search_filter(settings) == 'duration:[1.5 TO 30] license:("Creative Commons 0" OR "Attribution")'


def test_a_complete_result_is_read():
    sound = parse_sound(result())
    assert sound is not None
    assert (sound.freesound_id, sound.name, sound.username, sound.duration_s) == (1234, "Rain Piano.wav", "alice", 12.5)
    assert sound.tags == ("piano", "rain")
    assert sound.preview_url.endswith("1234-hq.mp3")


@pytest.mark.parametrize(
    "changes",
    [{"id": "1234"}, {"id": True}, {"id": 0}, {"duration": None}, {"duration": float("nan")}, {"name": ""},
     {"username": 5}, {"license": None}, {"url": None}, {"tags": "piano"}],
)
def test_a_result_missing_what_we_need_is_none(changes):
    assert parse_sound(result(**changes)) is None


def test_a_page_skips_bad_results_and_reads_next():
    page = parse_search_page({"count": 3, "next": "https://x/apiv2/search/?page=2",
                              "results": [result(), result(id=None), result(id=99)]})
    assert [s.freesound_id for s in page.sounds] == [1234, 99]
    assert page.malformed_results == 1
    assert page.has_next and page.count == 3
    assert not parse_search_page({"results": [], "next": None}).has_next


@pytest.mark.parametrize("payload", [[], "oops", {"count": 1}, {"results": {"id": 1}}, None])
def test_a_page_of_the_wrong_shape_is_malformed(payload):
    with pytest.raises(MalformedAnswer):
        parse_search_page(payload)


@pytest.mark.parametrize(
    "table, changes, reason",
    [
        ({}, {}, None),
        ({"licenses": ["cc0", "cc-by"]}, {"license": CC_BY_NC}, "licence not allowed"),
        ({}, {"license": "All rights reserved"}, "unknown licence"),
        ({"max_duration_s": 10}, {"duration": 12.5}, "duration out of range"),
        ({"min_duration_s": 13}, {"duration": 12.5}, "duration out of range"),
        ({}, {"previews": {}}, "no preview"),
        ({"download": "original"}, {"type": "m4a"}, "original type not checkable"),
        ({"download": "original"}, {"type": "FLAC", "previews": {}}, None),
    ],
)
def test_rejection_holds_the_settings_even_if_the_server_did_not(table, changes, reason):
    settings = parse_freesound_section(table)
    sound = parse_sound(result(**changes))
    assert sound is not None
    assert rejection(sound, settings) == reason
