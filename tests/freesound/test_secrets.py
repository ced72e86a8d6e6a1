"""Malformed credentials are refused without being quoted; scrubbing is by value, not by field name."""

from __future__ import annotations

import json

import pytest
from structlog.testing import capture_logs

from kellyd.freesound.credentials import key_problem, load_api_key, load_oauth_token, register_credentials
from kellyd.freesound.redact import REDACTED, redact_secrets, scrub_text
from kellyd.freesound.settings import parse_freesound_section
from kellyd.music.audio_io import describe_start

GOOD = "k3yGood0123456789abcdefABCDEF0123456789"


@pytest.mark.parametrize("value, problem", [
    (GOOD, None),
    ("short", "has 5 characters (expected 8 to 256)"),
    ("x" * 257, "has 257 characters"),
    ("abcdefgh\nijklmnop", "holds whitespace at character 9"),
    ("abcdefgh ijklmnop", "holds whitespace at character 9"),
    ("abcdefgh\x07ijklmnop", "holds a control or non-ASCII character at character 9"),
    ("abcdefghé", "holds a control or non-ASCII character at character 9"),
])
def test_key_problem(value, problem):
    found = key_problem(value)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem) and value not in found


def test_a_malformed_key_file_names_the_file_and_is_still_scrubbed(tmp_path):
    path = tmp_path / "freesound_config.json"
    bad = "partOne12345678\npartTwo12345678"
    path.write_text(json.dumps({"freesound_api_key": bad}))
    path.chmod(0o600)
    found = load_api_key(parse_freesound_section({"key_file": str(path)}), {})
    assert found.key is None and found.invalid and str(path) in found.problem
    assert "partOne" not in found.problem and "partTwo" not in found.problem
    # A library quoting either part of the refused value is scrubbed all the same.
    assert scrub_text("Invalid header value b'Token partOne12345678\\npartTwo12345678'") == \
        f"Invalid header value b'Token {REDACTED}\\n{REDACTED}'"


def test_a_malformed_environment_key_names_the_variable():
    found = load_api_key(parse_freesound_section({}), {"FREESOUND_API_KEY": "envPart12345678\tmore12345678"})
    assert found.invalid and "environment variable FREESOUND_API_KEY" in found.problem
    assert "envPart" not in found.problem


def test_a_malformed_oauth_token_counts_as_none_and_is_not_logged():
    settings = parse_freesound_section({})
    with capture_logs() as logs:
        assert load_oauth_token(settings, {settings.oauth_token_env: "tokPart12345678\nrest12345678"}) is None
    assert "tokPart" not in repr(logs) and settings.oauth_token_env in repr(logs)


def test_register_credentials_lets_another_process_scrub_what_a_pull_printed(tmp_path):
    path = tmp_path / "freesound_config.json"
    path.write_text(json.dumps({"freesound_api_key": "storedKey0123456789xyz"}))
    register_credentials(parse_freesound_section({"key_file": str(path)}), {})
    assert scrub_text("exit 1: ValueError: storedKey0123456789xyz") == f"exit 1: ValueError: {REDACTED}"


def test_a_config_key_logged_as_key_is_shown_and_a_secret_under_any_name_is_not():
    register_credentials(parse_freesound_section({}), {"FREESOUND_API_KEY": GOOD})
    event = redact_secrets(None, "error", {"event": "reload_refused", "key": "limits.max_sidecar_kb",
                                           "reason": f"oops {GOOD}", "api_key": "anything"})
    assert event == {"event": "reload_refused", "key": "limits.max_sidecar_kb", "reason": f"oops {REDACTED}",
                     "api_key": REDACTED}


@pytest.mark.parametrize("head, shown", [
    (b"root:$6$saltsaltsalt$hash", "text beginning b'root'"),
    (b"\x00\x01\x02\x03secretsecret", "binary data beginning b'\\x00\\x01\\x02\\x03'"),
    (b"", "nothing"),
])
def test_a_refused_file_start_is_described_not_quoted(head, shown):
    assert describe_start(head) == shown
