from __future__ import annotations

import json
import logging
import os
import pickle

import pytest
from structlog.testing import capture_logs

from kellyd.freesound.credentials import load_api_key, load_oauth_token
from kellyd.freesound.redact import REDACTED, RedactingFilter, Secret, redact_secrets, scrub_text
from kellyd.freesound.settings import parse_freesound_section

KEY = "k3y-0123456789abcdefABCDEF"


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "freesound_config.json"

    def write(content: str, mode: int = 0o600):
        path.write_text(content, encoding="utf-8")
        os.chmod(path, mode)
        return parse_freesound_section({"key_file": str(path)})

    return write


def test_the_environment_wins_over_the_key_file(key_file):
    settings = key_file(json.dumps({"freesound_api_key": "from-the-file-000"}))
    found = load_api_key(settings, {"FREESOUND_API_KEY": KEY})
    assert found.key == Secret(KEY)
    assert "FREESOUND_API_KEY" in found.source


def test_the_key_file_is_read_when_the_environment_has_none(key_file):
    settings = key_file(json.dumps({"freesound_api_key": KEY}))
    found = load_api_key(settings, {})
    assert found.key is not None and found.key.reveal() == KEY
    assert "key file" in found.source


@pytest.mark.parametrize(
    "environ, content, words",
    [
        ({"FREESOUND_API_KEY": "YOUR_API_KEY_HERE"}, None, "no key file"),
        ({}, json.dumps({"freesound_api_key": "YOUR_FREESOUND_KEY"}), "placeholder"),
        ({}, json.dumps({"freesound_api_key": "  "}), "no usable"),
        ({}, json.dumps({"other": KEY}), "no usable"),
        ({}, json.dumps([KEY]), "no usable"),
        ({}, '{"freesound_api_key": "' + KEY, "not valid JSON"),
    ],
)
def test_no_usable_key_is_a_reason_not_an_error(key_file, tmp_path, environ, content, words):
    settings = key_file(content) if content is not None else parse_freesound_section(
        {"key_file": str(tmp_path / "missing.json")})
    found = load_api_key(settings, environ)
    assert found.key is None
    assert words in found.problem
    assert KEY not in found.problem


def test_a_key_file_others_can_read_gets_a_warning(key_file):
    settings = key_file(json.dumps({"freesound_api_key": KEY}), mode=0o644)
    with capture_logs() as logs:
        assert load_api_key(settings, {}).key is not None
    warnings = [e for e in logs if e["event"] == "freesound.key_file_permissions"]
    assert len(warnings) == 1 and warnings[0]["mode"] == "0o644"
    assert KEY not in repr(logs)


def test_a_private_key_file_gets_no_warning(key_file):
    settings = key_file(json.dumps({"freesound_api_key": KEY}), mode=0o600)
    with capture_logs() as logs:
        load_api_key(settings, {})
    assert logs == []


def test_the_oauth_token_comes_from_the_named_variable():
    settings = parse_freesound_section({"oauth_token_env": "MY_FS_TOKEN"})
    assert load_oauth_token(settings, {"MY_FS_TOKEN": "oauth-abcdefgh123"}) == Secret("oauth-abcdefgh123")
    assert load_oauth_token(settings, {"FREESOUND_OAUTH_TOKEN": "oauth-abcdefgh123"}) is None
    assert load_oauth_token(settings, {"MY_FS_TOKEN": "YOUR_TOKEN"}) is None


def test_a_secret_never_shows_itself():
    secret = Secret(KEY)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r:>40}", repr([secret]), repr({"k": secret})):
        assert KEY not in text
    assert secret.reveal() == KEY
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(secret)
    with pytest.raises(ValueError, match="non-empty"):
        Secret("  ")


def test_the_structlog_processor_scrubs_values_keys_and_credentials():
    Secret(KEY)  # registers the value in this process
    event = redact_secrets(None, "info", {
        "event": f"GET failed with key {KEY}",
        "nested": {"headers": [f"Authorization: Token {KEY}"], "api_key": "anything-at-all"},
        "authorization": "Bearer some-other-token-123456",
        "note": "token=abcdefgh12345678 in a URL",
        "count": 3,
        "empty_token": "",
    })
    text = repr(event)
    assert KEY not in text and "some-other-token" not in text and "abcdefgh12345678" not in text
    assert event["nested"]["api_key"] == REDACTED and event["authorization"] == REDACTED
    assert event["count"] == 3 and event["empty_token"] == ""


def test_scrubbing_leaves_ordinary_text_alone():
    assert scrub_text("the token bucket is full") == "the token bucket is full"


def test_the_stdlib_filter_scrubs_formatted_messages():
    Secret(KEY)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "request with %s failed", (KEY,), None)
    assert RedactingFilter().filter(record)
    assert KEY not in record.getMessage() and REDACTED in record.getMessage()


def test_scrubbing_keeps_words_that_only_follow_the_word_token():
    assert scrub_text("the token expired yesterday") == "the token expired yesterday"
