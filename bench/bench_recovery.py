"""What the start-up checks against a lost or damaged catalog cost, at catalog sizes users reach.

Writes a catalog of N samples (rows the size real manifest entries have), then times:
- `catalog_problem` with `PRAGMA quick_check` (what `kellyd run` does before opening the catalog)
  and without it (what `kellyd status` does);
- `out_of_date`, the start-up comparison of `manifest.json` with the catalog, once after an export
  (up to date) and once after one more sample (behind);
- `rebuild_catalog` from the dataset folder the export wrote (what a deleted catalog costs at start-up).

Usage: python bench/bench_recovery.py [--samples 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from kellyd.catalog import Catalog
from kellyd.config import load_config
from kellyd.export import out_of_date, write_annotations, write_manifest
from kellyd.rebuild import catalog_problem, rebuild_catalog
from kellyd.sample import Sample, sample_id_for

DATASET = "bench"


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def sample(i: int) -> Sample:
    sha = hashlib.sha256(f"bench-{i}".encode()).hexdigest()
    sid = sample_id_for(sha)
    return Sample(dataset_id=DATASET, origin_path="", label_dirs=("happy",), sample_id=sid, sha256=sha, kind="midi",
                  file_path=f"raw/midi/happy/{sid}.mid", original_names=(f"{sid}.mid",), split="train",
                  features_path=f"processed/features/{sid}.json",
                  annotations={"emotion": "happy", "base_emotion": "happy", "valence": 0.8, "arousal": 0.6,
                               "key": "C", "mode": "major", "tempo_bpm": 120.0, "duration_s": 12.5,
                               "tags": ["bench"], "detected": ["key", "mode", "tempo_bpm"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="write here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="kellyd-bench-recovery-"))
    try:
        (root / "datasets").mkdir(parents=True, exist_ok=True)
        config = root / "config.toml"
        config.write_text(f'[paths]\ninbox = "inbox"\ndatasets = "datasets"\nstate = "state"\nstaging = "staging"\n'
                          f'[datasets.{DATASET}]\ntarget_model = "EmotionRecognizer"\nchain = ["import", "annotate"]\n')
        cfg = load_config(config)
        dataset_root = cfg.dataset_root(DATASET)
        catalog = Catalog(cfg.catalog_path)
        (dataset_root / "raw" / "midi" / "happy").mkdir(parents=True)
        with catalog.transaction():
            for i in range(args.samples):
                s = sample(i)
                catalog.put_sample(s, now=1_000_000.0 + i, label="happy")
                (dataset_root / s.file_path).write_bytes(b"MThd")  # the rebuild only checks it is there
        write_manifest(catalog, DATASET, dataset_root)
        # annotation files: enough to show the per-file cost
        write_annotations(catalog, DATASET, [s.sample_id for s in catalog.samples(DATASET)[:1000]], dataset_root)
        size_mb = cfg.catalog_path.stat().st_size / 1e6
        _, thorough_s = timed(lambda: catalog_problem(cfg.catalog_path))
        _, cheap_s = timed(lambda: catalog_problem(cfg.catalog_path, thorough=False))
        current, current_s = timed(lambda: out_of_date(catalog, DATASET, dataset_root))
        with catalog.transaction():
            catalog.put_sample(sample(args.samples), now=2_000_000.0, label="happy")
        behind, behind_s = timed(lambda: out_of_date(catalog, DATASET, dataset_root))
        catalog.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{cfg.catalog_path}{suffix}").unlink(missing_ok=True)
        report, rebuild_s = timed(lambda: rebuild_catalog(cfg))
        print(json.dumps({
            "samples": args.samples, "catalog_mb": round(size_mb, 1),
            "quick_check_s": round(thorough_s, 3), "cheap_check_s": round(cheap_s, 4),
            "out_of_date_current_s": round(current_s, 3), "up_to_date": current is None,
            "out_of_date_behind_s": round(behind_s, 3), "to_export_again": len(behind or ()),
            "rebuild_s": round(rebuild_s, 2), "rebuilt_samples": report.samples,
        }, indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
