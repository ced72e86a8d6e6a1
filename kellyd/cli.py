"""The `kellyd` command line. Heavy modules are imported inside each command,
so `kellyd status` and `kellyd --help` start fast."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kellyd import __version__
from kellyd.atomic import DatasetFolderGone
from kellyd.errors import AlreadyRunning, ConfigError, KellydError, MissingExtra

from kellyd.exitcodes import (  # one table of exit codes (README, "Exit codes")
    EXIT_BROKEN_PIPE, EXIT_BUSY, EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_NO_DAEMON, EXIT_OK,
    EXIT_SKIPPED, batch_exit_code,
)
GENERATORS = ("emotion", "melody", "harmony", "groove", "dynamics")
TORCH_HINT = "README, 'Training needs kellyd[train]': the CPU-only build of torch"


def _config(args):
    from kellyd.config import load_config

    return load_config(args.config)


def cmd_run(args) -> int:
    cfg = _config(args)
    from kellyd.locations import make_folders

    make_folders(cfg.paths.folders)
    from kellyd.daemon import Daemon
    from kellyd.log import configure_logging

    configure_logging(cfg.logging.format, cfg.logging.level)
    Daemon(cfg, config_path=cfg.source).run()
    return EXIT_OK


def cmd_status(args) -> int:
    from kellyd.schedule import job_blockers, scheduled_jobs
    from kellyd.status import collect_status, render_status, status_json

    cfg = _config(args)
    status = collect_status(cfg.catalog_path, cfg.paths.state, jobs=scheduled_jobs(cfg), blockers=job_blockers(cfg),
                            unrouted=_unrouted(cfg))
    print(_scrubbed(cfg, status_json(status) if args.json else render_status(status)))
    if status.get("catalog_error"):
        return EXIT_FAILED
    # A batch command or a training may hold the lock; only the daemon does the scheduled work.
    return EXIT_OK if "daemon" in (status.get("daemon") or "") else EXIT_NO_DAEMON


def _unrouted(cfg) -> list:
    """What the inbox holds outside every dataset's folder (`kellyd.unrouted`), as the daemon sees it."""
    from kellyd.dataset import datasets_on_disk
    from kellyd.unrouted import unrouted_entries

    refused: dict = {}
    known = {*cfg.datasets, *datasets_on_disk(cfg.paths.datasets, cfg.datasets, refused=refused), *refused}
    return unrouted_entries(cfg.paths.inbox, known, cfg.watch.ignore)


def _scrubbed(cfg, text: str) -> str:
    """`text` without the Freesound credentials `cfg` points at (stored run details predate any scrubbing)."""
    from kellyd.freesound.credentials import register_credentials
    from kellyd.freesound.redact import scrub_text

    register_credentials(cfg.freesound)
    return scrub_text(text)


def torch_installed() -> bool:
    """Whether the `train` extra's torch can be found, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except ImportError:
        return False


def cmd_catalog_rebuild(args) -> int:
    from kellyd.log import configure_logging
    from kellyd.rebuild import rebuild_command

    cfg = _config(args)
    configure_logging(cfg.logging.format, "warning")
    report = rebuild_command(cfg, force=args.force)
    print(json.dumps(report.to_json()))
    return EXIT_OK


def cmd_config_check(args) -> int:
    from kellyd.locations import missing_folders

    cfg = _config(args)
    datasets = f"{len(cfg.datasets)} datasets: {', '.join(sorted(cfg.datasets))}" if cfg.datasets else \
        "no datasets configured; `kellyd dataset create NAME --target-model MODEL` makes one"
    print(f"{cfg.source}: OK ({datasets})")
    for folder in missing_folders(cfg.paths.folders):
        print(f"  {folder} does not exist yet; `kellyd run` creates it")
    if cfg.schedule.retrain.strip().lower() != "off" and not torch_installed():
        print(f"  warning: schedule.retrain is set, but {MissingExtra('train', 'torch', 'training', TORCH_HINT)}")
    return EXIT_OK


def cmd_init(args) -> int:
    from kellyd.config_docs import default_config_text
    from kellyd.locations import init_target, make_folders

    target = init_target(args.path, args.config)
    if target.exists() and not args.force:
        print(f"{target} exists; use --force to overwrite", file=sys.stderr)
        return EXIT_FAILED
    from kellyd.atomic import atomic_write_bytes
    from kellyd.config import load_config

    atomic_write_bytes(target, default_config_text().encode("utf-8"))
    print(f"wrote {target}")
    for folder in make_folders(load_config(target).paths.folders):
        print(f"created {folder}")
    return EXIT_OK


def cmd_dataset_create(args) -> int:
    from kellyd.config import DATASET_ID_RULE, TARGET_MODELS, DatasetConfig, is_dataset_id
    from kellyd.dataset import create_layout
    from kellyd.unrouted import make_inbox_folder

    cfg = _config(args)
    if not is_dataset_id(args.name):  # a path (`../x`, `a/b`) or a hidden name would land outside datasets/
        raise ConfigError("NAME", f"{DATASET_ID_RULE}, got {args.name!r}")
    if args.target_model not in TARGET_MODELS:
        raise ConfigError("--target-model", f"must be one of {', '.join(TARGET_MODELS)}")
    settings = cfg.datasets.get(args.name) or DatasetConfig(target_model=args.target_model,
                                                            labels=tuple(args.labels or ()))
    create_layout(cfg.dataset_root(args.name), args.name, settings)
    cfg.paths.inbox.mkdir(parents=True, exist_ok=True)
    print(f"created {cfg.dataset_root(args.name)} (drop files into {cfg.paths.inbox / args.name}/<label>/)")
    if (problem := make_inbox_folder(cfg.paths.inbox / args.name)) is not None:
        print(f"kellyd: {problem}", file=sys.stderr)
    return EXIT_OK


def cmd_import(args) -> int:
    from kellyd.batch import import_folder
    from kellyd.log import configure_logging

    cfg = _config(args)
    configure_logging(cfg.logging.format, "warning")
    result = import_folder(cfg, Path(args.dir).resolve(), args.dataset, move=args.move,
                           show_progress=not args.quiet)
    print(json.dumps(result))
    return batch_exit_code(result)


def cmd_step(args) -> int:
    from kellyd.batch import rerun_step
    from kellyd.log import configure_logging

    cfg = _config(args)
    configure_logging(cfg.logging.format, "warning")
    overrides = {"multiplier": args.multiplier} if getattr(args, "multiplier", None) is not None else {}
    result = rerun_step(cfg, args.dataset, args.step, show_progress=not args.quiet, **overrides)
    print(json.dumps(result))
    return batch_exit_code(result)


def cmd_service_install(args) -> int:
    from kellyd.service import install, render_launchd, render_systemd

    cfg = _config(args)
    rendered = render_launchd(cfg) if args.launchd else render_systemd(cfg, user=args.user, run_as=args.run_as)
    for warning in rendered.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.print:
        print(rendered.text)
        return EXIT_OK
    install(rendered)
    print(f"wrote {rendered.path}\nnext: {rendered.next_steps}")
    return EXIT_OK


def _run_as(text: str):
    from kellyd.service import parse_run_as  # imported here: `kellyd --help` stays fast

    return parse_run_as(text)


def cmd_freesound_pull(args) -> int:
    from kellyd.freesound.pull import run_pull
    from kellyd.log import configure_logging

    cfg = _config(args)
    configure_logging(cfg.logging.format, cfg.logging.level)
    if not cfg.freesound.enabled:
        print("freesound pulls are disabled ([freesound] enabled = false)")
        return EXIT_SKIPPED
    report = run_pull(cfg.freesound, staging_root=cfg.paths.staging, state_db=cfg.catalog_path,
                      dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"freesound pull {report.outcome}: {report.files_downloaded} files, "
              f"{report.bytes_downloaded / 1e6:.1f} MB, {report.requests_made} requests"
              + (f" ({report.reason})" if report.reason else ""))
        for combo in report.combinations:
            print(f"  {combo.query}: had {combo.had}, downloaded {combo.downloaded} ({combo.status})")
    return {"completed": EXIT_OK, "skipped": EXIT_SKIPPED}.get(report.outcome, EXIT_FAILED)


def cmd_synthesize(args) -> int:
    from kellyd.batch import synthesize_into
    from kellyd.log import configure_logging

    cfg = _config(args)
    configure_logging(cfg.logging.format, "warning")
    if args.count is None and args.fill_to_target is None:
        raise ConfigError("--count", "give --count N, or --fill-to-target [MAX]")
    result = synthesize_into(cfg, args.dataset, generator=args.generator, count=args.count, seed=args.seed,
                             duration_s=args.duration_s, labels=args.labels, render_audio=args.render_audio,
                             show_progress=not args.quiet, fill_to_target=args.fill_to_target)
    print(json.dumps(result))
    return batch_exit_code(result)


def cmd_train(args) -> int:
    from kellyd.log import configure_logging

    cfg = _config(args)
    try:
        from kellyd.train.command import train_from_config
    except ModuleNotFoundError as exc:  # only torch's absence is the missing extra; anything else is a bug
        if (exc.name or "").split(".")[0] != "torch":
            raise
        raise MissingExtra("train", "PyTorch (torch)", "kellyd train", TORCH_HINT) from None
    configure_logging(cfg.logging.format, cfg.logging.level)
    result = train_from_config(cfg, args.dataset, model=args.model, if_changed=args.if_changed,
                               split_file=Path(args.split_file) if args.split_file else None)
    print(json.dumps(result.to_json(), indent=2) if args.json else _train_summary(result))
    return result.exit_code


def _train_summary(result) -> str:
    lines = [f"train {result.status}: {result.message}"] + [f"  {reason}" for reason in result.reasons]
    for model in result.models:
        lines.append(f"  {model.key} {model.version}: {model.decision} ({model.reason})")
    if result.report:
        lines.append(f"report: {result.report}")
    return "\n".join(lines)


def cmd_pipeline(args) -> int:
    """The old prepare_datasets.py in one command: import, synthesize, augment, splits, validate."""
    from kellyd.batch import import_folder, rerun_step, synthesize_into
    from kellyd.log import configure_logging
    from kellyd.validate_command import validate, write_splits

    cfg = _config(args)
    configure_logging(cfg.logging.format, "warning")
    if not (args.all or args.import_dir or args.count):
        raise ConfigError("pipeline", "say what to run: --all, --import-dir DIR and/or --count N")
    steps: dict = {}
    quiet = {"show_progress": not args.quiet}
    if args.import_dir:
        steps["import"] = import_folder(cfg, Path(args.import_dir).resolve(), args.dataset, **quiet)
    if args.count:
        steps["synthesize"] = synthesize_into(cfg, args.dataset, generator=args.generator, count=args.count,
                                              seed=args.seed, duration_s=16.0, **quiet)
    if args.all or args.multiplier is not None:
        overrides = {"multiplier": args.multiplier} if args.multiplier is not None else {}
        steps["augment"] = rerun_step(cfg, args.dataset, "augment", **quiet, **overrides)
    steps["splits"] = write_splits(cfg, args.dataset)
    report, files = validate(cfg, args.dataset)
    steps["validate"] = {"verdict": report.verdict, "report": str(files.latest_html),
                         "reasons": [r.name for r in report.reasons]}
    print(json.dumps(steps, indent=2))
    if report.verdict == "invalid":
        return EXIT_INVALID
    return max((batch_exit_code(s) for s in steps.values() if isinstance(s, dict)), default=EXIT_OK)


def cmd_validate(args) -> int:
    from kellyd.validate_command import validate

    cfg = _config(args)
    report, files = validate(cfg, args.dataset, full=True if args.full else None)
    print(f"{args.dataset}: {report.verdict}")
    for reason in report.reasons:
        print(f"  [{reason.severity}] {reason.name}: {reason.message}")
    print(f"report: {files.latest_html}")
    return EXIT_INVALID if args.strict and report.verdict == "invalid" else EXIT_OK


def cmd_splits(args) -> int:
    from kellyd.validate_command import write_splits

    counts = write_splits(_config(args), args.dataset)
    print(json.dumps(counts))
    return EXIT_OK


def cmd_export(args) -> int:
    """Exit codes: 0 written; 2 unknown dataset, bad format or OUT not empty; 4 no samples yet; 1 read/write error."""
    from kellyd.export_command import NothingToExport, export_command

    try:
        result = export_command(_config(args), args.dataset, Path(args.out), fmt=args.format)
    except NothingToExport as exc:
        print(f"kellyd: {exc}", file=sys.stderr)
        return EXIT_SKIPPED
    print(json.dumps({k: v for k, v in result.items() if k != "feature_vector_names"}))
    return EXIT_OK


def cmd_report(args) -> int:
    from kellyd.validate_command import write_dataset_reports, write_status_page

    cfg = _config(args)
    if args.dataset:
        for path in write_dataset_reports(cfg, args.dataset):
            print(f"wrote {path}")
        return EXIT_OK
    print(f"wrote {write_status_page(cfg, Path(args.output) if args.output else None)}")
    return EXIT_OK


def _dataset_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, metavar="NAME", help="the dataset id (its folder under datasets/)")


def _quiet_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def build_parser() -> argparse.ArgumentParser:
    from kellyd.config import TARGET_MODELS  # light: the config module imports no music code

    parser = argparse.ArgumentParser(prog="kellyd", description="kellyd: a daemon that turns dropped music files "
                                     "into training datasets for the Kelly models.")
    parser.add_argument("--version", action="version", version=f"kellyd {__version__}",
                        help="print the version and exit")
    parser.add_argument("--config", metavar="PATH",
                        help="the configuration file (default: $KELLYD_CONFIG, else "
                             "$XDG_CONFIG_HOME/kellyd/config.toml, else the repository's config.toml in a checkout)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run the daemon in the foreground").set_defaults(func=cmd_run)
    p = sub.add_parser("status", help="queue, datasets, quarantine and schedule (reads the catalog)")
    _json_option(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("config", help="configuration commands")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    csub.add_parser("check", help="validate the configuration").set_defaults(func=cmd_config_check)
    for parent, name in ((csub, "write"), (sub, "init")):  # `kellyd init` is `kellyd config write`
        w = parent.add_parser(name, help="write a commented default configuration and create the folders it names")
        w.add_argument("path", nargs="?", help="where to write (default: --config, $KELLYD_CONFIG, else "
                                               "$XDG_CONFIG_HOME/kellyd/config.toml)")
        w.add_argument("--force", action="store_true", help="overwrite an existing file")
        w.set_defaults(func=cmd_init)

    p = sub.add_parser("catalog", help="catalog commands")
    ksub = p.add_subparsers(dest="catalog_command", required=True, metavar="SUBCOMMAND")
    k = ksub.add_parser("rebuild", help="rebuild the catalog from the dataset folders (daemon stopped; "
                        "a damaged or replaced catalog is kept aside)")
    k.add_argument("--force", action="store_true", help="replace a catalog that is still readable")
    k.set_defaults(func=cmd_catalog_rebuild)

    p = sub.add_parser("dataset", help="dataset commands")
    dsub = p.add_subparsers(dest="dataset_command", required=True, metavar="SUBCOMMAND")
    c = dsub.add_parser("create", help="lay out a dataset folder")
    c.add_argument("name", help="the dataset id (letters, digits, '_', '-', '.')")
    c.add_argument("--target-model", required=True, choices=TARGET_MODELS, help="the Kelly model it feeds")
    c.add_argument("--labels", nargs="*", help="a closed label set")
    c.set_defaults(func=cmd_dataset_create)

    p = sub.add_parser("import", help="ingest a folder once through the dataset's chain (labels from sub-folders)")
    p.add_argument("dir", help="the folder to ingest; its sub-folder names are the labels")
    _dataset_option(p)
    p.add_argument("--move", action="store_true", help="move the files instead of copying them")
    _quiet_option(p)
    p.set_defaults(func=cmd_import)

    for step, text in (("features", "compute features again for every sample"),
                       ("analyze", "analyse every song again (tags, beats, key, chords, sections, stems, notes)"),
                       ("augment", "make augmented children of the training samples")):
        p = sub.add_parser(step, help=text)
        _dataset_option(p)
        _quiet_option(p)
        if step == "augment":
            p.add_argument("--multiplier", type=int, help="children per training sample (default: the dataset's)")
        p.set_defaults(func=cmd_step, step=step)

    p = sub.add_parser("synthesize", help="write labelled pieces from music-theory rules into raw/synthetic/")
    _dataset_option(p)
    p.add_argument("--generator", default="emotion", choices=GENERATORS, help="what kind of pieces (default: emotion)")
    p.add_argument("--count", type=int, help="write this many pieces")
    p.add_argument("--fill-to-target", type=int, nargs="?", const=200, metavar="MAX",
                   help="write what the model's targets still lack (at most MAX pieces, default 200)")
    p.add_argument("--seed", type=int, default=0, help="the same seed writes the same pieces (default: 0)")
    p.add_argument("--duration-s", type=float, default=16.0, help="length of each piece in seconds")
    p.add_argument("--labels", nargs="*", help="only these labels (emotions, groove types...), cycled")
    p.add_argument("--render-audio", action="store_true", help="also render each piece to WAV (needs fluidsynth)")
    _quiet_option(p)
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser("train", help="train the dataset's model(s); a model replaces the current one only if better")
    _dataset_option(p)
    p.add_argument("--model", help="a Kelly model, or a key such as EmotionRecognizer-midi (default: the target model)")
    p.add_argument("--if-changed", action="store_true",
                   help="skip unless enough samples changed and the last validation passed (the scheduled job)")
    p.add_argument("--split-file", help="JSON object of file name -> train/val/test used instead of the "
                   "manifest's splits for this training (cross-validation folds); every sample must be named")
    _json_option(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("pipeline", help="import, synthesize, augment, splits and validate in one run")
    _dataset_option(p)
    p.add_argument("--all", action="store_true", help="augment (with the dataset's multiplier), splits, validate")
    p.add_argument("--import-dir", help="a folder to import first (labels from its sub-folders)")
    p.add_argument("--count", type=int, help="synthesize this many pieces")
    p.add_argument("--generator", default="emotion", choices=GENERATORS,
                   help="what kind of pieces --count synthesizes (default: emotion)")
    p.add_argument("--seed", type=int, default=0, help="the same seed writes the same pieces (default: 0)")
    p.add_argument("--multiplier", type=int, help="augmented children per training sample")
    _quiet_option(p)
    p.set_defaults(func=cmd_pipeline)

    p = sub.add_parser("validate", help="validate a dataset and write its report (reports/latest.html)")
    _dataset_option(p)
    p.add_argument("--full", action="store_true", help="hash and parse every file (default: [validate] mode)")
    p.add_argument("--strict", action="store_true", help=f"exit {EXIT_INVALID} when the verdict is invalid")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("splits", help="write splits/train.txt val.txt test.txt from the catalog")
    _dataset_option(p)
    p.set_defaults(func=cmd_splits)
    p = sub.add_parser("report", help="the daemon's status report: throughput, errors and queue over time (HTML)")
    p.add_argument("--output", help="file to write (default: state/reports/status-<UTC>.html and status-latest.html)")
    p.add_argument("--dataset", help="write the status page and the Freesound attributions into this dataset's reports/")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("export", help="write a dataset as Hugging Face, Parquet or JSON Lines files for another team")
    p.add_argument("--format", required=True, choices=("hf", "parquet", "jsonl", "songs"),
                   help="hf: a folder datasets.load_dataset reads; parquet or jsonl: one file per split; "
                        "songs: one JSON Lines record per analysed song (stems, analysis, features, tags, labels)")
    _dataset_option(p)
    p.add_argument("out", metavar="OUT", help="a new (or empty) folder; written whole or not at all")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("freesound", help="Freesound commands")
    fsub = p.add_subparsers(dest="freesound_command", required=True, metavar="SUBCOMMAND")
    f = fsub.add_parser("pull", help="pull emotion-labelled samples into the staging area")
    f.add_argument("--dry-run", action="store_true", help="search and plan, download nothing")
    _json_option(f)
    f.set_defaults(func=cmd_freesound_pull)

    p = sub.add_parser("service", help="service management")
    ssub = p.add_subparsers(dest="service_command", required=True, metavar="SUBCOMMAND")
    i = ssub.add_parser("install", help="write the systemd unit (or launchd plist) with real paths")
    i.add_argument("--user", action="store_true", help="a systemd user unit (no root needed)")
    i.add_argument("--launchd", action="store_true", help="a launchd agent plist (macOS)")
    i.add_argument("--print", action="store_true", help="print instead of writing")
    i.add_argument("--run-as", type=_run_as, default="kellyd", metavar="USER[:GROUP]",
                   help="the unprivileged user (and group, default: same name) the system unit runs as "
                        "(default: kellyd; ignored with --user and --launchd)")
    i.set_defaults(func=cmd_service_install)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The `kellyd` command. A closed stdout (`kellyd status | head -1`) ends it quietly."""
    try:
        try:
            code = _dispatch(argv)
        finally:  # also after argparse's --help and --version, which leave by SystemExit
            sys.stdout.flush()
    except BrokenPipeError:
        return _stdout_closed()
    return code


def _stdout_closed() -> int:
    # Python flushes stdout once more at exit; pointing it at /dev/null keeps that write from
    # printing an "Exception ignored" message. The exit code is the one a SIGPIPE'd tool gives.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def _dispatch(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        raise  # `main` ends quietly; not a failure to report
    except ConfigError as exc:
        print(f"kellyd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except MissingExtra as exc:
        print(f"kellyd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AlreadyRunning as exc:
        print(f"kellyd: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except KellydError as exc:  # a damaged catalog, a refused rebuild: the message says what to do
        print(f"kellyd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except DatasetFolderGone as exc:  # a command writing into a dataset folder that was moved away
        print(f"kellyd: {exc.strerror}: {exc.filename}; move it back (a daemon start lays out a missing one anew)",
              file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception:  # noqa: BLE001 - the traceback is still printed, only scrubbed of secrets
        from kellyd.freesound.redact import scrubbed_traceback

        print(scrubbed_traceback(), file=sys.stderr)
        return EXIT_FAILED
