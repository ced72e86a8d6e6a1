"""The `annotate` step: labels from the folder path, then the JSON sidecar.

Folder names are read through the taxonomy (`kellyd.taxonomy.read_folder`); the
deepest emotion folder is the sample's `emotion`, its taxonomy root the
`base_emotion`. Unrecognised folder names become `tags`. A sidecar next to the
file (`song.mid.json`, or the Freesound metadata sidecar) adds or overrides
annotations and provenance; an empty sidecar value (null, "", [], {}) never
removes or blanks a folder label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Mapping

import structlog

from kellyd.handlers.base import DatasetContext
from kellyd.config import LimitsConfig
from kellyd.handlers.importer import SIDECAR_SUFFIX
from kellyd.handlers.sidecar import parse_sidecar, read_sidecar_bytes
from kellyd import taxonomy
from kellyd.errors import InvalidInput
from kellyd.pathpolicy import is_plain_file
from kellyd.sample import Sample

log = structlog.get_logger("kellyd.annotate")

# Keys of a sidecar that describe where the file came from rather than what it is.
PROVENANCE_KEYS = frozenset({"source", "license", "licence", "username", "author", "url", "freesound_id",
                             "name", "query", "downloaded_at", "type"})


def labels_from_folders(label_dirs: tuple[str, ...]) -> dict[str, Any]:
    """Pure: annotations told by the folder names, outermost first, deeper folders win."""
    labels: dict[str, Any] = {}
    tags: list[str] = []
    for folder in label_dirs:
        found = taxonomy.read_folder(folder)
        if found is None:
            continue
        if found.kind == "emotion":
            emo = taxonomy.emotion(found.value)
            labels.update(emotion=emo.name, base_emotion=emo.base, valence=emo.valence, arousal=emo.arousal)
        elif found.kind == "key":
            tonic, mode = found.value.split(":")
            labels.update(key=tonic, mode=mode)
        elif found.kind == "tag":
            tags.append(found.value)
        else:
            labels[found.kind] = found.value
    if tags:
        labels["tags"] = tags
    return labels


def split_sidecar(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pure: (annotations, source) from a sidecar's JSON object.

    A sidecar may hold explicit `annotations` and `source` objects; flat keys are
    sorted into provenance (licence, author, URL...) and annotations (the rest).
    """
    nested = data.get("annotations", {})
    if not isinstance(nested, Mapping):
        raise InvalidInput(f"a sidecar's 'annotations' must be a JSON object, got {type(nested).__name__}")
    annotations = dict(nested)
    source = dict(data["source"]) if isinstance(data.get("source"), Mapping) else {}
    for key, value in data.items():
        if key in ("annotations",) or (key == "source" and isinstance(value, Mapping)):
            continue
        if key in PROVENANCE_KEYS:
            if key == "source":
                source["type"] = value
            elif key == "username":
                source["author"] = value
            elif key == "licence":
                source["license"] = value
            else:
                source[key] = value
        else:
            annotations[key] = value
    return annotations, source


def read_sidecar(path: Path, limits: LimitsConfig | None = None) -> Mapping[str, Any] | None:
    """The sidecar beside the imported file `path`, checked like the import step checks it."""
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if not is_plain_file(sidecar, what="sidecar", logger=log):
        return None
    return parse_sidecar(read_sidecar_bytes(sidecar, limits or LimitsConfig()), name=sidecar.name)


def is_empty(value: Any) -> bool:
    """Pure: a value that says nothing (null, "", [], {}); it never replaces a label."""
    return value is None or (isinstance(value, (str, list, dict)) and not value)


def merge_sidecar(annotations: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Pure: `annotations` (folders first) with the sidecar's `extra` on top.

    A sidecar value overrides a folder label (as documented), but an empty one
    (null, "", [], {}) is dropped: it can neither remove nor blank a label.
    Tags from both are kept, folder tags first.
    """
    merged = dict(annotations)
    for key, value in extra.items():
        if is_empty(value):
            continue
        if key == "tags":
            given = value if isinstance(value, list) else [value]
            value = list(dict.fromkeys([*merged.get("tags", ()), *given]))
        merged[key] = value
    return merged


class Annotate:
    name: ClassVar[str] = "annotate"
    version: ClassVar[int] = 1

    def __init__(self, ctx: DatasetContext, *, label_key: str, labels: tuple[str, ...] = ()) -> None:
        self.ctx = ctx
        self.label_key = label_key
        self.closed_labels = frozenset(taxonomy.normalise_folder_name(x) for x in labels)

    def __call__(self, sample: Sample) -> Sample:
        found = labels_from_folders(sample.label_dirs)
        taxonomy_keys = {"emotion", "groove_type", "instrument", "key"}
        if self.label_key not in taxonomy_keys and self.label_key not in found and found.get("tags"):
            found[self.label_key] = found["tags"][0]
        annotations = {**sample.annotations, **found}
        source = dict(sample.source)
        sidecar = read_sidecar(self.ctx.path_of(sample), self.ctx.limits)
        if sidecar is not None:
            extra_annotations, extra_source = split_sidecar(sidecar)
            annotations = merge_sidecar(annotations, extra_annotations)
            source.update(extra_source)
        if self.closed_labels:
            self._check_closed_set(annotations, sample)
        return sample.with_changes(annotations=annotations, source=source)

    def _check_closed_set(self, annotations: Mapping[str, Any], sample: Sample) -> None:
        value = annotations.get(self.label_key)
        allowed = ", ".join(sorted(self.closed_labels))
        if value is None:
            raise InvalidInput(f"no {self.label_key!r} label in folders {'/'.join(sample.label_dirs) or '(none)'};"
                               f" this dataset accepts only: {allowed}")
        if taxonomy.normalise_folder_name(str(value)) not in self.closed_labels:
            raise InvalidInput(f"label {value!r} is not in this dataset's label set: {allowed}")
