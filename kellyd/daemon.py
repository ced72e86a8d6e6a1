"""The daemon runtime: initialize, loop, shutdown.

The main thread runs the loop: it drains the paths the observers recorded,
asks the settle tracker which files are ready, turns them into jobs, hands
steps to the executor and commits results. Signal handlers only set flags.
Observers, the reconcile scan, the exporter and the scheduler each have their
own thread; nothing on the main thread parses music.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Callable

import structlog

from kellyd.catalog import Catalog
from kellyd.config import Config, load_config
from kellyd.dataset import all_datasets, datasets_on_disk
from kellyd.errors import ConfigError
from kellyd.export import Exporter, out_of_date
from kellyd.parquet_refresh import deletions_seen, parquet_behind, parquet_state
from kellyd.handlers.registry import build_chain
from kellyd.rebuild import adopt_unknown_datasets, ensure_catalog
from kellyd.lock import DatasetsLock, StateLock
from kellyd.notify import Notifier
from kellyd.pathpolicy import SkipLog, display, is_valid_text, refusal, skip_reason
from kellyd.routing import Roots, is_ignored, route
from kellyd.runner import Runner
from kellyd.runtime import NewFile, build_runtime, dataset_context
from kellyd.scan import unknown_files
from kellyd.settle import FileStat, SettleTracker
from kellyd.split_state import SplitAssigner
from kellyd.unrouted import UNROUTED_LISTED, Unrouted, unrouted_entries
from kellyd.watch import ChangeQueue, Watcher

log = structlog.get_logger("kellyd.daemon")

TICK_S = 0.05
HEALTH_EVERY_S = 5.0
ACTIVITY_EVERY_S = 60.0
LOOP_ERROR_PAUSE_S = 0.5  # after an unexpected error in the loop: no busy spin if it repeats
NEW_DATASETS_EVERY_S = 2.0  # how soon a `kellyd dataset create` made while running is routed to
INBOX_CHECK_EVERY_S = 2.0  # how soon what the inbox holds outside any dataset's folder is logged


def stat_file(path: str, on_skip: Callable[[str, str], None] | None = None) -> FileStat | None:
    """The file's size and mtime from lstat: a link is reported as itself (to be refused), never followed.

    None for a folder, a pipe, a vanished path, or one that cannot be looked at (`on_skip` hears why).
    """
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:  # too long, no permission, a name the file system refuses...
        if on_skip is not None:
            on_skip(path, skip_reason(exc))
        return None
    if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
        return FileStat(st.st_size, st.st_mtime_ns)
    return None


class Daemon:
    def __init__(self, cfg: Config, *, config_path: Path | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self.changes = ChangeQueue()
        self.lock = StateLock(cfg.paths.state)
        self.datasets_lock = DatasetsLock(cfg.paths.datasets)
        self._scan_thread: threading.Thread | None = None
        self._scan_found: list[str] = []
        self._scan_lock = threading.Lock()
        self.skipped = SkipLog(log)  # paths left where they are (too long, unreadable): logged once each
        self._refused: set[tuple[str, int, int]] = set()  # quarantined by the path policy (a copy-mode link stays)
        self._datasets_checked_s = 0.0  # monotonic time of the last look for new dataset folders
        self._datasets_refused: set[str] = set()  # new dataset folders whose settings were refused
        self._inbox_checked_s = float("-inf")  # monotonic time of the last look at the inbox's top
        self._unrouted: set[Unrouted] = set()  # what it held that no dataset takes (logged once each)
        self.notifier = Notifier.from_environ()  # systemd's $NOTIFY_SOCKET; does nothing without it

    # -- initialize -------------------------------------------------------------------

    def initialize(self) -> None:
        # First, so a SIGHUP or SIGTERM during start-up only sets a flag (the default action ends the process).
        self._install_signal_handlers()
        cfg = self.cfg
        self.lock.acquire(purpose="daemon")
        try:
            # Before any dataset folder is touched: start-up removes temp files it takes for stale.
            self.datasets_lock.acquire(purpose=f"daemon, state folder {cfg.paths.state}")
            cfg.paths.staging.mkdir(parents=True, exist_ok=True)
            ensure_catalog(cfg)  # refuses a damaged catalog; rebuilds a missing one from the datasets
        except BaseException:
            self.datasets_lock.release()
            self.lock.release()
            raise
        self.catalog = Catalog(cfg.catalog_path)
        adopt_unknown_datasets(self.catalog, cfg, all_datasets(cfg))
        runtimes = self._runtimes(cfg)
        self.exporter = Exporter(cfg.catalog_path, cfg.dataset_root, debounce_s=cfg.export.debounce_s,
                                 max_busy_share=cfg.export.max_busy_share)
        self._catch_up_exports(runtimes)
        self.exporter.start()
        for ds_id in runtimes:  # manifest.parquet behind the catalog: a refresh cut short by the last stop
            if parquet_behind(self.catalog, ds_id, self.cfg.dataset_root(ds_id)):
                self.exporter.parquet.request(ds_id, self.cfg.dataset_root(ds_id))
            elif (state := parquet_state(self.cfg.dataset_root(ds_id))) is not None:
                self.catalog.forget_deletions(ds_id, deletions_seen(state))  # what it shows, the log may forget
        from kellyd.executor import make_executor

        self.runner = Runner(cfg, self.catalog, runtimes, lambda: make_executor(self.cfg), self.exporter)
        self.runner.space.on_resume = self._after_disk_space_back
        self.settle = SettleTracker(cfg.watch.settle_s)
        self.watcher = self._make_watcher(cfg)
        self.watcher.start()
        self.scheduler = self._make_scheduler()
        self.runner.enqueue_stale_steps(now=time.time())
        self._start_scan()
        self._check_inbox(time.monotonic())
        log.info("daemon_started", pid=os.getpid(), config=str(cfg.source), inbox=str(cfg.paths.inbox),
                 staging=str(cfg.paths.staging), datasets=sorted(self.runner.datasets), workers=cfg.workers)
        self.notifier.ready(self._status_line, now_s=time.monotonic())  # watcher, workers, scheduler are up

    def _runtimes(self, cfg: Config, *, reloading: bool = False):
        """Every handler is built (and so checked) before any dataset folder is laid out, so a refused
        value changes nothing on disk. A refused value in config.toml stops the start (or the reload); a
        dataset folder's own config.json that kellyd refuses leaves that dataset out, logged once."""
        datasets = dict(cfg.datasets)
        for ds_id, ds in datasets.items():
            build_chain(dataset_context(cfg, ds_id, ds), ds)
        if reloading:
            self._datasets_refused.clear()  # a reload looks at every dataset folder again
        for ds_id, ds in self._datasets_on_disk(cfg, cfg.datasets).items():
            try:
                build_chain(dataset_context(cfg, ds_id, ds), ds)
            except Exception as exc:  # noqa: BLE001 - one dataset folder never stops the daemon
                self._refuse_dataset(ds_id, exc)
                continue
            datasets[ds_id] = ds
        return {ds_id: build_runtime(cfg, ds_id, ds, self.catalog, clean_temp_files=not reloading)
                for ds_id, ds in datasets.items()}

    def _datasets_on_disk(self, cfg: Config, known) -> dict:
        """The dataset folders made by `kellyd dataset create` that are not in `known` and not refused."""
        refused: dict[str, ConfigError] = {}
        found = datasets_on_disk(cfg.paths.datasets, known, refused=refused)
        for ds_id, exc in refused.items():
            self._refuse_dataset(ds_id, exc)
        return {ds_id: ds for ds_id, ds in found.items() if ds_id not in self._datasets_refused}

    def _refuse_dataset(self, ds_id: str, exc: BaseException) -> None:
        if ds_id in self._datasets_refused:
            return
        self._datasets_refused.add(ds_id)
        log.error("dataset_refused", dataset=display(ds_id), key=getattr(exc, "key", None),
                  reason=getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}",
                  hint="its files are not imported; fix its config.json, then send SIGHUP or restart")

    def _catch_up_exports(self, runtimes) -> None:
        """A kill during an export leaves the manifest behind the catalog: export again what changed."""
        for ds_id in runtimes:
            stale = out_of_date(self.catalog, ds_id, self.cfg.dataset_root(ds_id))
            if stale is not None:
                log.info("manifest_behind_catalog", dataset=ds_id, samples_to_export=len(stale))
                self.exporter.mark(ds_id, stale)

    def _after_disk_space_back(self) -> None:
        # Files that arrived while the catalog could not record them are found by a scan.
        self.changes.rescan_requested.set()
        self.changes.wakeup.set()

    def _roots(self) -> Roots:
        fs = self.cfg.freesound
        staging_dataset = fs.dataset if fs.dataset in self.runner.datasets else None
        return Roots(inbox=str(self.cfg.paths.inbox), staging=str(self.cfg.paths.staging),
                     staging_dataset=staging_dataset, datasets=frozenset(self.runner.datasets))

    def _make_watcher(self, cfg: Config) -> Watcher:
        return Watcher([cfg.paths.inbox, cfg.paths.staging], self.changes, polling=cfg.watch.polling,
                       poll_interval_s=cfg.watch.poll_interval_s)

    def _make_scheduler(self):
        from kellyd.schedule import DaemonScheduler

        scheduler = DaemonScheduler(self.cfg)
        scheduler.start()
        return scheduler

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
        signal.signal(signal.SIGINT, lambda *_: self.request_stop())
        signal.signal(signal.SIGHUP, lambda *_: self._request_reload())

    def request_stop(self) -> None:
        self.stop_requested.set()
        self.changes.wakeup.set()

    def _request_reload(self) -> None:
        self.reload_requested.set()
        self.changes.wakeup.set()

    def _status_line(self) -> str:
        """What `systemctl status` shows under the unit."""
        c = self.runner.counters
        return (f"watching {len(self.runner.datasets)} datasets; queue {self.catalog.pending_count()}, "
                f"in flight {len(self.runner.in_flight)}; processed {c.processed}, quarantined {c.quarantined}")

    # -- loop -------------------------------------------------------------------------

    def loop(self) -> None:
        next_rescan = time.monotonic() + self.cfg.watch.rescan_s
        next_health = time.monotonic() + HEALTH_EVERY_S
        next_activity = time.monotonic() + ACTIVITY_EVERY_S
        last_processed = last_errors = 0
        while not self.stop_requested.is_set():
            now_mono = time.monotonic()
            self._take_changes(now_mono)
            ready = self.settle.poll(lambda p: stat_file(p, self.skipped), now_s=now_mono, wall_now_ns=time.time_ns())
            if ready:
                roots = self._roots()
                routed = ((r, route(r.path, roots)) for r in ready)
                new = self._refuse_bad_paths([NewFile.routed(r, rt) for r, rt in routed if rt is not None], now=time.time())
                self.runner.enqueue(new, now=time.time())
            self.runner.dispatch(now=time.time())
            if self.runner.in_flight:
                self.runner.collect(timeout_s=TICK_S)
            else:
                self.changes.wakeup.wait(TICK_S if len(self.settle) else 0.5)
            self.changes.wakeup.clear()
            busy = self._busy()
            self.exporter.set_quiet(not busy)
            self.scheduler.after_samples(self.runner.take_new_sample_counts(), busy=busy)
            if self.changes.rescan_requested.is_set() or now_mono >= next_rescan:
                self.changes.rescan_requested.clear()
                self._start_scan()
                next_rescan = now_mono + self.cfg.watch.rescan_s
            if now_mono >= next_health:
                if self.watcher.check():
                    log.warning("observer_restarted", restarts=self.watcher.restarts)
                next_health = now_mono + HEALTH_EVERY_S
            if now_mono >= next_activity:
                c = self.runner.counters
                with self.runner.space.tolerated("recording activity", now_s=now_mono), self.catalog.transaction():
                    self.catalog.record_activity(at=time.time(), processed=c.processed - last_processed,
                                                 errors=c.errors - last_errors, queue=self.catalog.pending_count())
                last_processed, last_errors = c.processed, c.errors
                next_activity = now_mono + ACTIVITY_EVERY_S
            self._pick_up_new_datasets(now_mono)
            self._check_inbox(now_mono)
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
            # The watchdog ping, after a whole pass: a loop that hangs or fails at every pass sends none.
            self.notifier.tick(time.monotonic(), self._status_line)

    def _refuse_bad_paths(self, files: list[NewFile], *, now: float) -> list[NewFile]:
        """The path policy, before any job exists: a link or a name the catalog cannot hold is quarantined
        here with the reason (`kellyd.pathpolicy.refusal`); the other files go on."""
        accepted = []
        for f in files:
            try:
                st = os.lstat(f.path)
            except OSError:
                continue  # gone since it settled (or unreachable: stat_file logged it)
            reason = refusal(f.path, st)
            if reason is None:
                accepted.append(f)
                continue
            key = (display(f.path), st.st_size, st.st_mtime_ns)
            if key not in self._refused and self.runner.refuse(f, reason, now=now):
                self._refused.add(key)
        return accepted

    def _take_changes(self, now_mono: float) -> None:
        ignore = self.cfg.watch.ignore
        for change in self.changes.drain():
            if change.is_directory:
                self._start_scan([Path(change.path)])
            elif not is_ignored(change.path, ignore):
                self.settle.note(change.path, now_s=now_mono, immediate=change.immediate)
        with self._scan_lock:
            found, self._scan_found = self._scan_found, []
        for path in found:
            # The scan compared with the catalog as it was when it read it; the jobs created since
            # then are only known here. (`Runner.enqueue` checks again, whatever the source.)
            # A name that is not UTF-8 cannot be in the catalog (and cannot be asked about): noted, then refused.
            if not is_valid_text(path) or not self.catalog.import_waiting(path):
                self.settle.note(path, now_s=now_mono)

    def _busy(self) -> bool:
        """Files being found, settling or waiting for their steps: early validation waits for the end
        of such a burst (DaemonScheduler.after_samples)."""
        scanning = self._scan_thread is not None and self._scan_thread.is_alive()
        return scanning or len(self.settle) > 0 or self.runner.busy(now=time.time())

    def _start_scan(self, roots: list[Path] | None = None) -> None:
        if self._scan_thread is not None and self._scan_thread.is_alive():
            self.changes.rescan_requested.set()  # a full scan follows when this one ends
            return
        scan_roots = roots or [self.cfg.paths.inbox, self.cfg.paths.staging]
        routing = self._roots()

        def scan() -> None:
            found: list[str] = []
            try:
                catalog = Catalog(self.cfg.catalog_path, readonly=True)
                try:
                    # Appended one by one: what was found before an unexpected error is still noted.
                    for path in unknown_files(scan_roots, routing, self.cfg.watch.ignore, catalog,
                                              stop=self.stop_requested.is_set, on_skip=self.skipped):
                        found.append(path)
                finally:
                    catalog.close()
            except Exception:
                log.exception("scan_failed", roots=[display(r) for r in scan_roots],
                              last_path=display(found[-1]) if found else None)
            with self._scan_lock:
                self._scan_found.extend(found)
            self.changes.wakeup.set()
            log.debug("scan_done", roots=[str(r) for r in scan_roots], new=len(found))

        self._scan_thread = threading.Thread(target=scan, name="kellyd-scan", daemon=True)
        self._scan_thread.start()

    def _pick_up_new_datasets(self, now_mono: float) -> None:
        """Route to datasets that `kellyd dataset create` made while the daemon runs, without a SIGHUP.

        Only folders the daemon does not know yet are read (their config.json), every few seconds.
        Files dropped into their inbox before now were routed nowhere, so that inbox is scanned.
        """
        if now_mono < self._datasets_checked_s + NEW_DATASETS_EVERY_S:
            return
        self._datasets_checked_s = now_mono
        added = []
        for ds_id, settings in self._datasets_on_disk(self.cfg, self.runner.datasets).items():
            try:
                self.runner.datasets[ds_id] = build_runtime(self.cfg, ds_id, settings, self.catalog)
            except Exception as exc:  # noqa: BLE001 - logged once; a reload or the next start looks again
                self._refuse_dataset(ds_id, exc)
                continue
            added.append(ds_id)
            log.info("dataset_added", dataset=ds_id, target_model=settings.target_model)
        if added:
            self._start_scan([self.cfg.paths.inbox / ds_id for ds_id in added])

    def _check_inbox(self, now_mono: float) -> None:
        """Log, once each, the entries at the top of the inbox that no dataset takes (`kellyd.unrouted`);
        one that goes and comes back is logged again."""
        if now_mono < self._inbox_checked_s + INBOX_CHECK_EVERY_S:
            return
        self._inbox_checked_s = now_mono
        # A refused dataset's folder is not "no dataset": `dataset_refused` already said why it waits.
        known = set(self.runner.datasets) | self._datasets_refused
        found = set(unrouted_entries(self.cfg.paths.inbox, known, self.cfg.watch.ignore))
        new = sorted(found - self._unrouted, key=lambda e: e.path)
        for entry in new[:UNROUTED_LISTED]:
            log.warning("inbox_entry_unrouted", path=entry.path, reason=entry.reason)
        if len(new) > UNROUTED_LISTED:  # thousands of files dropped into `inbox/` itself: not a line each
            log.warning("inbox_entries_unrouted", more=len(new) - UNROUTED_LISTED, hint="`kellyd status --json` lists them")
        self._unrouted = found

    # -- reload -------------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: read the config again. Whatever goes wrong before the switch (an unreadable file, a
        refused value, a failing dataset folder) keeps the old configuration running as it was."""
        try:
            new, runtimes = self._prepare_reload()
        except Exception as exc:  # noqa: BLE001 - a reload must never end the daemon
            log.error("reload_refused", key=getattr(exc, "key", None),
                      reason=getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}",
                      hint="the previous configuration stays in force")
            return
        self.runner.drain(deadline_s=time.monotonic() + new.executor.shutdown_grace_s)
        for rt in runtimes.values():  # the drain committed samples the split counts must include
            rt.splits = SplitAssigner.load(self.catalog, rt.dataset_id, rt.settings)
        self.cfg = new
        self.runner.reconfigure(new, runtimes)
        self.runner.accepting = True
        self.settle.settle_s = new.watch.settle_s
        from kellyd.log import configure_logging

        configure_logging(new.logging.format, new.logging.level)
        self.scheduler.reconfigure(new)
        self.runner.enqueue_stale_steps(now=time.time())
        self._start_scan()
        log.info("config_reloaded", datasets=sorted(self.runner.datasets))
        self._inbox_checked_s = float("-inf")  # other datasets may take (or leave) other folders now

    def _prepare_reload(self):
        """The new config and its dataset runtimes, built while the old ones still run."""
        from kellyd.schedule import job_commands, trigger_for

        new = load_config(self.config_path or self.cfg.source)
        if new.paths != self.cfg.paths:
            log.warning("reload_paths_ignored", hint="changes under [paths] need a restart")
            new = dataclasses.replace(new, paths=self.cfg.paths)
        for job_id, job in job_commands(new).items():
            try:
                trigger_for(job.schedule)
            except ValueError as exc:
                raise ConfigError(f"schedule.{job_id}", str(exc)) from None
        return new, self._runtimes(new, reloading=True)

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self) -> None:
        log.info("daemon_stopping")
        self.notifier.stopping()
        self.watcher.stop()
        self.scheduler.shutdown()
        self.runner.drain(deadline_s=time.monotonic() + self.cfg.executor.shutdown_grace_s)
        self.runner.shutdown()
        self.exporter.stop()
        if self._scan_thread is not None:
            self._scan_thread.join(timeout=2.0)
        self.catalog.close()
        self.datasets_lock.release()
        self.lock.release()
        log.info("daemon_stopped", processed=self.runner.counters.processed,
                 quarantined=self.runner.counters.quarantined)

    def run(self) -> None:
        self.initialize()
        try:
            while True:
                try:
                    self.loop()
                    break
                except Exception:  # one bad iteration never ends the daemon (KeyboardInterrupt/SystemExit do)
                    log.exception("loop_error")
                    self.stop_requested.wait(LOOP_ERROR_PAUSE_S)
        finally:
            self.shutdown()
