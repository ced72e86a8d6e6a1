"""What keeping manifest.parquet up to date costs as a dataset grows: a first (full) write, then a
burst of new samples, which rewrites only the shards they fall in.

Writes a catalog of N MIDI samples, each with a real features file (`.npz` with a 172-value
feature vector, as the features step writes it), then times:
- the first write of every shard (`full_s`), as when an existing dataset gets manifest.parquet;
- a refresh with nothing changed (`nothing_s`);
- a refresh after a burst of `--burst` new samples (`burst_s`, and how many shards it wrote);
- the same refresh as the daemon runs it, in a process of its own (`burst_process_s`);
- reading every sample's feature vector, which is most of a first write, with kellyd's reader
  (`kellyd.data.npz`, `vectors_s`) and with `np.load` (`vectors_np_load_s`), in the same run.

Usage: python bench/bench_parquet.py [--samples 100000] [--burst 50] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kellyd.catalog import Catalog
from kellyd.data.npz import npz_array
from kellyd.manifest_parquet import read_manifest_parquet, write_manifest_parquet
from kellyd.music.midi_vector import FEATURE_SIZE
from kellyd.parquet_refresh import refresh_command
from kellyd.sample import Sample, sample_id_for

DATASET = "bench"


def add_samples(catalog: Catalog, root: Path, start: int, count: int, now: float) -> None:
    features = root / "processed" / "features"
    features.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    with catalog.transaction():
        for i in range(start, start + count):
            sha = hashlib.sha256(f"bench-{i}".encode()).hexdigest()
            sample_id = sample_id_for(sha)
            buffer = io.BytesIO()
            np.savez_compressed(buffer, feature_vector=rng.standard_normal(FEATURE_SIZE).astype(np.float32))
            (features / f"{sample_id}.npz").write_bytes(buffer.getvalue())
            (features / f"{sample_id}.json").write_text(json.dumps({"schema_version": 1}))
            sample = Sample(dataset_id=DATASET, origin_path=f"/inbox/{i}.mid", sample_id=sample_id, sha256=sha,
                            kind="midi", file_path=f"raw/midi/happy/{i}.mid", split="train",
                            features_path=f"processed/features/{sample_id}.json",
                            annotations={"emotion": "happy", "tempo_bpm": 120.0, "time_signature": "4/4",
                                         "tags": ["happy"]})
            catalog.put_sample(sample, now=now + i * 1e-6)


def timed(catalog: Catalog, root: Path):
    started = time.perf_counter()
    catalog.db.execute("BEGIN")
    try:
        done = write_manifest_parquet(catalog, DATASET, root)
    finally:
        catalog.db.execute("COMMIT")
    return time.perf_counter() - started, done


def vector_read_s(paths: list[Path], read) -> float:
    started = time.perf_counter()
    for path in paths:
        read(path)
    return time.perf_counter() - started


def np_load_vector(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        return archive["feature_vector"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-parquet-"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "datasets" / DATASET
    catalog = Catalog(work / "catalog.sqlite3")
    try:
        add_samples(catalog, root, 0, args.samples, now=1.0)
        full_s, full = timed(catalog, root)
        nothing_s, nothing = timed(catalog, root)
        add_samples(catalog, root, args.samples, args.burst, now=2.0)
        burst_s, burst = timed(catalog, root)
        add_samples(catalog, root, args.samples + args.burst, args.burst, now=3.0)
        started = time.perf_counter()
        subprocess.run(refresh_command(work / "catalog.sqlite3", DATASET, root), check=True, capture_output=True)
        process_s = time.perf_counter() - started
        rows = len(read_manifest_parquet(root))
        paths = sorted((root / "processed" / "features").glob("*.npz"))
        read_s = {"np_load": [], "kellyd": []}
        for _ in range(3):  # alternated, best of 3 (the files are in the page cache after the first write)
            read_s["np_load"].append(vector_read_s(paths, np_load_vector))
            read_s["kellyd"].append(vector_read_s(paths, lambda path: npz_array(path, "feature_vector")))
        print(json.dumps({
            "samples": args.samples, "burst": args.burst, "shards": len(full.written),
            "full_s": round(full_s, 3), "nothing_s": round(nothing_s, 3), "nothing_written": len(nothing.written),
            "burst_s": round(burst_s, 3), "burst_shards_written": len(burst.written),
            "burst_process_s": round(process_s, 3), "rows_after": rows,
            "vectors_s": round(min(read_s["kellyd"]), 3), "vectors_np_load_s": round(min(read_s["np_load"]), 3),
            "vectors_ratio": round(min(read_s["np_load"]) / min(read_s["kellyd"]), 1),
            "bytes": sum(p.stat().st_size for p in (root / "manifest.parquet").glob("*.parquet")),
        }))
        assert rows == args.samples + 2 * args.burst
    finally:
        catalog.close()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
