"""Per-sample file checks: the file exists, its content hash matches, it is readable, its features load.

This is the only part of a validation that reads the samples' files, so it is
written to run in parallel: `check_chunk` is a top-level function over plain,
picklable values, and `check_files` hands chunks to any
`concurrent.futures.Executor` (threads, a process pool, a Dask client's executor).

Two modes:
- full (`verify_hashes=True`): hash every file, parse it (MIDI with
  `read_score`'s parser, audio with a header probe) and load every feature array.
- cheap: a file whose size and mtime equal its recorded `FileStamp` (written by an
  earlier run that verified it) is trusted without reading it; any other file is
  verified as in the full mode. Feature JSON files are read in both modes, since the
  dataset-wide feature checks need their values; `.npz` arrays are only opened in
  the full mode.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from kellyd.errors import InvalidInput
from kellyd.sample import Sample
from kellyd.validate.features import flatten_features
from kellyd.validate.report import FileStamp

MIDI_SUFFIXES = frozenset({".mid", ".midi", ".kar"})
CHUNK_SIZE = 256
IN_FLIGHT_CHUNKS = 16


@dataclass(frozen=True)
class FileTask:
    """What `check_chunk` needs to know about one sample (picklable)."""

    sample_id: str
    file_path: str
    sha256: str
    kind: str | None
    features_path: str | None
    stamp: FileStamp | None = None

    @classmethod
    def of(cls, sample: Sample, stamp: FileStamp | None) -> "FileTask":
        return cls(sample.sample_id, sample.file_path, sample.sha256, sample.kind, sample.features_path, stamp)


@dataclass(frozen=True)
class SampleFindings:
    """What the file checks found for one sample.

    problems: (check, detail) pairs; checks are file_missing, hash_mismatch,
        unreadable, features_missing, features_unreadable, feature_arrays_missing,
        features_stale, non_finite_features.
    stamp: the file's stamp when it is intact (hash verified now, or trusted).
    columns: flattened feature values (see `kellyd.validate.features`).
    """

    sample_id: str
    problems: tuple[tuple[str, str], ...] = ()
    stamp: FileStamp | None = None
    hashed: bool = False
    columns: Mapping[str, float | str] = field(default_factory=dict)


def _read_audio_header(path: Path) -> None:
    """Raise InvalidInput when the audio header does not read."""
    try:
        from kellyd.music.audio_io import probe_audio
    except ImportError:
        probe_audio = None
    if probe_audio is not None:
        probe_audio(path)
        return
    import soundfile

    try:
        info = soundfile.info(os.fspath(path))
    except Exception as exc:  # soundfile raises its own error types and RuntimeError
        raise InvalidInput(f"audio header does not read: {exc}") from exc
    if info.frames <= 0 or info.samplerate <= 0:
        raise InvalidInput(f"audio has {info.frames} frames at {info.samplerate} Hz")


def _is_midi(task: FileTask) -> bool:
    if task.kind is not None:
        return task.kind == "midi"
    return PurePosixPath(task.file_path).suffix.lower() in MIDI_SUFFIXES


def _verify_content(path: Path, task: FileTask) -> tuple[str, str] | None:
    """Hash and parse the file; the (check, detail) problem found, or None."""
    from kellyd.music.midi_io import parse_midi_bytes

    if _is_midi(task):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
    else:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        data = b""
    if digest != task.sha256:
        return "hash_mismatch", f"sha256 is {digest[:16]}..., the catalog recorded {task.sha256[:16]}..."
    try:
        if _is_midi(task):
            parse_midi_bytes(data)
        else:
            _read_audio_header(path)
    except InvalidInput as exc:
        return "unreadable", exc.reason
    return None


def _check_arrays(path: Path) -> list[tuple[str, str]]:
    try:
        bad = []
        with np.load(path, allow_pickle=False) as arrays:
            for name in arrays.files:
                values = arrays[name]  # each access decompresses again: read once
                if np.issubdtype(values.dtype, np.inexact) and not np.all(np.isfinite(values)):
                    bad.append(name)
    except (OSError, ValueError) as exc:
        return [("features_unreadable", f"{path.name} does not load: {exc}")]
    return [("non_finite_features", f"array {name} has NaN or inf") for name in bad]


def _check_features(root: Path, task: FileTask, schema_version: int,
                    deep: bool) -> tuple[list[tuple[str, str]], dict[str, float | str]]:
    if not task.features_path:
        return [("features_missing", "no features computed")], {}
    path = root / task.features_path
    try:
        document: Any = json.loads(path.read_bytes())
    except FileNotFoundError:
        return [("features_missing", f"{task.features_path} does not exist")], {}
    except (OSError, ValueError) as exc:
        return [("features_unreadable", f"{task.features_path} is not JSON: {exc}")], {}
    if not isinstance(document, dict):
        return [("features_unreadable", f"{task.features_path} is not a JSON object")], {}
    problems: list[tuple[str, str]] = []
    found = document.get("schema_version")
    if found != schema_version:
        problems.append(("features_stale", f"schema_version {found!r}, expected {schema_version}"))
    columns, non_finite = flatten_features(document)
    if non_finite:
        problems.append(("non_finite_features", "NaN or inf in " + ", ".join(non_finite[:5])))
    arrays_path = path.with_suffix(".npz")
    if deep:
        if arrays_path.exists():
            problems.extend(_check_arrays(arrays_path))
        else:
            problems.append(("feature_arrays_missing", f"{arrays_path.name} does not exist"))
    elif not os.path.exists(arrays_path):
        problems.append(("feature_arrays_missing", f"{arrays_path.name} does not exist"))
    return problems, columns


def check_sample(root: Path, task: FileTask, *, verify_hashes: bool, schema_version: int) -> SampleFindings:
    """File and feature checks of one sample (see the module docstring for the two modes)."""
    path = root / task.file_path
    try:
        stat = path.stat() if task.file_path else None
    except FileNotFoundError:
        stat = None
    problems: list[tuple[str, str]] = []
    stamp: FileStamp | None = None
    hashed = False
    if stat is None:
        problems.append(("file_missing", "does not exist" if task.file_path else "the sample has no file path"))
    else:
        current = FileStamp(task.file_path, stat.st_size, stat.st_mtime_ns, task.sha256)
        if not verify_hashes and task.stamp == current:
            stamp = current
        else:
            hashed = True
            try:
                problem = _verify_content(path, task)
            except OSError as exc:
                problem = ("unreadable", str(exc.strerror or exc))
            if problem is None:
                stamp = current
            else:
                problems.append(problem)
    feature_problems, columns = _check_features(root, task, schema_version, deep=verify_hashes)
    problems.extend(feature_problems)
    return SampleFindings(task.sample_id, tuple(problems), stamp, hashed, columns)


def check_chunk(root: str, tasks: Sequence[FileTask], verify_hashes: bool,
                schema_version: int) -> list[SampleFindings]:
    """`check_sample` over a chunk; top-level and picklable for process executors."""
    base = Path(root)
    return [check_sample(base, t, verify_hashes=verify_hashes, schema_version=schema_version) for t in tasks]


def check_files(root: Path, tasks: Sequence[FileTask], *, verify_hashes: bool, schema_version: int,
                executor: Executor | None = None, chunk_size: int = CHUNK_SIZE,
                in_flight: int = IN_FLIGHT_CHUNKS) -> Iterator[SampleFindings]:
    """Findings for every task, in task order, chunk by chunk (so the caller aggregates as they come).

    executor: runs the chunks, at most `in_flight` at a time so finished results
    never pile up in memory; None runs them here, in order.
    """
    if chunk_size < 1 or in_flight < 1:
        raise ValueError(f"chunk_size and in_flight must be at least 1, got {chunk_size} and {in_flight}")
    chunks = (tasks[i:i + chunk_size] for i in range(0, len(tasks), chunk_size))
    if executor is None:
        for chunk in chunks:
            yield from check_chunk(os.fspath(root), chunk, verify_hashes, schema_version)
        return
    pending: deque[Future[list[SampleFindings]]] = deque()
    try:
        for chunk in chunks:
            pending.append(executor.submit(check_chunk, os.fspath(root), chunk, verify_hashes, schema_version))
            if len(pending) >= in_flight:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
