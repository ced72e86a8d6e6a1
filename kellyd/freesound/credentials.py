"""Where the Freesound credentials come from.

The API key: `FREESOUND_API_KEY` in the environment, else the key file
(`{"freesound_api_key": "..."}`, default `~/.kelly/freesound_config.json`). A
value starting with `YOUR_` is the template's placeholder and counts as unset.
A key file other users can read gets a warning. The OAuth2 access token that
original-file downloads need comes from the environment variable the settings
name. Values are wrapped in `Secret` at once; reasons never quote them.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import structlog

from kellyd.freesound.redact import Secret, register_secret_parts
from kellyd.freesound.settings import FreesoundSettings

API_KEY_ENV = "FREESOUND_API_KEY"
KEY_FILE_FIELD = "freesound_api_key"
PLACEHOLDER_PREFIX = "YOUR_"
# Freesound keys are 40 characters; the bounds only catch what cannot be a key at all.
MIN_KEY_CHARS = 8
MAX_KEY_CHARS = 256

log = structlog.get_logger("kellyd.freesound")


@dataclass(frozen=True)
class KeyLookup:
    """The outcome of looking for the API key: the key and where it came from, or why there is none."""

    key: Secret | None
    source: str
    problem: str = ""
    invalid: bool = False  # a key was found but cannot be one (a configuration error, not "no key")


def key_problem(value: str) -> str | None:
    """Pure: why `value` (already stripped) cannot be a credential, or None. Never quotes the value.

    A newline or control character would otherwise surface in an HTTP library's
    error message, which quotes the header value (the key) in full.
    """
    if not MIN_KEY_CHARS <= len(value) <= MAX_KEY_CHARS:
        return f"has {len(value)} characters (expected {MIN_KEY_CHARS} to {MAX_KEY_CHARS})"
    for position, char in enumerate(value, start=1):
        if char.isspace() or not char.isprintable() or not char.isascii():
            what = "whitespace" if char.isspace() else "a control or non-ASCII character"
            return f"holds {what} at character {position} (a key is one line of printable ASCII)"
    return None


def _checked(value: str, source: str) -> KeyLookup:
    """The key wrapped in a Secret, or the reason it is unusable (naming `source`, never the value)."""
    # Registered even when refused: a bad value must still be scrubbed wherever it shows up.
    register_secret_parts(value)
    problem = key_problem(value.strip())
    if problem is not None:
        return KeyLookup(None, source, f"the API key in {source} {problem}", invalid=True)
    return KeyLookup(Secret(value), source)


def _usable(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not value.strip().startswith(PLACEHOLDER_PREFIX)


def _warn_if_readable_by_others(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "freesound.key_file_permissions",
            path=str(path),
            mode=oct(mode),
            advice=f"other users can read this file; run: chmod 600 {path}",
        )


def _read_key_file(path: Path) -> KeyLookup:
    source = f"key file {path}"
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return KeyLookup(None, source, f"{API_KEY_ENV} is not set and there is no key file at {path}")
    except OSError as exc:
        return KeyLookup(None, source, f"cannot read the key file {path}: {exc.strerror or type(exc).__name__}")
    _warn_if_readable_by_others(path)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        # The position only: the message must not quote the file's content.
        return KeyLookup(None, source, f"the key file {path} is not valid JSON (line {exc.lineno}, column {exc.colno})")
    value = data.get(KEY_FILE_FIELD) if isinstance(data, dict) else None
    if not _usable(value):
        return KeyLookup(None, source, f"the key file {path} has no usable {KEY_FILE_FIELD!r} (missing, empty or a placeholder)")
    return _checked(value, source)


def load_api_key(settings: FreesoundSettings, environ: Mapping[str, str] | None = None) -> KeyLookup:
    """Find the API key: environment first, then the key file. Never raises for a missing key."""
    environ = os.environ if environ is None else environ
    from_env = environ.get(API_KEY_ENV, "")
    if _usable(from_env):
        return _checked(from_env, f"environment variable {API_KEY_ENV}")
    return _read_key_file(Path(settings.key_file).expanduser())


def load_oauth_token(settings: FreesoundSettings, environ: Mapping[str, str] | None = None) -> Secret | None:
    """The OAuth2 access token for original downloads, or None when the variable is unset or a placeholder."""
    environ = os.environ if environ is None else environ
    value = environ.get(settings.oauth_token_env, "")
    if not _usable(value):
        return None
    register_secret_parts(value)
    # A malformed token is as unusable as none; the reason names the variable, never the value.
    if (problem := key_problem(value.strip())) is not None:
        log.warning("freesound.oauth_token_unusable", variable=settings.oauth_token_env, problem=problem)
        return None
    return Secret(value)


def register_credentials(settings: FreesoundSettings, environ: Mapping[str, str] | None = None) -> None:
    """Make this process's scrubbers know the key and token `settings` point at, valid or not.

    For a process that never uses them but stores or prints what a pull printed
    (the daemon recording a scheduled pull's output).
    """
    environ = os.environ if environ is None else environ
    register_secret_parts(environ.get(API_KEY_ENV, ""))
    register_secret_parts(environ.get(settings.oauth_token_env, ""))
    try:
        data = json.loads(Path(settings.key_file).expanduser().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(data, dict) and isinstance(data.get(KEY_FILE_FIELD), str):
        register_secret_parts(data[KEY_FILE_FIELD])
