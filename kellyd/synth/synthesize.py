"""Write synthetic pieces into a dataset: `raw/synthetic/<generator>/<label>/<name>.mid`.

`synthesize` validates everything (generator, count, seed, duration, labels,
the renderer when audio is asked for, and that the files fit on the disk)
before it writes a single file. Piece i of a call is determined by (seed, i):
the same call writes the same bytes under the same names, so re-running it is
harmless. The returned samples carry their annotations and
`source = {"type": "synthetic", "generator", "seed", "index"}`; registering
them in the catalog is the caller's job.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from kellyd.handlers.base import DatasetContext
from kellyd.sample import Sample, sample_id_for
from kellyd.synth.common import MODES, Synthesized, check_duration, rng_for
from kellyd.synth.dynamics import DYNAMICS, dynamics_piece
from kellyd.synth.emotion import EMOTION_PROFILES, emotion_piece
from kellyd.synth.files import midi_bytes, write_if_changed
from kellyd.synth.groove import groove_piece
from kellyd.synth.harmony import HARMONY_PROGRESSIONS, harmony_piece
from kellyd.synth.melody import CONTOURS, RANGES_SEMITONES, melody_piece
from kellyd.synth.render import SOUNDFONT_CANDIDATES, Renderer, find_renderer, render_wav_bytes
from kellyd.taxonomy import BASE_EMOTION_NAMES, EMOTIONS, GROOVE_TYPES

SYNTHETIC_DIR = PurePosixPath("raw", "synthetic")
DEFAULT_DURATION_S = 16.0
FILE_OVERHEAD_BYTES = 256  # header, track headers, tempo and meter events
DISK_HEADROOM = 1.5        # refuse unless the estimate fits this many times over


@dataclass(frozen=True)
class Generator:
    """A named generator: the labels it can be asked for and how to make piece `seed` of a label."""

    name: str
    labels: tuple[str, ...]
    make: Callable[[str, int, float], Synthesized]  # (label, seed, duration_s)
    bytes_per_s: float  # generous estimate of the MIDI file size per second of music


def _tonic(seed: int) -> int:
    return int(rng_for(seed, 1).integers(12))


def _emotion(label: str, seed: int, duration_s: float) -> Synthesized:
    return emotion_piece(label, tonic_pc=_tonic(seed), duration_s=duration_s, seed=seed)


def _melody(label: str, seed: int, duration_s: float) -> Synthesized:
    ranges = tuple(RANGES_SEMITONES)
    extra = rng_for(seed, 2)
    return melody_piece(label, tonic_pc=_tonic(seed), mode=MODES[int(extra.integers(len(MODES)))],
                        duration_s=duration_s, seed=seed, range_name=ranges[int(extra.integers(len(ranges)))])


def _harmony(label: str, seed: int, duration_s: float) -> Synthesized:
    progressions = HARMONY_PROGRESSIONS[label]
    extra = rng_for(seed, 2)
    return harmony_piece(progressions[int(extra.integers(len(progressions)))], tonic_pc=_tonic(seed), mode=label,
                         duration_s=duration_s, seed=seed, chords_per_bar=int(extra.integers(1, 3)))


def _groove(label: str, seed: int, duration_s: float) -> Synthesized:
    return groove_piece(label, duration_s=duration_s, seed=seed)


def _dynamics(label: str, seed: int, duration_s: float) -> Synthesized:
    extra = rng_for(seed, 2)
    articulations = ("legato", "staccato", "mixed")
    return dynamics_piece(label, articulation=articulations[int(extra.integers(3))], tonic_pc=_tonic(seed),
                          mode=MODES[int(extra.integers(len(MODES)))], duration_s=duration_s, seed=seed)


def spread_over_families(labels: Sequence[str]) -> tuple[str, ...]:
    """Emotion labels reordered round robin over their base emotions (happy, sad, angry, fear, surprise,
    disgust, then each one's next sub-emotion...), so that `--count 6` writes one piece of every base
    emotion rather than six of the happy family. Labels the taxonomy does not know keep their place
    at the end."""
    families: dict[str, list[str]] = {}
    for label in labels:
        base = EMOTIONS[label].base if label in EMOTIONS else label
        families.setdefault(base, []).append(label)
    ordered = [family for family in BASE_EMOTION_NAMES if family in families]
    ordered += [family for family in families if family not in ordered]
    spread: list[str] = []
    for rank in range(max((len(f) for f in families.values()), default=0)):
        spread.extend(families[f][rank] for f in ordered if rank < len(families[f]))
    return tuple(spread)


GENERATORS: dict[str, Generator] = {
    "emotion": Generator("emotion", spread_over_families(tuple(EMOTION_PROFILES)), _emotion, bytes_per_s=400.0),
    "melody": Generator("melody", CONTOURS, _melody, bytes_per_s=80.0),
    "harmony": Generator("harmony", MODES, _harmony, bytes_per_s=150.0),
    "groove": Generator("groove", GROOVE_TYPES, _groove, bytes_per_s=400.0),
    "dynamics": Generator("dynamics", DYNAMICS, _dynamics, bytes_per_s=300.0),
}


def estimated_bytes(generator: str, *, count: int, duration_s: float, audio_sr_hz: int = 0) -> int:
    """A generous estimate of what `count` pieces of `duration_s` take on disk (and their 16-bit renderings)."""
    spec = _generator(generator)
    per_piece = FILE_OVERHEAD_BYTES + spec.bytes_per_s * duration_s
    if audio_sr_hz:
        per_piece += FILE_OVERHEAD_BYTES + 2 * audio_sr_hz * duration_s
    return int(count * per_piece)


def piece_seed(seed: int, index: int) -> int:
    """The seed of piece `index` of a call with `seed` (32 bits, independent per piece)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def synthesize(ctx: DatasetContext, *, generator: str, count: int, seed: int,
               duration_s: float = DEFAULT_DURATION_S, labels: Sequence[str] | None = None,
               render_audio: bool = False, sr_hz: int = 16000, soundfont: Path | None = None,
               on_piece: Callable[[], None] | None = None) -> list[Sample]:
    """Write `count` pieces of `generator` into the dataset and return them as samples.

    Labels cycle through `labels` (default: every label the generator has; for emotions spread
    over the base emotions first, see `spread_over_families`), so `count = len(labels)` gives one
    piece per label. With `render_audio`,
    each piece is also rendered to a WAV beside its MIDI file (see
    `kellyd.synth.render`) and returned as an audio sample right after it,
    with `source["rendered_from"]` naming the MIDI sample (keep both in one
    split). Raises ValueError, before writing anything, for an unknown
    generator or label, a count that is not a positive integer or whose files
    would not fit on the disk, a negative seed, a duration outside the
    supported range, or `render_audio` without FluidSynth and a SoundFont.
    `on_piece` is called after each piece is written (a progress bar).
    """
    spec = _generator(generator)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    duration_s = check_duration(duration_s)
    wanted = tuple(spec.labels if labels is None else labels)
    unknown = [label for label in wanted if label not in spec.labels]
    if not wanted or unknown:
        raise ValueError(f"generator {generator!r} has no label(s) {unknown or wanted!r}; "
                         f"known: {', '.join(spec.labels)}")
    renderer = find_renderer(soundfont) if render_audio else None
    if render_audio and renderer is None:
        raise ValueError(f"render_audio needs the fluidsynth program and a General MIDI SoundFont "
                         f"({soundfont or 'none of ' + ', '.join(map(str, SOUNDFONT_CANDIDATES))}); "
                         f"fluidsynth is {'found' if shutil.which('fluidsynth') else 'not installed'}")
    out_dir = ctx.root / SYNTHETIC_DIR / generator
    needed = estimated_bytes(generator, count=count, duration_s=duration_s, audio_sr_hz=sr_hz if render_audio else 0)
    free = shutil.disk_usage(_existing_ancestor(out_dir)).free
    if needed * DISK_HEADROOM > free:
        raise ValueError(f"count {count} needs about {needed:,} bytes (x{DISK_HEADROOM} headroom) but only "
                         f"{free:,} bytes are free under {_existing_ancestor(out_dir)}")
    samples: list[Sample] = []
    for i in range(count):
        midi = _write_piece(ctx, spec, wanted[i % len(wanted)], seed=seed, index=i, duration_s=duration_s)
        samples.append(midi)
        if renderer is not None:
            samples.append(_write_rendering(ctx, midi, renderer, sr_hz=sr_hz))
        if on_piece is not None:
            on_piece()
    return samples


def _write_piece(ctx: DatasetContext, spec: Generator, label: str, *, seed: int, index: int,
                 duration_s: float) -> Sample:
    piece = spec.make(label, piece_seed(seed, index), duration_s)
    name = f"{spec.name}_s{seed}_{index:05d}.mid"
    rel = SYNTHETIC_DIR / spec.name / piece.label / name
    data = midi_bytes(piece.score, beside=ctx.root / rel)
    write_if_changed(ctx.root / rel, data)
    return _sample(ctx, rel, data, kind="midi", label=piece.label, annotations=piece.annotations,
                   source={"type": "synthetic", "generator": spec.name, "seed": seed, "index": index})


def _write_rendering(ctx: DatasetContext, midi: Sample, renderer: Renderer, *, sr_hz: int) -> Sample:
    rel = PurePosixPath(midi.file_path).with_suffix(".wav")
    data = render_wav_bytes(renderer, ctx.root / midi.file_path, sr_hz=sr_hz,
                            duration_s=float(midi.annotations["duration_s"]))
    write_if_changed(ctx.root / rel, data)
    source = {**midi.source, "rendered_from": midi.sample_id, "soundfont": renderer.name}
    return _sample(ctx, rel, data, kind="audio", label=midi.label_dirs[0], annotations=midi.annotations,
                   source=source)


def _sample(ctx: DatasetContext, rel: PurePosixPath, data: bytes, *, kind: str, label: str,
            annotations: Mapping[str, Any], source: Mapping[str, Any]) -> Sample:
    digest = hashlib.sha256(data).hexdigest()
    return Sample(
        dataset_id=ctx.dataset_id,
        origin_path=str(ctx.root / rel),
        label_dirs=(label,),
        sample_id=sample_id_for(digest),
        sha256=digest,
        kind=kind,
        file_path=rel.as_posix(),
        original_names=(rel.name,),
        annotations=dict(annotations),
        source=dict(source),
    )


def _generator(name: str) -> Generator:
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; known: {', '.join(GENERATORS)}")
    return GENERATORS[name]


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
