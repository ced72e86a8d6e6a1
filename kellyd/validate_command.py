"""`kellyd validate`, `kellyd splits` and `kellyd report`: the catalog's samples through
`kellyd.validate` and `kellyd.reports`, the same code the scheduled job runs.

They read the catalog with a read-only connection, so they work while the daemon runs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from kellyd.atomic import atomic_write_bytes
from kellyd.catalog import Catalog
from kellyd.config import Config
from kellyd.dataset import all_datasets, settings_of

BYTES_PER_GB = 1_000_000_000


def storage_budget_bytes(cfg: Config, dataset_id: str) -> int:
    """The share of the global budget left to this dataset: the budget minus what the others use."""
    from kellyd.validate.structure import folder_bytes

    others = sum(folder_bytes(cfg.dataset_root(d)) for d in all_datasets(cfg)
                 if d != dataset_id and cfg.dataset_root(d).is_dir())
    return max(0, int(cfg.reports.storage_budget_gb * BYTES_PER_GB) - others)


def write_attributions(root: Path, samples) -> Path | None:
    """reports/attributions.md and .html: the credits that the Freesound licences require."""
    from kellyd.freesound.attribution import attributions, render_html, render_markdown

    items = attributions([s.to_json() for s in samples if s.source.get("type") == "freesound"])
    if not items:
        return None
    reports = root / "reports"
    atomic_write_bytes(reports / "attributions.md", render_markdown(items).encode("utf-8"))
    atomic_write_bytes(reports / "attributions.html", render_html(items).encode("utf-8"))
    return reports / "attributions.md"


def validate(cfg: Config, dataset_id: str, *, full: bool | None = None):
    from kellyd.handlers.features import FEATURE_SCHEMA_VERSION
    from kellyd.reports import run_validation
    from kellyd.split_state import split_settings

    settings = settings_of(cfg, dataset_id)
    root = cfg.dataset_root(dataset_id)
    catalog = Catalog(cfg.catalog_path, readonly=True)
    try:
        samples = catalog.samples(dataset_id)
        quarantined = catalog.quarantined(dataset_id)
    finally:
        catalog.close()
    report, files = run_validation(
        samples, root, keep=cfg.reports.keep, target_model=settings.target_model,
        schema_version=FEATURE_SCHEMA_VERSION, now=datetime.now(timezone.utc),
        split_settings=split_settings(dataset_id, settings), quarantined=quarantined,
        storage_budget_bytes=storage_budget_bytes(cfg, dataset_id),
        verify_hashes=(cfg.validate.mode == "full") if full is None else full,
        workers=cfg.validate.workers, limits=cfg.validate, dataset_id=dataset_id)
    write_attributions(root, samples)
    return report, files


def write_splits(cfg: Config, dataset_id: str) -> dict[str, int]:
    """Write splits/*.txt from the catalog, in its order as the daemon's exporter writes them, and
    return the composition per split."""
    from kellyd.listing import read_snapshot, write_split_listings

    settings_of(cfg, dataset_id)
    catalog = Catalog(cfg.catalog_path, readonly=True)
    try:
        with read_snapshot(catalog):
            assignments = catalog.split_assignments(dataset_id)
            write_split_listings(catalog, dataset_id, cfg.dataset_root(dataset_id))
    finally:
        catalog.close()
    counts: dict[str, int] = {}
    for split in assignments.values():
        counts[split] = counts.get(split, 0) + 1
    return counts


def write_status_page(cfg: Config, output: Path | None = None) -> Path:
    from kellyd.reports import write_status_report
    from kellyd.schedule import job_blockers, scheduled_jobs
    from kellyd.status import collect_status

    catalog = Catalog(cfg.catalog_path, readonly=True)
    try:
        history = catalog.activity()
    finally:
        catalog.close()
    status = collect_status(cfg.catalog_path, cfg.paths.state, jobs=scheduled_jobs(cfg), blockers=job_blockers(cfg))
    now = datetime.now(timezone.utc)
    path = output or cfg.paths.state / "reports" / f"status-{now.strftime('%Y%m%dT%H%M%SZ')}.html"
    write_status_report(path, history, now=now, status=status)
    if output is None:
        write_status_report(path.with_name("status-latest.html"), history, now=now, status=status)
    return path


def write_dataset_reports(cfg: Config, dataset_id: str) -> list[Path]:
    """`kellyd report --dataset`: the status page and the attributions, beside the validation reports."""
    settings_of(cfg, dataset_id)
    root = cfg.dataset_root(dataset_id)
    written = [write_status_page(cfg, root / "reports" / "status-latest.html")]
    catalog = Catalog(cfg.catalog_path, readonly=True)
    try:
        samples = catalog.samples(dataset_id)
    finally:
        catalog.close()
    attributions = write_attributions(root, samples)
    if attributions is not None:
        written.append(attributions)
    return written
