"""EmotionRecognizer-midi: emotion-keeping augmentation, windows, export that streams frame by frame,
and a real `kellyd import` + `kellyd train --split-file` run that learns a separable signal."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kellyd.music.emotion_input import FRAME_NAMES, emotion_frames
from kellyd.sample import Sample
from kellyd.train.data import Vocabulary
from kellyd.train.dataset import SampleFeatures
from kellyd.train.models import StreamNet, architecture
from kellyd.train.recipe_emotion import (
    AUGMENTED_COPIES,
    MAX_STRETCH,
    MAX_TRANSPOSE,
    MIDI_RECIPE,
    augmentations,
    frame_windows,
)
from kellyd.train.rtneural import rtneural_json
from kellyd.train.settings import parse_training_section
from tests.daemon.harness import make_tree, run_cli
from tests.music.emotion_pieces import piece, write_piece
from tests.train.numpy_rtneural import NumpyRTNeural

VOCABULARY = Vocabulary(("Q1", "Q3"), (), "emotion")


def _features(events) -> SampleFeatures:
    return SampleFeatures(1, {}, {"note_start_s": events.start_s, "note_end_s": events.end_s,
                                  "note_pitch": events.pitch, "note_velocity": events.velocity,
                                  "note_is_drum": np.zeros(len(events), dtype=bool)})


def test_augmentations_stay_within_the_emotion_keeping_range_and_are_fixed_by_the_sample():
    for sample_id in ("a", "b", "0123456789abcdef"):
        found = augmentations(sample_id)
        assert found == augmentations(sample_id) and len(found) == AUGMENTED_COPIES
        for semitones, factor in found:
            assert 0 < abs(semitones) <= MAX_TRANSPOSE
            assert abs(factor - 1.0) <= MAX_STRETCH
    assert len({augmentations(str(i)) for i in range(20)}) > 10


@pytest.mark.parametrize("split, copies", [("train", 1 + AUGMENTED_COPIES), ("val", 1), ("test", 1)])
def test_training_pieces_get_augmented_copies_with_the_same_label(split, copies, tmp_path):
    events = piece("minor", 9, bpm=70, velocity=50, octave=4, seconds=30.0)
    sample = Sample("d", "x.mid", sample_id="s1", kind="midi", split=split,
                    annotations={"emotion": "Q3", "valence": -0.5, "arousal": 0.25})
    settings = parse_training_section({}, base_dir=tmp_path).for_model("EmotionRecognizer")
    made = MIDI_RECIPE.examples(sample, _features(events), VOCABULARY, settings)
    per_piece = len(frame_windows(emotion_frames(events), settings.window, settings.max_examples_per_sample))
    assert len(made) >= copies * per_piece - AUGMENTED_COPIES  # a stretched copy may give one window less
    if copies == 1:
        assert len(made) == per_piece
    assert made.inputs.shape[1:] == (settings.window, len(FRAME_NAMES))
    assert set(made.targets["emotion"].tolist()) == {VOCABULARY.classes.index("Q3")}
    np.testing.assert_allclose(made.targets["valence_arousal"], [[-0.5, 0.25]] * len(made))


def test_windows_end_at_the_end_of_the_piece_and_short_pieces_are_padded_in_front():
    frames = np.arange(10 * 3, dtype=np.float32).reshape(10, 3) + 1
    windows = frame_windows(frames, 4, 8)
    np.testing.assert_array_equal(windows[0], frames[-4:])
    np.testing.assert_array_equal(windows[1], frames[-6:-2])
    short = frame_windows(frames[:3], 4, 8)
    assert short.shape == (1, 4, 3) and not short[0, 0].any()
    np.testing.assert_array_equal(short[0, 1:], frames[:3])


def test_the_model_exports_to_rtneural_and_streams_like_the_batch_pass(tmp_path):
    settings = parse_training_section({}, base_dir=tmp_path).for_model("EmotionRecognizer")
    heads = MIDI_RECIPE.heads(VOCABULARY)
    torch.manual_seed(0)
    model = StreamNet(len(FRAME_NAMES), architecture(settings, sum(h.size for h in heads))).eval()
    frames = emotion_frames(piece("major", 3, bpm=120, velocity=90, octave=5, seconds=20.0))
    normalised = (frames - frames.mean(axis=0)) / (frames.std(axis=0) + 1e-6)
    document = json.loads(json.dumps(rtneural_json(model, {"model": MIDI_RECIPE.key})))
    assert {layer["type"] for layer in document["layers"]} <= {"dense", "gru", "lstm", "conv1d"}
    with torch.no_grad():
        batch = model(torch.from_numpy(normalised.astype(np.float32))[None])[0].numpy()
    streamed = NumpyRTNeural(document).run(normalised.astype(np.float32))  # one frame at a time
    assert np.abs(streamed - batch).max() < 1e-5


# Tempo (bpm) and loudness ranges, mode and register of the two classes; each piece draws its own.
QUADRANT_PIECES = {"Q1": dict(mode="major", bpm=(130, 170), velocity=(95, 120), octave=6),
                   "Q3": dict(mode="minor", bpm=(50, 75), velocity=(30, 55), octave=4)}


def test_a_real_training_run_learns_a_separable_signal(tmp_path):
    tree = make_tree(tmp_path / "tree", datasets={"moods": {
        "target_model": "EmotionRecognizer", "group_by": r"^(?P<group>song\d+)_\d+\.mid$",
        "chain": ["import", "annotate", "features"]}},
        extra={"training": {"device": "cpu", "threads": 1, "min_val_groups": 2,
                            "EmotionRecognizer": {"max_epochs": 12, "warmup_epochs": 1, "window": 12,
                                                  "hidden": 16}}})
    splits = {}
    rng = np.random.default_rng(7)
    for song in range(12):
        quadrant = ("Q1", "Q3")[song % 2]
        split = "test" if song >= 10 else "val" if song >= 8 else "train"
        for clip in range(2):
            name = f"song{song}_{clip}.mid"
            cues = QUADRANT_PIECES[quadrant]
            # Two training songs in the other mode: a single cue would be refused as a label leak.
            mode = {"major": "minor", "minor": "major"}[cues["mode"]] if song in (2, 3) else cues["mode"]
            events = piece(mode, (song * 5) % 12, bpm=float(rng.uniform(*cues["bpm"])),
                           velocity=int(rng.integers(*cues["velocity"])), octave=cues["octave"],
                           seconds=float(rng.uniform(8.0, 10.0)), seed=song * 10 + clip)
            path = write_piece(tmp_path / "drop" / name, events)
            path.with_suffix(".json").write_text(json.dumps(
                {"emotion": quadrant, "valence": 0.5 if quadrant == "Q1" else -0.5,
                 "arousal": 0.75 if quadrant == "Q1" else 0.25}))
            splits[name] = split
    proc = run_cli(tree, "import", str(tmp_path / "drop"), "--dataset", "moods", "--quiet", timeout_s=300)
    assert proc.returncode == 0, proc.stderr
    split_file = tmp_path / "fold.json"
    split_file.write_text(json.dumps(splits))
    proc = run_cli(tree, "train", "--dataset", "moods", "--model", MIDI_RECIPE.key, "--split-file", str(split_file),
                   "--json", timeout_s=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "trained"
    registry = json.loads((tree.root / "models" / "registry.json").read_text())
    entry = registry["models"][MIDI_RECIPE.key]["versions"][-1]
    assert entry["dataset"]["samples"] == {"train": 16, "val": 4, "test": 4}  # the split file's, not the manifest's
    accuracy = entry["clip_metrics"]["test"]["emotion.accuracy"]  # per clip: two of each class
    assert accuracy["value"] == 1.0 and accuracy["baseline"] == 0.5
