"""The exit codes of every `kellyd` command: one table, so scripts and the README agree.

A script can tell "it ran and found a problem" (5, 6, 7) from "it could not run" (1, 2, 3).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1        # a crash or an error the message explains (a traceback is printed for a crash)
EXIT_CONFIG = 2        # a bad configuration or argument; a missing extra (torch for `kellyd train`)
EXIT_BUSY = 3          # another kellyd holds the state lock (the daemon, a batch, a training)
EXIT_SKIPPED = 4       # nothing to do: targets met, pulls disabled, no Freesound key, too few changes
EXIT_QUARANTINED = 5   # the run finished, but some files were quarantined (the JSON says how many)
EXIT_INVALID = 6       # the dataset's validation verdict is `invalid` (pipeline; validate --strict)
EXIT_NO_DAEMON = 7     # `kellyd status`: no daemon is running (the status is still printed)
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_BROKEN_PIPE = 128 + 13  # stdout closed early (`kellyd status | head -1`), as a tool killed by SIGPIPE

# (code, name, meaning) in the order the README table lists them.
EXIT_TABLE: tuple[tuple[int, str, str], ...] = (
    (EXIT_OK, "ok", "done; nothing to report"),
    (EXIT_FAILED, "failed", "a crash (traceback on stderr) or an error whose message says what to do"),
    (EXIT_CONFIG, "config", "a bad configuration or argument, or a missing extra such as torch"),
    (EXIT_BUSY, "busy", "another kellyd (daemon, batch command or training) holds the lock"),
    (EXIT_SKIPPED, "skipped", "nothing to do: targets met, pulls disabled or no API key, too few changes to retrain, "
                                 "no sample to export"),
    (EXIT_QUARANTINED, "quarantined", "import, features, augment, synthesize or pipeline finished, but some files "
                                      "were quarantined (their count is in the printed JSON)"),
    (EXIT_INVALID, "invalid", "the validation verdict is `invalid` (`pipeline`; `validate --strict`)"),
    (EXIT_NO_DAEMON, "no daemon", "`status` found no running daemon; the status (or `--json`) is still printed"),
    (EXIT_INTERRUPTED, "interrupted", "stopped by Ctrl-C"),
    (EXIT_BROKEN_PIPE, "stdout closed", "the reader of stdout went away (`kellyd status | head -1`)"),
)


def batch_exit_code(result: dict) -> int:
    """The code of a batch run (import, features, augment, synthesize) from its printed result."""
    return EXIT_QUARANTINED if int(result.get("quarantined") or 0) > 0 else EXIT_OK
