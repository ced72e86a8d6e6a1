"""One Freesound pull from the command line.

    python -m kellyd.freesound --staging DIR --state-db FILE [--config TOML]
        [--base-url URL] [--target N] [--emotions a,b] [--instruments x,y] [--dry-run] [--json]

Settings come from the `[freesound]` table of `--config` (defaults without
it); the flags override single keys and go through the same validation.
Exit status: 0 the pull completed, 1 it stopped early (network, quota, stop
request), 2 bad arguments or configuration, 3 it was skipped (no key,
disabled, another pull running).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any, Sequence

from kellyd.errors import ConfigError
from kellyd.freesound.pull import run_pull
from kellyd.freesound.redact import RedactingFilter, redact_secrets, scrubbed_traceback
from kellyd.freesound.report import PullReport
from kellyd.freesound.settings import FreesoundSettings, parse_freesound_section

EXIT_OK, EXIT_STOPPED, EXIT_USAGE, EXIT_SKIPPED = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kellyd.freesound", description="One Freesound pull.")
    parser.add_argument("--staging", type=Path, required=True, help="the staging root (the ~/.kelly folder)")
    parser.add_argument("--state-db", type=Path, required=True, help="the daemon's SQLite state file")
    parser.add_argument("--config", type=Path, help="a TOML file whose [freesound] table holds the settings")
    parser.add_argument("--base-url", help="API root, e.g. https://freesound.org/apiv2")
    parser.add_argument("--target", type=int, help="files wanted per (emotion, instrument)")
    parser.add_argument("--emotions", help="comma-separated emotions")
    parser.add_argument("--instruments", help="comma-separated instruments")
    parser.add_argument("--dry-run", action="store_true", help="search only; download and write nothing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--log-format", choices=("auto", "console", "json"), default="auto")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    return parser


def _settings(args: argparse.Namespace) -> FreesoundSettings:
    table: dict[str, Any] = {}
    if args.config is not None:
        try:
            raw = tomllib.loads(args.config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError("--config", f"cannot read {args.config}: {exc}") from None
        table = dict(raw.get("freesound", {}))
    overrides = {
        "base_url": args.base_url,
        "target_per_combination": args.target,
        "emotions": args.emotions.split(",") if args.emotions else None,
        "instruments": args.instruments.split(",") if args.instruments else None,
    }
    table.update({key: value for key, value in overrides.items() if value is not None})
    return parse_freesound_section(table)


def _configure_logging(fmt: str, level: str) -> None:
    from kellyd.log import add_processor, configure_logging

    add_processor(redact_secrets)
    configure_logging(fmt, level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())


def _print(report: PullReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
        return
    print(f"freesound pull {report.outcome}{': ' + report.reason if report.reason else ''}")
    for c in report.combinations:
        print(f"  {c.emotion:>14} / {c.instrument:<8} {c.total:>4} files (+{c.downloaded}, {c.bytes_downloaded} B) {c.status}")
    print(f"  {report.files_downloaded} files, {report.bytes_downloaded} bytes, {report.requests_made} requests")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.log_format, args.log_level)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"kellyd.freesound: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        report = run_pull(settings, staging_root=args.staging.expanduser(), state_db=args.state_db.expanduser(),
                          dry_run=args.dry_run, stop=stop)
    except Exception:  # noqa: BLE001 - printed, scrubbed of the key the pull holds
        print(scrubbed_traceback(), file=sys.stderr)
        return EXIT_STOPPED
    _print(report, args.json)
    return {"completed": EXIT_OK, "stopped": EXIT_STOPPED, "skipped": EXIT_SKIPPED}[report.outcome]


if __name__ == "__main__":
    sys.exit(main())
