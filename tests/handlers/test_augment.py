"""The augment step on real files: deterministic children, train only, labels that stay true."""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import shutil

import numpy as np
import pytest
import soundfile as sf

from kellyd.handlers.augment import AUDIO_TRANSFORMS, MIDI_TRANSFORMS, Augment, child_seed, draw_plan, plan_slug
from kellyd.handlers.base import DatasetContext, Derived
from kellyd.errors import ConfigError, InvalidInput
from kellyd.music.midi_features import extract_midi_file
from kellyd.music.midi_io import read_score
from kellyd.music.transforms import labels_after, pitch_class_of
from kellyd.sample import Sample, sample_id_for

SR_HZ = 16000
GROOVE_FILE = "groove_midi/drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid"


def imported(root, corpus, source: str, rel: str, *, kind: str, split: str | None = "train",
             annotations: dict | None = None) -> Sample:
    """A sample as the import step leaves it: the file copied into the dataset, hashed."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(corpus / source, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return Sample(dataset_id="ds", origin_path=str(corpus / source), sample_id=sample_id_for(sha), sha256=sha,
                  kind=kind, file_path=rel, annotations=annotations or {}, split=split)


@pytest.fixture
def dataset(tmp_path):
    return DatasetContext("ds", tmp_path / "ds")


@pytest.fixture
def song(dataset, corpus):
    return imported(dataset.root, corpus, "pop909/004/004.mid", "raw/midi/happy/004.mid", kind="midi",
                    annotations={"emotion": "happy", "key": "Eb", "mode": "minor", "tempo_bpm": 87.0,
                                 "chord_progression": ["Eb:min", "B:maj", "Bb:7"]})


@pytest.fixture
def drone(dataset, corpus):
    return imported(dataset.root, corpus, "sonic_pi/loop_drone_g_97.flac", "raw/audio/calm/drone.flac",
                    kind="audio", annotations={"emotion": "calm", "key": "G", "tempo_bpm": 97.0})


def snapshot(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("parent_name", ["song", "drone"])
def test_augmenting_twice_gives_the_same_children_byte_for_byte(dataset, parent_name, request):
    parent = request.getfixturevalue(parent_name)
    first = Augment(dataset, multiplier=6)(parent)
    files = snapshot(dataset.root / "processed")
    second = Augment(dataset, multiplier=6)(parent)
    assert second == first
    assert snapshot(dataset.root / "processed") == files
    assert len(files) == len(first.children) == 6


def test_children_carry_their_parent_split_and_a_true_record(dataset, song):
    result = Augment(dataset, multiplier=10)(song)
    assert isinstance(result, Derived) and result.parent == song
    shas = {song.sha256}
    for index, child in enumerate(result.children):
        data = (dataset.root / child.file_path).read_bytes()
        assert child.sha256 == hashlib.sha256(data).hexdigest() not in shas
        shas.add(child.sha256)
        assert child.sample_id == sample_id_for(child.sha256)
        assert (child.parent_id, child.split, child.kind, child.dataset_id) == (song.sample_id, "train", "midi", "ds")
        assert child.source == {"type": "augmented", "parent_id": song.sample_id}
        assert child.features_path is None
        record = child.augmentation
        assert (record["index"], record["seed"]) == (index, child_seed(song.sha256, index))
        assert child.file_path == f"processed/augmented/{song.sample_id[:3]}/{song.sample_id}_a{index:02d}_" \
                                  f"{plan_slug(record['transform'], record['params'])}.mid"
        assert child.annotations == labels_after(record["transform"], record["params"], song.annotations)
        assert read_score(dataset.root / child.file_path).duration_s > 0


def test_a_transposed_child_is_detected_in_its_labelled_key(dataset, song):
    children = Augment(dataset, multiplier=10, transforms={"transpose": (-6, 6)})(song).children
    assert {c.annotations["key"] for c in children} != {"Eb"}
    for child in children:
        found = extract_midi_file(dataset.root / child.file_path).labels
        assert (pitch_class_of(found["key"]), found["mode"]) == (pitch_class_of(child.annotations["key"]), "minor")
        assert re.fullmatch(rf"{song.sample_id}_a\d\d_transpose[+-]\d\.mid", child.file_path.split("/")[-1])


def test_a_stretched_child_carries_the_tempo_the_file_has(dataset, song):
    children = Augment(dataset, multiplier=4, transforms={"stretch": (0.9, 1.1)})(song).children
    parent_bpm = extract_midi_file(dataset.root / song.file_path).labels["tempo_bpm"]
    for child in children:
        factor = child.augmentation["params"]["factor"]
        assert child.annotations["tempo_bpm"] == pytest.approx(87.0 / factor)
        found = extract_midi_file(dataset.root / child.file_path).labels["tempo_bpm"]
        assert found == pytest.approx(parent_bpm / factor, rel=0.02)


def test_a_drum_only_file_is_never_transposed(dataset, corpus):
    groove = imported(dataset.root, corpus, GROOVE_FILE, "raw/midi/funk/groove.mid", kind="midi",
                      annotations={"groove_type": "straight", "tempo_bpm": 138.0})
    children = Augment(dataset, multiplier=12)(groove).children
    assert len(children) == 12
    assert not any("transpose" in c.augmentation["transform"] for c in children)
    assert all(c.annotations["groove_type"] == "straight" for c in children)


def test_audio_children_are_16_bit_wav_at_the_dataset_rate_with_moved_labels(dataset, drone):
    children = Augment(dataset, multiplier=6, sr_hz=SR_HZ, transforms={"pitch_shift": (2, 2), "gain": (0.8, 1.2)}) \
        (drone).children
    for child in children:
        data = (dataset.root / child.file_path).read_bytes()
        info = sf.info(io.BytesIO(data))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (SR_HZ, 1, "PCM_16", "WAV")
        assert child.file_path.endswith(".wav")
        pcm, _ = sf.read(io.BytesIO(data), dtype="float32")
        assert np.all(np.isfinite(pcm)) and float(np.max(np.abs(pcm))) <= 1.0
        moved = "pitch_shift" in child.augmentation["transform"]
        assert child.annotations["key"] == ("A" if moved else "G")


@pytest.mark.parametrize("split", ["val", "test", None])
def test_only_training_samples_get_children(dataset, corpus, split):
    sample = imported(dataset.root, corpus, "pop909/005/005.mid", "raw/midi/005.mid", kind="midi", split=split)
    assert Augment(dataset, multiplier=5)(sample) == Derived(sample, ())
    assert not (dataset.root / "processed").exists()


def test_a_child_is_never_augmented_again(dataset, song):
    child = Augment(dataset, multiplier=1)(song).children[0]
    assert Augment(dataset, multiplier=5)(child) == Derived(child, ())


def test_the_handler_survives_pickling_into_a_worker(dataset, song):
    handler = pickle.loads(pickle.dumps(Augment(dataset, multiplier=3)))
    assert handler(song) == Augment(dataset, multiplier=3)(song)
    assert (handler.name, handler.version) == ("augment", 1)


def test_a_file_of_unknown_kind_is_refused(dataset, song):
    with pytest.raises(InvalidInput, match="'video'"):
        Augment(dataset, multiplier=2)(song.with_changes(kind="video"))


@pytest.mark.parametrize(("kwargs", "key", "needle"), [
    ({"multiplier": 0}, "datasets.ds.multiplier", "got 0"),
    ({"multiplier": -2}, "datasets.ds.multiplier", "got -2"),
    ({"multiplier": 2.5}, "datasets.ds.multiplier", "got 2.5"),
    ({"multiplier": True}, "datasets.ds.multiplier", "got True"),
    ({"multiplier": 2, "sr_hz": 0}, "datasets.ds.sample_rate_hz", "got 0"),
    ({"multiplier": 2, "transforms": {"stretch": -1}}, "datasets.ds.augment_transforms.stretch", "[-1, -1]"),
    ({"multiplier": 2, "transforms": {"stretch": (1.1, 0.9)}}, "datasets.ds.augment_transforms.stretch", "[1.1, 0.9]"),
    ({"multiplier": 2, "transforms": {"transpose": (0, 0)}}, "datasets.ds.augment_transforms.transpose",
     "other than 0"),
    ({"multiplier": 2, "transforms": {"noise": (0, 0.5)}}, "datasets.ds.augment_transforms.noise", "0.5"),
    ({"multiplier": 2, "transforms": {"reverb": (0, 1)}}, "datasets.ds.augment_transforms.reverb", "unknown"),
    ({"multiplier": 2, "transforms": {"gain": "loud"}}, "datasets.ds.augment_transforms.gain", "'loud'"),
    ({"multiplier": 2, "transforms": ["gain"]}, "datasets.ds.augment_transforms", "['gain']"),
])
def test_bad_settings_are_refused_before_anything_is_written(dataset, song, kwargs, key, needle):
    before = snapshot(dataset.root)
    with pytest.raises(ConfigError) as info:
        Augment(dataset, **kwargs)
    assert info.value.key == key
    assert needle in info.value.reason
    assert snapshot(dataset.root) == before


def test_draw_plan_is_deterministic_and_stays_in_range():
    ranges = {**MIDI_TRANSFORMS, **AUDIO_TRANSFORMS}
    names = list(MIDI_TRANSFORMS)
    plans = [draw_plan(np.random.default_rng(child_seed("ab" * 32, i)), names, ranges) for i in range(200)]
    again = [draw_plan(np.random.default_rng(child_seed("ab" * 32, i)), names, ranges) for i in range(200)]
    assert plans == again
    combined = [p for p in plans if "+" in p[0]]
    assert 0.2 < len(combined) / len(plans) < 0.6
    for transform, params in plans:
        steps = params if "+" in transform else {transform: params}
        for name, p in steps.items():
            if name == "transpose":
                assert p["semitones"] != 0 and -6 <= p["semitones"] <= 6
            elif name in ("stretch", "velocity"):
                assert ranges[name][0] <= p["factor"] <= ranges[name][1]
            elif name == "jitter":
                assert (p["low_ms"], p["high_ms"]) == (-5.0, 5.0)
            else:
                assert p["probability"] == 0.02


def test_the_configured_transforms_and_ranges_are_the_only_ones_drawn(dataset, song, tmp_path):
    from kellyd.config import config_from_mapping
    from kellyd.handlers.registry import build_handler

    (tmp_path / "inbox").mkdir()
    cfg = config_from_mapping({
        "paths": {"inbox": "inbox", "datasets": "datasets", "state": "state", "staging": "staging"},
        "datasets": {"emo": {"chain": ["import", "annotate", "features", "augment"], "multiplier": 12,
                             "augment_transforms": {"transpose": [-2, 2], "velocity": 0.9}}},
    }, source=tmp_path / "config.toml")
    children = build_handler("augment", dataset, cfg.datasets["emo"])(song).children
    # Only 9 distinct children exist (4 transpositions, the one velocity factor, 4 of both), and
    # children never repeat: the 12 draws give each of them once.
    assert len(children) == 9
    for child in children:
        plan = child.augmentation
        steps = plan["params"] if "+" in plan["transform"] else {plan["transform"]: plan["params"]}
        assert set(steps) <= {"transpose", "velocity"}, plan
        if "transpose" in steps:
            assert steps["transpose"]["semitones"] in (-2, -1, 1, 2), plan
        if "velocity" in steps:
            assert steps["velocity"]["factor"] == 0.9, plan
    # Without the key: the default transforms, some of which this table left out.
    default = config_from_mapping({
        "paths": {"inbox": "inbox", "datasets": "datasets", "state": "state", "staging": "staging"},
        "datasets": {"emo": {"chain": ["import", "annotate", "features", "augment"], "multiplier": 12}},
    }, source=tmp_path / "config.toml")
    drawn = {c.augmentation["transform"] for c in build_handler("augment", dataset, default.datasets["emo"])(song).children}
    assert any(name.split("+")[0] not in ("transpose", "velocity") for name in drawn), drawn


@pytest.mark.parametrize("transforms, parent_name, said", [
    ({"pitch_shift": [-2, 2]}, "song", "MIDI files"),
    ({"transpose": [-2, 2]}, "drums", "drum-only MIDI files (transposing them would change nothing)"),
    ({"transpose": [-2, 2]}, "drone", "audio files"),
])
def test_training_files_no_configured_transform_applies_to_get_no_children_and_a_warning_once(
        dataset, song, drone, corpus, transforms, parent_name, said):
    from structlog.testing import capture_logs

    from kellyd.handlers import augment

    drums = imported(dataset.root, corpus, GROOVE_FILE, "raw/midi/funk/groove.mid", kind="midi")
    parent = {"song": song, "drone": drone, "drums": drums}[parent_name]
    augment._said_no_transform.clear()
    handler = Augment(dataset, multiplier=4, transforms=transforms)
    with capture_logs() as logs:
        assert handler(parent).children == ()
        assert handler(parent).children == ()
    warnings = [e for e in logs if e["event"] == "augment_no_transform_applies"]
    assert len(warnings) == 1, logs
    assert warnings[0]["files"] == said and warnings[0]["dataset"] == "ds"
    assert "datasets.ds.augment_transforms" in warnings[0]["hint"]
    assert warnings[0]["configured"] == sorted(transforms)


def test_no_warning_where_a_configured_transform_applies(dataset, song):
    from structlog.testing import capture_logs

    from kellyd.handlers import augment

    augment._said_no_transform.clear()
    with capture_logs() as logs:
        assert Augment(dataset, multiplier=2, transforms={"velocity": [0.8, 1.2]})(song).children
    assert not [e for e in logs if e["event"] == "augment_no_transform_applies"]
