"""A pull: fill every (emotion, instrument) folder of the staging area up to its target.

`run_pull` is what the scheduler and the CLI call. It never raises for a
missing key, a bad network or a refusing server: it logs, stops cleanly and
says why in the `PullReport`. Interrupted at any point (even by SIGKILL), the
next pull removes the leftovers, adopts files that got their final name, and
goes on from the saved search page; no sound is fetched twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping

import structlog

from kellyd.errors import InvalidInput
from kellyd.freesound.api import MalformedAnswer, SoundInfo, rejection, search_params, search_query
from kellyd.freesound.client import FreesoundClient, LocalWriteError, NotFound, PullAborted, RequestFailed, TooLarge
from kellyd.freesound.clock import SYSTEM_CLOCK, Clock
from kellyd.freesound.credentials import API_KEY_ENV, load_api_key, load_oauth_token
from kellyd.freesound.download import fetch_to_staging, sidecar_for
from kellyd.freesound.ledger import Ledger, Progress
from kellyd.freesound.report import CombinationReport, CombinationStatus, PullReport, Tally
from kellyd.freesound.settings import FreesoundSettings, combinations
from kellyd.freesound.staging import audio_file_name, combination_dir, tidy_staging

log = structlog.get_logger("kellyd.freesound")

# After this many requests in a row failed for good, the network (or the server) is down: stop.
MAX_FAILURES_IN_A_ROW = 3
# After this many unreadable search pages in a row, give the query up for this pull.
MAX_MALFORMED_PAGES_IN_A_ROW = 2
LOCK_SUFFIX = ".freesound-lock"


def iso_utc(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="seconds")


def utc_day(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).date().isoformat()


@contextlib.contextmanager
def exclusive_pull(state_db: Path) -> Iterator[bool]:
    """One pull at a time per state db (the daemon's job and a CLI run could overlap). Yields False when taken."""
    path = Path(state_db).with_name(Path(state_db).name + LOCK_SUFFIX)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


class _Pull:
    """The loop over combinations, pages and sounds of one pull."""

    def __init__(self, settings: FreesoundSettings, client: FreesoundClient, ledger: Ledger, *,
                 staging_root: Path, dry_run: bool, clock: Clock, stop: threading.Event) -> None:
        self.settings = settings
        self.client = client
        self.ledger = ledger
        self.staging_root = Path(staging_root)
        self.dry_run = dry_run
        self.clock = clock
        self.stop = stop
        self.reports: list[CombinationReport] = []
        self._failures_in_a_row = 0
        self._chosen_in_dry_run: set[int] = set()

    def run(self) -> None:
        for emotion, instrument in combinations(self.settings):
            query = search_query(emotion, instrument)
            had, had_bytes = self.ledger.downloaded(emotion, instrument)
            tally = Tally(emotion, instrument, query, had, had_bytes)
            try:
                status = self._fill(tally)
            except (PullAborted, LocalWriteError):
                self.reports.append(tally.report("stopped"))
                raise
            self.reports.append(tally.report(status))
            log.info("freesound.combination", emotion=emotion, instrument=instrument, status=status,
                     downloaded=tally.downloaded, total=tally.files)

    # failures ----------------------------------------------------------------

    def _failed(self, tally: Tally, event: str, failure: RequestFailed, **context: object) -> None:
        """Log a request that failed for good; several network failures in a row end the pull."""
        log.error(event, emotion=tally.emotion, instrument=tally.instrument, problem=failure.reason, **context)
        tally.errors.append(failure.reason)
        if not failure.transient:
            return  # a 4xx about one resource says nothing about the network
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            raise PullAborted(f"{self._failures_in_a_row} requests in a row failed; last: {failure.reason}")

    # one combination ---------------------------------------------------------

    def _fill(self, tally: Tally) -> CombinationStatus:
        target = self.settings.target_per_combination
        budget_bytes = self.settings.max_bytes_per_combination
        if tally.files >= target:
            return "target_reached"
        if tally.bytes >= budget_bytes:
            return "budget_reached"
        key = json.dumps({k: v for k, v in search_params(self.settings, tally.query, 1).items() if k != "page"},
                         sort_keys=True)
        today = utc_day(self.clock.time())
        progress = self.ledger.progress(tally.emotion, tally.instrument, key)
        if progress.exhausted_day == today:
            return "exhausted"
        page = progress.next_page
        malformed_in_a_row = 0
        while True:
            if self.stop.is_set():
                raise PullAborted("stop requested")
            what = f"search {tally.query!r} page {page}"
            try:
                found = self.client.search(search_params(self.settings, tally.query, page), what=what)
            except NotFound:  # a page past the last one
                self._save(tally, key, Progress(next_page=1, exhausted_day=today))
                return "exhausted"
            except MalformedAnswer as exc:
                log.error("freesound.bad_answer", query=tally.query, page=page, problem=str(exc))
                tally.errors.append(str(exc))
                malformed_in_a_row += 1
                if malformed_in_a_row >= MAX_MALFORMED_PAGES_IN_A_ROW:
                    return "incomplete"
                page += 1
                continue
            except RequestFailed as exc:
                self._failed(tally, "freesound.search_failed", exc, query=tally.query, page=page)
                return "incomplete"
            malformed_in_a_row = 0
            self._failures_in_a_row = 0
            if found.malformed_results:
                tally.skipped["malformed result"] += found.malformed_results
            page_done, over_budget = self._take(tally, found.sounds)
            if over_budget:
                return "budget_reached"
            if page_done:
                page += 1
                self._save(tally, key, Progress(next_page=page))
            if tally.files >= target:
                return "target_reached"
            if not found.has_next:
                self._save(tally, key, Progress(next_page=1, exhausted_day=today))
                return "exhausted"

    def _save(self, tally: Tally, key: str, progress: Progress) -> None:
        if not self.dry_run:
            self.ledger.save_progress(tally.emotion, tally.instrument, key, progress, at=iso_utc(self.clock.time()))

    def _take(self, tally: Tally, sounds: tuple[SoundInfo, ...]) -> tuple[bool, bool]:
        """Fetch what the page offers until the target; (page fully handled, budget reached)."""
        for sound in sounds:
            if tally.files >= self.settings.target_per_combination:
                return False, False
            if self.stop.is_set():
                raise PullAborted("stop requested")
            reason = rejection(sound, self.settings)
            if reason is None and (self.ledger.is_known(sound.freesound_id)
                                   or sound.freesound_id in self._chosen_in_dry_run):
                reason = "already fetched"
            if reason is not None:
                tally.skipped[reason] += 1
                continue
            if self.dry_run:
                self._chosen_in_dry_run.add(sound.freesound_id)
                tally.downloaded += 1
                continue
            remaining_bytes = self.settings.max_bytes_per_combination - tally.bytes
            size = self._fetch(tally, sound, remaining_bytes)
            if size is None:
                return False, True
            if size:
                tally.downloaded += 1
                tally.bytes_downloaded += size
        return True, False

    def _fetch(self, tally: Tally, sound: SoundInfo, remaining_bytes: int) -> int | None:
        """Download one sound; its size, 0 when it was skipped, None when it does not fit the budget."""
        settings = self.settings
        if settings.download == "preview":
            url, extension, auth = sound.preview_url, "mp3", self.client.auth_for(sound.preview_url)
        else:
            url, extension, auth = f"{settings.base_url}/sounds/{sound.freesound_id}/download/", sound.type, "bearer"
        folder = combination_dir(self.staging_root, tally.emotion, tally.instrument)
        final_path = folder / audio_file_name(sound.freesound_id, sound.name, extension)
        now_iso = iso_utc(self.clock.time())
        sidecar = sidecar_for(sound, query=tally.query, emotion=tally.emotion, instrument=tally.instrument,
                              downloaded_at=now_iso)
        try:
            size = fetch_to_staging(self.client, url=url, auth=auth, final_path=final_path,
                                    freesound_id=sound.freesound_id, max_bytes=remaining_bytes, sidecar=sidecar)
        except TooLarge as exc:
            if exc.size_bytes > settings.max_bytes_per_combination:
                # Larger than the whole budget: it can never fit, so it is skipped for good
                # (the ledger remembers it) and the combination goes on with other sounds.
                reason = (f"too large: {exc.size_bytes} bytes, over the whole budget of "
                          f"{settings.max_bytes_per_combination} bytes (freesound.max_mb_per_combination)")
                self.ledger.record_rejection(sound.freesound_id, emotion=tally.emotion, instrument=tally.instrument,
                                             reason=reason, at=now_iso)
                log.warning("freesound.rejected", freesound_id=sound.freesound_id, reason=reason)
                tally.skipped["too large"] += 1
                return 0
            log.info("freesound.over_budget", freesound_id=sound.freesound_id, size_bytes=exc.size_bytes,
                     remaining_bytes=remaining_bytes, emotion=tally.emotion, instrument=tally.instrument)
            return None
        except InvalidInput as exc:
            self.ledger.record_rejection(sound.freesound_id, emotion=tally.emotion, instrument=tally.instrument,
                                         reason=exc.reason, at=now_iso)
            log.warning("freesound.rejected", freesound_id=sound.freesound_id, reason=exc.reason)
            tally.skipped["does not decode"] += 1
            return 0
        except RequestFailed as exc:
            tally.skipped["download failed"] += 1
            self._failed(tally, "freesound.download_failed", exc, freesound_id=sound.freesound_id)
            return 0
        self._failures_in_a_row = 0
        relative = final_path.relative_to(self.staging_root).as_posix()
        self.ledger.record_download(sound.freesound_id, emotion=tally.emotion, instrument=tally.instrument,
                                    file_path=relative, size_bytes=size, at=now_iso)
        log.info("freesound.downloaded", freesound_id=sound.freesound_id, path=relative, size_bytes=size,
                 license=sound.license)
        return size


def _tidy(staging_root: Path, ledger: Ledger, now_iso: str) -> tuple[int, int]:
    """Remove what a killed pull left and adopt files that got their final name; (removed, adopted)."""
    tidy = tidy_staging(staging_root, is_downloaded=ledger.is_known)
    adopted = ledger.adopt(
        (f.freesound_id, f.emotion, f.instrument, f.path.relative_to(staging_root).as_posix(), f.size_bytes, now_iso)
        for f in tidy.staged
    )
    return len(tidy.removed), adopted


def _skip(reason: str, *, dry_run: bool, started_at: str, finished_at: str) -> PullReport:
    log.warning("freesound.skipped", reason=reason)
    return PullReport(outcome="skipped", reason=reason, dry_run=dry_run, started_at=started_at, finished_at=finished_at)


def run_pull(
    settings: FreesoundSettings,
    *,
    staging_root: Path,
    state_db: Path,
    dry_run: bool = False,
    stop: threading.Event | None = None,
    clock: Clock = SYSTEM_CLOCK,
    environ: Mapping[str, str] | None = None,
    rng: random.Random | None = None,
) -> PullReport:
    """Pull sounds from Freesound into `<staging_root>/emotion_samples/<emotion>/<instrument>/`.

    `state_db`: the daemon's SQLite file (our `freesound_*` tables live there).
    `dry_run`: search only (requests still count against the quota); nothing is
    written to the staging area and no progress is saved. `stop`: set it to end
    the pull at the next request or wait. `environ` (default `os.environ`) is
    where the key and token are looked up; `rng` drives backoff jitter.
    """
    stop = stop if stop is not None else threading.Event()
    started_at = iso_utc(clock.time())

    def skipped(reason: str) -> PullReport:
        return _skip(reason, dry_run=dry_run, started_at=started_at, finished_at=iso_utc(clock.time()))

    if not settings.enabled:
        return skipped("Freesound pulls are disabled (freesound.enabled = false)")
    key = load_api_key(settings, environ)
    if key.invalid:
        # A key that is there but malformed is a configuration error, not "no key": the pull fails.
        log.error("freesound.key_invalid", problem=key.problem)
        return PullReport(outcome="stopped", reason=f"unusable Freesound API key: {key.problem}", dry_run=dry_run,
                          started_at=started_at, finished_at=iso_utc(clock.time()))
    if key.key is None:
        return skipped(f"no Freesound API key ({key.problem}); set it in {API_KEY_ENV} or in the key file "
                       f"as {{\"freesound_api_key\": \"...\"}}")
    token = load_oauth_token(settings, environ) if settings.download == "original" else None
    if settings.download == "original" and token is None:
        return skipped(f"download = 'original' needs an OAuth2 access token in ${settings.oauth_token_env} "
                       "(or set download = 'preview')")
    client: FreesoundClient | None = None
    pull: _Pull | None = None
    removed = adopted = 0
    outcome, reason = "completed", ""
    try:
        with exclusive_pull(state_db) as mine:
            if not mine:
                return skipped(f"another Freesound pull is using {state_db}")
            with Ledger(state_db) as ledger:
                if not dry_run:
                    removed, adopted = _tidy(Path(staging_root), ledger, iso_utc(clock.time()))
                client = FreesoundClient(settings, key.key, ledger=ledger, clock=clock, stop=stop,
                                         rng=rng or random.Random(), oauth_token=token)
                pull = _Pull(settings, client, ledger, staging_root=Path(staging_root), dry_run=dry_run,
                             clock=clock, stop=stop)
                pull.run()
    except (PullAborted, LocalWriteError) as exc:
        outcome, reason = "stopped", str(exc)
    except (sqlite3.Error, OSError) as exc:
        # The state db or the staging folder is unusable: a local problem the report must name.
        outcome, reason = "stopped", f"local state or staging error: {type(exc).__name__}: {exc}"
    if outcome == "stopped":
        log.warning("freesound.stopped", reason=reason)
    report = PullReport(
        outcome=outcome, reason=reason, dry_run=dry_run, started_at=started_at, finished_at=iso_utc(clock.time()),
        requests_made=client.requests_made if client else 0, combinations=tuple(pull.reports) if pull else (),
        leftovers_removed=removed, files_adopted=adopted,
    )
    log.info("freesound.pull_done", outcome=report.outcome, reason=report.reason, dry_run=dry_run,
             files=report.files_downloaded, size_bytes=report.bytes_downloaded, requests=report.requests_made)
    return report
