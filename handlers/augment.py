"""The `augment` step: label-true children of training samples.

Only a sample of the train split that is not itself a child gets children, so
validation and test data stay untouched and nothing is augmented twice. Child
i of a parent is fully determined by the parent's content hash and i: its seed
is derived from both, and the transform (one, or two combined) and its
parameters are drawn from that seed. Re-running the step therefore writes the
same bytes under the same names and returns the same children.

Children are written under `processed/augmented/<shard of the parent id>/` (`kellyd.shard`) as
`<parent_id>_a<i>_<transform slug>.mid|.wav` (e.g. `3fa2..._a03_transpose+2.mid`),
atomically. Audio children are 16-bit PCM WAV at the dataset's sample rate.
Their annotations are the parent's moved by `labels_after` (a transposed key,
a stretched tempo).

A MIDI child is serialised once, in memory; those bytes are hashed, written, and,
when the chain has a features step (`child_features`), parsed once to compute the
child's features here, so that the child needs no job of its own. Audio children
(and a MIDI child whose features cannot be computed) get theirs from the features
step, which then decides about them as about any file.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path, PurePosixPath
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
import structlog

from kellyd.handlers.base import DatasetContext, Derived
from kellyd.errors import ConfigError, InvalidInput
from kellyd.music.midi_io import parse_midi_bytes, read_score, score_midi_bytes
from kellyd.music.notes import Score
from kellyd.music.transforms import COMBINATION_SEPARATOR, apply_midi, labels_after, split_steps
from kellyd.sample import Sample, sample_id_for
from kellyd.shard import sample_file
from kellyd.synth.files import write_if_changed

AUGMENTED_DIR = PurePosixPath("processed", "augmented")

# (low, high) of each transform's parameter; see kellyd.music.transforms and
# kellyd.music.audio_transforms for what the parameter means.
MIDI_TRANSFORMS: dict[str, tuple[float, float]] = {
    "transpose": (-6, 6),        # semitones, whole, never 0
    "stretch": (0.9, 1.1),       # duration factor
    "velocity": (0.8, 1.2),      # velocity factor
    "jitter": (-5.0, 5.0),       # per-note timing offset, ms
    "dropout": (0.02, 0.02),     # probability a note is removed
}
AUDIO_TRANSFORMS: dict[str, tuple[float, float]] = {
    "pitch_shift": (-2, 2),      # semitones, whole, never 0
    "time_stretch": (0.9, 1.1),  # duration factor
    "noise": (0.0, 0.005),       # noise standard deviation, fraction of full scale
    "gain": (0.8, 1.2),          # amplitude factor (peak kept below full scale)
}
DEFAULT_TRANSFORMS: dict[str, tuple[float, float]] = {**MIDI_TRANSFORMS, **AUDIO_TRANSFORMS}
# What a configured range may span at most.
LIMITS: dict[str, tuple[float, float]] = {
    "transpose": (-12, 12), "stretch": (0.5, 2.0), "velocity": (0.25, 4.0), "jitter": (-50.0, 50.0),
    "dropout": (0.0, 0.5), "pitch_shift": (-12, 12), "time_stretch": (0.5, 2.0), "noise": (0.0, 0.05),
    "gain": (0.1, 4.0),
}
_SEMITONE_TRANSFORMS = frozenset({"transpose", "pitch_shift"})
_SEEDED_TRANSFORMS = frozenset({"jitter", "dropout", "noise"})

COMBINED_SHARE = 0.4      # share of children made by two transforms at once
MAX_DRAWS_PER_CHILD = 8   # redraws when a child would duplicate its parent or a sibling
MAX_MULTIPLIER = 1000
SEED_BYTES = 6            # child seeds stay below 2**48: exact in any JSON reader

log = structlog.get_logger("kellyd.augment")
# (dataset, why) already said by this worker process: a training sample that no configured transform
# applies to gets no children, which is said once per worker, not once per file.
_said_no_transform: set[tuple[str, str]] = set()


class Augment:
    name: ClassVar[str] = "augment"
    version: ClassVar[int] = 1

    def __init__(self, ctx: DatasetContext, *, multiplier: int, sr_hz: int = 16000,
                 transforms: Mapping[str, Any] | None = None, child_features: bool = False) -> None:
        key = f"datasets.{ctx.dataset_id}"
        if isinstance(multiplier, bool) or not isinstance(multiplier, int) or not 1 <= multiplier <= MAX_MULTIPLIER:
            raise ConfigError(f"{key}.multiplier",
                              f"must be an integer from 1 to {MAX_MULTIPLIER} (children per training sample), "
                              f"got {multiplier!r}")
        if isinstance(sr_hz, bool) or not isinstance(sr_hz, int) or sr_hz < 1000:
            raise ConfigError(f"{key}.sample_rate_hz", f"must be an integer >= 1000 Hz, got {sr_hz!r}")
        self.ctx = ctx
        self.multiplier = multiplier
        self.sr_hz = sr_hz
        self.ranges = checked_ranges(DEFAULT_TRANSFORMS if transforms is None else transforms,
                                     key=f"{key}.augment_transforms")
        self.child_features = child_features

    def __call__(self, sample: Sample) -> Derived:
        if sample.split != "train" or sample.parent_id is not None:
            return Derived(sample, ())
        if not sample.sha256 or not sample.sample_id:
            raise ValueError(f"augment needs an imported sample (sha256 and sample_id), got {sample.origin_path!r}")
        path = self.ctx.path_of(sample)
        if sample.kind == "midi":
            return Derived(sample, self._midi_children(sample, read_score(path)))
        if sample.kind == "audio":
            from kellyd.music.audio_io import decode_audio  # librosa & co. only in workers

            # Only the first `limits.max_audio_augment_s` are decoded, so children are that long at most.
            y = decode_audio(path, sr_hz=self.sr_hz, max_duration_s=self.ctx.limits.max_audio_augment_s)
            return Derived(sample, self._audio_children(sample, y))
        raise InvalidInput(f"cannot augment a sample of kind {sample.kind!r}")

    # -- per kind ----------------------------------------------------------------

    def _midi_children(self, parent: Sample, score: Score) -> tuple[Sample, ...]:
        names = [n for n in MIDI_TRANSFORMS if n in self.ranges]
        if not names:
            self._say_no_transform("MIDI files", MIDI_TRANSFORMS)
        elif not len(score.pitched):
            names = [n for n in names if n != "transpose"]  # drums only: transposing would change nothing
            if not names:
                self._say_no_transform("drum-only MIDI files (transposing them would change nothing)",
                                       {n: r for n, r in MIDI_TRANSFORMS.items() if n != "transpose"})

        def render(transform: str, params: dict, path: Path) -> bytes:
            return score_midi_bytes(apply_midi(score, transform, params)[0])

        return self._children(parent, names, render, suffix=".mid",
                              finish=self._with_features if self.child_features else None)

    def _with_features(self, child: Sample, data: bytes) -> Sample:
        """The child with its features written, from one parse of the bytes just rendered; unchanged if
        it has none to give (no notes left): its features step then runs and judges it like any file."""
        from kellyd.handlers.features import Features
        from kellyd.music.midi_features import extract_midi

        score = parse_midi_bytes(data)
        if not any(len(t.notes) for t in score.tracks):
            return child
        return Features(self.ctx, sr_hz=self.sr_hz).written(child, extract_midi(score))

    def _audio_children(self, parent: Sample, y: np.ndarray) -> tuple[Sample, ...]:
        from kellyd.music.audio_transforms import apply_audio, wav_pcm16_bytes

        names = [n for n in AUDIO_TRANSFORMS if n in self.ranges]
        if not names:
            self._say_no_transform("audio files", AUDIO_TRANSFORMS)

        def render(transform: str, params: dict, path: Path) -> bytes:
            shifted, _ = apply_audio(y, sr_hz=self.sr_hz, transform=transform, params=params)
            return wav_pcm16_bytes(shifted, sr_hz=self.sr_hz)

        return self._children(parent, names, render, suffix=".wav")

    def _say_no_transform(self, files: str, usable: Mapping[str, Any]) -> None:
        """Warn (once per dataset and kind in this worker) that training files of this kind get no
        children: none of the dataset's `augment_transforms` applies to them."""
        said = (self.ctx.dataset_id, files)
        if said in _said_no_transform:
            return
        _said_no_transform.add(said)
        log.warning("augment_no_transform_applies", dataset=self.ctx.dataset_id, files=files,
                    configured=sorted(self.ranges), usable=sorted(usable),
                    hint=f"{files} of this dataset get no augmented children: add one of the usable transforms "
                         f"to datasets.{self.ctx.dataset_id}.augment_transforms")

    def _children(self, parent: Sample, names: list[str], render: Callable[[str, dict, Path], bytes], *,
                  suffix: str, finish: Callable[[Sample, bytes], Sample] | None = None) -> tuple[Sample, ...]:
        if not names:
            return ()
        seen = {parent.sha256}
        children = []
        for index in range(self.multiplier):
            seed = child_seed(parent.sha256, index)
            rng = np.random.default_rng(seed)
            for _ in range(MAX_DRAWS_PER_CHILD):
                transform, params = draw_plan(rng, names, self.ranges)
                rel = sample_file(AUGMENTED_DIR, parent.sample_id,
                                  f"{parent.sample_id}_a{index:02d}_{plan_slug(transform, params)}{suffix}")
                data = render(transform, params, self.ctx.root / rel)
                digest = hashlib.sha256(data).hexdigest()
                if digest not in seen:
                    break
            else:
                continue  # every draw repeated a sibling (a tiny file): fewer children, never duplicates
            seen.add(digest)
            write_if_changed(self.ctx.root / rel, data)
            child = Sample(
                dataset_id=parent.dataset_id,
                origin_path=str(self.ctx.root / rel),
                sample_id=sample_id_for(digest),
                sha256=digest,
                kind=parent.kind,
                file_path=rel.as_posix(),
                annotations=labels_after(transform, params, parent.annotations),
                source={"type": "augmented", "parent_id": parent.sample_id},
                features_path=None,
                parent_id=parent.sample_id,
                augmentation={"transform": transform, "params": params, "seed": seed, "index": index},
                split=parent.split,
            )
            children.append(finish(child, data) if finish is not None else child)
        return tuple(children)


# --- pure helpers ---------------------------------------------------------------


def checked_ranges(transforms: Mapping[str, Any], *, key: str) -> dict[str, tuple[float, float]]:
    """Validate `{name: (low, high) | value}`; raise ConfigError naming the key and the value."""
    if not isinstance(transforms, Mapping):
        raise ConfigError(key, f"must be a table of transform -> [low, high], got {transforms!r}")
    ranges = {}
    for name, value in transforms.items():
        where = f"{key}.{name}"
        if name not in LIMITS:
            raise ConfigError(where, f"unknown transform; known: {', '.join(LIMITS)}")
        pair = (value, value) if _is_number(value) else value
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(_is_number(v) for v in pair):
            raise ConfigError(where, f"must be a number or [low, high], got {value!r}")
        low, high = float(pair[0]), float(pair[1])
        floor, ceiling = LIMITS[name]
        if not floor <= low <= high <= ceiling:
            raise ConfigError(where, f"must satisfy {floor} <= low <= high <= {ceiling}, got {list(pair)!r}")
        if name in _SEMITONE_TRANSFORMS and not [s for s in range(math.ceil(low), math.floor(high) + 1) if s]:
            raise ConfigError(where, f"must include a whole number of semitones other than 0, got {list(pair)!r}")
        ranges[name] = (low, high)
    return ranges


def child_seed(parent_sha256: str, index: int) -> int:
    """The seed of child `index`: from the parent's content hash, so the same parent gives the same children."""
    digest = hashlib.sha256(f"{parent_sha256}:{index}".encode("ascii")).digest()
    return int.from_bytes(digest[:SEED_BYTES], "big")


def draw_plan(rng: np.random.Generator, names: list[str],
              ranges: Mapping[str, tuple[float, float]]) -> tuple[str, dict[str, Any]]:
    """One transform (or two combined, `COMBINED_SHARE` of the time) and its parameters."""
    count = 2 if len(names) >= 2 and rng.random() < COMBINED_SHARE else 1
    chosen = [names[i] for i in sorted(rng.choice(len(names), size=count, replace=False))]
    steps = {name: draw_params(name, ranges[name], rng) for name in chosen}
    if count == 1:
        return chosen[0], steps[chosen[0]]
    return COMBINATION_SEPARATOR.join(chosen), steps


def draw_params(name: str, low_high: tuple[float, float], rng: np.random.Generator) -> dict[str, Any]:
    low, high = low_high
    if name in _SEMITONE_TRANSFORMS:
        options = [s for s in range(math.ceil(low), math.floor(high) + 1) if s]
        return {"semitones": int(options[rng.integers(len(options))])}
    seed = {"seed": int(rng.integers(2**31))} if name in _SEEDED_TRANSFORMS else {}
    if name == "jitter":
        return {"low_ms": low, "high_ms": high, **seed}
    value = round(float(rng.uniform(low, high)), 4 if name != "noise" else 6)
    key = {"dropout": "probability", "noise": "amplitude"}.get(name, "factor")
    return {key: value, **seed}


def plan_slug(transform: str, params: Mapping[str, Any]) -> str:
    """A short file-name part: `transpose+2`, `stretch1.0512`, `pitch_shift-1_noise`."""
    parts = []
    for name, p in split_steps(transform, params, known=LIMITS):
        if name in _SEMITONE_TRANSFORMS:
            parts.append(f"{name}{p['semitones']:+d}")
        elif "factor" in p:
            parts.append(f"{name}{p['factor']:g}")
        else:
            parts.append(name)
    return "_".join(parts)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
