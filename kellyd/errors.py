"""The error vocabulary of kellyd.

Each exception maps to exactly one outcome, decided in one place
(`kellyd.outcome.outcome_for`):

- `InvalidInput`: the file itself is bad; it goes to quarantine with the reason.
- `TemporaryFailure`: something outside the file failed (disk full, a lock, a
  server); the step is retried with backoff.
- `ConfigError`: the configuration is wrong; start-up stops naming the key.
"""

from __future__ import annotations


class KellydError(Exception):
    """Base class of every error kellyd raises on purpose."""


class InvalidInput(KellydError):
    """The input file cannot be used: corrupt, truncated, empty, silent, unsupported."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryFailure(KellydError):
    """A failure that may pass: retry the step later."""

    def __init__(self, reason: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class ConfigError(KellydError):
    """A configuration value is missing or wrong. `key` is the dotted TOML key."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"config error at {key}: {reason}")
        self.key = key
        self.reason = reason


class AlreadyRunning(KellydError):
    """Another daemon holds the state folder's lock."""


class MissingExtra(KellydError):
    """A command needs an optional part of kellyd that is not installed (`pip install 'kellyd[EXTRA]'`)."""

    def __init__(self, extra: str, module: str, purpose: str, hint: str = "") -> None:
        super().__init__(f"{purpose} needs {module}, which the kellyd[{extra}] extra installs and is missing here: "
                         f"pip install 'kellyd[{extra}]'" + (f" ({hint})" if hint else ""))
        self.extra = extra
        self.module = module
