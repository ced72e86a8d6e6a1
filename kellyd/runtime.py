"""What the runner holds per dataset (its handlers, split assigner and context), the settled files
it turns into jobs, and its counters."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from kellyd.catalog import Catalog
from kellyd.config import Config, DatasetConfig
from kellyd.dataset_folder import FolderIdentity, folder_identity
from kellyd.handlers.base import DatasetContext, Handler
from kellyd.handlers.registry import build_chain
from kellyd.routing import Route
from kellyd.settle import Ready
from kellyd.split_state import SplitAssigner

log = structlog.get_logger("kellyd.runner")


@dataclass
class DatasetRuntime:
    """Everything the runner needs about one dataset."""

    dataset_id: str
    settings: DatasetConfig
    ctx: DatasetContext
    handlers: dict[str, Handler]
    splits: SplitAssigner
    # The folder laid out for the dataset (`kellyd.dataset_folder`): its jobs wait while another, or none, is there.
    root_identity: FolderIdentity | None = None


@dataclass(frozen=True)
class NewFile:
    """A settled file and where it goes. `on_import` None means the dataset's setting."""

    path: str
    size: int
    mtime_ns: int
    dataset_id: str
    label_dirs: tuple[str, ...]
    source_type: str = "inbox"
    on_import: str | None = None

    @classmethod
    def routed(cls, ready: Ready, route: Route) -> "NewFile":
        if route.from_staging:
            return cls(ready.path, ready.size, ready.mtime_ns, route.dataset_id, route.label_dirs, "freesound", "copy")
        return cls(ready.path, ready.size, ready.mtime_ns, route.dataset_id, route.label_dirs)


@dataclass
class Counters:
    processed: int = 0
    errors: int = 0
    duplicates: int = 0
    quarantined: int = 0
    samples_added: int = 0
    children_added: int = 0
    step_seconds: dict[str, float] = field(default_factory=dict)
    worker_deaths: int = 0


def dataset_context(cfg: Config, dataset_id: str, settings: DatasetConfig) -> DatasetContext:
    return DatasetContext(dataset_id=dataset_id, root=cfg.dataset_root(dataset_id),
                          settings={"target_model": settings.target_model}, limits=cfg.limits)


def build_runtime(cfg: Config, dataset_id: str, settings: DatasetConfig, catalog: Catalog, *,
                  clean_temp_files: bool = True) -> DatasetRuntime:
    """`clean_temp_files` only where no step can be running (start-up): a reload builds while workers write."""
    from kellyd.atomic import remove_stale_temp_files
    from kellyd.dataset import create_layout
    from kellyd.unrouted import make_inbox_folder

    root = cfg.dataset_root(dataset_id)
    create_layout(root, dataset_id, settings)
    # Whatever else holds the inbox folder's name (a link, a file) stays: the daemon's inbox check says so.
    make_inbox_folder(cfg.paths.inbox / dataset_id)
    if clean_temp_files and (removed := remove_stale_temp_files(root)):
        log.info("stale_temp_files_removed", dataset=dataset_id, count=removed)
    ctx = dataset_context(cfg, dataset_id, settings)
    return DatasetRuntime(dataset_id, settings, ctx, build_chain(ctx, settings),
                          SplitAssigner.load(catalog, dataset_id, settings), folder_identity(root))
