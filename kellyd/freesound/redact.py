"""Keeping secrets out of logs: a `Secret` holder and scrubbers for structlog and stdlib logging.

The code never logs a key on purpose; these are the belt to that pair of
braces. Every `Secret` registers its value in this process, and
`redact_secrets` (a structlog processor) and `RedactingFilter` (a stdlib
logging filter) replace any registered value, any `Token ...`/`Bearer ...`
credential and any value under a sensitive key with "[REDACTED]".
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import traceback
from typing import Any, Mapping, MutableMapping

REDACTED = "[REDACTED]"
# Field names whose value is a credential whatever it looks like. A bare `key` is not one:
# kellyd logs config keys under that name (`reload_refused`), and hiding them hides the
# problem; a secret logged under any name is still caught by its registered value.
SENSITIVE_KEYS = frozenset({
    "api_key", "apikey", "freesound_api_key", "token", "access_token", "refresh_token",
    "authorization", "password", "secret", "client_secret",
})
_MIN_SECRET_CHARS = 8  # shorter values would scrub ordinary words
# `Token x`, `Bearer x`, `token=x` where x looks like a credential (8+ characters, a digit among them).
_CREDENTIAL = re.compile(r"(?i)\b(token|bearer)(\s+|=)((?=[A-Za-z0-9._~+/\-]*\d)[A-Za-z0-9._~+/\-]{8,}=*)")

_registered: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember `value` so the scrubbers replace it wherever it shows up in this process."""
    if isinstance(value, str) and len(value) >= _MIN_SECRET_CHARS:
        with _lock:
            _registered.add(value)


def register_secret_parts(value: str) -> None:
    """Register `value`, stripped, and each of its whitespace-separated parts.

    For a value that may be malformed (a key with a newline): a library quoting
    only the part before the newline must still be scrubbed.
    """
    if not isinstance(value, str):
        return
    register_secret(value.strip())
    for part in value.split():
        register_secret(part)


def scrub_text(text: str) -> str:
    """`text` with every registered secret and every `Token x`/`Bearer x`/`token=x` value redacted."""
    with _lock:
        secrets = sorted(_registered, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def scrubbed_traceback() -> str:
    """The exception being handled, formatted as Python would print it, with secrets redacted.

    For a command's last resort: an HTTP library's ValueError quotes the header
    value it refused, which may be the key.
    """
    return scrub_text(traceback.format_exc()).rstrip()


def scrub(value: Any) -> Any:
    """A copy of `value` (str, mapping, list, tuple, other) with secrets redacted inside strings."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: REDACTED if str(k).lower() in SENSITIVE_KEYS else scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub(v) for v in value)
    if isinstance(value, BaseException):
        return scrub_text(f"{type(value).__name__}: {value}")
    return value


def redact_secrets(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: put it right before the renderer so nothing rendered carries a secret."""
    for key in list(event_dict):
        value = event_dict[key]
        event_dict[key] = REDACTED if key.lower() in SENSITIVE_KEYS and value else scrub(value)
    return event_dict


class RedactingFilter(logging.Filter):
    """stdlib logging filter: the formatted message is scrubbed and frozen (args cleared)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub_text(record.getMessage())
        record.args = None
        return True


class Secret:
    """A credential that does not show itself: redacted repr/str, refuses to be pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("a secret must be a non-empty string")
        self._value = value.strip()
        register_secret(self._value)

    def reveal(self) -> str:
        """The value itself: only for the one place that puts it in a request header."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not pickled: pass where to find it, not the value")
