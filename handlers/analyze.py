"""The `analyze` step: a whole song's tags, music, stems and notes.

For an audio sample, decodes the file once (its first `limits.max_audio_analysis_s`
seconds) and writes, under the dataset folder:
- `processed/analysis/<3 hex>/<sample_id>.json`: tags and provenance, beats, downbeats,
  meter, tempo, key, chords, Roman numerals, cadences, sections, and what
  the stems and notes steps did (backend, and why another backend ran);
  `.npz` beside it: the arrays (beat times, beat chroma...);
- `processed/stems/<3 hex>/<sample_id>/{vocals,drums,bass,other}.flac`;
- `processed/notes/<3 hex>/<sample_id>.mid`, the transcribed notes, and
  `processed/notes/<3 hex>/<sample_id>.json|.npz`, their MIDI features (the same
  extractor as MIDI samples), so songs also feed the MIDI-domain models.
Each folder is sharded by the sample id's first three hex digits (`kellyd.shard`), as
`processed/features/` is: a collection of 100,000 songs would put 200,000 files in one.
The paths go into the sample's `outputs` (readers use those, so songs analysed before
sharding keep their flat paths); tempo, key, meter, duration and the
file's tags fill annotations that folders and sidecars did not set (never a
given label). A MIDI sample passes through unchanged. A file that does not
decode, or is silent, is invalid input (quarantined with the reason); broken
or missing tags are not: the analysis records why the tags are empty.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, ClassVar, Mapping

import numpy as np
import structlog

from kellyd.atomic import atomic_write_bytes, atomic_write_json
from kellyd.errors import InvalidInput
from kellyd.handlers.base import DatasetContext
from kellyd.handlers.features import npz_bytes
from kellyd.sample import Sample
from kellyd.shard import sample_file

log = structlog.get_logger("kellyd.analyze")

ANALYSIS_SCHEMA_VERSION = 1
ANALYSIS_DIR = PurePosixPath("processed", "analysis")
STEMS_DIR = PurePosixPath("processed", "stems")
NOTES_DIR = PurePosixPath("processed", "notes")
# A label that only makes sense with another: filled only when that one is not a given label.
PAIRED_WITH = {"mode": "key"}


def song_labels(music: Mapping[str, Any], tags_labels: Mapping[str, Any], duration_s: float) -> dict[str, Any]:
    """Pure: the headline annotations of an analysis (`music` is `SongMusic.to_json()`)."""
    labels: dict[str, Any] = {"duration_s": round(duration_s, 3)}
    if music.get("tempo_bpm"):
        labels["tempo_bpm"] = music["tempo_bpm"]
    if music.get("meter"):
        labels["time_signature"] = f"{music['meter']}/4"
    if music.get("key"):
        labels.update(key=music["key"], mode=music.get("mode"))
    labels.update(tags_labels)
    return labels


def merge_analyzed(annotations: Mapping[str, Any], found: Mapping[str, Any]) -> dict[str, Any]:
    """Pure: `annotations` with the analysis' labels where no one gave one.

    A label given by folders or a sidecar stays. A label another step detected
    (listed in `detected`, e.g. the clip features' tempo) gives way: the song
    analysis reads the whole song. The keys filled here are listed in
    `analyzed`, so a recompute replaces them, and leave `detected`, so the
    features step keeps them when it runs again.
    """
    previously = set(annotations.get("analyzed", ()))
    machine = set(annotations.get("detected", ()))
    merged = {k: v for k, v in annotations.items() if k not in previously}
    given = {k for k in merged if k not in machine}
    filled = []
    for key, value in found.items():
        if value is None or value == "":
            continue
        if PAIRED_WITH.get(key) in given:  # a given key "F" is not completed with a detected mode
            continue
        if key not in merged or key in machine:
            merged[key] = value
            filled.append(key)
    if "detected" in merged:
        merged["detected"] = sorted(machine - set(filled))
    merged["analyzed"] = sorted(filled)
    return merged


class Analyze:
    name: ClassVar[str] = "analyze"
    version: ClassVar[int] = ANALYSIS_SCHEMA_VERSION

    def __init__(self, ctx: DatasetContext, *, stems: str = "hpss", demucs_model: str = "",
                 notes: str = "auto") -> None:
        self.ctx = ctx
        self.stems = stems
        self.demucs_model = demucs_model
        self.notes = notes

    def __call__(self, sample: Sample) -> Sample:
        if sample.kind != "audio":
            return sample
        from kellyd.music.audio_io import mix_to_mono, read_native, resample
        from kellyd.music.audio_quality import require_usable_signal
        from kellyd.song.frontend import ANALYSIS_SR_HZ, MIN_SONG_S
        from kellyd.song.music import analyze_music
        from kellyd.song.tags import read_tags

        path = self.ctx.path_of(sample)
        tags = read_tags(path)  # never raises: a song without tags is still analysed
        cap_s = self.ctx.limits.max_audio_analysis_s
        native = read_native(path, max_duration_s=cap_s)  # the one decode; InvalidInput when it fails
        y = resample(mix_to_mono(native.samples), from_hz=native.sr_hz, to_hz=ANALYSIS_SR_HZ)
        require_usable_signal(y, sr_hz=ANALYSIS_SR_HZ)  # silent or too short: quarantined with the reason
        if len(y) < MIN_SONG_S * ANALYSIS_SR_HZ:
            raise InvalidInput(f"too short for a song: {len(y) / ANALYSIS_SR_HZ:.2f} s, at least {MIN_SONG_S:g} s")
        music = analyze_music(y, ANALYSIS_SR_HZ)
        music_json = music.to_json()
        sid = sample.sample_id
        outputs: dict[str, Any] = {}
        stems_info = self._stems(native, y, ANALYSIS_SR_HZ, str(sample_file(STEMS_DIR, sid, sid)), outputs)
        notes_info = self._notes(sample, y, ANALYSIS_SR_HZ, music_json, outputs)
        analysis_rel = sample_file(ANALYSIS_DIR, sid, f"{sid}.json")
        arrays_rel = sample_file(ANALYSIS_DIR, sid, f"{sid}.npz")
        atomic_write_bytes(self.ctx.root / arrays_rel, npz_bytes(music.arrays()))
        atomic_write_json(self.ctx.root / analysis_rel, {
            "schema_version": ANALYSIS_SCHEMA_VERSION,
            "sample_id": sid,
            "file_duration_s": round(native.info.duration_s, 3),
            "analysed_s": round(len(y) / ANALYSIS_SR_HZ, 3),
            "truncated": native.info.duration_s > cap_s,
            "tags": tags.to_json(),
            "music": music_json,
            "stems": stems_info,
            "notes": notes_info,
        })
        outputs["analysis"] = str(analysis_rel)
        outputs["analysis_arrays"] = str(arrays_rel)
        labels = song_labels(music_json, tags.labels(), native.info.duration_s)
        return sample.with_changes(annotations=merge_analyzed(sample.annotations, labels),
                                   outputs={**sample.outputs, **outputs})

    def _stems(self, native, y: np.ndarray, sr_hz: int, folder: str, outputs: dict) -> dict[str, Any]:
        from kellyd.song.stems import separate_hpss, write_stems

        if self.stems == "off":
            return {"backend": None, "note": "stems are off for this dataset"}
        stems = None
        note = ""
        if self.stems == "demucs":
            from kellyd.song.stems_demucs import DemucsUnavailable, find_model, load_models, separate_demucs

            try:
                models = load_models(find_model(self.demucs_model))
                stems = separate_demucs(models, native.samples, native.sr_hz)
            except DemucsUnavailable as exc:
                note = f"Demucs not used: {exc}; the offline hpss stems were made instead"
                log.warning("demucs_unavailable", reason=str(exc), fallback="hpss")
        if stems is None:
            stems = separate_hpss(y, sr_hz)
        paths = write_stems(stems, self.ctx.root, folder)
        outputs.update({f"stem_{name}": rel for name, rel in paths.items()})
        return {"backend": stems.backend, "note": note, "sr_hz": stems.sr_hz, "paths": paths}

    def _notes(self, sample: Sample, y: np.ndarray, sr_hz: int, music: Mapping[str, Any],
               outputs: dict) -> dict[str, Any]:
        from kellyd.handlers.features import check_finite
        from kellyd.music.midi_features import extract_midi
        from kellyd.music.midi_io import score_midi_bytes
        from kellyd.song.transcribe import notes_score, transcribe

        if self.notes == "off":
            return {"backend": None, "note": "notes are off for this dataset"}
        result = transcribe(y, sr_hz, backend=self.notes)
        if result.note:
            log.info("notes_fallback", backend=result.backend, reason=result.note)
        sid = sample.sample_id
        score = notes_score(result.notes, tempo_bpm=music.get("tempo_bpm"), meter=music.get("meter"),
                            duration_s=len(y) / sr_hz)
        midi_rel = sample_file(NOTES_DIR, sid, f"{sid}.mid")
        atomic_write_bytes(self.ctx.root / midi_rel, score_midi_bytes(score))  # serialised in memory
        info: dict[str, Any] = {"backend": result.backend, "note": result.note, "count": len(result.notes),
                                "midi_path": str(midi_rel)}
        outputs["notes_midi"] = str(midi_rel)
        if len(result.notes):
            # The transcription goes through the MIDI extractor, like any MIDI sample.
            extracted = extract_midi(score)
            check_finite(extracted)
            features_rel = sample_file(NOTES_DIR, sid, f"{sid}.json")
            atomic_write_bytes(self.ctx.root / sample_file(NOTES_DIR, sid, f"{sid}.npz"), npz_bytes(extracted.arrays))
            atomic_write_json(self.ctx.root / features_rel, {
                "sample_id": sid, "kind": "midi", "source": "transcribed", "scalars": dict(extracted.scalars),
                "labels": dict(extracted.labels), "flags": list(extracted.flags),
                "arrays": {k: list(np.shape(v)) for k, v in extracted.arrays.items()},
            })
            info["features_path"] = str(features_rel)
            outputs["notes_features"] = str(features_rel)
        return info
