"""Where the benchmarks find the full real-data corpus, and what they do when it is not there.

The full corpus lives beside the repository, not in it (the tests use the small one in
tests/corpus). Without it a benchmark prints one line saying it skipped and why, and exits 0,
so that `make bench` on a bare clone reports what it could not measure instead of failing.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def skipped_without_corpus(script: str, realdata: Path, *needed: str) -> bool:
    """True, after printing the reason, when a file or folder `needed` (relative to `realdata`) is missing."""
    missing = next((name for name in needed if not (realdata / name).exists()), None)
    if missing is None:
        return False
    print(f"{script}: skipped: the real-data corpus is not there ({realdata / missing} is missing; "
          f"--realdata DIR names another place)", flush=True)
    return True
