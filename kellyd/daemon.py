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
import threading
import time
from pathlib import Path

import structlog

from kellyd.catalog import Catalog
from kellyd.config import Config, load_config
from kellyd.dataset import datasets_on_disk
from kellyd.errors import ConfigError
from kellyd.export import Exporter
from kellyd.lock import StateLock
from kellyd.routing import Roots, is_ignored, route
from kellyd.runner import NewFile, Runner, build_runtime
from kellyd.scan import unknown_files
from kellyd.settle import FileStat, SettleTracker
from kellyd.watch import ChangeQueue, Watcher

log = structlog.get_logger("kellyd.daemon")

TICK_S = 0.05
HEALTH_EVERY_S = 5.0
ACTIVITY_EVERY_S = 60.0


def stat_file(path: str) -> FileStat | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    return FileStat(st.st_size, st.st_mtime_ns) if os.path.isfile(path) else None


def all_datasets(cfg: Config):
    return {**datasets_on_disk(cfg.paths.datasets, cfg.datasets), **cfg.datasets}


class Daemon:
    def __init__(self, cfg: Config, *, config_path: Path | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self.changes = ChangeQueue()
        self.lock = StateLock(cfg.paths.state)
        self._scan_thread: threading.Thread | None = None
        self._scan_found: list[str] = []
        self._scan_lock = threading.Lock()

    # -- initialize -------------------------------------------------------------------

    def initialize(self) -> None:
        self.lock.acquire(purpose="daemon")
        cfg = self.cfg
        cfg.paths.staging.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(cfg.catalog_path)
        self.exporter = Exporter(cfg.catalog_path, cfg.dataset_root, debounce_s=cfg.export.debounce_s,
                                 max_busy_share=cfg.export.max_busy_share)
        self.exporter.start()
        from kellyd.executor import make_executor, warm_up

        self.runner = Runner(cfg, self.catalog, self._runtimes(cfg), lambda: make_executor(self.cfg), self.exporter)
        warm_up(self.runner.executor, cfg.workers)
        self.settle = SettleTracker(cfg.watch.settle_s)
        self.watcher = self._make_watcher(cfg)
        self.watcher.start()
        self.scheduler = self._make_scheduler()
        self._install_signal_handlers()
        self.runner.enqueue_stale_steps(now=time.time())
        self._start_scan()
        log.info("daemon_started", pid=os.getpid(), config=str(cfg.source), inbox=str(cfg.paths.inbox),
                 staging=str(cfg.paths.staging), datasets=sorted(self.runner.datasets), workers=cfg.workers)

    def _runtimes(self, cfg: Config):
        return {ds_id: build_runtime(cfg, ds_id, ds, self.catalog) for ds_id, ds in all_datasets(cfg).items()}

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

    # -- loop -------------------------------------------------------------------------

    def loop(self) -> None:
        next_rescan = time.monotonic() + self.cfg.watch.rescan_s
        next_health = time.monotonic() + HEALTH_EVERY_S
        next_activity = time.monotonic() + ACTIVITY_EVERY_S
        last_processed = last_errors = 0
        while not self.stop_requested.is_set():
            now_mono = time.monotonic()
            self._take_changes(now_mono)
            ready = self.settle.poll(stat_file, now_s=now_mono, wall_now_ns=time.time_ns())
            if ready:
                roots = self._roots()
                routed = ((r, route(r.path, roots)) for r in ready)
                self.runner.enqueue([NewFile.routed(r, rt) for r, rt in routed if rt is not None], now=time.time())
            self.runner.dispatch(now=time.time())
            if self.runner.in_flight:
                self.runner.collect(timeout_s=TICK_S)
            else:
                self.changes.wakeup.wait(TICK_S if len(self.settle) else 0.5)
            self.changes.wakeup.clear()
            self.scheduler.after_samples(self.runner.take_new_sample_counts())
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
                with self.catalog.transaction():
                    self.catalog.record_activity(at=time.time(), processed=c.processed - last_processed,
                                                 errors=c.errors - last_errors, queue=self.catalog.pending_count())
                last_processed, last_errors = c.processed, c.errors
                next_activity = now_mono + ACTIVITY_EVERY_S
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()

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
            self.settle.note(path, now_s=now_mono)

    def _start_scan(self, roots: list[Path] | None = None) -> None:
        if self._scan_thread is not None and self._scan_thread.is_alive():
            self.changes.rescan_requested.set()  # a full scan follows when this one ends
            return
        scan_roots = roots or [self.cfg.paths.inbox, self.cfg.paths.staging]
        routing = self._roots()

        def scan() -> None:
            catalog = Catalog(self.cfg.catalog_path, readonly=True)
            try:
                found = list(unknown_files(scan_roots, routing, self.cfg.watch.ignore, catalog,
                                           stop=self.stop_requested.is_set))
            finally:
                catalog.close()
            with self._scan_lock:
                self._scan_found.extend(found)
            self.changes.wakeup.set()
            log.debug("scan_done", roots=[str(r) for r in scan_roots], new=len(found))

        self._scan_thread = threading.Thread(target=scan, name="kellyd-scan", daemon=True)
        self._scan_thread.start()

    # -- reload -------------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: read the config again; keep the old one if the new one is wrong."""
        try:
            new = load_config(self.config_path or self.cfg.source)
        except ConfigError as exc:
            log.error("reload_refused", key=exc.key, reason=exc.reason)
            return
        if new.paths != self.cfg.paths:
            log.warning("reload_paths_ignored", hint="changes under [paths] need a restart")
            new = dataclasses.replace(new, paths=self.cfg.paths)
        self.runner.drain(deadline_s=time.monotonic() + new.executor.shutdown_grace_s)
        self.cfg = new
        self.runner.cfg = new
        self.runner.datasets = self._runtimes(new)
        self.runner.accepting = True
        self.settle.settle_s = new.watch.settle_s
        from kellyd.log import configure_logging

        configure_logging(new.logging.format, new.logging.level)
        self.scheduler.reconfigure(new)
        self.runner.enqueue_stale_steps(now=time.time())
        self._start_scan()
        log.info("config_reloaded", datasets=sorted(self.runner.datasets))

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self) -> None:
        log.info("daemon_stopping")
        self.watcher.stop()
        self.scheduler.shutdown()
        self.runner.drain(deadline_s=time.monotonic() + self.cfg.executor.shutdown_grace_s)
        self.runner.shutdown()
        self.exporter.stop()
        if self._scan_thread is not None:
            self._scan_thread.join(timeout=2.0)
        self.catalog.close()
        self.lock.release()
        log.info("daemon_stopped", processed=self.runner.counters.processed,
                 quarantined=self.runner.counters.quarantined)

    def run(self) -> None:
        self.initialize()
        try:
            self.loop()
        finally:
            self.shutdown()
