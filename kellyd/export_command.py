"""`kellyd export --format hf|parquet|jsonl --dataset NAME OUT`: hand a dataset to another team.

Read from the dataset folder (manifest.json and the features files, through `kellyd.data`), so it
runs beside the daemon and on a copied folder alike. Each sample is one row of the same columns as
`manifest.parquet` (`kellyd.manifest_parquet.SCHEMA`): flat fields, split, typed labels, the MIDI
feature vector (a fixed-size list, null for audio), the full annotations. Files are per split:

- parquet: OUT/<split>.parquet
- jsonl:   OUT/<split>.jsonl, one JSON object per line, annotations/source/augmentation as objects
- hf:      OUT/data/<split>-00000-of-00001.parquet and OUT/README.md whose card names the splits
           (train, validation, test), so `datasets.load_dataset(OUT)` gives a DatasetDict

plus OUT/export.json (what was exported, from which manifest, the feature vector's names). The
output is built in a hidden folder beside OUT and renamed into place at the end: OUT either does
not exist or holds the whole export. OUT must not exist or be an empty folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from kellyd.catalog import manifest_entry
from kellyd.data import UnusableData, read_manifest
from kellyd.errors import ConfigError, KellydError

FORMATS = ("hf", "parquet", "jsonl", "songs")  # songs: kellyd.song.records, one JSON Lines record per song
UNASSIGNED = "unassigned"  # samples the splitter has not placed yet
HF_SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test", UNASSIGNED: UNASSIGNED}
JSON_COLUMNS = ("annotations_json", "source_json", "augmentation_json")


class ExportFailed(KellydError):
    """The dataset could not be read or the output not written (the message says which and why)."""


class NothingToExport(KellydError):
    """The dataset has no sample yet; nothing is written."""


def _refuse_out(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ConfigError("OUT", f"{out} exists and is not a folder; give a new path")
    if out.is_dir() and any(out.iterdir()):
        raise ConfigError("OUT", f"{out} exists and is not empty; give a new path or empty it first")


def dataset_folder(datasets_dir: Path, known: Iterable[str], dataset_id: str) -> Path:
    """The folder of `dataset_id`; ConfigError naming the known datasets when it is unknown,
    NothingToExport when it is known but no sample has been processed yet."""
    root = Path(datasets_dir) / dataset_id
    if dataset_id in ("", ".", "..") or "/" in dataset_id or os.sep in dataset_id:
        raise ConfigError("--dataset", f"{dataset_id!r} is not a dataset name")
    if (root / "manifest.json").is_file():
        return root
    names = sorted(set(known))
    if dataset_id in names:
        raise NothingToExport(f"dataset {dataset_id!r} has no samples yet (no manifest.json); nothing written")
    raise ConfigError("--dataset", f"dataset {dataset_id!r} is unknown; datasets: {', '.join(names) or 'none'}")


def export_rows(root: Path) -> tuple[str, str, dict[str, list[dict[str, Any]]]]:
    """(dataset id, manifest sha256, split -> rows) of the dataset folder `root`."""
    from kellyd.manifest_parquet import entry_vector, sample_row

    try:
        manifest = read_manifest(root)
    except UnusableData as exc:
        raise ExportFailed(str(exc)) from None
    by_split: dict[str, list[dict[str, Any]]] = {}
    for sample in manifest.samples:
        entry = manifest_entry(sample)
        row = sample_row(manifest.dataset_id, entry, entry_vector(root, entry))
        by_split.setdefault(sample.split or UNASSIGNED, []).append(row)
    return manifest.dataset_id, manifest.sha256, by_split


def jsonl_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A table row for JSON Lines: the JSON text columns become objects (`annotations`, `source`, `augmentation`)."""
    out = {k: v for k, v in row.items() if k not in JSON_COLUMNS}
    for column in JSON_COLUMNS:
        text = row.get(column)
        out[column[:-len("_json")]] = json.loads(text) if text is not None else None
    return out


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    from kellyd.manifest_parquet import rows_table, table_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(table_bytes(rows_table(rows)))


def _write_jsonl(path: Path, rows: list[dict[str, Any]], *, table_rows: bool = True) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(jsonl_row(row) if table_rows else row, ensure_ascii=False) + "\n")


def hf_card(dataset_id: str, splits: Iterable[str]) -> str:
    """README.md of the hf export: the YAML header that tells `datasets` which files make which split."""
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split in splits:
        lines += [f"  - split: {split}", f"    path: data/{split}-*.parquet"]
    lines += ["---", "", f"# {dataset_id}", "",
              "Exported by `kellyd export --format hf`. Load with `datasets.load_dataset(<this folder>)`.",
              "Columns are described in export.json; `feature_vector` follows `feature_vector_names` there.", ""]
    return "\n".join(lines)


def _write_format(folder: Path, fmt: str, dataset_id: str, by_split: Mapping[str, list]) -> dict[str, str]:
    """Write the data files; returns split -> file (relative to the folder)."""
    files: dict[str, str] = {}
    for split, rows in by_split.items():
        if fmt == "parquet":
            name = f"{split}.parquet"
            _write_parquet(folder / name, rows)
        elif fmt in ("jsonl", "songs"):
            name = f"{split}.jsonl"
            _write_jsonl(folder / name, rows, table_rows=fmt == "jsonl")
        else:
            name = f"data/{HF_SPLIT_NAMES[split]}-00000-of-00001.parquet"
            _write_parquet(folder / name, rows)
        files[split] = name
    if fmt == "hf":
        (folder / "README.md").write_text(hf_card(dataset_id, [HF_SPLIT_NAMES[s] for s in by_split]),
                                          encoding="utf-8")
    return files


def _sync_tree(folder: Path) -> None:
    """fsync every file and folder under `folder`, so the rename publishes complete files."""
    for path in sorted(folder.rglob("*"), reverse=True) + [folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def export_dataset(root: Path, out: Path, *, fmt: str, now: datetime | None = None) -> dict[str, Any]:
    """Export the dataset folder `root` to `out` in `fmt`; returns what export.json records."""
    from kellyd.music.midi_vector import FEATURE_NAMES

    if fmt not in FORMATS:
        raise ConfigError("--format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    out = Path(out).absolute()
    _refuse_out(out)
    if fmt == "songs":
        from kellyd.song.records import song_rows

        dataset_id, manifest_sha256, by_split = song_rows(root)
    else:
        dataset_id, manifest_sha256, by_split = export_rows(root)
    if not by_split:
        raise NothingToExport(f"dataset {dataset_id!r} has no samples yet; nothing written to {out}")
    order = [s for s in ("train", "val", "test", UNASSIGNED) if s in by_split]
    by_split = {s: by_split[s] for s in order}
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.export-"))
    try:
        files = _write_format(scratch, fmt, dataset_id, by_split)
        record = {
            "dataset_id": dataset_id, "format": fmt, "manifest_sha256": manifest_sha256,
            "exported_at": (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "samples": sum(len(rows) for rows in by_split.values()),
            "splits": {s: {"samples": len(by_split[s]), "file": files[s]} for s in order},
            "feature_vector_names": list(FEATURE_NAMES),
        }
        (scratch / "export.json").write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
        os.chmod(scratch, 0o777 & ~_umask())  # mkdtemp makes it 0700; the export is for others to read
        _sync_tree(scratch)
        _refuse_out(out)  # filled meanwhile by someone else: leave theirs alone
        if out.is_dir():
            out.rmdir()
        os.rename(scratch, out)
    except OSError as exc:
        raise ExportFailed(f"writing {out} failed: {exc}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {**record, "out": str(out)}


def _umask() -> int:
    from kellyd.atomic import current_umask

    return current_umask()


def export_command(cfg, dataset_id: str, out: Path, *, fmt: str) -> dict[str, Any]:
    """`kellyd export`: the configured (or `kellyd dataset create`d) dataset `dataset_id` to `out`."""
    from kellyd.dataset import all_datasets

    root = dataset_folder(cfg.paths.datasets, all_datasets(cfg), dataset_id)
    return export_dataset(root, out, fmt=fmt)
