"""The `annotate` step: labels from the folder path, then the JSON sidecar.

Folder names are read through the taxonomy (`kellyd.taxonomy.read_folder`); the
deepest emotion folder is the sample's `emotion`, its taxonomy root the
`base_emotion`. Unrecognised folder names become `tags`. A sidecar next to the
file (`song.mid.json`, or the Freesound metadata sidecar) adds or overrides
annotations and provenance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Mapping

from kellyd.handlers.base import DatasetContext
from kellyd.handlers.importer import SIDECAR_SUFFIX
from kellyd import taxonomy
from kellyd.errors import InvalidInput
from kellyd.sample import Sample

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
    annotations = dict(data.get("annotations", {}))
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


def read_sidecar(path: Path) -> Mapping[str, Any] | None:
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return None
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"sidecar {sidecar.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"sidecar {sidecar.name} must hold a JSON object, got {type(data).__name__}")
    return data


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
        sidecar = read_sidecar(self.ctx.path_of(sample))
        if sidecar is not None:
            extra_annotations, extra_source = split_sidecar(sidecar)
            if "tags" in extra_annotations and "tags" in annotations:
                extra_annotations["tags"] = list(dict.fromkeys([*annotations["tags"], *extra_annotations["tags"]]))
            annotations.update(extra_annotations)
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
