"""Scheduled jobs inside the daemon: validation, Freesound pulls, retraining.

APScheduler runs them with coalescing, one instance at a time and a generous
misfire grace. Each job runs the same `kellyd` command a user would type, in
its own subprocess at a lower priority, so the daemon process never holds
their memory or their imports (torch above all). Outcomes go to the catalog,
where `kellyd status` reads the last and next runs.

When a job runs is a pure function of its schedule, its last run (from the catalog) and
now (`first_run_s`): a run missed while the daemon was down runs at start, an interval
counts from the last run rather than from the start, and a reload (SIGHUP) keeps the
next run of every job whose schedule did not change. Whether a job can run at all (a
Freesound key, torch for retraining) is checked at start (`job_blockers`) and logged,
so a missing key shows in the log and in `kellyd status` at once, not 12 hours later.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from kellyd.catalog import Catalog
from kellyd.config import Config, parse_interval_s
from kellyd.exitcodes import EXIT_OK, EXIT_QUARANTINED, EXIT_SKIPPED

log = structlog.get_logger("kellyd.schedule")

JOB_NICE = 5  # validation and pulls; training takes `[training] nice`
DETAIL_CHARS = 2000
# Exit codes of a job's command that still count as a finished run (quarantined files are
# listed by `kellyd status` and the validation report, not a failed job).
FINISHED_CODES = (EXIT_OK, EXIT_QUARANTINED)
# A stopping daemon gives a running job's command this long to exit on SIGTERM before it kills it.
JOB_STOP_GRACE_S = 5.0
# After its command ended, a job records its end in the catalog; shutdown waits this long for that.
JOB_RECORD_WAIT_S = 15.0
# How often the daemon compares each dataset's originals with the last validation's count.
AFTER_SAMPLES_CHECK_S = 30.0
# An early validation also waits for the dataset to grow by this share of what the last one counted:
# a validation reads every sample, so one every `validate_after_samples` files would cost each new
# file a share that grows with the dataset; waiting for a fixed share keeps it constant per file.
VALIDATE_GROWTH_SHARE = 0.1


def trigger_for(spec: str):
    """An APScheduler trigger for 'off' (None), an interval ('6h') or a cron line."""
    if spec.strip().lower() == "off":
        return None
    if len(spec.split()) == 5:
        return CronTrigger.from_crontab(spec, timezone=timezone.utc)
    return IntervalTrigger(seconds=parse_interval_s("schedule", spec), timezone=timezone.utc)


@dataclass(frozen=True)
class JobSpec:
    schedule: str
    commands: list[list[str]]
    nice: int


def job_commands(cfg: Config) -> dict[str, JobSpec]:
    """job id -> when it runs, the commands it runs in order, and their niceness."""
    base = [sys.executable, "-m", "kellyd", "--config", str(cfg.source)]
    datasets = sorted(cfg.datasets)
    return {
        "validate": JobSpec(cfg.schedule.validate, [base + ["validate", "--dataset", d] for d in datasets],
                            JOB_NICE),
        "freesound": JobSpec(cfg.schedule.freesound, [base + ["freesound", "pull"]], JOB_NICE),
        "synthesize": JobSpec(cfg.schedule.synthesize,
                              [base + ["synthesize", "--dataset", d, "--quiet", "--fill-to-target",
                                       str(cfg.schedule.synthesize_max_pieces)] for d in datasets], JOB_NICE),
        "retrain": JobSpec(cfg.schedule.retrain,
                           [base + ["train", "--dataset", d, "--if-changed"] for d in datasets], cfg.training.nice),
    }


def first_run_s(trigger, *, last_run_s: float | None, now_s: float) -> float | None:
    """When a job with `trigger` should next run, given its last run (None: never ran) and now.

    A fire time that fell between the last run and now was missed (the daemon was down): run now.
    Otherwise the trigger's next fire time after the last run (interval triggers are anchored
    there by `anchored_trigger`), or after now for a job that never ran.
    """
    now = datetime.fromtimestamp(now_s, timezone.utc)
    if last_run_s is None:
        nxt = trigger.get_next_fire_time(None, now)
        return None if nxt is None else nxt.timestamp()
    after_last = trigger.get_next_fire_time(None, datetime.fromtimestamp(last_run_s, timezone.utc))
    if after_last is None:
        return None
    return now_s if after_last.timestamp() <= now_s else after_last.timestamp()


def anchored_trigger(spec: str, *, last_run_s: float | None, now_s: float):
    """`trigger_for(spec)`, with an interval counted from the last run (else from now)."""
    trigger = trigger_for(spec)
    if isinstance(trigger, IntervalTrigger):
        interval_s = trigger.interval.total_seconds()
        start_s = (last_run_s if last_run_s is not None else now_s) + interval_s
        trigger = IntervalTrigger(seconds=interval_s, start_date=datetime.fromtimestamp(start_s, timezone.utc),
                                  timezone=timezone.utc)
    return trigger


def job_blockers(cfg: Config, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """job id -> why a scheduled job cannot do its work now (only jobs that are scheduled).

    Cheap and without network: a Freesound key that is missing, torch that is not installed,
    no dataset to work on.
    """
    import importlib.util

    blockers: dict[str, str] = {}
    specs = {"validate": cfg.schedule.validate, "freesound": cfg.schedule.freesound,
             "synthesize": cfg.schedule.synthesize, "retrain": cfg.schedule.retrain}
    scheduled = {job for job, spec in specs.items() if spec.strip().lower() != "off"}
    for job in scheduled & {"validate", "synthesize", "retrain"}:
        if not cfg.datasets:
            blockers[job] = "no datasets configured"
    if "freesound" in scheduled:
        if not cfg.freesound.enabled:
            blockers["freesound"] = "Freesound: pulls disabled ([freesound] enabled = false)"
        else:
            from kellyd.freesound.credentials import load_api_key

            found = load_api_key(cfg.freesound, environ)
            if found.key is None:
                blockers["freesound"] = f"Freesound: no API key ({found.problem or found.source})"
    if "retrain" in scheduled and "retrain" not in blockers:
        try:
            has_torch = importlib.util.find_spec("torch") is not None
        except (ImportError, ValueError):
            has_torch = False
        if not has_torch:
            blockers["retrain"] = "retrain: torch is not installed (the kellyd[train] extra)"
    return blockers


def validation_due(originals_now: Mapping[str, int], originals_validated: Mapping[str, int],
                   threshold: int) -> list[str]:
    """Datasets whose original samples grew by `threshold`, and by VALIDATE_GROWTH_SHARE of the last
    count, or more since their last validation (the report's `original_count`; 0 when never validated).
    0 turns the trigger off."""
    if threshold <= 0:
        return []

    def grown_enough(dataset_id: str, count: int) -> bool:
        last = originals_validated.get(dataset_id, 0)
        return count - last >= max(threshold, VALIDATE_GROWTH_SHARE * last)

    return sorted(d for d, n in originals_now.items() if grown_enough(d, n))


def read_originals(catalog_path: Path) -> dict[str, int]:
    """dataset -> original (not augmented) samples in the catalog, read-only."""
    try:
        db = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return {}
    try:  # the counts the catalog keeps (a key lookup; COUNT(*) walked the whole dataset after every commit)
        return dict(db.execute("SELECT dataset_id, originals FROM sample_counts WHERE originals + derived > 0"))
    except sqlite3.Error:
        return {}
    finally:
        db.close()


def validated_originals(cfg: Config) -> dict[str, int]:
    """dataset -> `original_count` of its last validation report (datasets without one are left out)."""
    counts = {}
    for dataset_id in cfg.datasets:
        try:
            data = json.loads((cfg.dataset_root(dataset_id) / "reports" / "latest.json").read_bytes())
            counts[dataset_id] = int(data["original_count"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return counts


def last_runs(catalog_path: Path) -> dict[str, float]:
    """job id -> the time of its last run, from the catalog."""
    try:
        db = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return {}
    try:
        return {job: at for job, at in db.execute("SELECT job, last_run FROM schedule_runs") if at is not None}
    except sqlite3.Error:
        return {}
    finally:
        db.close()


def scheduled_jobs(cfg: Config) -> dict[str, str]:
    """job id -> its schedule, for the jobs that are not off."""
    return {job_id: job.schedule for job_id, job in job_commands(cfg).items()
            if trigger_for(job.schedule) is not None}


class JobProcesses:
    """Runs the scheduled jobs' commands, and ends the ones still running when the daemon stops.

    A validation of a large dataset or a training run takes minutes to hours; a daemon told to stop
    must not wait for it (a service manager kills what outlives its stop timeout), nor leave it
    writing to the datasets after it released their lock. A command ended this way counts as failed
    and runs again at its next time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self._stopping = False

    def run(self, commands: list[list[str]], *, nice: int, timeout_s: float = 6 * 3600) -> tuple[str, str]:
        """Run each command at `nice`; ('ok' | 'skipped' | 'failed', detail)."""
        details = []
        status = "ok"
        for cmd in commands:
            with self._lock:
                if self._stopping:
                    return "failed", "\n".join([*details, "the daemon stopped before the rest ran"])[-DETAIL_CHARS:]
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        stdin=subprocess.DEVNULL, preexec_fn=lambda: os.nice(nice))
                self._running.add(proc)
            try:
                try:
                    out, err = proc.communicate(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    out, err = proc.communicate()
            finally:
                with self._lock:
                    self._running.discard(proc)
            if proc.returncode == EXIT_SKIPPED and status == "ok":
                status = "skipped"
            elif proc.returncode not in (*FINISHED_CODES, EXIT_SKIPPED):
                status = "failed"
            tail = (out + err).strip().splitlines()[-3:]
            details.append(f"{' '.join(cmd[cmd.index('--config') + 2:])}: exit {proc.returncode}: {' | '.join(tail)}")
        return status, "\n".join(details)[-DETAIL_CHARS:]

    def stop(self, grace_s: float) -> int:
        """End every running command: SIGTERM, then SIGKILL after `grace_s`. Returns how many were running."""
        with self._lock:
            self._stopping = True
            running = list(self._running)
        for proc in running:
            proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc in running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        return len(running)


class DaemonScheduler:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.processes = JobProcesses()
        self._running_jobs = 0  # jobs between start and their recorded end (see shutdown)
        self._jobs_changed = threading.Condition()
        self.scheduler = BackgroundScheduler(timezone=timezone.utc, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": int(cfg.schedule.misfire_grace_s)})
        self._specs: dict[str, str] = {}
        self._validated: dict[str, int] = {}
        self._next_check_s = 0.0
        self._samples_unchecked = False  # the runner added samples since the last after_samples check
        self.blockers: dict[str, str] = {}

    def start(self) -> None:
        self._validated = validated_originals(self.cfg)
        self._add_jobs(self.cfg, keep=())
        self.scheduler.start()
        self._record_next_runs()
        self._log_blockers()

    def _log_blockers(self) -> None:
        self.blockers = job_blockers(self.cfg)
        for job_id, why in sorted(self.blockers.items()):
            log.warning("scheduled_job_cannot_run", job=job_id, reason=why)

    def _add_jobs(self, cfg: Config, *, keep: tuple[str, ...]) -> None:
        """Add every scheduled job but those in `keep` (left as they are, next run included)."""
        now_s = time.time()
        runs = last_runs(cfg.catalog_path)
        self._specs = {}
        for job_id, job in job_commands(cfg).items():
            if trigger_for(job.schedule) is None or not job.commands:
                continue
            self._specs[job_id] = job.schedule
            if job_id in keep:
                continue
            trigger = anchored_trigger(job.schedule, last_run_s=runs.get(job_id), now_s=now_s)
            first = first_run_s(trigger, last_run_s=runs.get(job_id), now_s=now_s)
            if first is not None and runs.get(job_id) is not None and first <= now_s:
                log.info("scheduled_job_missed", job=job_id, last_run=runs[job_id])
            self.scheduler.add_job(self._run, trigger, args=(job_id,), id=job_id, replace_existing=True,
                                   next_run_time=None if first is None else datetime.fromtimestamp(first, timezone.utc))

    def _run(self, job_id: str) -> None:
        with self._jobs_changed:
            self._running_jobs += 1
        try:
            self._run_job(job_id)
        finally:
            with self._jobs_changed:
                self._running_jobs -= 1
                self._jobs_changed.notify_all()

    def _run_job(self, job_id: str) -> None:
        job = job_commands(self.cfg)[job_id]
        started = time.time()
        log.info("scheduled_job_started", job=job_id)
        try:
            status, detail = self.processes.run(job.commands, nice=job.nice)
        except Exception as exc:  # the scheduler thread must survive any job
            status, detail = "failed", f"{type(exc).__name__}: {exc}"
        log.info("scheduled_job_finished", job=job_id, status=status, seconds=round(time.time() - started, 1))
        self._record(job_id, started, status, detail)
        if job_id.startswith("validate"):
            for dataset_id, n in validated_originals(self.cfg).items():
                self._validated[dataset_id] = max(n, self._validated.get(dataset_id, 0))

    def _record(self, job_id: str, started: float, status: str, detail: str) -> None:
        from kellyd.freesound.credentials import register_credentials
        from kellyd.freesound.redact import scrub_text

        # The detail is a command's output, stored and shown by `kellyd status`: it never keeps a
        # credential, even one the command printed (the daemon learns the values to scrub here).
        register_credentials(self.cfg.freesound)
        detail = scrub_text(detail)
        catalog = Catalog(self.cfg.catalog_path)
        try:
            with catalog.transaction():
                catalog.record_schedule_run(job_id, at=started, status=status, detail=detail,
                                            next_run=self._next_run(job_id))
        finally:
            catalog.close()

    def _next_run(self, job_id: str) -> float | None:
        job = self.scheduler.get_job(job_id)
        return job.next_run_time.timestamp() if job is not None and job.next_run_time else None

    def _record_next_runs(self) -> None:
        catalog = Catalog(self.cfg.catalog_path)
        try:
            with catalog.transaction():
                for job_id in job_commands(self.cfg):
                    catalog.set_next_run(job_id, self._next_run(job_id))
        finally:
            catalog.close()

    def after_samples(self, new_counts: Mapping[str, int] | None = None, *, busy: bool = False,
                      now_s: float | None = None) -> list[str]:
        """Run validation early once a dataset has `validate_after_samples` more originals than its last
        validation counted. Counted in the catalog, as the report counts them, so samples another process
        added (a synthesize job, `kellyd import`) count too; checked at most every AFTER_SAMPLES_CHECK_S
        unless the runner added samples since the last check. While the runner is `busy` (files in
        flight or settling) nothing is checked: a validation in the middle of a burst would take a core
        from it and judge a dataset that is still changing; the check runs once the burst is done. A
        stream that never pauses is validated at the job's scheduled times. Returns the datasets found due."""
        now_s = time.time() if now_s is None else now_s
        threshold = self.cfg.schedule.validate_after_samples
        if threshold == 0:
            return []
        self._samples_unchecked = self._samples_unchecked or bool(new_counts)
        if busy or (not self._samples_unchecked and now_s < self._next_check_s):
            return []
        self._samples_unchecked = False
        self._next_check_s = now_s + AFTER_SAMPLES_CHECK_S
        originals = read_originals(self.cfg.catalog_path)
        due = validation_due(originals, self._validated, threshold)
        if not due:
            return []
        for dataset_id in due:  # the next early run waits for `threshold` more, even if this one fails
            self._validated[dataset_id] = originals[dataset_id]
        log.info("validation_triggered_by_samples", datasets=due, threshold=threshold)
        job = self.scheduler.get_job("validate")
        if job is not None:
            job.modify(next_run_time=datetime.now(timezone.utc))
        else:
            self.scheduler.add_job(self._run, args=("validate",), id="validate-now", replace_existing=True)
        return due

    def reconfigure(self, cfg: Config) -> None:
        """A reload (SIGHUP): jobs whose schedule is unchanged keep their next run; the others are
        scheduled again from their last run."""
        old_specs = dict(self._specs)
        self.cfg = cfg
        new_specs = {job_id: job.schedule for job_id, job in job_commands(cfg).items()
                     if trigger_for(job.schedule) is not None and job.commands}
        keep = tuple(j for j, spec in new_specs.items() if old_specs.get(j) == spec and self.scheduler.get_job(j))
        for job in self.scheduler.get_jobs():
            if job.id not in keep:
                job.remove()
        self._add_jobs(cfg, keep=keep)
        self._record_next_runs()
        self._log_blockers()

    def shutdown(self, *, grace_s: float = JOB_STOP_GRACE_S) -> None:
        """Stop starting jobs, end the running ones (see JobProcesses) and wait for their threads to record it."""
        if self.scheduler.running:
            self.scheduler.pause()
        ended = self.processes.stop(grace_s)
        if ended:
            log.warning("scheduled_jobs_ended", count=ended, reason="the daemon is stopping", runs_again="at its next time")
        # Waited for here, not by APScheduler's shutdown(wait=True): that holds the job store's lock while it
        # waits, and a finishing job reads its next run time under the same lock (a deadlock).
        with self._jobs_changed:
            if not self._jobs_changed.wait_for(lambda: self._running_jobs == 0, timeout=JOB_RECORD_WAIT_S):
                log.warning("scheduled_job_not_recorded", reason="still recording its end at shutdown")
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
