"""`models/registry.json`: every trained version of every model, and which one is current.

Per model key, `current` is the version most recently promoted (the one the `current.*`
copies hold) and `champions` maps `<dataset_id>@schema<N>` (the dataset and the feature
schema version it was trained on) to the promoted version the gate compares a new model of
that same data with (unless it trained on today's validation samples: `kellyd.train.overlap`
decides from the version's `samples.txt`, whose hash `files.samples` holds). Format 1 had
only `current`; reading it gives format 2 with the current version as the champion of its
own dataset and schema (`migrate`), written back as format 2 on the next write.

One schema (`REGISTRY_SCHEMA`, JSON Schema draft 2020-12 keywords), checked by a small
validator of the keywords it uses (type, properties, required, additionalProperties,
items, enum, minimum, pattern) every time the registry is read or written. Writes are
atomic (`kellyd.atomic.atomic_write_json`): a reader sees the whole old registry or the
whole new one. Functions that change a registry return a new document.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Mapping

from kellyd.atomic import atomic_write_json

REGISTRY_FORMAT_VERSION = 2
VERSION_PATTERN = r"^v[0-9]{4,}$"

_NUMBER = {"type": "number"}
_COUNT = {"type": "integer", "minimum": 0}
_SPLIT_COUNTS = {"type": "object", "required": ["train", "val", "test"], "additionalProperties": False,
                 "properties": {"train": _COUNT, "val": _COUNT, "test": _COUNT}}
_METRIC = {"type": "object", "required": ["name", "value", "baseline", "better", "unit", "count"],
           "additionalProperties": False,
           "properties": {"name": {"type": "string"}, "value": _NUMBER, "baseline": _NUMBER,
                          "classical": {"type": ["number", "null"]},
                          "better": {"enum": ["higher", "lower"]}, "unit": {"type": "string"}, "count": _COUNT}}
_METRICS = {"type": "object", "additionalProperties": _METRIC}
_FILE = {"type": "object", "required": ["path", "sha256", "bytes"], "additionalProperties": False,
         "properties": {"path": {"type": "string"}, "sha256": {"type": "string", "pattern": r"^[0-9a-f]{64}$"},
                        "bytes": _COUNT}}
_HEAD_VERDICT = {
    "type": "object", "additionalProperties": False,
    "required": ["head", "kind", "metric", "better", "unit", "level", "challenger", "baselines", "champion", "clips",
                 "passed", "reason"],
    "properties": {"head": {"type": "string"}, "kind": {"enum": ["class", "regression"]},
                   "metric": {"enum": ["macro_f1", "mae"]}, "better": {"enum": ["higher", "lower"]},
                   "unit": {"type": "string"}, "level": {"enum": ["clip"]}, "challenger": _NUMBER,
                   "baselines": {"type": "object", "additionalProperties": _NUMBER},
                   "champion": {"type": ["number", "null"]}, "clips": _COUNT, "passed": {"type": "boolean"},
                   "reason": {"type": "string"}, "champion_skipped": {"type": ["string", "null"]}}}
_VERSION_ENTRY = {
    "type": "object",
    "required": ["version", "model", "variant", "created_at", "promoted", "gate", "dataset", "hyperparameters",
                 "architecture", "best_epoch", "epochs_run", "stopped_early", "val_loss", "metrics",
                 "confusion", "training_time_s", "examples_per_s", "device", "seed", "files"],
    "additionalProperties": False,
    "properties": {
        "version": {"type": "string", "pattern": VERSION_PATTERN},
        "model": {"enum": ["EmotionRecognizer", "MelodyTransformer", "HarmonyPredictor", "DynamicsEngine",
                           "GroovePredictor"]},
        "variant": {"type": ["string", "null"]},
        "created_at": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"},
        "promoted": {"type": "boolean"},
        "gate": {"type": "object", "required": ["decision", "reason"], "additionalProperties": False,
                 "properties": {"decision": {"enum": ["promoted", "kept_champion", "below_baseline"]},
                                "reason": {"type": "string"}, "level": {"enum": ["clip"]},
                                "challenger_score": _NUMBER, "champion_score": {"type": ["number", "null"]},
                                "champion_version": {"type": ["string", "null"]},
                                "validation_groups": _COUNT, "heads": {"type": "array", "items": _HEAD_VERDICT}}},
        "dataset": {"type": "object",
                    "required": ["dataset_id", "manifest_sha256", "feature_schema_version", "samples", "examples",
                                 "label_key", "classes"],
                    "additionalProperties": False,
                    "properties": {"dataset_id": {"type": "string"},
                                   "manifest_sha256": {"type": "string", "pattern": r"^[0-9a-f]{64}$"},
                                   "feature_schema_version": _COUNT, "samples": _SPLIT_COUNTS,
                                   "examples": _SPLIT_COUNTS, "label_key": {"type": "string"},
                                   "classes": {"type": "array", "items": {"type": "string"}}}},
        "hyperparameters": {"type": "object"},
        "architecture": {"type": "array", "items": {"type": "object"}},
        "best_epoch": _COUNT, "epochs_run": _COUNT, "stopped_early": {"type": "boolean"}, "val_loss": _NUMBER,
        "val_score": _NUMBER,
        "metrics": {"type": "object", "required": ["train", "val", "test"], "additionalProperties": False,
                    "properties": {"train": _METRICS, "val": _METRICS, "test": _METRICS}},
        "clip_metrics": {"type": "object", "required": ["train", "val", "test"], "additionalProperties": False,
                         "properties": {"train": _METRICS, "val": _METRICS, "test": _METRICS}},
        "classical": {"type": "object", "required": ["method", "features"], "additionalProperties": False,
                      "properties": {"method": {"type": "string"}, "features": _COUNT}},
        "confusion": {"type": "object", "additionalProperties": {"type": "array"}},
        "training_time_s": _NUMBER, "examples_per_s": _NUMBER, "device": {"type": "string"}, "seed": _COUNT,
        "files": {"type": "object", "required": ["checkpoint", "rtneural", "onnx", "samples"],
                  "additionalProperties": False,
                  "properties": {"checkpoint": _FILE, "rtneural": _FILE, "samples": _FILE,
                                 "onnx": {"type": ["object", "null"], **{k: v for k, v in _FILE.items() if k != "type"}}}},
    },
}
REGISTRY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "kellyd model registry",
    "type": "object",
    "required": ["format_version", "updated_at", "models"],
    "additionalProperties": False,
    "properties": {
        "format_version": {"enum": [REGISTRY_FORMAT_VERSION]},
        "updated_at": {"type": ["string", "null"]},
        "models": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["current", "champions", "versions"], "additionalProperties": False,
            "properties": {"current": {"type": ["string", "null"]},
                           "champions": {"type": "object", "additionalProperties": {"type": "string"}},
                           "versions": {"type": "array", "items": _VERSION_ENTRY}}}},
    },
}

_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


class RegistryError(Exception):
    """The registry does not match its schema (or does not parse); `problems` lists where."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""))


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _JSON_TYPES[name])


def schema_problems(value: Any, schema: Mapping[str, Any], where: str = "$") -> list[str]:
    """Where `value` breaks `schema` (empty when it conforms), for the keywords listed above."""
    problems: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, n) for n in names):
            return [f"{where}: expected {' or '.join(names)}, got {type(value).__name__} {str(value)[:40]!r}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if "minimum" in schema and _is_type(value, "number") and value < schema["minimum"]:
        problems.append(f"{where}: {value} is below the minimum {schema['minimum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        problems.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in value:
                problems.append(f"{where}: missing {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                problems.extend(schema_problems(item, properties[key], f"{where}.{key}"))
            elif extra is False:
                problems.append(f"{where}: unexpected key {key!r}")
            elif isinstance(extra, Mapping):
                problems.extend(schema_problems(item, extra, f"{where}.{key}"))
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems.extend(schema_problems(item, schema["items"], f"{where}[{i}]"))
    return problems


def check_registry(document: Any) -> None:
    """Raise RegistryError unless `document` conforms to REGISTRY_SCHEMA and its own rules
    (versions unique per model, `current` names a promoted version)."""
    problems = schema_problems(document, REGISTRY_SCHEMA)
    if not problems:
        for key, entry in document["models"].items():
            versions = [v["version"] for v in entry["versions"]]
            if len(set(versions)) != len(versions):
                problems.append(f"$.models.{key}: a version is listed twice")
            promoted = {v["version"] for v in entry["versions"] if v["promoted"]}
            if entry["current"] is not None and entry["current"] not in promoted:
                problems.append(f"$.models.{key}.current: {entry['current']!r} is not a promoted version")
            by_version = {v["version"]: v for v in entry["versions"]}
            for data_key, version in entry["champions"].items():
                if version not in promoted:
                    problems.append(f"$.models.{key}.champions.{data_key}: {version!r} is not a promoted version")
                elif champion_key_of(by_version[version]) != data_key:
                    problems.append(f"$.models.{key}.champions.{data_key}: {version!r} was trained on "
                                    f"{champion_key_of(by_version[version])}")
    if problems:
        raise RegistryError(problems)


def empty_registry() -> dict[str, Any]:
    return {"format_version": REGISTRY_FORMAT_VERSION, "updated_at": None, "models": {}}


def champion_key(dataset_id: str, feature_schema_version: int) -> str:
    """The key of `champions`: the data a model was trained and judged on."""
    return f"{dataset_id}@schema{feature_schema_version}"


def champion_key_of(entry: Mapping[str, Any]) -> str:
    return champion_key(entry["dataset"]["dataset_id"], entry["dataset"]["feature_schema_version"])


def migrate(document: Any) -> Any:
    """A format-1 registry as format 2 (each model's current version becomes the champion of the
    dataset and schema it was trained on); any other document is returned as it is."""
    if not isinstance(document, dict) or document.get("format_version") != 1 or not isinstance(
            document.get("models"), dict):
        return document
    new = copy.deepcopy(document)
    new["format_version"] = REGISTRY_FORMAT_VERSION
    for slot in new["models"].values():
        if not isinstance(slot, dict) or "champions" in slot:
            continue
        champions = {}
        current = next((v for v in slot.get("versions", []) if isinstance(v, dict)
                        and v.get("version") == slot.get("current")), None)
        if current is not None:
            champions[champion_key_of(current)] = current["version"]
        slot["champions"] = champions
    return new


def read_registry(path: Path) -> dict[str, Any]:
    """The registry at `path` (an empty one when the file does not exist), format-1 files migrated;
    RegistryError when invalid."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return empty_registry()
    except ValueError as exc:
        raise RegistryError([f"{path} does not parse: {exc}"]) from None
    try:
        document = migrate(document)
    except (KeyError, TypeError) as exc:
        raise RegistryError([f"{path}: a format-1 version entry is incomplete ({exc})"]) from None
    check_registry(document)
    return document


def write_registry(path: Path, document: Mapping[str, Any]) -> None:
    """Validate, then replace the registry atomically."""
    check_registry(document)
    atomic_write_json(Path(path), document)


def versions_of(document: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    return list(document["models"].get(key, {}).get("versions", []))


def current_entry(document: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """The promoted version that is current for model key `key`, or None."""
    current = document["models"].get(key, {}).get("current")
    return next((v for v in versions_of(document, key) if v["version"] == current), None)


def champion_entry(document: Mapping[str, Any], key: str, dataset_id: str,
                   feature_schema_version: int) -> dict[str, Any] | None:
    """The promoted version of model key `key` that a new model trained on `dataset_id` with feature
    schema `feature_schema_version` is compared with, or None (never a model of other data)."""
    slot = document["models"].get(key, {})
    version = slot.get("champions", {}).get(champion_key(dataset_id, feature_schema_version))
    return next((v for v in versions_of(document, key) if v["version"] == version), None)


def next_version(document: Mapping[str, Any], key: str) -> str:
    numbers = [int(v["version"][1:]) for v in versions_of(document, key)]
    return f"v{max(numbers, default=0) + 1:04d}"


def with_version(document: Mapping[str, Any], key: str, entry: Mapping[str, Any], *, updated_at: str) -> dict[str, Any]:
    """A new registry with `entry` appended under `key`; it becomes current when promoted."""
    new = copy.deepcopy(dict(document))
    slot = new["models"].setdefault(key, {"current": None, "champions": {}, "versions": []})
    slot["versions"].append(copy.deepcopy(dict(entry)))
    if entry["promoted"]:
        slot["current"] = entry["version"]
        slot["champions"][champion_key_of(entry)] = entry["version"]
    new["updated_at"] = updated_at
    return new
