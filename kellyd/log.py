"""Logging: one structlog processor chain, configured in one place.

`format = "auto"` writes readable lines on a terminal and JSON lines otherwise
(under systemd or launchd). Per-file context (`sample_id`, `path`) is bound with
contextvars by the runner and the workers.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_extra_processors: list[Callable] = []


def add_processor(processor: Callable[[Any, str, dict], dict]) -> None:
    """Register a processor (e.g. a secret scrubber) that runs before rendering."""
    if processor not in _extra_processors:
        _extra_processors.append(processor)


def configure_logging(fmt: str = "auto", level: str = "info", *, stream=None) -> None:
    from kellyd.freesound.redact import RedactingFilter, redact_secrets

    add_processor(redact_secrets)  # secrets never reach a log line, whoever logs them
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *_extra_processors,
        structlog.processors.format_exc_info if use_json else structlog.dev.set_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(_LEVELS[level], logging.WARNING), stream=stream,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
