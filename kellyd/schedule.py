"""Scheduled jobs inside the daemon: validation, Freesound pulls, retraining.

APScheduler runs them with coalescing, one instance at a time and a generous
misfire grace. Each job runs the same `kellyd` command a user would type, in
its own subprocess at a lower priority, so the daemon process never holds
their memory or their imports (torch above all). Outcomes go to the catalog,
where `kellyd status` reads the last and next runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from dataclasses import dataclass
from typing import Callable

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from kellyd.catalog import Catalog
from kellyd.config import Config, parse_interval_s

log = structlog.get_logger("kellyd.schedule")

EXIT_SKIPPED = 4  # kellyd.cli: the job had nothing to do, or no credentials
JOB_NICE = 5  # validation and pulls; training takes `[training] nice`
DETAIL_CHARS = 2000


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


def run_commands(commands: list[list[str]], *, nice: int, timeout_s: float = 6 * 3600) -> tuple[str, str]:
    """Run each command at `nice`; ('ok' | 'skipped' | 'failed', detail)."""
    details = []
    status = "ok"
    for cmd in commands:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              preexec_fn=lambda: os.nice(nice))
        if proc.returncode == EXIT_SKIPPED and status == "ok":
            status = "skipped"
        elif proc.returncode not in (0, EXIT_SKIPPED):
            status = "failed"
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        details.append(f"{' '.join(cmd[cmd.index('--config') + 2:])}: exit {proc.returncode}: {' | '.join(tail)}")
    return status, "\n".join(details)[-DETAIL_CHARS:]


class DaemonScheduler:
    def __init__(self, cfg: Config, *, runner_fn: Callable[..., tuple[str, str]] = run_commands):
        self.cfg = cfg
        self.run_fn = runner_fn
        self.scheduler = BackgroundScheduler(timezone=timezone.utc, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": int(cfg.schedule.misfire_grace_s)})
        self._new_samples: dict[str, int] = {}

    def start(self) -> None:
        self._add_jobs(self.cfg)
        self.scheduler.start()
        self._record_next_runs()

    def _add_jobs(self, cfg: Config) -> None:
        for job_id, job in job_commands(cfg).items():
            trigger = trigger_for(job.schedule)
            if trigger is None or not job.commands:
                continue
            self.scheduler.add_job(self._run, trigger, args=(job_id,), id=job_id, replace_existing=True)

    def _run(self, job_id: str) -> None:
        job = job_commands(self.cfg)[job_id]
        started = time.time()
        log.info("scheduled_job_started", job=job_id)
        try:
            status, detail = self.run_fn(job.commands, nice=job.nice)
        except Exception as exc:  # the scheduler thread must survive any job
            status, detail = "failed", f"{type(exc).__name__}: {exc}"
        log.info("scheduled_job_finished", job=job_id, status=status, seconds=round(time.time() - started, 1))
        self._record(job_id, started, status, detail)

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

    def after_samples(self, new_counts: dict[str, int]) -> None:
        """Run validation early once enough new samples arrived since the last run."""
        threshold = self.cfg.schedule.validate_after_samples
        if not new_counts or threshold == 0:
            return
        for dataset_id, n in new_counts.items():
            self._new_samples[dataset_id] = self._new_samples.get(dataset_id, 0) + n
        if max(self._new_samples.values()) >= threshold:
            self._new_samples.clear()
            job = self.scheduler.get_job("validate")
            if job is not None:
                job.modify(next_run_time=datetime.now(timezone.utc))
            else:
                self.scheduler.add_job(self._run, args=("validate",), id="validate-now", replace_existing=True)

    def reconfigure(self, cfg: Config) -> None:
        self.cfg = cfg
        self.scheduler.remove_all_jobs()
        self._add_jobs(cfg)
        self._record_next_runs()

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)
