"""One description per configuration key: used by `kellyd init` (commented TOML)
and checked against the README by the tests, so the docs cannot drift."""

from __future__ import annotations

import dataclasses
from typing import Any

import tomli_w

from kellyd import config as c

DOCS: dict[str, str] = {
    "paths.inbox": "folder watched for dropped files: inbox/<dataset>/<label folders>/<file>",
    "paths.staging": "the ~/.kelly staging area; Freesound pulls land in emotion_samples/<emotion>/<instrument>/",
    "paths.datasets": "where dataset folders are written (datasets/<id>/)",
    "paths.state": "the catalog (SQLite), lock, quarantine and caches",
    "watch.settle_s": "a file is ready when its size and mtime were still for this many seconds",
    "watch.rescan_s": "seconds between reconcile scans of the watched folders (also at start-up and after an overflow)",
    "watch.ignore": "file name patterns that are never samples (temporary, hidden, sidecar files)",
    "watch.polling": "use a polling observer (for network mounts where inotify sees nothing)",
    "watch.poll_interval_s": "how often the polling observer looks, in seconds",
    "executor.kind": "'local' (a process pool on this machine) or 'dask' (a Dask cluster)",
    "executor.workers": "worker processes; 0 means one per CPU core",
    "executor.address": "Dask scheduler address (tcp://host:8786) when kind = 'dask'",
    "executor.max_attempts": "a step that fails temporarily is retried (with backoff) this many times, then quarantined",
    "executor.shutdown_grace_s": "on SIGTERM, seconds to let running steps finish before they are stopped and resumed later",
    "executor.idle_workers_s": "local worker processes start with the first step and stop after this many seconds without one",
    "export.debounce_s": "while the daemon is busy, manifest.json is rewritten at most this often (seconds); "
                         "once it has no work left, what changed is written without waiting for it",
    "export.max_busy_share": "at most this share of time is spent rewriting manifests (large datasets export less often, but at least every few seconds)",
    "schedule.validate": "when to validate every dataset: 'off', an interval ('6h') or a cron line ('0 3 * * *')",
    "schedule.retrain": "when to consider retraining (runs only if the dataset changed and validation passed)",
    "schedule.freesound": "when to pull from Freesound",
    "schedule.synthesize": "when to synthesize what each dataset still lacks to reach its model's targets",
    "schedule.synthesize_max_pieces": "most synthetic pieces one scheduled fill writes per dataset",
    "schedule.validate_after_samples": "validate early once a dataset holds this many more original samples than its "
                                       "last validation report counted, and 10 % more than it counted, once the files in flight are done (augmented children do not count; 0: never)",
    "schedule.misfire_grace_s": "a job missed while the machine slept still runs if it is at most this late",
    "logging.format": "'auto' (readable on a terminal, JSON lines otherwise), 'console' or 'json'",
    "logging.level": "'debug', 'info', 'warning' or 'error'",
    "limits.max_file_mb": "largest input file accepted, in MiB; a larger one is quarantined without being read",
    "limits.max_midi_mb": "largest MIDI file accepted, in MiB",
    "limits.max_midi_duration_s": "longest MIDI file accepted, in seconds of music",
    "limits.max_midi_notes": "most notes a MIDI file may hold",
    "limits.max_audio_analysis_s": "audio features are computed on at most this many seconds from the start of a file",
    "limits.max_audio_augment_s": "audio augmentation reads and writes at most this many seconds of a file",
    "limits.max_sidecar_kb": "largest JSON sidecar accepted, in KiB",
    "limits.step_timeout_s": "a step running longer than this is stopped with its worker, retried once, then quarantined",
    "reports.keep": "how many validation reports to keep per dataset (older ones are pruned)",
    "reports.storage_budget_gb": "storage budget for all datasets together, checked by validation",
    "validate.mode": "'cheap' (trust files whose size and mtime match the last run) or 'full' (hash and parse all)",
    "validate.workers": "threads that check files during validation",
    "validate.min_balance_ratio": "smallest / largest class count below which the classes are called imbalanced (warning)",
    "validate.min_entropy": "normalised entropy of keys, modes or tempo bins below which diversity is called low (warning)",
    "validate.max_split_share_error": "how far a split's share of the originals may drift from its ratio (warning)",
    "validate.min_samples_for_ratio_check": "below this many originals, split shares are not judged",
    "validate.storage_warn_share": "share of the storage budget that earns a note",
    "validate.max_listed": "how many affected samples one reason lists (its count is always complete)",
    "validate.max_class_share_drift": "how far a class's share in one split may sit from its share overall (warning)",
    "validate.min_split_for_balance": "splits with fewer originals than this are not judged for class shares",
    "freesound.enabled": "run Freesound pulls at all",
    "freesound.base_url": "the API root (http or https; point it at another server for tests)",
    "freesound.dataset": "the dataset that staged files feed",
    "freesound.emotions": "query emotions (names of the taxonomy)",
    "freesound.include_sub_emotions": "each listed base emotion also queries its six sub-emotions",
    "freesound.instruments": "query instruments; one query per emotion x instrument",
    "freesound.target_per_combination": "sounds wanted per (emotion, instrument)",
    "freesound.max_mb_per_combination": "size budget per combination, on bytes actually downloaded (MB = 10**6 bytes)",
    "freesound.min_duration_s": "shortest sound searched for",
    "freesound.max_duration_s": "longest sound searched for",
    "freesound.licenses": "licence families allowed (Creative Commons 0, Attribution, Attribution NonCommercial, Sampling+)",
    "freesound.sort": "search order",
    "freesound.page_size": "results per search page (1 to 150)",
    "freesound.requests_per_minute": "one limiter over every request",
    "freesound.requests_per_day": "rolling 24 h limit, kept across restarts",
    "freesound.timeout_s": "timeout of each socket operation",
    "freesound.max_retries": "retries of 5xx answers, timeouts and dropped connections",
    "freesound.backoff_base_s": "first retry delay (exponential, with jitter)",
    "freesound.backoff_max_s": "longest retry delay",
    "freesound.max_retry_after_s": "longest wait accepted (Retry-After or the daily limit); longer ends the pull for now",
    "freesound.download": "'preview' (preview-hq-mp3) or 'original' (needs an OAuth2 token)",
    "freesound.key_file": "JSON file with {\"freesound_api_key\": \"...\"}; FREESOUND_API_KEY wins",
    "freesound.oauth_token_env": "environment variable holding an OAuth2 access token for originals",
    "datasets.<id>.target_model": "EmotionRecognizer, MelodyTransformer, HarmonyPredictor, DynamicsEngine or GroovePredictor",
    "datasets.<id>.chain": "handlers run on each file, in order (import, annotate, features, augment)",
    "datasets.<id>.labels": "a closed label set: files whose label is not listed are rejected (empty: open)",
    "datasets.<id>.label_key": "the annotation the model learns and splits are stratified by (default per model)",
    "datasets.<id>.multiplier": "children made by augmentation per training sample",
    "datasets.<id>.augment_transforms": "the transforms augmentation draws from, each with its range ([low, high] or one value); absent: all, at their default ranges",
    "datasets.<id>.splits": "train, val, test ratios",
    "datasets.<id>.group_by": "regular expression with a (?P<group>...) over the file name: a group stays in one split",
    "datasets.<id>.on_import": "'move' (the inbox drains) or 'copy' (originals stay)",
    "datasets.<id>.sample_rate_hz": "audio is decoded at this rate for features and augmentation",
    "datasets.<id>.kind": "'clip' or 'song': a song dataset's default chain is import, annotate, analyze, features",
    "datasets.<id>.stems": "stems of the analyze step: 'hpss' (offline, no weights), 'demucs' (when its weights are on disk, else hpss) or 'off'",
    "datasets.<id>.demucs_model": "a Demucs model file (.th) or folder; empty: the default model in torch's hub cache",
    "datasets.<id>.notes": "audio-to-notes of the analyze step: 'auto' (Basic Pitch if installed, else 'cqt'), 'basic_pitch', 'cqt' or 'off'",
}

SECTIONS = {"paths": c.PathsConfig, "watch": c.WatchConfig, "executor": c.ExecutorConfig, "export": c.ExportConfig,
            "schedule": c.ScheduleConfig, "logging": c.LoggingConfig, "reports": c.ReportsConfig,
            "validate": c.ValidateConfig, "limits": c.LimitsConfig}


def _toml_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def section_defaults(cls: type) -> dict[str, Any]:
    return {f.name: _toml_value(f.default) for f in dataclasses.fields(cls)}


def default_config_text() -> str:
    """A complete, commented config.toml with every default."""
    from kellyd.freesound.settings import FreesoundSettings

    parts = ["# kellyd configuration. Every key is optional; the values below are the defaults.\n"
             "# Relative paths are resolved against this file's folder.\n"]

    def block(name: str, values: dict[str, Any], doc_prefix: str) -> str:
        lines = [f"# {k}: {DOCS.get(f'{doc_prefix}.{k}', '')}" for k in values]
        values = {k: v for k, v in values.items() if v is not None}  # TOML has no null: such a key is left out
        return "\n" + "\n".join(lines) + "\n" + tomli_w.dumps({name: values} if "." not in name else
                                                              {name.split(".")[0]: {name.split(".")[1]: values}})

    for name, cls in SECTIONS.items():
        values = section_defaults(cls)
        if cls is c.PathsConfig:  # named, so that the file says where this user's folders are
            from kellyd.locations import default_folders, home_relative

            values.update({key: home_relative(folder) for key, folder in default_folders().items()})
        parts.append(block(name, values, name))
    dataset = section_defaults(c.DatasetConfig)
    parts.append(block("datasets.emotion_dataset_v1", dataset, "datasets.<id>"))
    parts.append(block("freesound", {k: v for k, v in section_defaults(FreesoundSettings).items() if v is not None},
                       "freesound"))
    from kellyd.train.settings import KEY_DOCS, _TopLevel

    training = section_defaults(_TopLevel)
    comments = "\n".join(f"# {k}: {KEY_DOCS[k]}" for k in training)
    parts.append(f"\n{comments}\n# per model, [training.<Model>]: "
                 + "; ".join(k.split(".")[1] for k in KEY_DOCS if k.startswith("<Model>."))
                 + " (see README.md)\n" + tomli_w.dumps({"training": training}))
    return "".join(parts)
