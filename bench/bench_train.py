"""Training benchmark on the Groove MIDI Dataset: throughput, test metrics against baselines, and
inference time per call.

    .venv/bin/python bench/bench_train.py [--device auto|cpu|cuda] [--files N] [--max-epochs N]
        [--max-examples-per-sample N] [--threads N] [--work DIR] [--realdata DIR]

Builds a dataset with `kellyd import` from the corpus' drum performances dropped into
`<emotion>/<groove type>/` folders (groove type from the corpus' style labels: jazz,
jazz/swing and neworleans/secondline swing, the *shuffle styles shuffle, the rest
straight; the emotion folder stands for the style family, since the corpus has no
emotion labels), places the splits (all samples at once, seeded by the dataset id, so
reruns get the same test split), trains GroovePredictor and EmotionRecognizer-midi with
`kellyd.train.command.train`, and prints what happened, ending with a Markdown table
of the test metrics against their baselines.
Data: Groove MIDI Dataset v1.0.0 (Magenta), CC BY 4.0.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402

FAMILY_EMOTION = {"jazz": "calm", "rock": "energetic", "punk": "aggressive", "funk": "happy", "hiphop": "happy",
                  "soul": "tender", "latin": "excitement", "afrocuban": "excitement", "afrobeat": "excitement",
                  "neworleans": "cheerful", "pop": "cheerful", "country": "cheerful", "blues": "melancholic",
                  "reggae": "relaxed", "gospel": "hope", "dance": "energetic", "highlife": "cheerful",
                  "middleeastern": "mysterious"}
SWING = ("jazz", "jazz/swing", "neworleans/secondline")


def groove_type(style: str) -> str:
    if "shuffle" in style:
        return "shuffle"
    return "swing" if style in SWING else "straight"


def build_dataset(corpus: Path, work: Path, limit: int | None) -> tuple[Path, int, float]:
    import tomli_w

    rows = list(csv.DictReader((corpus / "info.csv").open(encoding="utf-8")))[:limit]
    for folder in ("inbox/grooves", "datasets", "home/.kelly", "drop"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    for row in rows:
        family = row["style"].split("/")[0]
        # Names repeat across drummers and sessions ("1_funk_80_beat_4-4.mid"): keep the whole path.
        name = row["midi_filename"].replace("/", "__")
        target = work / "drop" / FAMILY_EMOTION.get(family, "neutral") / groove_type(row["style"]) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / row["midi_filename"], target)
    config = {"paths": {"inbox": "inbox", "datasets": "datasets", "state": "state", "staging": "home/.kelly"},
              "schedule": {"validate": "off", "retrain": "off", "freesound": "off"},
              "datasets": {"grooves": {"target_model": "GroovePredictor", "chain": ["import", "annotate", "features"]}},
              "freesound": {"enabled": False}}
    (work / "config.toml").write_text(tomli_w.dumps(config))
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kellyd", "--config", str(work / "config.toml"), "import",
                           str(work / "drop"), "--dataset", "grooves", "--quiet"], cwd=REPO, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"kellyd import failed: {proc.stderr[-2000:]}")
    elapsed = time.perf_counter() - started
    return work / "datasets", len(rows), elapsed



def inference_ms(models_dir: Path, key: str, steps: int, calls: int = 200) -> tuple[float, float]:
    """(ms per window of `steps` frames, ms per single frame) of the current model, batch 1, CPU."""
    import torch

    from kellyd.train.checkpoint import load_checkpoint

    model, document = load_checkpoint(models_dir / key / "current.pt")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a plug-in's audio thread
    results = []
    try:
        for length in (steps, 1):
            frames = torch.zeros(1, length, int(document["in_size"]))
            with torch.no_grad():
                for _ in range(10):
                    model(frames)
                started = time.perf_counter()
                for _ in range(calls):
                    model(frames)
            results.append((time.perf_counter() - started) / calls * 1000.0)
    finally:
        torch.set_num_threads(threads)
    return results[0], results[1]


MODELS = ("GroovePredictor", "EmotionRecognizer")


def markdown_table(rows: list[tuple[str, str, dict]]) -> str:
    """Test metrics against their baselines: (model key, metric name, registry metric) per row."""
    lines = ["| model | test metric | model | baseline | model / baseline | scored |",
             "|---|---|---:|---:|---:|---:|"]
    for key, name, metric in rows:
        ratio = f"{metric['value'] / metric['baseline']:.2f}" if metric["baseline"] else "n/a"
        unit = f" ({metric['unit']})" if metric["unit"] else ""
        better = "lower" if metric["better"] == "lower" else "higher"
        lines.append(f"| {key} | {name}{unit}, {better} is better | {metric['value']:.3f} | {metric['baseline']:.3f} "
                     f"| {ratio} | {metric['count']:,} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--files", type=int, help="use the first N files of info.csv (default: all 1,150)")
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--max-examples-per-sample", type=int, help="windows taken per file (default: the model's)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one, removed)")
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA, help="the full real-data corpus")
    args = parser.parse_args()
    if skipped_without_corpus("bench_train", args.realdata, "groove_midi/info.csv"):
        return 0

    from kellyd.train.command import train
    from kellyd.train.loop import resolve_device
    from kellyd.train.settings import parse_training_section, with_overrides

    started = time.perf_counter()
    corpus = args.realdata / "groove_midi"
    work = args.work or Path(tempfile.mkdtemp(prefix="kellyd-bench-train-"))
    table_rows: list[tuple[str, str, dict]] = []
    try:
        datasets, n_files, import_s = build_dataset(corpus, work, args.files)
        manifest = json.loads((datasets / "grooves" / "manifest.json").read_text())
        print(f"corpus: {corpus} (Groove MIDI Dataset v1.0.0, CC BY 4.0), {n_files} files dropped, "
              f"{len(manifest['samples'])} samples imported (files with the same bytes are one sample)")
        print(f"kellyd import with features: {import_s:.1f} s")
        settings = replace(parse_training_section({}, base_dir=work), device=args.device, threads=args.threads)
        for model in MODELS:
            changes = {"max_epochs": args.max_epochs,
                       "warmup_epochs": min(settings.for_model(model).warmup_epochs, args.max_epochs - 1)}
            if args.max_examples_per_sample:
                changes["max_examples_per_sample"] = args.max_examples_per_sample
            settings = with_overrides(settings, model, **changes)
        import torch

        print(f"device: {resolve_device(args.device)}, torch {torch.__version__}, "
              f"{args.threads or torch.get_num_threads()} CPU threads")
        for model in MODELS:
            result = train(datasets, "grooves", settings, model=model, log=lambda line: None)
            if result.status != "trained":
                print(f"{model}: {result.status}: {result.message} {list(result.reasons)}")
                continue
            registry = json.loads(settings.registry.read_text())
            for outcome in result.models:
                entry = registry["models"][outcome.key]["versions"][-1]
                used = entry["hyperparameters"]
                print(f"\n{outcome.key} {entry['version']}: {entry['gate']['decision']} ({entry['gate']['reason']})")
                print(f"  settings: max_epochs {used['max_epochs']}, patience {used['patience']}, "
                      f"max_examples_per_sample {used['max_examples_per_sample']}, window {used['window']}, "
                      f"hidden {used['hidden']} {used['cell']}, batch {used['batch_size']}, lr {used['lr']}")
                print(f"  samples {entry['dataset']['samples']}, examples {entry['dataset']['examples']}")
                print(f"  epochs {entry['epochs_run']} (best {entry['best_epoch']}, validation score "
                      f"{entry['val_score']:.3f}), training {entry['training_time_s']:.1f} s, "
                      f"{entry['examples_per_s']:,.0f} examples/s on {entry['device']}")
                for name, metric in entry["metrics"]["test"].items():
                    print(f"  test {name}: {metric['value']:.4f} (baseline {metric['baseline']:.4f}, "
                          f"{metric['better']} is better, n={metric['count']})")
                    table_rows.append((outcome.key, name, metric))
                if outcome.promoted:
                    steps = int(used["window"])
                    window_ms, frame_ms = inference_ms(settings.models_dir, outcome.key, steps)
                    print(f"  inference on CPU, batch 1, one thread: {window_ms:.3f} ms per {steps}-step window, "
                          f"{frame_ms:.3f} ms per single frame")
        print("\n" + markdown_table(table_rows))
        print(f"\nbench total: {time.perf_counter() - started:.0f} s")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
